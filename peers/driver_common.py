"""Shared plumbing for the Python conformance drivers (oss2_driver.py, pyv2_driver.py).

Not an SDK wrapper: only output, op bookkeeping, plain-HTTP helpers (STS admin, presigned URLs,
CORS preflight), CRC-64/XZ and the fixed test data. Every SDK call lives in the drivers.
"""
import base64
import email.utils
import hashlib
import hmac
import json
import os
import sys
import time
import traceback

import requests

# The op rows of the matrix, in execution order. All four drivers emit exactly these ops
# (keep peers/alioss_driver.js and peers/go_driver/main.go in sync).
ALL_OPS = [
    "PutBucket", "GetBucketInfo", "GetBucketLocation", "ListBuckets",
    "PutBucketAcl", "GetBucketAcl",
    "PutBucketCors", "GetBucketCors", "CorsPreflight", "OptionObject", "DeleteBucketCors",
    "PutBucketLogging", "GetBucketLogging", "DeleteBucketLogging",
    "PutBucketLifecycle", "GetBucketLifecycle", "DeleteBucketLifecycle",
    "PutBucketTags", "GetBucketTags", "DeleteBucketTags", "GetBucketVersioning",
    "PutObject", "GetObject",
    "GetObjectRange[bytes=0-4]", "GetObjectRange[bytes=5-]", "GetObjectRange[bytes=-3]",
    "GetObjectIfMatch", "GetObjectIfNoneMatch", "GetObjectIfMatchMismatch",
    "GetObjectIfModifiedSince", "GetObjectIfUnmodifiedSince",
    "GetObjectResponseContentType", "HeadObject", "GetObjectMeta",
    "Key[目录/文件 ü.txt]", "Key[a+b.txt]", "Key[100%.txt]", "Key[dir/sub/x.txt]", "Key[with space.txt]",
    "ZeroByteObject", "BigObject",
    "CopyObject[COPY]", "CopyObject[REPLACE]", "CopyObjectIfMatchMismatch",
    "AppendObject", "AppendObjectWrongPosition",
    "ListObjects[prefix]", "ListObjects[delimiter]", "ListObjects[paging]", "ListObjects[special-keys]",
    "ListObjectsV2[prefix]", "ListObjectsV2[delimiter]", "ListObjectsV2[paging]",
    "ListObjectsV2[special-keys]",
    "PutObjectAcl", "GetObjectAcl",
    "PutObjectTagging", "GetObjectTagging", "DeleteObjectTagging", "GetBucketStat", "DeleteObject",
    "DeleteMultipleObjects", "DeleteMultipleObjects[quiet]",
    "InitiateMultipartUpload", "UploadPart", "UploadPartCopy", "ListParts", "ListMultipartUploads",
    "CompleteMultipartUpload", "AbortMultipartUpload",
    "ResumableUpload", "ResumableDownload",
    "PresignGet", "PresignPut",
    "StsPutGet", "StsDenied",
    "StsPolicyReadInPrefix", "StsPolicyPutDenied", "StsPolicyOutsideDenied", "StsPolicyDenyWins",
    "ErrNoSuchKey", "ErrNoSuchBucket", "ErrSignatureDoesNotMatch", "ErrInvalidRange",
    "ErrBucketNotEmpty",
    "Cleanup", "DeleteBucket",
]

# ---------------------------------------------------------------- fixed test data
MAIN_KEY = "obj/hello.txt"
MAIN_BODY = b"Hello, OSS world! 0123456789\n"
MAIN_CTYPE = "text/plain"
MAIN_META = {"author": "alice", "project": "ossguard"}
SPECIAL_KEYS = ["目录/文件 ü.txt", "a+b.txt", "100%.txt", "dir/sub/x.txt", "with space.txt"]
LIST_KEYS = ["list/a.txt", "list/b.txt", "list/c.txt", "list/d/1.txt", "list/d/2.txt", "list/e/3.txt"]
CORS_ORIGIN = "https://example.com"
# Object tagging: its own key (the main object's headers stay as other checks expect them).
TAG_KEY, TAG_BODY = "tag/obj.txt", b"tagged object\n"
# Bucket configuration: one lifecycle rule (stored by the emulator, not applied), bucket tags.
LIFECYCLE_ID, LIFECYCLE_PREFIX, LIFECYCLE_DAYS = "expire-logs", "logs/", 3
BUCKET_TAGS = {"owner": "ossguard", "env": "conformance"}
# Keys and values: letters, digits, spaces and + - = . _ : / (ali-oss checks before sending).
TAGS = {"project": "ossguard", "note": "a b+c=d:e/f"}
PART = 100 * 1024
# STS policy checks: written by the main key; OUTSIDE_KEY shares "ro" but is not under "ro/".
RO_KEY, RO_BODY = "ro/obj.txt", b"readable with the GetObject-only token\n"
OUTSIDE_KEY = "rox/obj.txt"
RO_PUT_KEY = "ro/denied.txt"                # PutObject with the read-only token: denied
LOCKED_KEY, OPEN_KEY = "locked/x", "open/x"  # StsPolicyDenyWins
TIMEOUT = 30  # seconds, per plain-HTTP request


def special_body(key):
    return ("body of " + key + "\n").encode("utf-8")


def det_bytes(n, seed):
    """Deterministic pseudo-random bytes (sha256 counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s:%d" % (seed.encode(), i)).digest()
        i += 1
    return bytes(out[:n])


def random_file(path, size):
    """Random file written in 1 MiB chunks; returns its sha256 hex."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            chunk = os.urandom(min(left, 1 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- CRC-64/XZ (OSS x-oss-hash-crc64ecma)
def _crc_table():
    poly = 0xC96C5795D7870F42
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc64(data, crc=0):
    crc ^= 0xFFFFFFFFFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


assert crc64(b"123456789") == 11051210869376104954


# ---------------------------------------------------------------- environment
class Env:
    def __init__(self):
        e = os.environ
        self.endpoint = e.get("OSS_ENDPOINT", "http://127.0.0.1:9").rstrip("/")
        self.region = e.get("OSS_REGION", "cn-hangzhou")
        self.ak = e.get("OSS_ACCESS_KEY_ID", "")
        self.sk = e.get("OSS_ACCESS_KEY_SECRET", "")
        self.sig = e.get("OSSGUARD_SIG", "v4").lower()
        self.bucket = e.get("OSSGUARD_BUCKET", "ossguard-peer-%d" % os.getpid())
        self.admin = e.get("OSSGUARD_ADMIN", self.endpoint).rstrip("/")
        self.workdir = e.get("OSSGUARD_WORKDIR") or os.path.join("/tmp", "ossguard-peer-%d" % os.getpid())
        self.big_mb = int(e.get("OSSGUARD_BIG_MB", "20") or "20")
        # Overall budget: ops that would start after it are reported failed, not run.
        self.deadline = time.monotonic() + float(e.get("OSSGUARD_DRIVER_DEADLINE", "900"))
        os.makedirs(self.workdir, exist_ok=True)


# ---------------------------------------------------------------- plain HTTP
def http(method, url, **kw):
    kw.setdefault("timeout", TIMEOUT)
    kw.setdefault("allow_redirects", False)
    return requests.request(method, url, **kw)


# ---------------------------------------------------------------- STS (admin API)
# Policy documents of the STS checks (RAM policy grammar, as AssumeRole takes them).
def statement(effect, actions, resources):
    return {"Effect": effect, "Action": actions, "Resource": resources}


def policy(*statements):
    return {"Version": "1", "Statement": list(statements)}


def oss_arn(bucket, pattern):
    return "acs:oss:*:*:%s/%s" % (bucket, pattern)


def sts_rw_policy(bucket):
    """StsPutGet/StsDenied: GetObject + PutObject on <bucket>/sts/*."""
    return policy(statement("Allow", ["oss:GetObject", "oss:PutObject"], [oss_arn(bucket, "sts/*")]))


def sts_ro_policy(bucket):
    """StsPolicy{ReadInPrefix,PutDenied,OutsideDenied}: GetObject only, on <bucket>/ro/*."""
    return policy(statement("Allow", ["oss:GetObject"], [oss_arn(bucket, "ro/*")]))


def sts_deny_policy(bucket):
    """StsPolicyDenyWins: everything on the bucket, but PutObject under locked/ is denied."""
    return policy(statement("Allow", ["oss:*"], [oss_arn(bucket, "*")]),
                  statement("Deny", ["oss:PutObject"], [oss_arn(bucket, "locked/*")]))


def admin_post(env, path, body, secret=None):
    """POST to the admin API signed by hand with OSS V1 (HMAC-SHA1) and the permanent key:
    deliberately independent of the SDKs, so it checks the server's admin verification.
    The admin path is bucket "-" plus a key, so the canonical resource is the path itself."""
    ctype = "application/json"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    date = email.utils.formatdate(usegmt=True)  # RFC 1123, GMT
    to_sign = "\n".join(["POST", md5, ctype, date, path])
    key = (env.sk if secret is None else secret).encode()
    sig = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha1).digest()).decode()
    return http("POST", env.admin + path, data=body, headers={
        "Content-Type": ctype, "Content-MD5": md5, "Date": date,
        "Authorization": "OSS %s:%s" % (env.ak, sig)})


def refuses_bad_admin_signature(env):
    """The same request signed with a wrong secret must be refused (403 SignatureDoesNotMatch)."""
    r = admin_post(env, "/-/sts", b"{}", secret=env.sk + "x")
    if r.status_code != 403 or b"<Code>SignatureDoesNotMatch</Code>" not in r.content:
        raise CheckFailed("admin STS with a wrong secret: HTTP %d %s" % (r.status_code, r.text[:200]))


def fetch_sts(env, doc, as_string=False):
    """Temporary credentials limited by the RAM policy document `doc`, sent as an object or
    (as_string, the form STS AssumeRole takes) as a JSON string."""
    body = json.dumps({"DurationSeconds": 900,
                       "Policy": json.dumps(doc) if as_string else doc}).encode()
    r = admin_post(env, "/-/sts", body)
    if r.status_code != 200:
        raise CheckFailed("admin STS returned %d: %s" % (r.status_code, r.text[:200]))
    j = r.json()
    for k in ("access_key_id", "access_key_secret", "security_token"):
        if not j.get(k):
            raise CheckFailed("admin STS response lacks %s" % k)
    return j


def preflight(url):
    """CORS preflight with a plain HTTP client; returns a (ok, detail) pair."""
    r = http("OPTIONS", url, headers={
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-oss-meta-author",
    })
    allow = r.headers.get("Access-Control-Allow-Origin")
    ok = r.status_code == 200 and allow in (CORS_ORIGIN, "*")
    return ok, "status %d, Access-Control-Allow-Origin=%r, Allow-Methods=%r" % (
        r.status_code, allow, r.headers.get("Access-Control-Allow-Methods"))


# ---------------------------------------------------------------- bookkeeping
class CheckFailed(Exception):
    pass


class NotOffered(Exception):
    pass


class Skip(Exception):
    """ok=null with a detail (known SDK bugs)."""


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def is_conn_error(e):
    seen = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, (ConnectionError, requests.exceptions.ConnectionError,
                          requests.exceptions.Timeout)):
            return True
        s = str(x)
        if any(m in s for m in ("Connection refused", "Failed to establish a new connection",
                                "NewConnectionError", "Max retries exceeded", "timed out",
                                "RemoteDisconnected", "Connection aborted")):
            return True
        unwrap = getattr(x, "unwrap", None)
        if callable(unwrap):
            try:
                stack.append(unwrap())
            except Exception:
                pass
        stack += [x.__cause__, x.__context__]
    return False


class Runner:
    def __init__(self, sdk, env, describe, code_of):
        self.sdk = sdk
        self.env = env
        self.describe = describe  # exception -> short text
        self.code_of = code_of    # exception -> (code, http status) or (None, None)
        self.results = {}

    def emit(self, op, ok, detail=""):
        if op in self.results:
            op = op + "#dup"
        self.results[op] = ok
        rec = {"sdk": self.sdk, "sig": self.env.sig, "op": op, "ok": ok, "detail": str(detail)[:600]}
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def failed(self, op):
        return self.results.get(op) is not True

    def _blocked(self, op, needs):
        if time.monotonic() > self.env.deadline:
            self.emit(op, False, "driver deadline exceeded (OSSGUARD_DRIVER_DEADLINE)")
            return True
        for n in needs or ():
            if self.failed(n):
                self.emit(op, False, "depends on " + n)
                return True
        return False

    def run(self, op, fn, needs=None):
        """fn() -> None | str detail | (ok, detail). Exceptions -> ok=false (CheckFailed text,
        SDK error code, ...); NotOffered -> ok=null; Skip -> ok=null with its text."""
        if self._blocked(op, needs):
            return None
        try:
            r = fn()
        except NotOffered as e:
            self.emit(op, None, str(e) or "not offered by SDK")
            return None
        except Skip as e:
            self.emit(op, None, str(e))
            return None
        except CheckFailed as e:
            self.emit(op, False, str(e))
            return None
        except Exception as e:  # noqa: BLE001 - every failure is a matrix cell
            self.emit(op, False, self.describe(e))
            return e
        if r is None:
            self.emit(op, True, "")
        elif isinstance(r, tuple):
            self.emit(op, r[0], r[1])
        else:
            self.emit(op, True, r)
        return None

    def expect_error(self, op, fn, code, status=None, needs=None):
        """ok=true iff fn raises an SDK error with the given code (or HTTP status if the SDK
        gives no code, e.g. 304)."""
        if self._blocked(op, needs):
            return
        try:
            fn()
        except NotOffered as e:
            self.emit(op, None, str(e) or "not offered by SDK")
            return
        except Skip as e:
            self.emit(op, None, str(e))
            return
        except CheckFailed as e:
            self.emit(op, False, str(e))
            return
        except Exception as e:  # noqa: BLE001
            c, st = self.code_of(e)
            if c == code or (status is not None and st == status and not c):
                self.emit(op, True, "%s (HTTP %s)" % (code, st))
            else:
                self.emit(op, False, "expected %s, got %s" % (code, self.describe(e)))
            return
        self.emit(op, False, "expected %s, got success" % code)

    def not_offered(self, op, why="not offered by SDK"):
        self.emit(op, None, why)

    def unreachable_exit(self, e):
        for op in ALL_OPS:
            if op not in self.results:
                self.emit(op, False, "endpoint unreachable")
        sys.stderr.write("endpoint unreachable: %s\n" % self.describe(e))
        sys.exit(0)

    def finish(self):
        for op in ALL_OPS:
            if op not in self.results:
                self.emit(op, False, "not run (driver bug)")


def main_guard(fn):
    """Run the driver; an unexpected crash of the driver itself (a bug, not an SDK error) exits 2.
    The drivers call Runner.finish() in a finally block, so every op row is still printed."""
    try:
        fn()
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(2)
