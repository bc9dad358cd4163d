#!/usr/bin/env node
// Conformance driver for ali-oss (Node SDK, pinned 6.23.0).
// Run:  node peers/alioss_driver.js   (ali-oss is loaded from .tools/node, see peers/install)
// Contract (env in, one JSON line per op out): see peers/README.md.
//
// ali-oss specifics: the endpoint is rewritten to http://localhost:PORT with sldEnable:true
// (with an IP endpoint it rewrites Host to <bucket>.<region>.aliyuncs.com and refuses
// signatureUrl); it has no CRC-64 support (the driver checks x-oss-hash-crc64ecma itself)
// and returns HTTP 304 as a success.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const dns = require('dns');

// 'localhost' must reach an emulator bound to 127.0.0.1 even where ::1 is listed first.
dns.setDefaultResultOrder('ipv4first');

function loadSdk() {
  const local = path.join(__dirname, '..', '.tools', 'node', 'node_modules', 'ali-oss');
  try {
    return require(local);
  } catch (e) {
    return require('ali-oss');
  }
}
const OSS = loadSdk();

const SDK = 'alioss';
const ALL_OPS = [
  'PutBucket', 'GetBucketInfo', 'GetBucketLocation', 'ListBuckets',
  'PutBucketAcl', 'GetBucketAcl',
  'PutBucketCors', 'GetBucketCors', 'CorsPreflight', 'OptionObject', 'DeleteBucketCors',
  'PutBucketLogging', 'GetBucketLogging', 'DeleteBucketLogging',
  'PutBucketLifecycle', 'GetBucketLifecycle', 'DeleteBucketLifecycle',
  'PutBucketTags', 'GetBucketTags', 'DeleteBucketTags', 'GetBucketVersioning',
  'PutObject', 'GetObject',
  'GetObjectRange[bytes=0-4]', 'GetObjectRange[bytes=5-]', 'GetObjectRange[bytes=-3]',
  'GetObjectIfMatch', 'GetObjectIfNoneMatch', 'GetObjectIfMatchMismatch',
  'GetObjectIfModifiedSince', 'GetObjectIfUnmodifiedSince',
  'GetObjectResponseContentType', 'HeadObject', 'GetObjectMeta',
  'Key[目录/文件 ü.txt]', 'Key[a+b.txt]', 'Key[100%.txt]', 'Key[dir/sub/x.txt]', 'Key[with space.txt]',
  'ZeroByteObject', 'BigObject',
  'CopyObject[COPY]', 'CopyObject[REPLACE]', 'CopyObjectIfMatchMismatch',
  'AppendObject', 'AppendObjectWrongPosition',
  'ListObjects[prefix]', 'ListObjects[delimiter]', 'ListObjects[paging]', 'ListObjects[special-keys]',
  'ListObjectsV2[prefix]', 'ListObjectsV2[delimiter]', 'ListObjectsV2[paging]',
  'ListObjectsV2[special-keys]',
  'PutObjectAcl', 'GetObjectAcl',
  'PutObjectTagging', 'GetObjectTagging', 'DeleteObjectTagging', 'GetBucketStat', 'DeleteObject',
  'DeleteMultipleObjects', 'DeleteMultipleObjects[quiet]',
  'InitiateMultipartUpload', 'UploadPart', 'UploadPartCopy', 'ListParts', 'ListMultipartUploads',
  'CompleteMultipartUpload', 'AbortMultipartUpload',
  'ResumableUpload', 'ResumableDownload',
  'PresignGet', 'PresignPut',
  'StsPutGet', 'StsDenied',
  'StsPolicyReadInPrefix', 'StsPolicyPutDenied', 'StsPolicyOutsideDenied', 'StsPolicyDenyWins',
  'ErrNoSuchKey', 'ErrNoSuchBucket', 'ErrSignatureDoesNotMatch', 'ErrInvalidRange',
  'ErrBucketNotEmpty',
  'Cleanup', 'DeleteBucket',
];

const MAIN_KEY = 'obj/hello.txt';
const MAIN_BODY = Buffer.from('Hello, OSS world! 0123456789\n');
const MAIN_CTYPE = 'text/plain';
const SPECIAL_KEYS = ['目录/文件 ü.txt', 'a+b.txt', '100%.txt', 'dir/sub/x.txt', 'with space.txt'];
const LIST_KEYS = ['list/a.txt', 'list/b.txt', 'list/c.txt', 'list/d/1.txt', 'list/d/2.txt', 'list/e/3.txt'];
const CORS_ORIGIN = 'https://example.com';
const PART = 100 * 1024;
const PAST = 'Mon, 01 Jan 2001 00:00:00 GMT';
const BOGUS_ETAG = '"0123456789ABCDEF0123456789ABCDEF"';
// STS policy checks: written by the main key; OUTSIDE_KEY shares "ro" but is not under "ro/".
const RO_KEY = 'ro/obj.txt';
const RO_BODY = Buffer.from('readable with the GetObject-only token\n');
const OUTSIDE_KEY = 'rox/obj.txt';
const RO_PUT_KEY = 'ro/denied.txt'; // PutObject with the read-only token: denied
const LOCKED_KEY = 'locked/x';
const OPEN_KEY = 'open/x'; // StsPolicyDenyWins

// ------------------------------------------------------------------ env
const E = process.env;
const env = {
  endpoint: (E.OSS_ENDPOINT || 'http://127.0.0.1:9').replace(/\/+$/, ''),
  region: E.OSS_REGION || 'cn-hangzhou',
  ak: E.OSS_ACCESS_KEY_ID || '',
  sk: E.OSS_ACCESS_KEY_SECRET || '',
  sig: (E.OSSGUARD_SIG || 'v4').toLowerCase(),
  bucket: E.OSSGUARD_BUCKET || `ossguard-peer-${process.pid}`,
  admin: (E.OSSGUARD_ADMIN || E.OSS_ENDPOINT || 'http://127.0.0.1:9').replace(/\/+$/, ''),
  workdir: E.OSSGUARD_WORKDIR || path.join('/tmp', `ossguard-peer-${process.pid}`),
  bigMb: parseInt(E.OSSGUARD_BIG_MB || '20', 10) || 20,
  deadline: Date.now() + 1000 * parseFloat(E.OSSGUARD_DRIVER_DEADLINE || '900'),
};
fs.mkdirSync(env.workdir, { recursive: true });
// ali-oss: IP endpoints get a rewritten Host and no presign -> use localhost + sldEnable.
const toLocalhost = u => u.replace('://127.0.0.1', '://localhost');
env.sdkEndpoint = toLocalhost(env.endpoint);

// ------------------------------------------------------------------ helpers
class CheckFailed extends Error {}
class NotOffered extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

function describe(e) {
  if (e instanceof CheckFailed) return e.message;
  if (e && (e.code || e.status !== undefined)) {
    const msg = String(e.message || '').split('\n')[0].slice(0, 200);
    return `${e.code || e.name || ''} (HTTP ${e.status}): ${msg}`;
  }
  return `${(e && e.name) || typeof e}: ${String((e && e.message) || e).slice(0, 300)}`;
}

function isConnError(e) {
  if (!e) return false;
  if (e.status === -1 || e.status === -2) return true;
  const s = `${e.code || ''} ${e.name || ''} ${e.message || ''}`;
  return /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|socket hang up|ConnectionTimeout|RequestError|ResponseTimeout/i.test(s);
}

const results = new Map();
function emit(op, ok, detail) {
  if (results.has(op)) op += '#dup';
  results.set(op, ok);
  const rec = { sdk: SDK, sig: env.sig, op, ok, detail: String(detail === undefined ? '' : detail).slice(0, 600) };
  process.stdout.write(`${JSON.stringify(rec)}\n`);
}
const failed = op => results.get(op) !== true;

function blocked(op, needs) {
  if (Date.now() > env.deadline) {
    emit(op, false, 'driver deadline exceeded (OSSGUARD_DRIVER_DEADLINE)');
    return true;
  }
  for (const n of needs || []) {
    if (failed(n)) {
      emit(op, false, `depends on ${n}`);
      return true;
    }
  }
  return false;
}

// fn() -> undefined | string detail | [ok, detail]; returns the thrown error (or null).
async function run(op, fn, needs) {
  if (blocked(op, needs)) return null;
  try {
    const r = await fn();
    if (r === undefined || r === null) emit(op, true, '');
    else if (Array.isArray(r)) emit(op, r[0], r[1]);
    else emit(op, true, r);
    return null;
  } catch (e) {
    if (e instanceof NotOffered) emit(op, null, e.message || 'not offered by SDK');
    else emit(op, false, describe(e));
    return e;
  }
}

async function expectError(op, fn, code, needs) {
  if (blocked(op, needs)) return;
  try {
    await fn();
  } catch (e) {
    if (e instanceof CheckFailed) return emit(op, false, e.message);
    if (e && e.code === code) return emit(op, true, `${code} (HTTP ${e.status})`);
    return emit(op, false, `expected ${code}, got ${describe(e)}`);
  }
  emit(op, false, `expected ${code}, got success`);
}

function finish() {
  for (const op of ALL_OPS) if (!results.has(op)) emit(op, false, 'not run (driver bug)');
}

// Plain HTTP client (presigned URLs, CORS preflight, STS admin).
function httpRequest(method, url, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: 30000 }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('plain HTTP request timed out')));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// CRC-64/XZ (x-oss-hash-crc64ecma), small buffers only.
const CRC_TABLE = (() => {
  const poly = 0xC96C5795D7870F42n;
  const t = [];
  for (let i = 0n; i < 256n; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    t.push(c);
  }
  return t;
})();
function crc64(buf, crc = 0n) {
  const mask = 0xFFFFFFFFFFFFFFFFn;
  crc ^= mask;
  for (const b of buf) crc = CRC_TABLE[Number((crc ^ BigInt(b)) & 0xFFn)] ^ (crc >> 8n);
  return crc ^ mask;
}
if (crc64(Buffer.from('123456789')) !== 11051210869376104954n) throw new Error('crc64 self-test');

function detBytes(n, seed) {
  const out = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const d = crypto.createHash('sha256').update(`${seed}:${i}`).digest();
    out.push(d);
    len += d.length;
  }
  return Buffer.concat(out).subarray(0, n);
}
function randomFile(p, size) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'w');
  for (let left = size; left > 0;) {
    const chunk = crypto.randomBytes(Math.min(left, 1 << 20));
    h.update(chunk);
    fs.writeSync(fd, chunk);
    left -= chunk.length;
  }
  fs.closeSync(fd);
  return h.digest('hex');
}
function sha256File(p) {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}
const sha256 = b => crypto.createHash('sha256').update(b).digest('hex');
const specialBody = k => Buffer.from(`body of ${k}\n`, 'utf8');
const asArray = x => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);

function makeClient(over = {}) {
  return new OSS(Object.assign({
    endpoint: env.sdkEndpoint,
    sldEnable: true,
    region: `oss-${env.region}`,
    accessKeyId: env.ak,
    accessKeySecret: env.sk,
    bucket: env.bucket,
    authorizationV4: env.sig === 'v4',
    secure: false,
    timeout: 30000,
  }, over));
}

// ------------------------------------------------------------------ STS (admin API)
// Policy documents of the STS checks (RAM policy grammar, as AssumeRole takes them).
const statement = (Effect, Action, Resource) => ({ Effect, Action, Resource });
const policy = (...Statement) => ({ Version: '1', Statement });
const ossArn = pattern => `acs:oss:*:*:${env.bucket}/${pattern}`;
const STS_RW_POLICY = policy(statement('Allow', ['oss:GetObject', 'oss:PutObject'], [ossArn('sts/*')]));
const STS_RO_POLICY = policy(statement('Allow', ['oss:GetObject'], [ossArn('ro/*')]));
const STS_DENY_POLICY = policy(statement('Allow', ['oss:*'], [ossArn('*')]),
  statement('Deny', ['oss:PutObject'], [ossArn('locked/*')]));

// POST to the admin API signed by hand with OSS V1 (HMAC-SHA1) and the permanent key:
// deliberately independent of ali-oss, so it checks the server's admin verification. The admin
// path is bucket "-" plus a key, so the canonical resource is the path itself.
function adminPost(p, body, secret = env.sk) {
  const ctype = 'application/json';
  const md5 = crypto.createHash('md5').update(body).digest('base64');
  const date = new Date().toUTCString(); // RFC 1123, GMT
  const sig = crypto.createHmac('sha1', secret)
    .update(['POST', md5, ctype, date, p].join('\n')).digest('base64');
  return httpRequest('POST', `${env.admin}${p}`, {
    'Content-Type': ctype, 'Content-MD5': md5, 'Content-Length': Buffer.byteLength(body),
    Date: date, Authorization: `OSS ${env.ak}:${sig}`,
  }, body);
}

// The same request signed with a wrong secret must be refused (403 SignatureDoesNotMatch).
async function refusesBadAdminSignature() {
  const r = await adminPost('/-/sts', '{}', `${env.sk}x`);
  check(r.status === 403 && r.body.toString().includes('<Code>SignatureDoesNotMatch</Code>'),
    `admin STS with a wrong secret: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
}

// Temporary credentials limited by the policy document `doc`, sent as an object or (asString,
// the form STS AssumeRole takes) as a JSON string.
async function fetchSts(doc, asString = false) {
  const body = JSON.stringify({ DurationSeconds: 900, Policy: asString ? JSON.stringify(doc) : doc });
  const r = await adminPost('/-/sts', body);
  check(r.status === 200, `admin STS returned ${r.status}: ${r.body.toString().slice(0, 200)}`);
  const j = JSON.parse(r.body.toString());
  for (const k of ['access_key_id', 'access_key_secret', 'security_token']) check(j[k], `admin STS response lacks ${k}`);
  return j;
}

// ------------------------------------------------------------------ the ops
async function drive() {
  const B = env.bucket;
  const client = makeClient();
  const st = {};
  const body = MAIN_BODY;

  const e0 = await run('PutBucket', async () => { await client.putBucket(B, { acl: 'private' }); });
  if (e0 && isConnError(e0)) {
    for (const op of ALL_OPS) if (!results.has(op)) emit(op, false, 'endpoint unreachable');
    process.stderr.write(`endpoint unreachable: ${describe(e0)}\n`);
    return;
  }

  await run('GetBucketInfo', async () => {
    const b = (await client.getBucketInfo(B)).bucket;
    check(b && b.Name === B, `name ${b && b.Name}`);
    return `location=${b.Location}`;
  }, ['PutBucket']);
  await run('GetBucketLocation', async () => {
    const loc = (await client.getBucketLocation(B)).location;
    check(loc, 'empty location');
    return String(loc);
  }, ['PutBucket']);
  await run('ListBuckets', async () => {
    const r = await client.listBuckets({ prefix: B, 'max-keys': 1000 });
    const names = asArray(r.buckets).map(b => b.name);
    check(names.includes(B), `bucket not listed (got ${JSON.stringify(names.slice(0, 10))})`);
    return `${names.length} bucket(s) with prefix`;
  }, ['PutBucket']);

  await run('PutBucketAcl', async () => { await client.putBucketACL(B, 'public-read'); }, ['PutBucket']);
  await run('GetBucketAcl', async () => {
    const acl = (await client.getBucketACL(B)).acl;
    check(acl === 'public-read', `acl ${acl}, expected public-read`);
    await client.putBucketACL(B, 'private');
    check((await client.getBucketACL(B)).acl === 'private', 'reset to private failed');
    return 'public-read, then private';
  }, ['PutBucketAcl']);

  await run('PutBucketCors', async () => {
    await client.putBucketCORS(B, [{
      allowedOrigin: [CORS_ORIGIN], allowedMethod: ['GET', 'PUT'], allowedHeader: ['*'],
      exposeHeader: ['x-oss-request-id'], maxAgeSeconds: '100',
    }]);
  }, ['PutBucket']);
  await run('GetBucketCors', async () => {
    const rules = (await client.getBucketCORS(B)).rules;
    check(rules.length === 1, `${rules.length} rules`);
    const r = rules[0];
    check(JSON.stringify(asArray(r.allowedOrigin)) === JSON.stringify([CORS_ORIGIN]), `origins ${JSON.stringify(r.allowedOrigin)}`);
    check(JSON.stringify(asArray(r.allowedMethod).sort()) === '["GET","PUT"]', `methods ${JSON.stringify(r.allowedMethod)}`);
    check(String(r.maxAgeSeconds) === '100', `max age ${r.maxAgeSeconds}`);
  }, ['PutBucketCors']);
  await run('CorsPreflight', async () => {
    const r = await httpRequest('OPTIONS', `${env.endpoint}/${B}/${MAIN_KEY}`, {
      Origin: CORS_ORIGIN, 'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'x-oss-meta-author',
    });
    const allow = r.headers['access-control-allow-origin'];
    return [r.status === 200 && (allow === CORS_ORIGIN || allow === '*'),
      `status ${r.status}, Access-Control-Allow-Origin=${allow}, Allow-Methods=${r.headers['access-control-allow-methods']}`];
  }, ['PutBucketCors']);
  emit('OptionObject', null, 'not offered by SDK');
  await run('DeleteBucketCors', async () => {
    await client.deleteBucketCORS(B);
    try {
      await client.getBucketCORS(B);
    } catch (e) {
      check(e.code === 'NoSuchCORSConfiguration', `after delete: ${describe(e)}`);
      return 'then GetBucketCors -> NoSuchCORSConfiguration';
    }
    throw new CheckFailed('GetBucketCors still succeeds after delete');
  }, ['PutBucketCors']);

  await run('PutBucketLogging', async () => { await client.putBucketLogging(B, 'log/'); }, ['PutBucket']);
  await run('GetBucketLogging', async () => {
    const r = await client.getBucketLogging(B);
    check(r.enable && r.prefix === 'log/', `enable=${r.enable} prefix=${r.prefix}`);
    return 'target = same bucket (ali-oss cannot name another), prefix log/';
  }, ['PutBucketLogging']);
  await run('DeleteBucketLogging', async () => {
    await client.deleteBucketLogging(B);
    const r = await client.getBucketLogging(B);
    check(!r.enable, 'still logging');
  }, ['PutBucketLogging']);

  await run('PutBucketLifecycle', async () => {
    await client.putBucketLifecycle(B, [
      { id: 'expire-logs', prefix: 'logs/', status: 'Enabled', expiration: { days: 3 } },
    ]);
  }, ['PutBucket']);
  await run('GetBucketLifecycle', async () => {
    const { rules } = await client.getBucketLifecycle(B);
    check(rules && rules.length === 1, `rules ${JSON.stringify(rules)}`);
    const r = rules[0];
    const got = [r.id, r.prefix, r.status, String(r.expiration && r.expiration.days)];
    check(JSON.stringify(got) === JSON.stringify(['expire-logs', 'logs/', 'Enabled', '3']),
      `rule ${JSON.stringify(r)}`);
  }, ['PutBucketLifecycle']);
  await run('DeleteBucketLifecycle', async () => {
    await client.deleteBucketLifecycle(B);
  }, ['PutBucketLifecycle']);
  const BUCKET_TAGS = { owner: 'ossguard', env: 'conformance' };
  const sortedTags = o => JSON.stringify(Object.entries(o || {}).sort());
  await run('PutBucketTags', async () => { await client.putBucketTags(B, BUCKET_TAGS); }, ['PutBucket']);
  await run('GetBucketTags', async () => {
    const { tag } = await client.getBucketTags(B);
    check(sortedTags(tag) === sortedTags(BUCKET_TAGS), `tags ${JSON.stringify(tag)}`);
  }, ['PutBucketTags']);
  await run('DeleteBucketTags', async () => {
    await client.deleteBucketTags(B);
    const { tag } = await client.getBucketTags(B);
    check(Object.keys(tag || {}).length === 0, `tags after delete ${JSON.stringify(tag)}`);
  }, ['GetBucketTags']);
  await run('GetBucketVersioning', async () => {
    const { versionStatus } = await client.getBucketVersioning(B);
    check(versionStatus === undefined || versionStatus === null,
      `status ${versionStatus} (never enabled)`);
  }, ['PutBucket']);

  // ---------------------------------------------------------------- objects
  await run('PutObject', async () => {
    const r = await client.put(MAIN_KEY, body, { mime: MAIN_CTYPE, meta: { author: 'alice', project: 'ossguard' } });
    const h = r.res.headers;
    check(h.etag, 'no ETag');
    st.etag = h.etag;
    const crc = h['x-oss-hash-crc64ecma'];
    check(crc === undefined || crc === String(crc64(body)), `server CRC ${crc} != ${crc64(body)}`);
    return `etag=${h.etag} crc=${crc}`;
  }, ['PutBucket']);

  await run('GetObject', async () => {
    const r = await client.get(MAIN_KEY);
    check(Buffer.compare(r.content, body) === 0, `body mismatch (${r.content.length} bytes)`);
    const h = r.res.headers;
    check(h['content-type'] === MAIN_CTYPE, `content-type ${h['content-type']}`);
    check(h['x-oss-meta-author'] === 'alice', `meta author ${h['x-oss-meta-author']}`);
    st.lastModified = h['last-modified'];
    const crc = h['x-oss-hash-crc64ecma'];
    check(crc === undefined || crc === String(crc64(body)), `x-oss-hash-crc64ecma ${crc}`);
    return `${r.content.length} bytes`;
  }, ['PutObject']);

  for (const [rng, exp] of [['bytes=0-4', body.subarray(0, 5)], ['bytes=5-', body.subarray(5)], ['bytes=-3', body.subarray(body.length - 3)]]) {
    await run(`GetObjectRange[${rng}]`, async () => {
      const r = await client.get(MAIN_KEY, { headers: { Range: rng } });
      check(r.res.status === 206, `status ${r.res.status}`);
      check(Buffer.compare(r.content, exp) === 0, `got ${JSON.stringify(r.content.toString())} expected ${JSON.stringify(exp.toString())}`);
      return `206 ${r.res.headers['content-range']}`;
    }, ['PutObject']);
  }

  const getWith = headers => client.get(MAIN_KEY, { headers });
  await run('GetObjectIfMatch', async () => {
    const r = await getWith({ 'If-Match': st.etag });
    check(r.res.status === 200 && Buffer.compare(r.content, body) === 0, `status ${r.res.status}`);
  }, ['PutObject']);
  // ali-oss lists 304 among GET's success statuses: NotModified comes back as a result.
  await run('GetObjectIfNoneMatch', async () => {
    const r = await getWith({ 'If-None-Match': st.etag });
    check(r.res.status === 304, `status ${r.res.status}, expected 304`);
    return 'NotModified (HTTP 304, returned as success by ali-oss)';
  }, ['PutObject']);
  await expectError('GetObjectIfMatchMismatch', () => getWith({ 'If-Match': BOGUS_ETAG }), 'PreconditionFailed', ['PutObject']);
  await run('GetObjectIfModifiedSince', async () => {
    const a = await getWith({ 'If-Modified-Since': PAST });
    check(a.res.status === 200 && Buffer.compare(a.content, body) === 0, `past date: status ${a.res.status}`);
    const b = await getWith({ 'If-Modified-Since': st.lastModified });
    check(b.res.status === 304, `at Last-Modified: status ${b.res.status}, expected 304`);
    return 'past -> 200, Last-Modified -> 304';
  }, ['GetObject']);
  await run('GetObjectIfUnmodifiedSince', async () => {
    const a = await getWith({ 'If-Unmodified-Since': st.lastModified });
    check(a.res.status === 200 && Buffer.compare(a.content, body) === 0, `at Last-Modified: status ${a.res.status}`);
    try {
      await getWith({ 'If-Unmodified-Since': PAST });
    } catch (e) {
      check(e.code === 'PreconditionFailed', `past date: ${describe(e)}`);
      return 'Last-Modified -> 200, past -> PreconditionFailed';
    }
    throw new CheckFailed('If-Unmodified-Since=past returned 200, expected PreconditionFailed');
  }, ['GetObject']);
  await run('GetObjectResponseContentType', async () => {
    const r = await client.get(MAIN_KEY, { subres: { 'response-content-type': 'application/x-ossguard' } });
    check(r.res.headers['content-type'] === 'application/x-ossguard', `Content-Type ${r.res.headers['content-type']}`);
  }, ['PutObject']);
  await run('HeadObject', async () => {
    const r = await client.head(MAIN_KEY);
    const h = r.res.headers;
    check(String(h['content-length']) === String(body.length), `content-length ${h['content-length']}`);
    check(r.meta && r.meta.author === 'alice' && r.meta.project === 'ossguard', `meta ${JSON.stringify(r.meta)}`);
    check(h['x-oss-hash-crc64ecma'] === String(crc64(body)), `x-oss-hash-crc64ecma ${h['x-oss-hash-crc64ecma']} != ${crc64(body)}`);
    check(h.etag === st.etag, `etag ${h.etag}`);
    return `len=${h['content-length']} crc=${h['x-oss-hash-crc64ecma']}`;
  }, ['PutObject']);
  await run('GetObjectMeta', async () => {
    const r = await client.getObjectMeta(MAIN_KEY);
    const h = r.res.headers;
    check(String(h['content-length']) === String(body.length), `content-length ${h['content-length']}`);
    check(h.etag === st.etag, `etag ${h.etag}`);
    const crc = h['x-oss-hash-crc64ecma'];
    check(crc === undefined || crc === String(crc64(body)), `crc ${crc}`);
  }, ['PutObject']);

  for (const key of SPECIAL_KEYS) {
    await run(`Key[${key}]`, async () => {
      const data = specialBody(key);
      await client.put(key, data);
      const got = (await client.get(key)).content;
      check(Buffer.compare(got, data) === 0, `body mismatch: ${JSON.stringify(got.toString().slice(0, 60))}`);
    }, ['PutBucket']);
  }

  await run('ZeroByteObject', async () => {
    const r = await client.put('obj/empty', Buffer.alloc(0));
    const crc = r.res.headers['x-oss-hash-crc64ecma'];
    check(crc === undefined || crc === '0', `crc ${crc}`);
    const got = (await client.get('obj/empty')).content;
    check(got.length === 0, `got ${got.length} bytes`);
    const h = await client.getObjectMeta('obj/empty');
    check(String(h.res.headers['content-length']) === '0', 'head length != 0');
  }, ['PutBucket']);

  await run('BigObject', async () => {
    const src = path.join(env.workdir, 'alioss-big.bin');
    const dst = path.join(env.workdir, 'alioss-big.out');
    const sha = randomFile(src, env.bigMb << 20);
    await client.put('big/object.bin', src);
    await client.get('big/object.bin', dst);
    check(sha256File(dst) === sha, 'sha256 mismatch');
    fs.unlinkSync(dst);
    fs.unlinkSync(src);
    return `${env.bigMb} MiB, sha256 ok (ali-oss has no CRC-64 check)`;
  }, ['PutBucket']);

  await run('CopyObject[COPY]', async () => {
    await client.copy('copy/copy.txt', MAIN_KEY);
    const r = await client.get('copy/copy.txt');
    check(Buffer.compare(r.content, body) === 0, 'body mismatch');
    check(r.res.headers['x-oss-meta-author'] === 'alice', 'metadata not copied');
    check(r.res.headers['content-type'] === MAIN_CTYPE, `content-type ${r.res.headers['content-type']}`);
  }, ['PutObject']);
  await run('CopyObject[REPLACE]', async () => {
    // ali-oss sets x-oss-metadata-directive: REPLACE itself when meta is given.
    await client.copy('copy/replace.txt', MAIN_KEY, { meta: { author: 'bob' }, headers: { 'Content-Type': 'application/x-replaced' } });
    const r = await client.head('copy/replace.txt');
    check(r.meta && r.meta.author === 'bob', `author ${JSON.stringify(r.meta)}`);
    check(!('project' in (r.meta || {})), 'old meta kept');
    check(r.res.headers['content-type'] === 'application/x-replaced', `content-type ${r.res.headers['content-type']}`);
    check(Buffer.compare((await client.get('copy/replace.txt')).content, body) === 0, 'body mismatch');
  }, ['PutObject']);
  // ali-oss turns options.headers[X] into x-oss-copy-source-X for copy().
  await expectError('CopyObjectIfMatchMismatch',
    () => client.copy('copy/never.txt', MAIN_KEY, { headers: { 'If-Match': BOGUS_ETAG } }), 'PreconditionFailed', ['PutObject']);

  await run('AppendObject', async () => {
    const key = 'append/log.txt';
    const chunks = [Buffer.from('first,'), Buffer.from('second,'), Buffer.from('third')];
    let pos = 0;
    let crc = 0n;
    for (const c of chunks) {
      const r = await client.append(key, c, { position: String(pos) });
      check(Number(r.nextAppendPosition) === pos + c.length, `next position ${r.nextAppendPosition} after ${pos}`);
      crc = crc64(c, crc);
      const sc = r.res.headers['x-oss-hash-crc64ecma'];
      check(sc === undefined || sc === String(crc), `cumulative crc ${sc} != ${crc}`);
      pos = Number(r.nextAppendPosition);
    }
    const got = (await client.get(key)).content;
    check(Buffer.compare(got, Buffer.concat(chunks)) === 0, `content ${JSON.stringify(got.toString())}`);
    const h = await client.head(key);
    check(h.res.headers['x-oss-object-type'] === 'Appendable', `object type ${h.res.headers['x-oss-object-type']}`);
    return `positions ok, next=${pos}`;
  }, ['PutBucket']);
  await expectError('AppendObjectWrongPosition',
    () => client.append('append/log.txt', Buffer.from('bad'), { position: '3' }), 'PositionNotEqualToLength', ['AppendObject']);

  // ---------------------------------------------------------------- listing
  let putErr = null;
  try {
    for (const k of LIST_KEYS) await client.put(k, Buffer.from(k));
  } catch (e) {
    putErr = describe(e);
  }
  const keysOf = r => asArray(r.objects).map(o => o.name);
  const doList = (v2, q) => {
    if (v2) return client.listV2(Object.assign({}, q));
    const q1 = Object.assign({}, q);
    if (q1['continuation-token']) { q1.marker = q1['continuation-token']; delete q1['continuation-token']; }
    return client.list(q1);
  };
  for (const [v2, name] of [[false, 'ListObjects'], [true, 'ListObjectsV2']]) {
    await run(`${name}[prefix]`, async () => {
      check(!putErr, `setup failed: ${putErr}`);
      const keys = keysOf(await doList(v2, { prefix: 'list/', 'max-keys': 100 }));
      check(JSON.stringify(keys) === JSON.stringify(LIST_KEYS), `keys ${JSON.stringify(keys)}`);
    }, ['PutBucket']);
    await run(`${name}[delimiter]`, async () => {
      check(!putErr, `setup failed: ${putErr}`);
      const r = await doList(v2, { prefix: 'list/', delimiter: '/', 'max-keys': 100 });
      check(JSON.stringify(keysOf(r)) === '["list/a.txt","list/b.txt","list/c.txt"]', `keys ${JSON.stringify(keysOf(r))}`);
      check(JSON.stringify(asArray(r.prefixes)) === '["list/d/","list/e/"]', `common prefixes ${JSON.stringify(r.prefixes)}`);
    }, ['PutBucket']);
    await run(`${name}[paging]`, async () => {
      check(!putErr, `setup failed: ${putErr}`);
      let keys = [];
      let pages = 0;
      let token = null;
      while (pages < 10) {
        pages += 1;
        const q = { prefix: 'list/', 'max-keys': 2 };
        if (token) q['continuation-token'] = token;
        const r = await doList(v2, q);
        token = v2 ? r.nextContinuationToken : r.nextMarker;
        check(keysOf(r).length <= 2, `page of ${keysOf(r).length}`);
        keys = keys.concat(keysOf(r));
        if (!r.isTruncated) break;
        check(token, 'truncated but no next marker/token');
      }
      check(JSON.stringify(keys) === JSON.stringify(LIST_KEYS), `keys ${JSON.stringify(keys)}`);
      check(pages === 3, `${pages} pages`);
      return '3 pages of <=2';
    }, ['PutBucket']);
    await run(`${name}[special-keys]`, async () => {
      let keys = [];
      let token = null;
      for (let i = 0; i < 100; i++) {
        const q = { 'max-keys': 1000 };
        if (token) q['continuation-token'] = token;
        const r = await doList(v2, q);
        keys = keys.concat(keysOf(r));
        token = v2 ? r.nextContinuationToken : r.nextMarker;
        if (!r.isTruncated) break;
      }
      const missing = SPECIAL_KEYS.filter(k => !keys.includes(k));
      check(missing.length === 0, `missing ${JSON.stringify(missing)} (ali-oss sends no encoding-type)`);
    }, [`Key[${SPECIAL_KEYS[0]}]`]);
  }

  await run('PutObjectAcl', async () => { await client.putACL(MAIN_KEY, 'public-read'); }, ['PutObject']);
  await run('GetObjectAcl', async () => {
    const acl = (await client.getACL(MAIN_KEY)).acl;
    check(acl === 'public-read', `acl ${acl}`);
  }, ['PutObjectAcl']);
  const TAG_KEY = 'tag/obj.txt';
  const TAG_BODY = Buffer.from('tagged object\n');
  const TAGS = { project: 'ossguard', note: 'a b+c=d:e/f' };
  await run('PutObjectTagging', async () => {
    await client.put(TAG_KEY, TAG_BODY);
    await client.putObjectTagging(TAG_KEY, TAGS);
  }, ['PutObject']);
  await run('GetObjectTagging', async () => {
    const { tag } = await client.getObjectTagging(TAG_KEY);
    const sorted = o => JSON.stringify(Object.entries(o).sort());
    check(sorted(tag) === sorted(TAGS), `tags ${JSON.stringify(tag)}`);
    const n = (await client.head(TAG_KEY)).res.headers['x-oss-tagging-count'];
    check(n === String(Object.keys(TAGS).length), `x-oss-tagging-count ${n}`);
  }, ['PutObjectTagging']);
  await run('DeleteObjectTagging', async () => {
    await client.deleteObjectTagging(TAG_KEY);
    const { tag } = await client.getObjectTagging(TAG_KEY);
    check(Object.keys(tag).length === 0, `tags after delete ${JSON.stringify(tag)}`);
    const body = (await client.get(TAG_KEY)).content;
    check(Buffer.compare(body, TAG_BODY) === 0, 'object bytes changed');
  }, ['GetObjectTagging']);
  await run('GetBucketStat', async () => {
    const { stat } = await client.getBucketStat(B);
    const [objects, bytes] = [Number(stat.ObjectCount), Number(stat.Storage)];
    check(objects >= 2 && bytes >= TAG_BODY.length, `objects ${objects}, bytes ${bytes}`);
    check(Number(stat.StandardObjectCount) === objects, `standard ${stat.StandardObjectCount}`);
  }, ['PutObjectTagging']);
  await run('DeleteObject', async () => {
    await client.put('del/single.txt', Buffer.from('x'));
    await client.delete('del/single.txt');
    try {
      await client.head('del/single.txt');
      throw new CheckFailed('still exists');
    } catch (e) {
      if (e instanceof CheckFailed) throw e;
      check(e.code === 'NoSuchKey' || e.status === 404, `head after delete: ${describe(e)}`);
    }
    await client.delete('del/never-existed.txt');
  }, ['PutBucket']);
  for (const quiet of [false, true]) {
    await run(quiet ? 'DeleteMultipleObjects[quiet]' : 'DeleteMultipleObjects', async () => {
      const prefix = quiet ? 'delq/' : 'del/';
      const keys = [`${prefix}1.txt`, `${prefix}2.txt`, `${prefix}x+y z.txt`];
      for (const k of keys) await client.put(k, Buffer.from('x'));
      const r = await client.deleteMulti(keys, { quiet });
      const deleted = asArray(r.deleted).map(d => (typeof d === 'string' ? d : d.Key)).sort();
      if (quiet) check(deleted.length === 0, `quiet delete listed ${JSON.stringify(deleted)}`);
      else check(JSON.stringify(deleted) === JSON.stringify(keys.slice().sort()), `deleted ${JSON.stringify(deleted)}`);
      const left = keysOf(await client.listV2({ prefix }));
      check(left.length === 0, `left ${JSON.stringify(left)}`);
    }, ['PutBucket']);
  }

  // ---------------------------------------------------------------- multipart by hand
  const mkey = 'mp/manual.bin';
  const p1 = detBytes(PART, 'p1');
  const p2 = detBytes(PART, 'p2');
  const p4 = Buffer.from('0123456789');
  const src = detBytes(150 * 1024, 'copysrc');
  const c0 = 1000;
  const c1 = 1000 + PART - 1;
  const mp = {};
  await run('InitiateMultipartUpload', async () => {
    mp.id = (await client.initMultipartUpload(mkey, { mime: 'application/octet-stream' })).uploadId;
    check(mp.id, 'empty upload id');
  }, ['PutBucket']);
  await run('UploadPart', async () => {
    mp.parts = [];
    for (const [n, data] of [[1, p1], [2, p2], [4, p4]]) {
      const r = await client.uploadPart(mkey, mp.id, n, data, 0, data.length);
      const crc = r.res.headers['x-oss-hash-crc64ecma'];
      check(crc === undefined || crc === String(crc64(data)), `part ${n} crc ${crc}`);
      mp.parts.push({ number: n, etag: r.etag });
    }
    return 'parts 1,2 (100 KiB) and 4 (10 B)';
  }, ['InitiateMultipartUpload']);
  await run('UploadPartCopy', async () => {
    await client.put('mp/copy-source.bin', src);
    const r = await client.uploadPartCopy(mkey, mp.id, 3, `${c0}-${c1}`, { sourceKey: 'mp/copy-source.bin', sourceBucketName: B });
    mp.copy = { number: 3, etag: r.etag };
    return `part 3 = source bytes ${c0}-${c1}`;
  }, ['InitiateMultipartUpload']);
  const allParts = () => mp.parts.concat(mp.copy ? [mp.copy] : []).sort((a, b) => a.number - b.number);
  await run('ListParts', async () => {
    const parts = asArray((await client.listParts(mkey, mp.id)).parts);
    const got = JSON.stringify(parts.map(p => [Number(p.PartNumber), Number(p.Size)]));
    const want = JSON.stringify([[1, PART], [2, PART]].concat(mp.copy ? [[3, PART]] : []).concat([[4, 10]]));
    check(got === want, `parts ${got}, expected ${want}`);
    const mine = new Map(allParts().map(p => [p.number, p.etag]));
    for (const p of parts) check(p.ETag === mine.get(Number(p.PartNumber)), `etag of part ${p.PartNumber}: ${p.ETag} != ${mine.get(Number(p.PartNumber))}`);
  }, ['UploadPart']);
  await run('ListMultipartUploads', async () => {
    mp.abortId = (await client.initMultipartUpload('mp/aborted.bin')).uploadId;
    const ups = asArray((await client.listUploads({ prefix: 'mp/' })).uploads);
    const got = ups.map(u => `${u.name}|${u.uploadId}`);
    check(got.includes(`${mkey}|${mp.id}`) && got.includes(`mp/aborted.bin|${mp.abortId}`), `uploads ${JSON.stringify(got)}`);
    return `${got.length} upload(s)`;
  }, ['InitiateMultipartUpload']);
  await run('CompleteMultipartUpload', async () => {
    const parts = allParts();
    await client.completeMultipartUpload(mkey, mp.id, parts);
    const want = Buffer.concat([p1, p2].concat(mp.copy ? [src.subarray(c0, c1 + 1)] : []).concat([p4]));
    const got = (await client.get(mkey)).content;
    check(Buffer.compare(got, want) === 0, `content mismatch (${got.length} vs ${want.length} bytes)`);
    return `${parts.length} parts, ${got.length} bytes`;
  }, ['UploadPart']);
  await run('AbortMultipartUpload', async () => {
    const uid = mp.abortId || (await client.initMultipartUpload('mp/aborted.bin')).uploadId;
    await client.uploadPart('mp/aborted.bin', uid, 1, Buffer.from('abc'), 0, 3);
    await client.abortMultipartUpload('mp/aborted.bin', uid);
    const ups = asArray((await client.listUploads({ prefix: 'mp/aborted.bin' })).uploads);
    check(!ups.some(u => u.uploadId === uid), 'upload still listed');
    try {
      await client.listParts('mp/aborted.bin', uid);
    } catch (e) {
      check(e.code === 'NoSuchUpload', `ListParts after abort: ${describe(e)}`);
      return 'then ListParts -> NoSuchUpload';
    }
    throw new CheckFailed('ListParts after abort succeeded');
  }, ['PutBucket']);

  // ---------------------------------------------------------------- resumable (multipartUpload + checkpoint)
  await run('ResumableUpload', async () => {
    const file = path.join(env.workdir, 'alioss-resumable.bin');
    const cpFile = path.join(env.workdir, 'alioss-checkpoint.json');
    const size = (1 << 20) + 12345;
    const sha = randomFile(file, size);
    // First attempt: sequential parts, cancelled after 3 parts; the checkpoint goes to a file.
    let cancelled = false;
    try {
      await client.multipartUpload('resumable/up.bin', file, {
        partSize: 128 * 1024, parallel: 1,
        progress: async (p, cpt) => {
          if (cpt) fs.writeFileSync(cpFile, JSON.stringify(cpt));
          if (cpt && cpt.doneParts && cpt.doneParts.length >= 3) client.cancel();
        },
      });
    } catch (e) {
      if (e && e.name === 'cancel') cancelled = true;
      else throw e;
    }
    let detail = 'not interrupted';
    if (cancelled) {
      const cpt = JSON.parse(fs.readFileSync(cpFile, 'utf8'));
      detail = `cancelled after ${cpt.doneParts.length} parts, resumed from checkpoint file`;
      await client.multipartUpload('resumable/up.bin', file, { checkpoint: cpt, partSize: 128 * 1024, parallel: 3 });
    }
    const got = (await client.get('resumable/up.bin')).content;
    check(got.length === size, `length ${got.length}`);
    check(sha256(got) === sha, 'sha256 mismatch');
    return detail;
  }, ['PutBucket']);
  emit('ResumableDownload', null, 'not offered by SDK');

  // ---------------------------------------------------------------- presigned URLs
  const v4 = env.sig === 'v4';
  await run('PresignGet', async () => {
    const url = v4 ? await client.signatureUrlV4('GET', 300, { headers: {} }, MAIN_KEY)
      : client.signatureUrl(MAIN_KEY, { method: 'GET', expires: 300 });
    const r = await httpRequest('GET', url);
    check(r.status === 200, `HTTP ${r.status}: ${r.body.toString().slice(0, 200)}`);
    check(Buffer.compare(r.body, body) === 0, 'body mismatch');
    return 'HTTP 200';
  }, ['PutObject']);
  await run('PresignPut', async () => {
    const data = Buffer.from('uploaded through a presigned URL\n');
    const url = v4 ? await client.signatureUrlV4('PUT', 300, { headers: { 'Content-Type': 'text/plain' } }, 'presign/put.txt')
      : client.signatureUrl('presign/put.txt', { method: 'PUT', expires: 300, 'Content-Type': 'text/plain' });
    const r = await httpRequest('PUT', url, { 'Content-Type': 'text/plain', 'Content-Length': data.length }, data);
    check(r.status === 200, `HTTP ${r.status}: ${r.body.toString().slice(0, 200)}`);
    check(Buffer.compare((await client.get('presign/put.txt')).content, data) === 0, 'stored body mismatch');
  }, ['PutBucket']);

  // ---------------------------------------------------------------- STS
  const stsClient = c => makeClient({ accessKeyId: c.access_key_id, accessKeySecret: c.access_key_secret, stsToken: c.security_token });
  // Does the main key see `key`? (HEAD: 404 -> false, other errors propagate.)
  const exists = async key => {
    try {
      await client.head(key);
      return true;
    } catch (e) {
      if (e.status === 404) return false;
      throw e;
    }
  };
  await run('StsPutGet', async () => {
    await refusesBadAdminSignature();
    st.sts = stsClient(await fetchSts(STS_RW_POLICY, true));
    const data = Buffer.from('written with STS credentials\n');
    await st.sts.put('sts/obj.txt', data);
    check(Buffer.compare((await st.sts.get('sts/obj.txt')).content, data) === 0, 'body mismatch');
    return 'policy as a JSON string; wrongly signed admin request refused';
  }, ['PutBucket']);
  await expectError('StsDenied', async () => {
    if (!st.sts) throw new CheckFailed('depends on StsPutGet (no STS credentials)');
    await st.sts.put('nosts/obj.txt', Buffer.from('must be denied'));
  }, 'AccessDenied', ['PutBucket']);

  // A GetObject-only token on ro/*; the main key writes what it reads.
  let roErr = null;
  try {
    await client.put(RO_KEY, RO_BODY);
    await client.put(OUTSIDE_KEY, Buffer.from('outside ro/\n'));
    st.ro = stsClient(await fetchSts(STS_RO_POLICY));
  } catch (e) {
    roErr = describe(e);
  }
  const roToken = () => {
    check(roErr === null, `setup failed: ${roErr}`);
    return st.ro;
  };
  await run('StsPolicyReadInPrefix', async () => {
    check(Buffer.compare((await roToken().get(RO_KEY)).content, RO_BODY) === 0, 'body mismatch');
    return `GET ${RO_KEY}`;
  }, ['PutBucket']);
  await expectError('StsPolicyPutDenied', async () => {
    const ro = roToken();
    try {
      await ro.put(RO_PUT_KEY, Buffer.from('must be denied'));
    } finally {
      check(!(await exists(RO_PUT_KEY)), `a refused PutObject wrote ${RO_PUT_KEY}`);
    }
  }, 'AccessDenied', ['PutBucket']);
  await expectError('StsPolicyOutsideDenied', () => roToken().get(OUTSIDE_KEY), 'AccessDenied', ['PutBucket']);
  await run('StsPolicyDenyWins', async () => {
    const tok = stsClient(await fetchSts(STS_DENY_POLICY));
    let locked;
    try {
      await tok.put(LOCKED_KEY, Buffer.from('must be denied'));
    } catch (e) {
      check(e.code === 'AccessDenied', `PutObject ${LOCKED_KEY}: expected AccessDenied, got ${describe(e)}`);
      locked = `${e.code} (HTTP ${e.status})`;
    }
    check(locked, `PutObject ${LOCKED_KEY} succeeded: the Deny statement did not win`);
    check(!(await exists(LOCKED_KEY)), `a refused PutObject wrote ${LOCKED_KEY}`);
    await tok.put(OPEN_KEY, Buffer.from('allowed\n'));
    check((await client.get(OPEN_KEY)).content.toString() === 'allowed\n', `body of ${OPEN_KEY} mismatch`);
    return `PutObject ${LOCKED_KEY} -> ${locked}; PutObject ${OPEN_KEY} -> ok`;
  }, ['PutBucket']);

  // ---------------------------------------------------------------- error cases
  await expectError('ErrNoSuchKey', () => client.get('missing/nope.txt'), 'NoSuchKey', ['PutBucket']);
  await expectError('ErrNoSuchBucket', () => makeClient({ bucket: `${B.slice(0, 55)}-nx` }).get('x.txt'), 'NoSuchBucket');
  await expectError('ErrSignatureDoesNotMatch', () => makeClient({ accessKeySecret: `${env.sk}x` }).get(MAIN_KEY),
    'SignatureDoesNotMatch', ['PutBucket']);
  await expectError('ErrInvalidRange',
    () => client.get(MAIN_KEY, { headers: { Range: 'bytes=1000-2000', 'x-oss-range-behavior': 'standard' } }),
    'InvalidRange', ['PutObject']);
  await expectError('ErrBucketNotEmpty', () => client.deleteBucket(B), 'BucketNotEmpty', ['PutObject']);

  // ---------------------------------------------------------------- cleanup
  await run('Cleanup', async () => {
    for (let i = 0; i < 100; i++) {
      const r = await client.listUploads({ 'max-uploads': 1000 });
      const ups = asArray(r.uploads);
      for (const u of ups) await client.abortMultipartUpload(u.name, u.uploadId);
      if (!r.isTruncated || ups.length === 0) break;
    }
    let n = 0;
    for (let i = 0; i < 100; i++) {
      const keys = keysOf(await client.listV2({ 'max-keys': 1000 }));
      if (keys.length === 0) break;
      await client.deleteMulti(keys, { quiet: true });
      n += keys.length;
    }
    const left = keysOf(await client.listV2({}));
    check(left.length === 0, `left ${JSON.stringify(left.slice(0, 5))}`);
    return `deleted ${n} objects`;
  }, ['PutBucket']);
  await run('DeleteBucket', async () => {
    await client.deleteBucket(B);
    try {
      await client.getBucketInfo(B);
    } catch (e) {
      check(e.code === 'NoSuchBucket', `GetBucketInfo after delete: ${describe(e)}`);
      return 'then GetBucketInfo -> NoSuchBucket';
    }
    throw new CheckFailed('bucket still exists after DeleteBucket');
  }, ['PutBucket']);
}

drive()
  .then(() => { finish(); process.exit(0); })
  .catch(e => {
    finish();
    process.stderr.write(`driver crashed: ${(e && e.stack) || e}\n`);
    process.exit(2);
  });
