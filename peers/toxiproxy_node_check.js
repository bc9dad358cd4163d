#!/usr/bin/env node
// Drives `ossguard chaos` with the real toxiproxy Node client (toxiproxy-node-client, pinned
// 4.1.0, installed by peers/install into .tools/node).
// Run:  TOXIPROXY_URL=http://127.0.0.1:8474 node peers/toxiproxy_node_check.js
// It starts a local TCP echo server (127.0.0.1), creates a proxy to it through the API, adds a
// latency toxic and measures the added latency, adds/removes a reset_peer toxic, disables and
// re-enables the proxy, and prints one JSON object on stdout:
//   {"client":"toxiproxy-node-client","client_version":"4.1.0","ok":true,"checks":{...},
//    "baseline_p50_ms":..,"latency_p50_ms":..,"added_latency_ms":..,"reset_error":"ECONNRESET",
//    "disabled_error":"ECONNREFUSED","errors":[]}
// Exit 0 when it ran (ok says whether every check passed), 2 when the client is not installed.
'use strict';

const net = require('net');
const path = require('path');

function loadClient() {
  const local = path.join(__dirname, '..', '.tools', 'node', 'node_modules', 'toxiproxy-node-client');
  for (const name of [local, 'toxiproxy-node-client']) {
    try {
      const mod = require(name);
      const version = require(name + '/package.json').version;
      return { mod, version };
    } catch (e) {
      // try the next location
    }
  }
  return null;
}

const loaded = loadClient();
if (!loaded) {
  console.log(JSON.stringify({ client: 'toxiproxy-node-client', ok: false, missing: true,
    errors: ['toxiproxy-node-client is not installed (run peers/install)'] }));
  process.exit(2);
}
const { Toxiproxy } = loaded.mod;
const API = process.env.TOXIPROXY_URL || 'http://127.0.0.1:8474';
const LATENCY_MS = 100;
const ROUND_TRIPS = 15;

function splitAddr(addr) {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

function echoServer() {
  return new Promise((resolve) => {
    const srv = net.createServer((s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function connect(addr) {
  return new Promise((resolve, reject) => {
    const s = net.connect(splitAddr(addr));
    const t = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, 5000);
    s.once('connect', () => { clearTimeout(t); s.setNoDelay(true); resolve(s); });
    s.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

function roundTrip(s) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const t = setTimeout(() => reject(new Error('round trip timeout')), 5000);
    s.once('data', () => { clearTimeout(t); resolve(Number(process.hrtime.bigint() - start) / 1e6); });
    s.write('x');
  });
}

async function p50RoundTrip(addr, n) {
  const s = await connect(addr);
  const v = [];
  try {
    for (let i = 0; i < n; i++) v.push(await roundTrip(s));
  } finally {
    s.destroy();
  }
  v.sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

// Connects, sends, and reports how the connection ends: an error code, "closed" or "data".
function outcome(addr) {
  return new Promise((resolve) => {
    const s = net.connect(splitAddr(addr));
    const done = (r) => { clearTimeout(t); s.destroy(); resolve(r); };
    const t = setTimeout(() => done('timeout'), 5000);
    s.on('connect', () => s.write('ping'));
    s.on('error', (e) => done(e.code || String(e)));
    s.on('data', () => done('data'));
    s.on('end', () => done('closed'));
  });
}

async function main() {
  const result = {
    client: 'toxiproxy-node-client', client_version: loaded.version, api: API,
    ok: false, checks: {}, errors: [],
  };
  const check = (name, cond, detail) => {
    result.checks[name] = Boolean(cond);
    if (!cond) result.errors.push(`${name}: ${detail === undefined ? 'failed' : detail}`);
  };
  const step = async (name, fn) => {
    try {
      await fn();
    } catch (e) {
      check(name, false, String(e && e.stack ? e.stack.split('\n')[0] : e));
    }
  };

  const srv = await echoServer();
  const upstream = `127.0.0.1:${srv.address().port}`;
  const toxiproxy = new Toxiproxy(API);
  let proxy;

  await step('version', async () => {
    const v = await toxiproxy.getVersion();
    result.server_version = v.trim();
    check('version', v.length > 0, v);
  });
  await step('create', async () => {
    proxy = await toxiproxy.createProxy({ name: 'node_check', listen: '127.0.0.1:0', upstream });
    check('create', proxy.name === 'node_check' && proxy.enabled === true && !proxy.listen.endsWith(':0'),
      JSON.stringify(proxy.toJson()));
    result.listen = proxy.listen;
  });
  if (!proxy) {
    srv.close();
    console.log(JSON.stringify(result));
    return;
  }
  await step('get', async () => {
    const all = await toxiproxy.getAll();
    const one = await toxiproxy.get('node_check');
    check('get', all.node_check && one.listen === proxy.listen, Object.keys(all).join(','));
  });
  await step('get_missing_404', async () => {
    let msg = 'no error';
    try { await toxiproxy.get('no_such_proxy'); } catch (e) { msg = e.message; }
    check('get_missing_404', /404/.test(msg), msg);
  });
  await step('latency', async () => {
    const base = await p50RoundTrip(proxy.listen, ROUND_TRIPS);
    const toxic = await proxy.addToxic({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1,
      attributes: { latency: LATENCY_MS, jitter: 0 } });
    const slow = await p50RoundTrip(proxy.listen, ROUND_TRIPS);
    result.baseline_p50_ms = base;
    result.latency_p50_ms = slow;
    result.added_latency_ms = slow - base;
    check('latency_toxic_shape', toxic.name === 'lat' && toxic.type === 'latency' && toxic.attributes.latency === LATENCY_MS,
      JSON.stringify(toxic.toJson()));
    const again = await proxy.getToxic('lat');
    check('get_toxic', again.attributes.latency === LATENCY_MS, JSON.stringify(again.toJson()));
    const updated = await again.update({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1,
      attributes: { latency: LATENCY_MS, jitter: 1 } });
    check('update_toxic', updated.attributes.jitter === 1, JSON.stringify(updated.toJson()));
    check('latency', Math.abs(slow - base - LATENCY_MS) <= 20, `added ${slow - base} ms`);
    await again.remove();
    const after = await p50RoundTrip(proxy.listen, 5);
    check('latency_removed', after < base + 30, `p50 ${after} ms after removal`);
  });
  await step('reset_peer', async () => {
    const toxic = await proxy.addToxic({ name: 'rst', type: 'reset_peer', stream: 'downstream', toxicity: 1,
      attributes: { timeout: 0 } });
    result.reset_error = await outcome(proxy.listen);
    check('reset_peer', result.reset_error === 'ECONNRESET', result.reset_error);
    await toxic.remove();
    result.after_reset_removed = await outcome(proxy.listen);
    check('reset_peer_removed', result.after_reset_removed === 'data', result.after_reset_removed);
  });
  await step('disable', async () => {
    const down = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    check('disable_response', down.enabled === false && down.listen === proxy.listen, JSON.stringify(down.toJson()));
    result.disabled_error = await outcome(proxy.listen);
    check('disable', result.disabled_error === 'ECONNREFUSED', result.disabled_error);
    const up = await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
    result.enabled_again = await outcome(up.listen);
    check('enable', up.enabled === true && result.enabled_again === 'data', result.enabled_again);
  });
  await step('populate', async () => {
    const ps = await toxiproxy.populate([{ name: 'node_pop', listen: '127.0.0.1:0', upstream }]);
    check('populate', ps.node_pop && !ps.node_pop.listen.endsWith(':0'), Object.keys(ps).join(','));
    await ps.node_pop.remove();
  });
  await step('reset', async () => {
    await proxy.addToxic({ name: 'x', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } });
    await toxiproxy.reset();
    let msg = 'still there';
    try { await proxy.getToxic('x'); } catch (e) { msg = e.message; }
    check('reset', /404/.test(msg), msg);
  });
  await step('remove', async () => {
    await proxy.remove();
    const all = await toxiproxy.getAll();
    check('remove', !all.node_check, Object.keys(all).join(','));
  });

  srv.close();
  result.ok = result.errors.length === 0 && Object.keys(result.checks).length > 0;
  console.log(JSON.stringify(result));
  process.exit(0); // do not wait for idle keep-alive sockets
}

main().catch((e) => {
  console.log(JSON.stringify({ client: 'toxiproxy-node-client', ok: false, errors: [String(e)] }));
  process.exit(1);
});
