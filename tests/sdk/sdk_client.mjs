// Runs one purge through Cloudflare's official Node SDK, pointed at purgeqd's TCP listener the way
// an operator would point any Cloudflare client: baseURL and apiToken. Prints one JSON line:
// {"ok": true, "result": ...} or {"ok": false, "status": 403, "errors": [...]} for the test to check.
//   node sdk_client.mjs <variant>   with PURGEQ_BASE_URL, PURGEQ_TOKEN and PURGEQ_ZONE_ID set
import Cloudflare from 'cloudflare';

const variants = {
  files: { files: ['https://a.example/sdk/one.css', 'https://a.example/sdk/two.js'] },
  files_with_headers: {
    files: [{ url: 'https://a.example/sdk/mobile', headers: { 'CF-Device-Type': 'mobile' } }],
  },
  tags: { tags: ['sdk-tag-1', 'sdk-tag-2'] },
  hosts: { hosts: ['www.a.example'] },
  prefixes: { prefixes: ['a.example/sdk/'] },
  everything: { purge_everything: true },
};

const name = process.argv[2];
if (!(name in variants)) {
  console.error(`unknown variant ${name}; one of ${Object.keys(variants).join(', ')}`);
  process.exit(2);
}
const client = new Cloudflare({
  apiToken: process.env.PURGEQ_TOKEN,
  baseURL: process.env.PURGEQ_BASE_URL,
  maxRetries: 0,
});
try {
  const result = await client.cache.purge({ zone_id: process.env.PURGEQ_ZONE_ID, ...variants[name] });
  console.log(JSON.stringify({ ok: true, result }));
} catch (err) {
  if (err instanceof Cloudflare.APIError) {
    console.log(JSON.stringify({ ok: false, status: err.status, errors: err.errors ?? [] }));
  } else {
    console.error(String(err));
    process.exit(3);
  }
}
