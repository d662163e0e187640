// purgeqd's status page: asks for /v1/status and /v1/status/history every 2 s and draws them.
// Every request is relative to the page, so it works at / on purgeqd and under the secret path of
// `purgeq dashboard`. Text from the daemon (Cloudflare's messages, items) is only ever set as
// textContent: nothing it says can become markup.
'use strict';

(() => {
  const POLL_MS = 2000;
  const TIMEOUT_MS = 5000;
  const KINDS = ['file', 'tag', 'host', 'prefix', 'everything'];
  const LANES = ['high', 'normal', 'bulk'];
  const FAILED_SHOWN = 200;
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const state = {
    lastOk: 0,          // Date.now() of the last answer
    downSince: 0,       // Date.now() when purgeqd stopped answering, 0 while it answers
    failedCount: null,  // failed_items of the status the failed list was read for
    failedRead: 0,      // Date.now() of the last read of the failed list
    intentId: '',
  };

  // ---- formatting, as purgeq prints it ----

  const grouped = (n) => Math.round(n).toLocaleString('en-US');

  // "5 s", "3 min", "1 min 30 s", "5 h", "2 h 5 min", "3 d 4 h" (model/people_text.h).
  function seconds(total) {
    const s = Math.max(0, Math.floor(total));
    const two = (big, bigUnit, small, smallUnit) =>
      small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
    if (s < 60) return `${s} s`;
    if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
    if (s < 86400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
    return two(Math.floor(s / 86400), 'd', Math.floor((s % 86400) / 3600), 'h');
  }
  const fromMs = (ms) => seconds(Math.ceil(ms / 1000));
  const clock = (ms) => new Date(ms).toISOString().slice(11, 19) + 'Z';
  const bytes = (n) => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  };

  function upstreamError(e) {
    if (!e.status) return e.message || e.verdict || '';
    let text = `HTTP ${e.status}`;
    if (e.code) text += ` code ${e.code}`;
    if (e.message) text += `: ${e.message}`;
    return text;
  }

  // ---- DOM helpers ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'class') node.className = value;
      else if (key === 'data') Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  // A number cell: the raw value in data-value (tests and tools read it), grouped digits shown.
  const num = (value) => el('td', { class: 'num', data: { value: String(value) } }, grouped(value));

  function setNumber(id, value) {
    const node = $(id);
    node.dataset.value = String(value);
    node.textContent = grouped(value);
  }

  function replaceRows(table, rows) {
    const body = table.tBodies[0];
    body.replaceChildren(...rows);
  }

  // "123 / 500" with a bar; the level as a share of the bucket.
  function meter(value, size, label) {
    const share = size > 0 ? Math.max(0, Math.min(1, value / size)) : 0;
    const fill = el('div', { class: 'fill' + (share <= 0.02 ? ' empty' : share < 0.25 ? ' low' : '') });
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    return el('div', { class: 'meter', title: label },
      el('div', { class: 'bar' }, fill),
      el('span', { class: 'text', data: { value: String(value), size: String(size) } },
        `${grouped(Math.floor(value))} / ${grouped(size)}`));
  }

  // ---- requests ----

  async function ask(path, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(path, Object.assign({
        signal: controller.signal, cache: 'no-store', credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      }, options || {}));
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      return { status: response.status, body };
    } finally {
      clearTimeout(timer);
    }
  }
  const errorText = (answer) =>
    (answer.body && answer.body.error && answer.body.error.message) || `HTTP ${answer.status}`;

  // ---- the status ----

  function accountState(a, now) {
    if (a.paused) {
      let text = `paused: ${a.pause_reason || 'auth'}`;
      if (a.paused_since_ms) text += `, for ${fromMs(now - a.paused_since_ms)}`;
      if (a.next_probe_in_ms !== undefined) text += ` (next check in ${fromMs(a.next_probe_in_ms)})`;
      return { cls: 'paused', text };
    }
    if (a.consecutive_failures > 0 || a.backoff_for_ms > 0) {
      let text = 'upstream failing';
      if (a.failing_since_ms) text += ` for ${fromMs(now - a.failing_since_ms)}`;
      text += ` (${a.consecutive_failures} failed attempts in a row`;
      if (a.backoff_for_ms > 0) text += `; next attempt in ${fromMs(a.backoff_for_ms)}`;
      text += ')';
      return { cls: a.backoff_for_ms > 0 ? 'backoff' : 'failing', text };
    }
    if (a.rate_limited_for_ms > 0) {
      return { cls: 'limited', text: `rate-limited by Cloudflare for ${fromMs(a.rate_limited_for_ms)}` };
    }
    if (a.sending === false) return { cls: 'ok', text: 'sent by another purgeqd' };
    return { cls: 'ok', text: 'ok' };
  }

  function renderAccounts(status, now) {
    const rows = [];
    for (const [name, a] of Object.entries(status.accounts || {})) {
      const s = accountState(a, now);
      const windowMin = a.global_window_s ? seconds(a.global_window_s) : '';
      const global = a.global_limit > 0
        ? meter(a.global_used, a.global_limit, `requests in the last ${windowMin} (Cloudflare's API-wide budget)`)
        : el('span', { class: 'muted' }, 'not enforced');
      if (a.global_limit > 0) global.append(el('span', { class: 'text muted' }, ` per ${windowMin}`));
      rows.push(el('tr', { data: { account: name } },
        el('th', { scope: 'row' }, name),
        el('td', { class: 'plan' }, a.plan || ''),
        el('td', { class: `state ${s.cls}`, data: { state: s.cls } }, s.text),
        el('td', { class: 'flex' }, meter(a.flex_tokens, a.flex_bucket_size, 'flex bucket: tag, host, prefix and everything requests')),
        el('td', { class: 'url' }, meter(a.url_tokens, a.url_bucket_size, 'URL bucket: files per second')),
        el('td', { class: 'global' }, global),
        num(a.requests_in_flight),
        el('td', { class: 'drain', data: { value: String(a.drain_estimate_s || 0) } },
          a.drain_estimate_s > 0 ? `about ${seconds(a.drain_estimate_s)}` : '–')));
    }
    replaceRows($('accounts'), rows);
  }

  function renderQueue(status) {
    const rows = [];
    for (const [zone, q] of Object.entries(status.queue || {})) {
      const lanes = q.lanes && Object.keys(q.lanes).length ? q.lanes : { '': {} };
      const names = LANES.filter((l) => l in lanes).concat(Object.keys(lanes).filter((l) => !LANES.includes(l)));
      names.forEach((lane, i) => {
        const kinds = lanes[lane];
        const row = el('tr', { data: { zone, lane } },
          el('th', { scope: 'row' }, i === 0 ? zone : ''),
          el('td', { class: 'lane' }, lane || '–'),
          ...KINDS.map((k) => num(kinds[k] || 0)));
        row.append(i === 0 ? num(q.in_flight || 0) : el('td'));
        row.append(i === 0
          ? el('td', { class: 'drain', data: { value: String(q.drain_estimate_s || 0) } },
            q.drain_estimate_s > 0 ? `about ${seconds(q.drain_estimate_s)}` : '–')
          : el('td'));
        rows.push(row);
      });
    }
    replaceRows($('queue'), rows);
    $('queue-empty').hidden = rows.length > 0;
  }

  function renderErrors(status, now) {
    const errors = (status.recent_errors || []).slice().reverse();
    replaceRows($('errors'), errors.map((e) => el('tr', {},
      el('td', { title: new Date(e.at_ms).toISOString() }, `${fromMs(now - e.at_ms)} ago`),
      el('td', {}, e.account), el('td', {}, e.zone), el('td', {}, e.verdict),
      el('td', { class: 'wrap' }, upstreamError(e)))));
    $('errors-empty').hidden = errors.length > 0;
  }

  function renderSummary(status) {
    $('version').textContent = `purgeqd ${status.version || ''}${status.dry_run ? ' · dry run (batches are logged, not sent)' : ''}`;
    setNumber('pending', status.pending || 0);
    setNumber('in-flight', status.in_flight_items || 0);
    setNumber('requests-in-flight', status.requests_in_flight || 0);
    setNumber('failed-items', status.failed_items || 0);
    const lanes = status.pending_by_lane || {};
    $('lanes').textContent = LANES.map((l) => `${grouped(lanes[l] || 0)} ${l}`).join(', ');
    $('next-dispatch').textContent = status.next_dispatch_in_ms !== undefined
      ? `in ${status.next_dispatch_in_ms} ms` : '–';
    const st = status.storage || {};
    $('storage').textContent = `${st.backend || ''}${st.size_bytes !== undefined ? ', ' + bytes(st.size_bytes) : ''}`;
    $('uptime').textContent = seconds(status.uptime_seconds || 0);
    const notices = [];
    if (st.disk_full) notices.push('The disk is full: purgeqd uses its reserve and refuses new intents until space returns.');
    if (status.hooks && status.hooks.failed > 0) notices.push(`${grouped(status.hooks.failed)} completion hook runs failed.`);
    $('notices').textContent = notices.join(' ');
  }

  // ---- the chart ----

  function drawSeries(svg, values, maxLabel) {
    const max = Math.max(1, ...values);
    const n = values.length;
    const points = values.map((v, i) =>
      `${(n > 1 ? (i * 900) / (n - 1) : 0).toFixed(1)},${(100 - (v / max) * 96).toFixed(2)}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    const area = document.createElementNS(SVG, 'polygon');
    area.setAttribute('points', `0,100 ${points.join(' ')} 900,100`);
    svg.replaceChildren(area, line);
    svg.dataset.points = String(n);
    svg.dataset.max = String(Math.max(0, ...values));
    maxLabel.textContent = `(peak ${grouped(Math.max(0, ...values))}/s)`;
  }

  function renderHistory(history) {
    const series = history.series || {};
    const purged = series.items_purged || [];
    const requests = series.requests || [];
    drawSeries($('chart-purged'), purged, $('chart-purged-max'));
    drawSeries($('chart-requests'), requests, $('chart-requests-max'));
    const sum = (a) => a.reduce((x, y) => x + y, 0);
    const accepted = sum(series.items_accepted || []);
    $('chart-totals').textContent =
      `Last 15 minutes: ${grouped(accepted)} items accepted, ${grouped(sum(purged))} purged, ` +
      `${grouped(sum(series.items_failed || []))} failed, ${grouped(sum(requests))} requests.`;
  }

  // ---- failed items ----

  async function readFailed(count) {
    state.failedCount = count;
    state.failedRead = Date.now();
    const answer = await ask('v1/failed');
    const summary = $('failed-summary');
    if (answer.status !== 200) {
      // Not an admin (or over TCP): the count stays, the list and the button do not appear.
      $('retry').hidden = true;
      $('failed').hidden = true;
      summary.textContent = `${grouped(count)} failed items. ${errorText(answer)}`;
      return;
    }
    const items = answer.body.items || [];
    summary.textContent = items.length === 0 ? 'No failed items.'
      : `${grouped(count)} failed items${items.length > FAILED_SHOWN ? `; the newest ${FAILED_SHOWN} shown` : ''}.`;
    $('retry').hidden = items.length === 0;
    $('failed').hidden = items.length === 0;
    replaceRows($('failed'), items.slice(0, FAILED_SHOWN).map((f) => el('tr', {},
      el('td', {}, f.failed_at), el('td', {}, f.zone), el('td', {}, f.kind),
      el('td', { class: 'wrap' }, f.item),
      el('td', { class: 'wrap' }, `${f.code ? f.code + ' ' : ''}${f.message || ''}`))));
  }

  async function retryFailed() {
    const button = $('retry');
    button.disabled = true;
    $('retry-result').textContent = 'requeueing…';
    try {
      const answer = await ask('v1/failed/retry', { method: 'POST' });
      $('retry-result').textContent = answer.status === 200
        ? `requeued ${grouped(answer.body.requeued)} failed items` : `refused: ${errorText(answer)}`;
    } catch (e) {
      $('retry-result').textContent = `purgeqd did not answer: ${e.message}`;
    } finally {
      button.disabled = false;
      state.failedCount = null;  // read the list again with the next status
    }
  }

  // ---- one intent ----

  async function showIntent() {
    const id = state.intentId;
    const box = $('intent');
    if (!id) { box.replaceChildren(); return; }
    const answer = await ask(`v1/intents/${encodeURIComponent(id)}`);
    if (id !== state.intentId) return;  // another id was asked for meanwhile
    if (answer.status !== 200) {
      box.replaceChildren(el('p', { class: 'error' }, errorText(answer)));
      return;
    }
    const i = answer.body;
    const items = i.items || {};
    const lines = [
      el('p', { class: 'head', data: { status: i.status } },
        `intent ${i.id}: ${i.status}${i.priority ? ', priority ' + i.priority : ''}${i.created_at ? ' (created ' + i.created_at + ')' : ''}`),
      el('p', { class: 'counts' },
        `${grouped(items.total || 0)} items: ${grouped(items.queued || 0)} queued, ${grouped(items.in_flight || 0)} in flight, ` +
        `${grouped(items.done || 0)} purged, ${grouped(items.failed || 0)} failed`),
    ];
    for (const e of i.errors || []) {
      lines.push(el('p', { class: 'error' }, `failed ${e.kind} ${e.item}: ${e.code ? e.code + ' ' : ''}${e.message || ''}`));
    }
    // The daemon writes each sentence as `purgeq show` prints it; the same one once.
    const seen = new Set();
    for (const w of i.waiting_for || []) {
      const sentence = w.sentence || w.state;
      if (seen.has(sentence)) continue;
      seen.add(sentence);
      lines.push(el('p', { class: 'waiting' }, `waiting: ${sentence}`));
    }
    box.replaceChildren(...lines);
  }

  // ---- the loop ----

  function markDown(reason) {
    if (!state.downSince) state.downSince = Date.now();
    const banner = $('unreachable');
    const last = state.lastOk ? `; last answer at ${new Date(state.lastOk).toLocaleTimeString()}` : '';
    banner.textContent = `purgeqd is unreachable since ${new Date(state.downSince).toLocaleTimeString()} (${reason})${last}. Trying again every 2 s.`;
    banner.hidden = false;
    $('main').classList.add('stale');
    const live = $('live');
    live.textContent = 'unreachable';
    live.classList.add('down');
  }

  function markUp() {
    state.downSince = 0;
    state.lastOk = Date.now();
    $('unreachable').hidden = true;
    $('main').classList.remove('stale');
    const live = $('live');
    live.textContent = `live · updated ${new Date(state.lastOk).toLocaleTimeString()}`;
    live.classList.remove('down');
  }

  async function poll() {
    try {
      const [status, history] = await Promise.all([ask('v1/status'), ask('v1/status/history')]);
      if (status.status !== 200 || !status.body) {
        markDown(errorText(status));
      } else {
        markUp();
        const s = status.body;
        const now = s.now_ms || Date.now();
        renderSummary(s);
        renderAccounts(s, now);
        renderQueue(s);
        renderErrors(s, now);
        if (history.status === 200 && history.body) renderHistory(history.body);
        const failed = s.failed_items || 0;
        if (failed !== state.failedCount || Date.now() - state.failedRead > 30000) {
          await readFailed(failed);
        }
        if (state.intentId) await showIntent();
      }
    } catch (e) {
      markDown(e.name === 'AbortError' ? 'no answer within 5 s' : 'no connection');
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  function askIntent() {
    state.intentId = $('intent-id').value.trim();
    showIntent().catch((e) => {
      $('intent').replaceChildren(el('p', { class: 'error' }, `purgeqd did not answer: ${e.message}`));
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('retry').addEventListener('click', retryFailed);
    $('intent-show').addEventListener('click', askIntent);
    $('intent-id').addEventListener('keydown', (e) => { if (e.key === 'Enter') askIntent(); });
    poll();
  });
})();
