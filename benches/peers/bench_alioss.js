// Peer bench driver for ali-oss (Node SDK). Contract: argv[2] = JSON spec, one JSON line out
// (see README.md). ali-oss defaults: no CRC-64, multipartUpload with its default part size and
// parallel 5; no download helper, so a whole-file download is `get(name, file)` (one stream).
// Concurrency: promises, `conc` workers pulling keys. "threads" in the spec = tuned parallel.
'use strict';
const path = require('path');
const dns = require('dns');

// 'localhost' must reach a server bound to 127.0.0.1 even where ::1 is listed first.
dns.setDefaultResultOrder('ipv4first');
function loadSdk() {
  try {
    return require(path.join(__dirname, '..', '..', '.tools', 'node', 'node_modules', 'ali-oss'));
  } catch (e) {
    return require('ali-oss');
  }
}
const OSS = loadSdk();
const E = process.env;
const spec = JSON.parse(process.argv[2]);

function client() {
  // An IP endpoint makes ali-oss rewrite Host: use localhost + sldEnable (as peers/ does).
  return new OSS({
    endpoint: E.OSS_ENDPOINT.replace('://127.0.0.1', '://localhost'),
    sldEnable: true,
    region: `oss-${E.OSS_REGION || 'cn-hangzhou'}`,
    accessKeyId: E.OSS_ACCESS_KEY_ID,
    accessKeySecret: E.OSS_ACCESS_KEY_SECRET,
    bucket: spec.bucket,
    authorizationV4: true,
    secure: false,
  });
}

function content(key, size) {
  const unit = Buffer.from(key + '\n');
  return Buffer.alloc(size, unit);
}
const pct = (s, p) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 1000) / 1000 : null);
const short = e => `${(e && (e.code || e.name)) || 'Error'}: ${String((e && e.message) || e).split('\n')[0]}`.slice(0, 200);

async function many(one) {
  const { n, prefix } = spec;
  const conc = spec.conc || 16;
  const keys = Array.from({ length: n }, (_, i) => prefix + String(i).padStart(6, '0'));
  const lat = [];
  let errors = 0, corrupt = 0, firstErr = null, next = 0;
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (next < keys.length) {
      const k = keys[next++];
      const t = process.hrtime.bigint();
      try {
        const r = await one(k);
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (r === 'corrupt') corrupt++;
      } catch (e) {
        errors++;
        firstErr = firstErr || short(e);
      }
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const out = { ok: errors === 0 && corrupt === 0, n, conc, secs, ops_per_s: Math.round(n / secs * 10) / 10,
    errors, corrupt, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), p999_ms: pct(lat, 0.999),
    max_ms: lat.length ? lat[lat.length - 1] : null };
  if (firstErr) out.error = firstErr;
  return out;
}

const ops = {
  async upload() {
    const opt = spec.threads ? { parallel: spec.threads } : {};
    await client().multipartUpload(spec.key, spec.file, opt);
    return { ok: true };
  },
  async download() {
    await client().get(spec.key, spec.file);
    return { ok: true };
  },
  async put() {
    const c = client();
    return many(async k => { await c.put(k, content(k, spec.size)); return true; });
  },
  async get() {
    const c = client();
    return many(async k => ((await c.get(k)).content.equals(content(k, spec.size)) ? true : 'corrupt'));
  },
  async list() {
    const c = client();
    let count = 0, token;
    for (let i = 0; i < 100000; i++) {
      const r = await c.listV2({ prefix: spec.prefix, 'max-keys': 1000, 'continuation-token': token });
      count += (r.objects || []).length;
      if (!r.isTruncated) break;
      token = r.nextContinuationToken;
    }
    return { ok: true, count };
  },
  async probe() {
    const c = client();
    const want = content(spec.key, spec.size);
    const end = Date.now() + spec.duration * 1000;
    const events = [];
    while (Date.now() < end && events.length < 100000) {
      const t = Date.now() / 1000;
      let ok = false;
      try { ok = (await c.get(spec.key)).content.equals(want); } catch (e) { ok = false; }
      events.push([t, Date.now() / 1000, ok]);
      if (!ok) await new Promise(r => setTimeout(r, 50));
    }
    return { ok: true, events };
  },
};

(async () => {
  const t0 = Date.now();
  let res;
  try {
    res = await ops[spec.op]();
  } catch (e) {
    process.stderr.write(`${e && e.stack}\n`);
    res = { ok: false, error: short(e) };
  }
  if (res.secs === undefined) res.secs = (Date.now() - t0) / 1000;
  Object.assign(res, { peer: 'alioss', op: spec.op });
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(0);
})();
