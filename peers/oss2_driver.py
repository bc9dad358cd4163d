#!/usr/bin/env python3
"""Conformance driver for the oss2 SDK (Python v1 SDK, pinned 2.19.1).

Run with the venv from peers/install:  .tools/venv/bin/python peers/oss2_driver.py
Contract (env in, one JSON line per op out): see peers/README.md.
"""
import email.utils
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ inside peers/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import oss2  # noqa: E402
from oss2.models import BucketCors, BucketLogging, CorsRule, PartInfo  # noqa: E402

import driver_common as C  # noqa: E402
from driver_common import check, CheckFailed, NotOffered, Skip  # noqa: E402,F401

SDK = "oss2"
PAST = "Mon, 01 Jan 2001 00:00:00 GMT"


def describe(e):
    if isinstance(e, oss2.exceptions.OssError):
        if e.status is None or e.status < 0:  # client side: RequestError, InconsistentError, ...
            body = e.body.decode("utf-8", "replace") if isinstance(e.body, bytes) else str(e.body)
            return "%s: %s" % (type(e).__name__, body[:300])
        code = e.code or ("NotModified" if e.status == 304 else "")
        return "%s (HTTP %s): %s" % (code, e.status, (e.message or str(e.details or ""))[:200])
    return "%s: %s" % (type(e).__name__, str(e)[:300])


def code_of(e):
    if isinstance(e, oss2.exceptions.OssError):
        code = e.code or ("NotModified" if e.status == 304 else None)
        return code, e.status
    return None, None


def main():
    env = C.Env()
    R = C.Runner(SDK, env, describe, code_of)
    try:
        drive(env, R)
    finally:
        R.finish()


def drive(env, R):
    v4 = env.sig == "v4"
    oss2.defaults.connect_timeout = 30
    oss2.defaults.request_retries = 2

    def make_auth(ak, sk):
        return oss2.AuthV4(ak, sk) if v4 else oss2.Auth(ak, sk)

    auth = make_auth(env.ak, env.sk)

    def make_bucket(a, name=env.bucket):
        return oss2.Bucket(a, env.endpoint, name, region=env.region, connect_timeout=30,
                           enable_crc=True)

    bucket = make_bucket(auth)
    st = {}

    # ------------------------------------------------------------ bucket
    err = R.run("PutBucket", lambda: bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE) and None)
    if err is not None and C.is_conn_error(err):
        R.unreachable_exit(err)

    def get_bucket_info():
        info = bucket.get_bucket_info()
        check(info.name == env.bucket, "name %r" % info.name)
        return "location=%s acl=%s" % (info.location, info.acl.grant if info.acl else None)
    R.run("GetBucketInfo", get_bucket_info, needs=["PutBucket"])

    def get_bucket_location():
        loc = bucket.get_bucket_location().location
        check(bool(loc), "empty location")
        return loc
    R.run("GetBucketLocation", get_bucket_location, needs=["PutBucket"])

    def list_buckets():
        svc = oss2.Service(auth, env.endpoint, region=env.region, connect_timeout=30)
        names = [b.name for b in oss2.BucketIterator(svc, prefix=env.bucket)]
        check(env.bucket in names, "bucket not listed (got %r)" % names[:10])
        return "%d bucket(s) with prefix" % len(names)
    R.run("ListBuckets", list_buckets, needs=["PutBucket"])

    R.run("PutBucketAcl", lambda: bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ) and None,
          needs=["PutBucket"])

    def get_bucket_acl():
        acl = bucket.get_bucket_acl().acl
        check(acl == oss2.BUCKET_ACL_PUBLIC_READ, "acl %r, expected public-read" % acl)
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
        check(bucket.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE, "reset to private failed")
        return "public-read, then private"
    R.run("GetBucketAcl", get_bucket_acl, needs=["PutBucketAcl"])

    def put_cors():
        rule = CorsRule(allowed_origins=[C.CORS_ORIGIN], allowed_methods=["GET", "PUT"],
                        allowed_headers=["*"], expose_headers=["x-oss-request-id"],
                        max_age_seconds=100)
        bucket.put_bucket_cors(BucketCors([rule]))
    R.run("PutBucketCors", put_cors, needs=["PutBucket"])

    def get_cors():
        rules = bucket.get_bucket_cors().rules
        check(len(rules) == 1, "%d rules" % len(rules))
        r = rules[0]
        check(r.allowed_origins == [C.CORS_ORIGIN], "origins %r" % r.allowed_origins)
        check(sorted(r.allowed_methods) == ["GET", "PUT"], "methods %r" % r.allowed_methods)
        check(r.max_age_seconds == 100, "max age %r" % r.max_age_seconds)
    R.run("GetBucketCors", get_cors, needs=["PutBucketCors"])
    R.run("CorsPreflight", lambda: C.preflight("%s/%s/%s" % (env.endpoint, env.bucket, C.MAIN_KEY)),
          needs=["PutBucketCors"])
    R.not_offered("OptionObject")

    def delete_cors():
        bucket.delete_bucket_cors()
        try:
            bucket.get_bucket_cors()
        except oss2.exceptions.OssError as e:
            check(e.code == "NoSuchCORSConfiguration", "after delete: %s" % describe(e))
            return "then GetBucketCors -> NoSuchCORSConfiguration"
        raise CheckFailed("GetBucketCors still succeeds after delete")
    R.run("DeleteBucketCors", delete_cors, needs=["PutBucketCors"])

    R.run("PutBucketLogging",
          lambda: bucket.put_bucket_logging(BucketLogging(env.bucket, "log/")) and None,
          needs=["PutBucket"])

    def get_logging():
        r = bucket.get_bucket_logging()
        check(r.target_bucket == env.bucket and r.target_prefix == "log/",
              "got %r/%r" % (r.target_bucket, r.target_prefix))
    R.run("GetBucketLogging", get_logging, needs=["PutBucketLogging"])

    def delete_logging():
        bucket.delete_bucket_logging()
        r = bucket.get_bucket_logging()
        check(not r.target_bucket, "still logging to %r" % r.target_bucket)
    R.run("DeleteBucketLogging", delete_logging, needs=["PutBucketLogging"])

    def put_lifecycle():
        rule = oss2.models.LifecycleRule(
            C.LIFECYCLE_ID, C.LIFECYCLE_PREFIX, status=oss2.models.LifecycleRule.ENABLED,
            expiration=oss2.models.LifecycleExpiration(days=C.LIFECYCLE_DAYS))
        bucket.put_bucket_lifecycle(oss2.models.BucketLifecycle([rule]))
    R.run("PutBucketLifecycle", put_lifecycle, needs=["PutBucket"])

    def get_lifecycle():
        rules = bucket.get_bucket_lifecycle().rules
        check(len(rules) == 1, "rules %r" % len(rules))
        r = rules[0]
        got = (r.id, r.prefix, r.status, r.expiration.days)
        want = (C.LIFECYCLE_ID, C.LIFECYCLE_PREFIX, "Enabled", C.LIFECYCLE_DAYS)
        check(got == want, "rule %r" % (got,))
    R.run("GetBucketLifecycle", get_lifecycle, needs=["PutBucketLifecycle"])
    R.run("DeleteBucketLifecycle", lambda: bucket.delete_bucket_lifecycle() and None,
          needs=["PutBucketLifecycle"])

    def put_bucket_tags():
        rule = oss2.models.TaggingRule()
        for k, v in C.BUCKET_TAGS.items():
            rule.add(k, v)
        bucket.put_bucket_tagging(oss2.models.Tagging(rule))
    R.run("PutBucketTags", put_bucket_tags, needs=["PutBucket"])

    def get_bucket_tags():
        got = bucket.get_bucket_tagging().tag_set.tagging_rule
        check(got == C.BUCKET_TAGS, "tags %r" % got)
    R.run("GetBucketTags", get_bucket_tags, needs=["PutBucketTags"])

    def delete_bucket_tags():
        bucket.delete_bucket_tagging()
        got = bucket.get_bucket_tagging().tag_set.tagging_rule
        check(got == {}, "tags after delete %r" % got)
    R.run("DeleteBucketTags", delete_bucket_tags, needs=["GetBucketTags"])

    def get_versioning():
        status = bucket.get_bucket_versioning().status
        check(status is None, "status %r (never enabled)" % status)
    R.run("GetBucketVersioning", get_versioning, needs=["PutBucket"])

    # ------------------------------------------------------------ objects
    body = C.MAIN_BODY

    def put_object():
        headers = {"Content-Type": C.MAIN_CTYPE}
        for k, v in C.MAIN_META.items():
            headers["x-oss-meta-" + k] = v
        r = bucket.put_object(C.MAIN_KEY, body, headers=headers)
        check(r.etag, "no ETag")
        st["etag"] = r.etag  # oss2 strips the quotes
        check(r.crc == C.crc64(body), "server CRC %r != %d" % (r.crc, C.crc64(body)))
        return "etag=%s crc=%s" % (r.etag, r.crc)
    R.run("PutObject", put_object, needs=["PutBucket"])

    def get_object():
        r = bucket.get_object(C.MAIN_KEY)
        data = r.read()
        check(data == body, "body mismatch (%d bytes)" % len(data))
        check(r.headers.get("Content-Type") == C.MAIN_CTYPE, "content-type %r" % r.headers.get("Content-Type"))
        check(r.headers.get("x-oss-meta-author") == "alice", "meta author %r" % r.headers.get("x-oss-meta-author"))
        st["last_modified"] = r.headers.get("Last-Modified")
        return "%d bytes" % len(data)
    R.run("GetObject", get_object, needs=["PutObject"])

    for rng, exp in (((0, 4), body[0:5]), ((5, None), body[5:]), ((None, 3), body[-3:])):
        def get_range(rng=rng, exp=exp):
            r = bucket.get_object(C.MAIN_KEY, byte_range=rng)
            data = r.read()
            check(r.status == 206, "status %d" % r.status)
            check(data == exp, "got %r expected %r" % (data, exp))
            return "206 %s" % r.headers.get("Content-Range")
        R.run("GetObjectRange[%s]" % oss2.api._make_range_string(rng), get_range, needs=["PutObject"])

    def etag_q():
        return '"%s"' % st["etag"]

    def if_match():
        data = bucket.get_object(C.MAIN_KEY, headers={"If-Match": etag_q()}).read()
        check(data == body, "body mismatch")
    R.run("GetObjectIfMatch", if_match, needs=["PutObject"])
    R.expect_error("GetObjectIfNoneMatch",
                   lambda: bucket.get_object(C.MAIN_KEY, headers={"If-None-Match": etag_q()}).read(),
                   "NotModified", status=304, needs=["PutObject"])
    R.expect_error("GetObjectIfMatchMismatch",
                   lambda: bucket.get_object(C.MAIN_KEY, headers={"If-Match": '"0123456789ABCDEF0123456789ABCDEF"'}).read(),
                   "PreconditionFailed", needs=["PutObject"])

    def if_modified_since():
        data = bucket.get_object(C.MAIN_KEY, headers={"If-Modified-Since": PAST}).read()
        check(data == body, "past date: body mismatch")
        try:
            bucket.get_object(C.MAIN_KEY, headers={"If-Modified-Since": st["last_modified"]}).read()
        except oss2.exceptions.OssError as e:
            check(e.status == 304, "at Last-Modified: %s" % describe(e))
            return "past -> 200, Last-Modified -> 304"
        raise CheckFailed("If-Modified-Since=Last-Modified returned 200, expected 304")
    R.run("GetObjectIfModifiedSince", if_modified_since, needs=["GetObject"])

    def if_unmodified_since():
        data = bucket.get_object(C.MAIN_KEY, headers={"If-Unmodified-Since": st["last_modified"]}).read()
        check(data == body, "at Last-Modified: body mismatch")
        try:
            bucket.get_object(C.MAIN_KEY, headers={"If-Unmodified-Since": PAST}).read()
        except oss2.exceptions.OssError as e:
            check(e.code == "PreconditionFailed", "past date: %s" % describe(e))
            return "Last-Modified -> 200, past -> PreconditionFailed"
        raise CheckFailed("If-Unmodified-Since=past returned 200, expected PreconditionFailed")
    R.run("GetObjectIfUnmodifiedSince", if_unmodified_since, needs=["GetObject"])

    def response_ctype():
        r = bucket.get_object(C.MAIN_KEY, params={"response-content-type": "application/x-ossguard"})
        r.read()
        ct = r.headers.get("Content-Type")
        check(ct == "application/x-ossguard", "Content-Type %r" % ct)
    R.run("GetObjectResponseContentType", response_ctype, needs=["PutObject"])

    def head_object():
        r = bucket.head_object(C.MAIN_KEY)
        h = r.headers
        check(r.content_length == len(body), "content-length %r" % r.content_length)
        check(h.get("x-oss-meta-author") == "alice" and h.get("x-oss-meta-project") == "ossguard",
              "meta %r/%r" % (h.get("x-oss-meta-author"), h.get("x-oss-meta-project")))
        crc = h.get("x-oss-hash-crc64ecma")
        check(crc == str(C.crc64(body)), "x-oss-hash-crc64ecma %r != %d" % (crc, C.crc64(body)))
        check(r.etag == st["etag"], "etag %r" % r.etag)
        return "len=%d crc=%s" % (r.content_length, crc)
    R.run("HeadObject", head_object, needs=["PutObject"])

    def object_meta():
        r = bucket.get_object_meta(C.MAIN_KEY)
        check(r.content_length == len(body), "content-length %r" % r.content_length)
        check(r.etag == st["etag"], "etag %r" % r.etag)
        crc = r.headers.get("x-oss-hash-crc64ecma")
        check(crc in (None, str(C.crc64(body))), "crc %r" % crc)
    R.run("GetObjectMeta", object_meta, needs=["PutObject"])

    for key in C.SPECIAL_KEYS:
        def special(key=key):
            data = C.special_body(key)
            bucket.put_object(key, data)
            got = bucket.get_object(key).read()
            check(got == data, "body mismatch: %r" % got[:60])
        R.run("Key[%s]" % key, special, needs=["PutBucket"])

    def zero_byte():
        r = bucket.put_object("obj/empty", b"")
        check(r.crc in (None, 0), "crc %r" % r.crc)
        got = bucket.get_object("obj/empty").read()
        check(got == b"", "got %d bytes" % len(got))
        check(bucket.head_object("obj/empty").content_length == 0, "head length != 0")
    R.run("ZeroByteObject", zero_byte, needs=["PutBucket"])

    def big_object():
        size = env.big_mb << 20
        src = os.path.join(env.workdir, "oss2-big.bin")
        dst = os.path.join(env.workdir, "oss2-big.out")
        sha = C.random_file(src, size)
        bucket.put_object_from_file("big/object.bin", src)
        bucket.get_object_to_file("big/object.bin", dst)  # CRC-checked by oss2
        got = C.sha256_file(dst)
        check(got == sha, "sha256 mismatch")
        os.remove(dst)
        os.remove(src)
        return "%d MiB, sha256 ok" % env.big_mb
    R.run("BigObject", big_object, needs=["PutBucket"])

    def copy_copy():
        bucket.copy_object(env.bucket, C.MAIN_KEY, "copy/copy.txt")
        r = bucket.get_object("copy/copy.txt")
        check(r.read() == body, "body mismatch")
        check(r.headers.get("x-oss-meta-author") == "alice", "metadata not copied")
        check(r.headers.get("Content-Type") == C.MAIN_CTYPE, "content-type %r" % r.headers.get("Content-Type"))
    R.run("CopyObject[COPY]", copy_copy, needs=["PutObject"])

    def copy_replace():
        bucket.copy_object(env.bucket, C.MAIN_KEY, "copy/replace.txt", headers={
            "x-oss-metadata-directive": "REPLACE", "x-oss-meta-author": "bob",
            "Content-Type": "application/x-replaced"})
        h = bucket.head_object("copy/replace.txt").headers
        check(h.get("x-oss-meta-author") == "bob", "author %r" % h.get("x-oss-meta-author"))
        check(h.get("x-oss-meta-project") is None, "old meta kept")
        check(h.get("Content-Type") == "application/x-replaced", "content-type %r" % h.get("Content-Type"))
        check(bucket.get_object("copy/replace.txt").read() == body, "body mismatch")
    R.run("CopyObject[REPLACE]", copy_replace, needs=["PutObject"])
    R.expect_error("CopyObjectIfMatchMismatch",
                   lambda: bucket.copy_object(env.bucket, C.MAIN_KEY, "copy/never.txt", headers={
                       "x-oss-copy-source-if-match": '"0123456789ABCDEF0123456789ABCDEF"'}),
                   "PreconditionFailed", needs=["PutObject"])

    def append():
        key = "append/log.txt"
        chunks = [b"first,", b"second,", b"third"]
        pos, crc = 0, 0
        for c in chunks:
            r = bucket.append_object(key, pos, c, init_crc=crc)  # CRC checked by oss2
            check(r.next_position == pos + len(c), "next position %r after %d" % (r.next_position, pos))
            pos, crc = r.next_position, r.crc
        got = bucket.get_object(key).read()
        check(got == b"".join(chunks), "content %r" % got)
        h = bucket.head_object(key).headers
        check(h.get("x-oss-object-type") == "Appendable", "object type %r" % h.get("x-oss-object-type"))
        st["append_len"] = pos
        return "positions ok, next=%d" % pos
    R.run("AppendObject", append, needs=["PutBucket"])
    R.expect_error("AppendObjectWrongPosition",
                   lambda: bucket.append_object("append/log.txt", 3, b"bad"),
                   "PositionNotEqualToLength", needs=["AppendObject"])

    # ------------------------------------------------------------ listing
    def put_list_keys():
        for k in C.LIST_KEYS:
            bucket.put_object(k, k.encode())
    put_err = R_try(put_list_keys)

    def lst_prefix(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            if v2:
                r = bucket.list_objects_v2(prefix="list/", max_keys=100)
            else:
                r = bucket.list_objects(prefix="list/", max_keys=100)
            keys = [o.key for o in r.object_list]
            check(keys == C.LIST_KEYS, "keys %r" % keys)
        return f

    def lst_delim(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            if v2:
                r = bucket.list_objects_v2(prefix="list/", delimiter="/", max_keys=100)
            else:
                r = bucket.list_objects(prefix="list/", delimiter="/", max_keys=100)
            keys = [o.key for o in r.object_list]
            check(keys == ["list/a.txt", "list/b.txt", "list/c.txt"], "keys %r" % keys)
            check(r.prefix_list == ["list/d/", "list/e/"], "common prefixes %r" % r.prefix_list)
        return f

    def lst_paging(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            keys, pages, token = [], 0, ""
            while pages < 10:
                pages += 1
                if v2:
                    r = bucket.list_objects_v2(prefix="list/", continuation_token=token, max_keys=2)
                    token = r.next_continuation_token
                else:
                    r = bucket.list_objects(prefix="list/", marker=token, max_keys=2)
                    token = r.next_marker
                check(len(r.object_list) <= 2, "page of %d" % len(r.object_list))
                keys += [o.key for o in r.object_list]
                if not r.is_truncated:
                    break
                check(bool(token), "truncated but no next marker/token")
            check(keys == C.LIST_KEYS, "keys %r" % keys)
            check(pages == 3, "%d pages" % pages)
            return "3 pages of <=2"
        return f

    def lst_special(v2):
        def f():
            if v2:
                keys = [o.key for o in oss2.ObjectIteratorV2(bucket, max_keys=1000)]
            else:
                keys = [o.key for o in oss2.ObjectIterator(bucket, max_keys=1000)]
            missing = [k for k in C.SPECIAL_KEYS if k not in keys]
            check(not missing, "missing %r" % missing)
        return f

    for v2, name in ((False, "ListObjects"), (True, "ListObjectsV2")):
        R.run(name + "[prefix]", lst_prefix(v2), needs=["PutBucket"])
        R.run(name + "[delimiter]", lst_delim(v2), needs=["PutBucket"])
        R.run(name + "[paging]", lst_paging(v2), needs=["PutBucket"])
        R.run(name + "[special-keys]", lst_special(v2), needs=["Key[" + C.SPECIAL_KEYS[0] + "]"])

    R.run("PutObjectAcl", lambda: bucket.put_object_acl(C.MAIN_KEY, oss2.OBJECT_ACL_PUBLIC_READ) and None,
          needs=["PutObject"])

    def get_object_acl():
        acl = bucket.get_object_acl(C.MAIN_KEY).acl
        check(acl == oss2.OBJECT_ACL_PUBLIC_READ, "acl %r" % acl)
    R.run("GetObjectAcl", get_object_acl, needs=["PutObjectAcl"])

    def put_object_tagging():
        bucket.put_object(C.TAG_KEY, C.TAG_BODY)
        rule = oss2.models.TaggingRule()
        for k, v in C.TAGS.items():
            rule.add(k, v)
        bucket.put_object_tagging(C.TAG_KEY, oss2.models.Tagging(rule))
    R.run("PutObjectTagging", put_object_tagging, needs=["PutObject"])

    def get_object_tagging():
        got = bucket.get_object_tagging(C.TAG_KEY).tag_set.tagging_rule
        check(got == C.TAGS, "tags %r" % got)
        n = bucket.head_object(C.TAG_KEY).headers.get("x-oss-tagging-count")
        check(n == str(len(C.TAGS)), "x-oss-tagging-count %r" % n)
    R.run("GetObjectTagging", get_object_tagging, needs=["PutObjectTagging"])

    def delete_object_tagging():
        bucket.delete_object_tagging(C.TAG_KEY)
        got = bucket.get_object_tagging(C.TAG_KEY).tag_set.tagging_rule
        check(got == {}, "tags after delete %r" % got)
        check(bucket.get_object(C.TAG_KEY).read() == C.TAG_BODY, "object bytes changed")
    R.run("DeleteObjectTagging", delete_object_tagging, needs=["GetObjectTagging"])

    def bucket_stat():
        st = bucket.get_bucket_stat()
        check(st.object_count >= 2 and st.storage_size_in_bytes >= len(C.MAIN_BODY) + len(C.TAG_BODY),
              "objects %r, bytes %r" % (st.object_count, st.storage_size_in_bytes))
        check(st.standard_object_count == st.object_count, "standard %r" % st.standard_object_count)
    R.run("GetBucketStat", bucket_stat, needs=["PutObjectTagging"])

    def delete_object():
        bucket.put_object("del/single.txt", b"x")
        bucket.delete_object("del/single.txt")
        check(not bucket.object_exists("del/single.txt"), "still exists")
        bucket.delete_object("del/never-existed.txt")  # 204 as well
    R.run("DeleteObject", delete_object, needs=["PutBucket"])

    def delete_multi():
        keys = ["del/1.txt", "del/2.txt", "del/x+y z.txt"]
        for k in keys:
            bucket.put_object(k, b"x")
        r = bucket.batch_delete_objects(keys)
        check(sorted(r.deleted_keys) == sorted(keys), "deleted %r" % r.deleted_keys)
        left = [o.key for o in oss2.ObjectIterator(bucket, prefix="del/")]
        check(not left, "left %r" % left)
    R.run("DeleteMultipleObjects", delete_multi, needs=["PutBucket"])
    R.not_offered("DeleteMultipleObjects[quiet]", "not offered by SDK (batch_delete_objects is never quiet)")

    # ------------------------------------------------------------ multipart by hand
    mkey = "mp/manual.bin"
    p1, p2, p4 = C.det_bytes(C.PART, "p1"), C.det_bytes(C.PART, "p2"), b"0123456789"
    src = C.det_bytes(150 * 1024, "copysrc")
    copy_range = (1000, 1000 + C.PART - 1)
    mp = {}

    def initiate():
        mp["id"] = bucket.init_multipart_upload(mkey, headers={"Content-Type": "application/octet-stream"}).upload_id
        check(bool(mp["id"]), "empty upload id")
    R.run("InitiateMultipartUpload", initiate, needs=["PutBucket"])

    def upload_parts():
        parts = []
        for n, data in ((1, p1), (2, p2), (4, p4)):
            r = bucket.upload_part(mkey, mp["id"], n, data)  # CRC checked by oss2
            parts.append(PartInfo(n, r.etag, size=len(data), part_crc=r.crc))
        mp["parts"] = parts
        return "parts 1,2 (100 KiB) and 4 (10 B)"
    R.run("UploadPart", upload_parts, needs=["InitiateMultipartUpload"])

    def upload_part_copy():
        bucket.put_object("mp/copy-source.bin", src)
        r = bucket.upload_part_copy(env.bucket, "mp/copy-source.bin", copy_range, mkey, mp["id"], 3)
        mp["copy"] = PartInfo(3, r.etag, size=C.PART,
                              part_crc=C.crc64(src[copy_range[0]:copy_range[1] + 1]))
        return "part 3 = source bytes %d-%d" % copy_range
    R.run("UploadPartCopy", upload_part_copy, needs=["InitiateMultipartUpload"])

    def list_parts():
        parts = bucket.list_parts(mkey, mp["id"]).parts
        got = [(p.part_number, p.size) for p in parts]
        want = [(1, C.PART), (2, C.PART)] + ([(3, C.PART)] if "copy" in mp else []) + [(4, 10)]
        check(got == want, "parts %r, expected %r" % (got, want))
        for p in parts:
            mine = {q.part_number: q.etag for q in mp["parts"] + ([mp["copy"]] if "copy" in mp else [])}
            check(p.etag == mine[p.part_number], "etag of part %d: %r != %r" % (p.part_number, p.etag, mine[p.part_number]))
    R.run("ListParts", list_parts, needs=["UploadPart"])

    def list_uploads():
        mp["abort_id"] = bucket.init_multipart_upload("mp/aborted.bin").upload_id
        ups = bucket.list_multipart_uploads(prefix="mp/").upload_list
        got = {(u.key, u.upload_id) for u in ups}
        check((mkey, mp["id"]) in got and ("mp/aborted.bin", mp["abort_id"]) in got, "uploads %r" % got)
        return "%d upload(s)" % len(got)
    R.run("ListMultipartUploads", list_uploads, needs=["InitiateMultipartUpload"])

    def complete():
        parts = sorted(mp["parts"] + ([mp["copy"]] if "copy" in mp else []), key=lambda p: p.part_number)
        bucket.complete_multipart_upload(mkey, mp["id"], parts)  # whole-object CRC checked by oss2
        want = p1 + p2 + (src[copy_range[0]:copy_range[1] + 1] if "copy" in mp else b"") + p4
        got = bucket.get_object(mkey).read()
        check(got == want, "content mismatch (%d vs %d bytes)" % (len(got), len(want)))
        return "%d parts, %d bytes" % (len(parts), len(got))
    R.run("CompleteMultipartUpload", complete, needs=["UploadPart"])

    def abort():
        uid = mp.get("abort_id") or bucket.init_multipart_upload("mp/aborted.bin").upload_id
        bucket.upload_part("mp/aborted.bin", uid, 1, b"abc")
        bucket.abort_multipart_upload("mp/aborted.bin", uid)
        left = [u.upload_id for u in bucket.list_multipart_uploads(prefix="mp/aborted.bin").upload_list]
        check(uid not in left, "upload still listed")
        try:
            bucket.list_parts("mp/aborted.bin", uid)
        except oss2.exceptions.OssError as e:
            check(e.code == "NoSuchUpload", "ListParts after abort: %s" % describe(e))
            return "then ListParts -> NoSuchUpload"
        raise CheckFailed("ListParts after abort succeeded")
    R.run("AbortMultipartUpload", abort, needs=["PutBucket"])

    # ------------------------------------------------------------ resumable helpers
    rfile = os.path.join(env.workdir, "oss2-resumable.bin")
    rkey = "resumable/up.bin"

    def resumable_upload():
        st["rsha"] = C.random_file(rfile, (1 << 20) + 12345)
        store = oss2.ResumableStore(root=os.path.join(env.workdir, "oss2-checkpoints"))
        oss2.resumable_upload(bucket, rkey, rfile, store=store, multipart_threshold=256 * 1024,
                              part_size=128 * 1024, num_threads=3)
        h = bucket.head_object(rkey).headers
        check(int(h.get("Content-Length", -1)) == (1 << 20) + 12345, "length %r" % h.get("Content-Length"))
        check(h.get("x-oss-object-type") == "Multipart", "object type %r" % h.get("x-oss-object-type"))
        return "9 parts of 128 KiB, checkpoint store under WORKDIR"
    R.run("ResumableUpload", resumable_upload, needs=["PutBucket"])

    def resumable_download():
        out = os.path.join(env.workdir, "oss2-resumable.out")
        store = oss2.ResumableDownloadStore(root=os.path.join(env.workdir, "oss2-checkpoints"))
        oss2.resumable_download(bucket, rkey, out, multiget_threshold=256 * 1024,
                                part_size=128 * 1024, num_threads=3, store=store)
        check(C.sha256_file(out) == st["rsha"], "sha256 mismatch")
    R.run("ResumableDownload", resumable_download, needs=["ResumableUpload"])

    # ------------------------------------------------------------ presigned URLs
    def presign_get():
        url = bucket.sign_url("GET", C.MAIN_KEY, 300)
        r = C.http("GET", url)
        check(r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:200]))
        check(r.content == body, "body mismatch")
        return "HTTP 200"
    R.run("PresignGet", presign_get, needs=["PutObject"])

    def presign_put():
        data = b"uploaded through a presigned URL\n"
        url = bucket.sign_url("PUT", "presign/put.txt", 300, headers={"Content-Type": "text/plain"})
        r = C.http("PUT", url, data=data, headers={"Content-Type": "text/plain"})
        check(r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:200]))
        check(bucket.get_object("presign/put.txt").read() == data, "stored body mismatch")
    R.run("PresignPut", presign_put, needs=["PutBucket"])

    # ------------------------------------------------------------ STS
    def sts_bucket(creds):
        return make_bucket(oss2.StsAuth(creds["access_key_id"], creds["access_key_secret"],
                                        creds["security_token"], auth_version=env.sig))

    def sts_put_get():
        C.refuses_bad_admin_signature(env)
        st["sts"] = sts_bucket(C.fetch_sts(env, C.sts_rw_policy(env.bucket), as_string=True))
        data = b"written with STS credentials\n"
        st["sts"].put_object("sts/obj.txt", data)
        check(st["sts"].get_object("sts/obj.txt").read() == data, "body mismatch")
        return "policy as a JSON string; wrongly signed admin request refused"
    R.run("StsPutGet", sts_put_get, needs=["PutBucket"])

    def sts_denied():
        if "sts" not in st:
            raise CheckFailed("depends on StsPutGet (no STS credentials)")
        st["sts"].put_object("nosts/obj.txt", b"must be denied")
    R.expect_error("StsDenied", sts_denied, "AccessDenied", needs=["PutBucket"])

    # A GetObject-only token on ro/*; the main key writes what it reads.
    def ro_setup():
        bucket.put_object(C.RO_KEY, C.RO_BODY)
        bucket.put_object(C.OUTSIDE_KEY, b"outside ro/\n")
        st["ro"] = sts_bucket(C.fetch_sts(env, C.sts_ro_policy(env.bucket)))
    ro_err = R_try(ro_setup)

    def ro_token():
        check(ro_err is None, "setup failed: %s" % ro_err)
        return st["ro"]

    def read_in_prefix():
        check(ro_token().get_object(C.RO_KEY).read() == C.RO_BODY, "body mismatch")
        return "GET " + C.RO_KEY
    R.run("StsPolicyReadInPrefix", read_in_prefix, needs=["PutBucket"])

    def put_denied():
        ro = ro_token()
        try:
            ro.put_object(C.RO_PUT_KEY, b"must be denied")
        finally:
            check(not bucket.object_exists(C.RO_PUT_KEY), "a refused PutObject wrote " + C.RO_PUT_KEY)
    R.expect_error("StsPolicyPutDenied", put_denied, "AccessDenied", needs=["PutBucket"])
    R.expect_error("StsPolicyOutsideDenied", lambda: ro_token().get_object(C.OUTSIDE_KEY).read(),
                   "AccessDenied", needs=["PutBucket"])

    def deny_wins():
        tok = sts_bucket(C.fetch_sts(env, C.sts_deny_policy(env.bucket)))
        try:
            tok.put_object(C.LOCKED_KEY, b"must be denied")
        except oss2.exceptions.OssError as e:
            check(e.code == "AccessDenied", "PutObject %s: expected AccessDenied, got %s" % (C.LOCKED_KEY, describe(e)))
            locked = "%s (HTTP %s)" % (e.code, e.status)
        else:
            raise CheckFailed("PutObject %s succeeded: the Deny statement did not win" % C.LOCKED_KEY)
        check(not bucket.object_exists(C.LOCKED_KEY), "a refused PutObject wrote " + C.LOCKED_KEY)
        tok.put_object(C.OPEN_KEY, b"allowed\n")
        check(bucket.get_object(C.OPEN_KEY).read() == b"allowed\n", "body of %s mismatch" % C.OPEN_KEY)
        return "PutObject %s -> %s; PutObject %s -> ok" % (C.LOCKED_KEY, locked, C.OPEN_KEY)
    R.run("StsPolicyDenyWins", deny_wins, needs=["PutBucket"])

    # ------------------------------------------------------------ error cases
    R.expect_error("ErrNoSuchKey", lambda: bucket.get_object("missing/nope.txt").read(), "NoSuchKey",
                   needs=["PutBucket"])
    R.expect_error("ErrNoSuchBucket",
                   lambda: make_bucket(auth, env.bucket[:55] + "-nx").get_object("x.txt").read(),
                   "NoSuchBucket")
    R.expect_error("ErrSignatureDoesNotMatch",
                   lambda: make_bucket(make_auth(env.ak, env.sk + "x")).get_object(C.MAIN_KEY).read(),
                   "SignatureDoesNotMatch", needs=["PutBucket"])
    R.expect_error("ErrInvalidRange",
                   lambda: bucket.get_object(C.MAIN_KEY, byte_range=(1000, 2000),
                                             headers={"x-oss-range-behavior": "standard"}).read(),
                   "InvalidRange", needs=["PutObject"])
    R.expect_error("ErrBucketNotEmpty", lambda: bucket.delete_bucket(), "BucketNotEmpty",
                   needs=["PutObject"])

    # ------------------------------------------------------------ cleanup
    def cleanup():
        n = 0
        for u in oss2.MultipartUploadIterator(bucket):
            bucket.abort_multipart_upload(u.key, u.upload_id)
        keys = [o.key for o in oss2.ObjectIterator(bucket, max_keys=1000)]
        for i in range(0, len(keys), 1000):
            bucket.batch_delete_objects(keys[i:i + 1000])
            n += len(keys[i:i + 1000])
        left = [o.key for o in oss2.ObjectIterator(bucket)]
        check(not left, "left %r" % left[:5])
        return "deleted %d objects" % n
    R.run("Cleanup", cleanup, needs=["PutBucket"])

    def delete_bucket():
        bucket.delete_bucket()
        try:
            bucket.get_bucket_info()
        except oss2.exceptions.OssError as e:
            check(e.code == "NoSuchBucket", "GetBucketInfo after delete: %s" % describe(e))
            return "then GetBucketInfo -> NoSuchBucket"
        raise CheckFailed("bucket still exists after DeleteBucket")
    R.run("DeleteBucket", delete_bucket, needs=["PutBucket"])


def R_try(fn):
    try:
        fn()
        return None
    except Exception as e:  # noqa: BLE001
        return describe(e)


if __name__ == "__main__":
    C.main_guard(main)
