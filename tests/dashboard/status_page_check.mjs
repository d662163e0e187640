// Loads purgeqd's status page in Debian's chromium (headless, through puppeteer-core) and prints
// what a person would see, as one JSON line, for tests/integration/test_status_page_browser.py.
//   node status_page_check.mjs URL SCREENSHOT [retry] [unreachable]
// retry: click the retry button and report its result. unreachable: after the first report, wait
// for a line on stdin (the test stops purgeqd meanwhile), then report the page's banner.
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const [url, screenshot, ...flags] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Root in CI has no user namespace sandbox; the page is our own.
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const problems = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // A refused request shows as a console error too; it is reported with its address instead.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  const refused = [];
  page.on('response', (r) => {
    // The browser asks for /favicon.ico on its own; the page has none.
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && path !== '/favicon.ico') refused.push(`${r.status()} ${path.replace(/^\/[0-9a-f]{32}/, '')}`);
  });
  // Anything fetched from elsewhere would break "works offline": only the page's own origin.
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`external: ${r.url()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  // The first poll drew everything, the failed list included.
  await page.waitForFunction(() => {
    const live = document.getElementById('live').textContent;
    const chart = document.getElementById('chart-purged').dataset.points;
    return live.startsWith('live') && chart && document.getElementById('failed-summary').textContent;
  }, { timeout: 15000 });
  const read = () => page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const rows = (id) => [...$(id).tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent));
    const retry = $('retry');
    return {
      pending: Number($('pending').dataset.value),
      in_flight: Number($('in-flight').dataset.value),
      failed_items: Number($('failed-items').dataset.value),
      accounts: Object.fromEntries([...$('accounts').tBodies[0].rows].map((r) => [r.dataset.account, {
        state: r.querySelector('.state').dataset.state,
        state_text: r.querySelector('.state').textContent,
        plan: r.querySelector('.plan').textContent,
        flex: r.querySelector('.flex .text').textContent,
        url: r.querySelector('.url .text').textContent,
        global: r.querySelector('.global').textContent,
      }])),
      queue: rows('queue'),
      errors: rows('errors'),
      failed: $('failed').hidden ? [] : rows('failed'),
      failed_summary: $('failed-summary').textContent,
      retry_visible: !retry.hidden && retry.offsetParent !== null,
      chart: {
        purged_points: Number($('chart-purged').dataset.points),
        purged_max: Number($('chart-purged').dataset.max),
        requests_points: Number($('chart-requests').dataset.points),
        polyline: $('chart-purged').querySelectorAll('polyline').length,
      },
      totals: $('chart-totals').textContent,
      live: $('live').textContent,
      unreachable: $('unreachable').hidden ? '' : $('unreachable').textContent,
    };
  });
  const report = await read();
  // The intent box: the paused intent's id from the page's own request to purgeqd.
  if (process.env.INTENT_ID) {
    await page.type('#intent-id', process.env.INTENT_ID);
    await page.click('#intent-show');
    await page.waitForFunction(() => document.querySelector('#intent .waiting, #intent .error'),
      { timeout: 10000 });
    report.intent = await page.$$eval('#intent p', (ps) => ps.map((p) => p.textContent));
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  if (flags.includes('retry')) {
    await page.click('#retry');
    await page.waitForFunction(() => /requeued|refused/.test(document.getElementById('retry-result').textContent),
      { timeout: 10000 });
    report.retry_result = await page.$eval('#retry-result', (e) => e.textContent);
  }
  report.problems = problems;
  report.refused = [...new Set(refused)];
  console.log(JSON.stringify(report));
  if (flags.includes('unreachable')) {
    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) break;  // purgeqd has stopped
    await page.waitForFunction(() => !document.getElementById('unreachable').hidden, { timeout: 10000 });
    console.log(JSON.stringify(await read()));
  }
} finally {
  await browser.close();
}
