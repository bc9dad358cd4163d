#!/usr/bin/env python3
"""Conformance driver for alibabacloud-oss-v2 (Python v2 SDK, pinned 1.4.1).

Run with the venv from peers/install:  .tools/venv/bin/python peers/pyv2_driver.py
Contract (env in, one JSON line per op out): see peers/README.md.
"""
import datetime
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ inside peers/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import alibabacloud_oss_v2 as oss  # noqa: E402
from alibabacloud_oss_v2 import exceptions as oerr  # noqa: E402
# Object tags (the package also exports bucket tagging's `Tag`/`Tagging` under the same names).
from alibabacloud_oss_v2.models.object_basic import (  # noqa: E402
    Tag as ObjTag, TagSet as ObjTagSet, Tagging as ObjTagging)
from alibabacloud_oss_v2.models.bucket_tags import Tagging as BucketTagging  # noqa: E402

import driver_common as C  # noqa: E402
from driver_common import check, CheckFailed  # noqa: E402

SDK = "pyv2"
PAST = "Mon, 01 Jan 2001 00:00:00 GMT"


def _chain(e):
    """OperationError -> ServiceError / RequestError / InconsistentError ..."""
    seen = 0
    while isinstance(e, oerr.OperationError) and seen < 5:
        inner = e.unwrap()
        if inner is None:
            break
        e = inner
        seen += 1
    return e


def describe(e):
    x = _chain(e)
    if isinstance(x, oerr.ServiceError):
        code = "NotModified" if x.status_code == 304 and x.code in (None, "", "BadErrorResponse") else x.code
        return "%s (HTTP %s): %s" % (code, x.status_code, (x.message or "")[:200])
    return "%s: %s" % (type(x).__name__, str(x)[:300])


def code_of(e):
    x = _chain(e)
    if isinstance(x, oerr.ServiceError):
        if x.status_code == 304 and x.code in (None, "", "BadErrorResponse"):
            return "NotModified", 304
        return x.code, x.status_code
    return None, None


def main():
    env = C.Env()
    R = C.Runner(SDK, env, describe, code_of)
    try:
        drive(env, R)
    finally:
        R.finish()


def drive(env, R):
    B = env.bucket

    def make_client(ak, sk, token=None):
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk, token)
        cfg.region = env.region
        cfg.endpoint = env.endpoint
        cfg.signature_version = "v1" if env.sig == "v1" else "v4"
        cfg.connect_timeout = 10
        cfg.readwrite_timeout = 30
        return oss.Client(cfg)

    client = make_client(env.ak, env.sk)
    st = {}

    def read_all(res):
        with res.body as b:
            return b.read()

    def get(key, **kw):
        return client.get_object(oss.GetObjectRequest(bucket=B, key=key, **kw))

    def get_bytes(key, **kw):
        return read_all(get(key, **kw))

    def put(key, data, **kw):
        return client.put_object(oss.PutObjectRequest(bucket=B, key=key, body=data, **kw))

    # ------------------------------------------------------------ bucket
    err = R.run("PutBucket", lambda: client.put_bucket(oss.PutBucketRequest(
        bucket=B, acl="private",
        create_bucket_configuration=oss.CreateBucketConfiguration(storage_class="Standard"))) and None)
    if err is not None and C.is_conn_error(err):
        R.unreachable_exit(err)

    def get_bucket_info():
        info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket=B)).bucket_info
        check(info.name == B, "name %r" % info.name)
        return "location=%s acl=%s" % (info.location, info.acl)
    R.run("GetBucketInfo", get_bucket_info, needs=["PutBucket"])

    def get_bucket_location():
        loc = client.get_bucket_location(oss.GetBucketLocationRequest(bucket=B)).location
        check(bool(loc), "empty location")
        return loc
    R.run("GetBucketLocation", get_bucket_location, needs=["PutBucket"])

    def list_buckets():
        names = []
        for page in client.list_buckets_paginator().iter_page(oss.ListBucketsRequest(prefix=B)):
            names += [b.name for b in page.buckets or []]
        check(B in names, "bucket not listed (got %r)" % names[:10])
        return "%d bucket(s) with prefix" % len(names)
    R.run("ListBuckets", list_buckets, needs=["PutBucket"])

    R.run("PutBucketAcl", lambda: client.put_bucket_acl(oss.PutBucketAclRequest(bucket=B, acl="public-read")) and None,
          needs=["PutBucket"])

    def get_bucket_acl():
        acl = client.get_bucket_acl(oss.GetBucketAclRequest(bucket=B)).acl
        check(acl == "public-read", "acl %r, expected public-read" % acl)
        client.put_bucket_acl(oss.PutBucketAclRequest(bucket=B, acl="private"))
        check(client.get_bucket_acl(oss.GetBucketAclRequest(bucket=B)).acl == "private", "reset to private failed")
        return "public-read, then private"
    R.run("GetBucketAcl", get_bucket_acl, needs=["PutBucketAcl"])

    def put_cors():
        rule = oss.CORSRule(allowed_origins=[C.CORS_ORIGIN], allowed_methods=["GET", "PUT"],
                            allowed_headers=["*"], expose_headers=["x-oss-request-id"], max_age_seconds=100)
        client.put_bucket_cors(oss.PutBucketCorsRequest(
            bucket=B, cors_configuration=oss.CORSConfiguration(cors_rules=[rule], response_vary=False)))
    R.run("PutBucketCors", put_cors, needs=["PutBucket"])

    def get_cors():
        cfg = client.get_bucket_cors(oss.GetBucketCorsRequest(bucket=B)).cors_configuration
        rules = cfg.cors_rules or []
        check(len(rules) == 1, "%d rules" % len(rules))
        r = rules[0]
        check(r.allowed_origins == [C.CORS_ORIGIN], "origins %r" % r.allowed_origins)
        check(sorted(r.allowed_methods) == ["GET", "PUT"], "methods %r" % r.allowed_methods)
        check(int(r.max_age_seconds) == 100, "max age %r" % r.max_age_seconds)
    R.run("GetBucketCors", get_cors, needs=["PutBucketCors"])
    R.run("CorsPreflight", lambda: C.preflight("%s/%s/%s" % (env.endpoint, B, C.MAIN_KEY)),
          needs=["PutBucketCors"])

    def option_object():
        r = client.option_object(oss.OptionObjectRequest(
            bucket=B, key=C.MAIN_KEY, origin=C.CORS_ORIGIN, access_control_request_method="GET"))
        check(r.access_control_allow_origin in (C.CORS_ORIGIN, "*"),
              "Access-Control-Allow-Origin %r" % r.access_control_allow_origin)
        return "allow-origin=%s methods=%s" % (r.access_control_allow_origin, r.access_control_allow_methods)
    R.run("OptionObject", option_object, needs=["PutBucketCors"])

    def delete_cors():
        client.delete_bucket_cors(oss.DeleteBucketCorsRequest(bucket=B))
        try:
            client.get_bucket_cors(oss.GetBucketCorsRequest(bucket=B))
        except Exception as e:  # noqa: BLE001
            check(code_of(e)[0] == "NoSuchCORSConfiguration", "after delete: %s" % describe(e))
            return "then GetBucketCors -> NoSuchCORSConfiguration"
        raise CheckFailed("GetBucketCors still succeeds after delete")
    R.run("DeleteBucketCors", delete_cors, needs=["PutBucketCors"])

    R.run("PutBucketLogging", lambda: client.put_bucket_logging(oss.PutBucketLoggingRequest(
        bucket=B, bucket_logging_status=oss.BucketLoggingStatus(
            logging_enabled=oss.LoggingEnabled(target_bucket=B, target_prefix="log/")))) and None,
        needs=["PutBucket"])

    def get_logging():
        s = client.get_bucket_logging(oss.GetBucketLoggingRequest(bucket=B)).bucket_logging_status
        le = s.logging_enabled if s else None
        check(le is not None and le.target_bucket == B and le.target_prefix == "log/",
              "got %r" % (vars(le) if le else None))
    R.run("GetBucketLogging", get_logging, needs=["PutBucketLogging"])

    def delete_logging():
        client.delete_bucket_logging(oss.DeleteBucketLoggingRequest(bucket=B))
        s = client.get_bucket_logging(oss.GetBucketLoggingRequest(bucket=B)).bucket_logging_status
        check(s is None or s.logging_enabled is None or not s.logging_enabled.target_bucket,
              "still logging")
    R.run("DeleteBucketLogging", delete_logging, needs=["PutBucketLogging"])

    def put_lifecycle():
        rule = oss.LifecycleRule(
            id=C.LIFECYCLE_ID, prefix=C.LIFECYCLE_PREFIX, status="Enabled",
            expiration=oss.LifecycleRuleExpiration(days=C.LIFECYCLE_DAYS))
        client.put_bucket_lifecycle(oss.PutBucketLifecycleRequest(
            bucket=B, lifecycle_configuration=oss.LifecycleConfiguration(rules=[rule])))
    R.run("PutBucketLifecycle", put_lifecycle, needs=["PutBucket"])

    def get_lifecycle():
        cfg = client.get_bucket_lifecycle(
            oss.GetBucketLifecycleRequest(bucket=B)).lifecycle_configuration
        rules = (cfg and cfg.rules) or []
        check(len(rules) == 1, "rules %r" % len(rules))
        r = rules[0]
        got = (r.id, r.prefix, r.status, r.expiration and r.expiration.days)
        want = (C.LIFECYCLE_ID, C.LIFECYCLE_PREFIX, "Enabled", C.LIFECYCLE_DAYS)
        check(got == want, "rule %r" % (got,))
    R.run("GetBucketLifecycle", get_lifecycle, needs=["PutBucketLifecycle"])
    R.run("DeleteBucketLifecycle", lambda: client.delete_bucket_lifecycle(
        oss.DeleteBucketLifecycleRequest(bucket=B)) and None, needs=["PutBucketLifecycle"])

    def bucket_tags_now():
        t = client.get_bucket_tags(oss.GetBucketTagsRequest(bucket=B)).tagging
        tags = (t and t.tag_set and t.tag_set.tags) or []
        return {x.key: x.value for x in tags}

    def put_bucket_tags():
        tags = [ObjTag(key=k, value=v) for k, v in C.BUCKET_TAGS.items()]
        client.put_bucket_tags(oss.PutBucketTagsRequest(
            bucket=B, tagging=BucketTagging(tag_set=ObjTagSet(tags=tags))))
    R.run("PutBucketTags", put_bucket_tags, needs=["PutBucket"])

    def get_bucket_tags():
        got = bucket_tags_now()
        check(got == C.BUCKET_TAGS, "tags %r" % got)
    R.run("GetBucketTags", get_bucket_tags, needs=["PutBucketTags"])

    def delete_bucket_tags():
        client.delete_bucket_tags(oss.DeleteBucketTagsRequest(bucket=B))
        got = bucket_tags_now()
        check(got == {}, "tags after delete %r" % got)
    R.run("DeleteBucketTags", delete_bucket_tags, needs=["GetBucketTags"])

    def get_versioning():
        status = client.get_bucket_versioning(
            oss.GetBucketVersioningRequest(bucket=B)).version_status
        check(status is None, "status %r (never enabled)" % status)
    R.run("GetBucketVersioning", get_versioning, needs=["PutBucket"])

    # ------------------------------------------------------------ objects
    body = C.MAIN_BODY

    def put_object():
        r = put(C.MAIN_KEY, body, content_type=C.MAIN_CTYPE, metadata=dict(C.MAIN_META))
        check(r.etag, "no ETag")
        st["etag"] = r.etag  # quoted
        check(r.hash_crc64 == str(C.crc64(body)), "server CRC %r != %d" % (r.hash_crc64, C.crc64(body)))
        return "etag=%s crc=%s" % (r.etag, r.hash_crc64)
    R.run("PutObject", put_object, needs=["PutBucket"])

    def get_object():
        r = get(C.MAIN_KEY)
        data = read_all(r)
        check(data == body, "body mismatch (%d bytes)" % len(data))
        check(r.content_type == C.MAIN_CTYPE, "content-type %r" % r.content_type)
        check((r.metadata or {}).get("author") == "alice", "metadata %r" % r.metadata)
        st["last_modified"] = r.headers.get("Last-Modified")
        return "%d bytes" % len(data)
    R.run("GetObject", get_object, needs=["PutObject"])

    for rng, exp in (("bytes=0-4", body[0:5]), ("bytes=5-", body[5:]), ("bytes=-3", body[-3:])):
        def get_range(rng=rng, exp=exp):
            r = get(C.MAIN_KEY, range_header=rng)
            data = read_all(r)
            check(r.status_code == 206, "status %d" % r.status_code)
            check(data == exp, "got %r expected %r" % (data, exp))
            return "206 %s" % r.content_range
        R.run("GetObjectRange[%s]" % rng, get_range, needs=["PutObject"])

    R.run("GetObjectIfMatch", lambda: check(get_bytes(C.MAIN_KEY, if_match=st["etag"]) == body, "body mismatch"),
          needs=["PutObject"])
    R.expect_error("GetObjectIfNoneMatch", lambda: get_bytes(C.MAIN_KEY, if_none_match=st["etag"]),
                   "NotModified", status=304, needs=["PutObject"])
    R.expect_error("GetObjectIfMatchMismatch",
                   lambda: get_bytes(C.MAIN_KEY, if_match='"0123456789ABCDEF0123456789ABCDEF"'),
                   "PreconditionFailed", needs=["PutObject"])

    def if_modified_since():
        check(get_bytes(C.MAIN_KEY, if_modified_since=PAST) == body, "past date: body mismatch")
        try:
            get_bytes(C.MAIN_KEY, if_modified_since=st["last_modified"])
        except Exception as e:  # noqa: BLE001
            check(code_of(e)[1] == 304, "at Last-Modified: %s" % describe(e))
            return "past -> 200, Last-Modified -> 304"
        raise CheckFailed("If-Modified-Since=Last-Modified returned 200, expected 304")
    R.run("GetObjectIfModifiedSince", if_modified_since, needs=["GetObject"])

    def if_unmodified_since():
        check(get_bytes(C.MAIN_KEY, if_unmodified_since=st["last_modified"]) == body, "at Last-Modified: body mismatch")
        try:
            get_bytes(C.MAIN_KEY, if_unmodified_since=PAST)
        except Exception as e:  # noqa: BLE001
            check(code_of(e)[0] == "PreconditionFailed", "past date: %s" % describe(e))
            return "Last-Modified -> 200, past -> PreconditionFailed"
        raise CheckFailed("If-Unmodified-Since=past returned 200, expected PreconditionFailed")
    R.run("GetObjectIfUnmodifiedSince", if_unmodified_since, needs=["GetObject"])

    def response_ctype():
        r = get(C.MAIN_KEY, response_content_type="application/x-ossguard")
        read_all(r)
        check(r.content_type == "application/x-ossguard", "Content-Type %r" % r.content_type)
    R.run("GetObjectResponseContentType", response_ctype, needs=["PutObject"])

    def head_object():
        r = client.head_object(oss.HeadObjectRequest(bucket=B, key=C.MAIN_KEY))
        check(r.content_length == len(body), "content-length %r" % r.content_length)
        md = r.metadata or {}
        check(md.get("author") == "alice" and md.get("project") == "ossguard", "metadata %r" % md)
        check(r.hash_crc64 == str(C.crc64(body)), "x-oss-hash-crc64ecma %r != %d" % (r.hash_crc64, C.crc64(body)))
        check(r.etag == st["etag"], "etag %r" % r.etag)
        return "len=%d crc=%s" % (r.content_length, r.hash_crc64)
    R.run("HeadObject", head_object, needs=["PutObject"])

    def object_meta():
        r = client.get_object_meta(oss.GetObjectMetaRequest(bucket=B, key=C.MAIN_KEY))
        check(r.content_length == len(body), "content-length %r" % r.content_length)
        check(r.etag == st["etag"], "etag %r" % r.etag)
        check(r.hash_crc64 in (None, str(C.crc64(body))), "crc %r" % r.hash_crc64)
    R.run("GetObjectMeta", object_meta, needs=["PutObject"])

    for key in C.SPECIAL_KEYS:
        def special(key=key):
            data = C.special_body(key)
            put(key, data)
            got = get_bytes(key)
            check(got == data, "body mismatch: %r" % got[:60])
        R.run("Key[%s]" % key, special, needs=["PutBucket"])

    def zero_byte():
        r = put("obj/empty", b"")
        check(r.hash_crc64 in (None, "0"), "crc %r" % r.hash_crc64)
        check(get_bytes("obj/empty") == b"", "non-empty body")
        check(client.head_object(oss.HeadObjectRequest(bucket=B, key="obj/empty")).content_length == 0,
              "head length != 0")
    R.run("ZeroByteObject", zero_byte, needs=["PutBucket"])

    def big_object():
        size = env.big_mb << 20
        src = os.path.join(env.workdir, "pyv2-big.bin")
        dst = os.path.join(env.workdir, "pyv2-big.out")
        sha = C.random_file(src, size)
        client.put_object_from_file(oss.PutObjectRequest(bucket=B, key="big/object.bin"), src)
        client.get_object_to_file(oss.GetObjectRequest(bucket=B, key="big/object.bin"), dst)  # CRC checked
        check(C.sha256_file(dst) == sha, "sha256 mismatch")
        os.remove(dst)
        os.remove(src)
        return "%d MiB, sha256 ok" % env.big_mb
    R.run("BigObject", big_object, needs=["PutBucket"])

    def copy_copy():
        client.copy_object(oss.CopyObjectRequest(bucket=B, key="copy/copy.txt", source_bucket=B,
                                                 source_key=C.MAIN_KEY, metadata_directive="COPY"))
        r = get("copy/copy.txt")
        check(read_all(r) == body, "body mismatch")
        check((r.metadata or {}).get("author") == "alice", "metadata not copied: %r" % r.metadata)
        check(r.content_type == C.MAIN_CTYPE, "content-type %r" % r.content_type)
    R.run("CopyObject[COPY]", copy_copy, needs=["PutObject"])

    def copy_replace():
        client.copy_object(oss.CopyObjectRequest(bucket=B, key="copy/replace.txt", source_bucket=B,
                                                 source_key=C.MAIN_KEY, metadata_directive="REPLACE",
                                                 metadata={"author": "bob"},
                                                 content_type="application/x-replaced"))
        h = client.head_object(oss.HeadObjectRequest(bucket=B, key="copy/replace.txt"))
        md = h.metadata or {}
        check(md.get("author") == "bob", "author %r" % md.get("author"))
        check("project" not in md, "old meta kept")
        check(h.content_type == "application/x-replaced", "content-type %r" % h.content_type)
        check(get_bytes("copy/replace.txt") == body, "body mismatch")
    R.run("CopyObject[REPLACE]", copy_replace, needs=["PutObject"])
    R.expect_error("CopyObjectIfMatchMismatch",
                   lambda: client.copy_object(oss.CopyObjectRequest(
                       bucket=B, key="copy/never.txt", source_bucket=B, source_key=C.MAIN_KEY,
                       if_match='"0123456789ABCDEF0123456789ABCDEF"')),
                   "PreconditionFailed", needs=["PutObject"])

    def append():
        key = "append/log.txt"
        chunks = [b"first,", b"second,", b"third"]
        pos, crc = 0, 0
        for c in chunks:
            r = client.append_object(oss.AppendObjectRequest(bucket=B, key=key, position=pos, body=c))
            check(r.next_position == pos + len(c), "next position %r after %d" % (r.next_position, pos))
            crc = C.crc64(c, crc)
            check(r.hash_crc64 in (None, str(crc)), "cumulative crc %r != %d" % (r.hash_crc64, crc))
            pos = r.next_position
        check(get_bytes(key) == b"".join(chunks), "content mismatch")
        h = client.head_object(oss.HeadObjectRequest(bucket=B, key=key))
        check(h.object_type == "Appendable", "object type %r" % h.object_type)
        check(h.next_append_position in (None, pos), "next_append_position %r" % h.next_append_position)
        return "positions ok, next=%d" % pos
    R.run("AppendObject", append, needs=["PutBucket"])
    R.expect_error("AppendObjectWrongPosition",
                   lambda: client.append_object(oss.AppendObjectRequest(
                       bucket=B, key="append/log.txt", position=3, body=b"bad")),
                   "PositionNotEqualToLength", needs=["AppendObject"])

    # ------------------------------------------------------------ listing
    def put_list_keys():
        for k in C.LIST_KEYS:
            put(k, k.encode())
    try:
        put_list_keys()
        put_err = None
    except Exception as e:  # noqa: BLE001
        put_err = describe(e)

    def do_list(v2, **kw):
        if v2:
            return client.list_objects_v2(oss.ListObjectsV2Request(bucket=B, **kw))
        if "continuation_token" in kw:
            kw["marker"] = kw.pop("continuation_token")
        return client.list_objects(oss.ListObjectsRequest(bucket=B, encoding_type="url", **kw))

    def keys_of(r):
        return [o.key for o in r.contents or []]

    def prefixes_of(r):
        return [p.prefix for p in r.common_prefixes or []]

    def lst_prefix(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            keys = keys_of(do_list(v2, prefix="list/", max_keys=100))
            check(keys == C.LIST_KEYS, "keys %r" % keys)
        return f

    def lst_delim(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            r = do_list(v2, prefix="list/", delimiter="/", max_keys=100)
            check(keys_of(r) == ["list/a.txt", "list/b.txt", "list/c.txt"], "keys %r" % keys_of(r))
            check(prefixes_of(r) == ["list/d/", "list/e/"], "common prefixes %r" % prefixes_of(r))
        return f

    def lst_paging(v2):
        def f():
            check(put_err is None, "setup failed: %s" % put_err)
            keys, pages, token = [], 0, None
            while pages < 10:
                pages += 1
                kw = {"prefix": "list/", "max_keys": 2}
                if token:
                    kw["continuation_token"] = token
                r = do_list(v2, **kw)
                token = r.next_continuation_token if v2 else r.next_marker
                check(len(r.contents or []) <= 2, "page of %d" % len(r.contents or []))
                keys += keys_of(r)
                if not r.is_truncated:
                    break
                check(bool(token), "truncated but no next marker/token")
            check(keys == C.LIST_KEYS, "keys %r" % keys)
            check(pages == 3, "%d pages" % pages)
            return "3 pages of <=2"
        return f

    def lst_special(v2):
        def f():
            keys = []
            if v2:
                pages = client.list_objects_v2_paginator().iter_page(oss.ListObjectsV2Request(bucket=B, max_keys=1000))
            else:
                pages = client.list_objects_paginator().iter_page(oss.ListObjectsRequest(bucket=B, max_keys=1000, encoding_type="url"))
            for p in pages:
                keys += keys_of(p)
            missing = [k for k in C.SPECIAL_KEYS if k not in keys]
            check(not missing, "missing %r" % missing)
        return f

    for v2, name in ((False, "ListObjects"), (True, "ListObjectsV2")):
        R.run(name + "[prefix]", lst_prefix(v2), needs=["PutBucket"])
        R.run(name + "[delimiter]", lst_delim(v2), needs=["PutBucket"])
        R.run(name + "[paging]", lst_paging(v2), needs=["PutBucket"])
        R.run(name + "[special-keys]", lst_special(v2), needs=["Key[" + C.SPECIAL_KEYS[0] + "]"])

    R.run("PutObjectAcl", lambda: client.put_object_acl(oss.PutObjectAclRequest(
        bucket=B, key=C.MAIN_KEY, acl="public-read")) and None, needs=["PutObject"])

    def get_object_acl():
        acl = client.get_object_acl(oss.GetObjectAclRequest(bucket=B, key=C.MAIN_KEY)).acl
        check(acl == "public-read", "acl %r" % acl)
    R.run("GetObjectAcl", get_object_acl, needs=["PutObjectAcl"])

    def put_object_tagging():
        put(C.TAG_KEY, C.TAG_BODY)
        tags = [ObjTag(key=k, value=v) for k, v in C.TAGS.items()]
        client.put_object_tagging(oss.PutObjectTaggingRequest(
            bucket=B, key=C.TAG_KEY, tagging=ObjTagging(tag_set=ObjTagSet(tags=tags))))
    R.run("PutObjectTagging", put_object_tagging, needs=["PutObject"])

    def tags_now():
        r = client.get_object_tagging(oss.GetObjectTaggingRequest(bucket=B, key=C.TAG_KEY))
        return {t.key: t.value for t in ((r.tag_set and r.tag_set.tags) or [])}

    def get_object_tagging():
        got = tags_now()
        check(got == C.TAGS, "tags %r" % got)
        n = client.head_object(oss.HeadObjectRequest(bucket=B, key=C.TAG_KEY)).tagging_count
        check(n == len(C.TAGS), "tagging_count %r" % n)
    R.run("GetObjectTagging", get_object_tagging, needs=["PutObjectTagging"])

    def delete_object_tagging():
        client.delete_object_tagging(oss.DeleteObjectTaggingRequest(bucket=B, key=C.TAG_KEY))
        got = tags_now()
        check(got == {}, "tags after delete %r" % got)
        check(get_bytes(C.TAG_KEY) == C.TAG_BODY, "object bytes changed")
    R.run("DeleteObjectTagging", delete_object_tagging, needs=["GetObjectTagging"])

    def bucket_stat():
        st = client.get_bucket_stat(oss.GetBucketStatRequest(bucket=B))
        check(st.object_count >= 2 and st.storage >= len(C.MAIN_BODY) + len(C.TAG_BODY),
              "objects %r, bytes %r" % (st.object_count, st.storage))
        check(st.standard_object_count == st.object_count, "standard %r" % st.standard_object_count)
    R.run("GetBucketStat", bucket_stat, needs=["PutObjectTagging"])

    def delete_object():
        put("del/single.txt", b"x")
        client.delete_object(oss.DeleteObjectRequest(bucket=B, key="del/single.txt"))
        check(not client.is_object_exist(B, "del/single.txt"), "still exists")
        client.delete_object(oss.DeleteObjectRequest(bucket=B, key="del/never-existed.txt"))
    R.run("DeleteObject", delete_object, needs=["PutBucket"])

    def delete_multi(quiet):
        def f():
            prefix = "delq/" if quiet else "del/"
            keys = [prefix + "1.txt", prefix + "2.txt", prefix + "x+y z.txt"]
            for k in keys:
                put(k, b"x")
            r = client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
                bucket=B, objects=[oss.DeleteObject(key=k) for k in keys], quiet=quiet))
            deleted = sorted(d.key for d in r.deleted_objects or [])
            if quiet:
                check(deleted == [], "quiet delete listed %r" % deleted)
            else:
                check(deleted == sorted(keys), "deleted %r" % deleted)
            left = keys_of(client.list_objects_v2(oss.ListObjectsV2Request(bucket=B, prefix=prefix)))
            check(not left, "left %r" % left)
        return f
    R.run("DeleteMultipleObjects", delete_multi(False), needs=["PutBucket"])
    R.run("DeleteMultipleObjects[quiet]", delete_multi(True), needs=["PutBucket"])

    # ------------------------------------------------------------ multipart by hand
    mkey = "mp/manual.bin"
    p1, p2, p4 = C.det_bytes(C.PART, "p1"), C.det_bytes(C.PART, "p2"), b"0123456789"
    src = C.det_bytes(150 * 1024, "copysrc")
    c0, c1 = 1000, 1000 + C.PART - 1
    mp = {}

    def initiate():
        mp["id"] = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
            bucket=B, key=mkey, content_type="application/octet-stream")).upload_id
        check(bool(mp["id"]), "empty upload id")
    R.run("InitiateMultipartUpload", initiate, needs=["PutBucket"])

    def upload_parts():
        parts = []
        for n, data in ((1, p1), (2, p2), (4, p4)):
            r = client.upload_part(oss.UploadPartRequest(bucket=B, key=mkey, upload_id=mp["id"],
                                                         part_number=n, body=data))  # CRC checked
            check(r.hash_crc64 in (None, str(C.crc64(data))), "part %d crc %r" % (n, r.hash_crc64))
            parts.append((n, r.etag))
        mp["parts"] = parts
        return "parts 1,2 (100 KiB) and 4 (10 B)"
    R.run("UploadPart", upload_parts, needs=["InitiateMultipartUpload"])

    def upload_part_copy():
        put("mp/copy-source.bin", src)
        r = client.upload_part_copy(oss.UploadPartCopyRequest(
            bucket=B, key=mkey, upload_id=mp["id"], part_number=3, source_bucket=B,
            source_key="mp/copy-source.bin", source_range="bytes=%d-%d" % (c0, c1)))
        mp["copy"] = (3, r.etag)
        return "part 3 = source bytes %d-%d" % (c0, c1)
    R.run("UploadPartCopy", upload_part_copy, needs=["InitiateMultipartUpload"])

    def all_parts():
        return sorted(mp["parts"] + ([mp["copy"]] if "copy" in mp else []))

    def list_parts():
        parts = client.list_parts(oss.ListPartsRequest(bucket=B, key=mkey, upload_id=mp["id"])).parts or []
        got = [(p.part_number, p.size) for p in parts]
        want = [(1, C.PART), (2, C.PART)] + ([(3, C.PART)] if "copy" in mp else []) + [(4, 10)]
        check(got == want, "parts %r, expected %r" % (got, want))
        mine = dict(all_parts())
        for p in parts:
            check(p.etag == mine[p.part_number], "etag of part %d: %r != %r" % (p.part_number, p.etag, mine[p.part_number]))
    R.run("ListParts", list_parts, needs=["UploadPart"])

    def list_uploads():
        mp["abort_id"] = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
            bucket=B, key="mp/aborted.bin")).upload_id
        ups = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=B, prefix="mp/")).uploads or []
        got = {(u.key, u.upload_id) for u in ups}
        check((mkey, mp["id"]) in got and ("mp/aborted.bin", mp["abort_id"]) in got, "uploads %r" % got)
        return "%d upload(s)" % len(got)
    R.run("ListMultipartUploads", list_uploads, needs=["InitiateMultipartUpload"])

    def complete():
        parts = all_parts()
        r = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=B, key=mkey, upload_id=mp["id"],
            complete_multipart_upload=oss.CompleteMultipartUpload(
                parts=[oss.UploadPart(part_number=n, etag=e) for n, e in parts])))
        want = p1 + p2 + (src[c0:c1 + 1] if "copy" in mp else b"") + p4
        got = get_bytes(mkey)
        check(got == want, "content mismatch (%d vs %d bytes)" % (len(got), len(want)))
        check(r.hash_crc64 in (None, str(C.crc64(want))), "complete crc %r" % r.hash_crc64)
        return "%d parts, %d bytes" % (len(parts), len(got))
    R.run("CompleteMultipartUpload", complete, needs=["UploadPart"])

    def abort():
        uid = mp.get("abort_id") or client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
            bucket=B, key="mp/aborted.bin")).upload_id
        client.upload_part(oss.UploadPartRequest(bucket=B, key="mp/aborted.bin", upload_id=uid, part_number=1, body=b"abc"))
        client.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=B, key="mp/aborted.bin", upload_id=uid))
        ups = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=B, prefix="mp/aborted.bin")).uploads or []
        check(uid not in [u.upload_id for u in ups], "upload still listed")
        try:
            client.list_parts(oss.ListPartsRequest(bucket=B, key="mp/aborted.bin", upload_id=uid))
        except Exception as e:  # noqa: BLE001
            check(code_of(e)[0] == "NoSuchUpload", "ListParts after abort: %s" % describe(e))
            return "then ListParts -> NoSuchUpload"
        raise CheckFailed("ListParts after abort succeeded")
    R.run("AbortMultipartUpload", abort, needs=["PutBucket"])

    # ------------------------------------------------------------ resumable helpers
    rfile = os.path.join(env.workdir, "pyv2-resumable.bin")
    rkey = "resumable/up.bin"
    cpdir = os.path.join(env.workdir, "pyv2-checkpoints")
    os.makedirs(cpdir, exist_ok=True)

    def resumable_upload():
        st["rsha"] = C.random_file(rfile, (1 << 20) + 12345)
        up = client.uploader(part_size=128 * 1024, parallel_num=3, enable_checkpoint=True, checkpoint_dir=cpdir)
        r = up.upload_file(oss.PutObjectRequest(bucket=B, key=rkey), filepath=rfile)  # CRC checked
        h = client.head_object(oss.HeadObjectRequest(bucket=B, key=rkey))
        check(h.content_length == (1 << 20) + 12345, "length %r" % h.content_length)
        check(h.object_type == "Multipart", "object type %r" % h.object_type)
        return "Uploader.upload_file, 9 parts of 128 KiB, upload_id=%s" % r.upload_id
    R.run("ResumableUpload", resumable_upload, needs=["PutBucket"])

    def resumable_download():
        out = os.path.join(env.workdir, "pyv2-resumable.out")
        dl = client.downloader(part_size=128 * 1024, parallel_num=3, enable_checkpoint=True, checkpoint_dir=cpdir)
        r = dl.download_file(oss.GetObjectRequest(bucket=B, key=rkey), filepath=out)  # CRC checked
        check(C.sha256_file(out) == st["rsha"], "sha256 mismatch")
        return "Downloader.download_file, %s bytes" % r.written
    R.run("ResumableDownload", resumable_download, needs=["ResumableUpload"])

    # ------------------------------------------------------------ presigned URLs
    def presign_get():
        p = client.presign(oss.GetObjectRequest(bucket=B, key=C.MAIN_KEY), expires=datetime.timedelta(seconds=300))
        r = C.http("GET", p.url, headers=dict(p.signed_headers or {}))
        check(r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:200]))
        check(r.content == body, "body mismatch")
        return "HTTP 200"
    R.run("PresignGet", presign_get, needs=["PutObject"])

    def presign_put():
        data = b"uploaded through a presigned URL\n"
        p = client.presign(oss.PutObjectRequest(bucket=B, key="presign/put.txt", content_type="text/plain"),
                           expires=datetime.timedelta(seconds=300))
        headers = dict(p.signed_headers or {})
        headers.setdefault("Content-Type", "text/plain")
        r = C.http("PUT", p.url, data=data, headers=headers)
        check(r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:200]))
        check(get_bytes("presign/put.txt") == data, "stored body mismatch")
    R.run("PresignPut", presign_put, needs=["PutBucket"])

    # ------------------------------------------------------------ STS
    def sts_client(creds):
        return make_client(creds["access_key_id"], creds["access_key_secret"], creds["security_token"])

    def put(c, key, data):
        c.put_object(oss.PutObjectRequest(bucket=B, key=key, body=data))

    def get_with(c, key):
        return read_all(c.get_object(oss.GetObjectRequest(bucket=B, key=key)))

    def sts_put_get():
        C.refuses_bad_admin_signature(env)
        st["sts"] = sts_client(C.fetch_sts(env, C.sts_rw_policy(B), as_string=True))
        data = b"written with STS credentials\n"
        put(st["sts"], "sts/obj.txt", data)
        check(get_with(st["sts"], "sts/obj.txt") == data, "body mismatch")
        return "policy as a JSON string; wrongly signed admin request refused"
    R.run("StsPutGet", sts_put_get, needs=["PutBucket"])

    def sts_denied():
        if "sts" not in st:
            raise CheckFailed("depends on StsPutGet (no STS credentials)")
        put(st["sts"], "nosts/obj.txt", b"must be denied")
    R.expect_error("StsDenied", sts_denied, "AccessDenied", needs=["PutBucket"])

    # A GetObject-only token on ro/*; the main key writes what it reads.
    def ro_setup():
        put(client, C.RO_KEY, C.RO_BODY)
        put(client, C.OUTSIDE_KEY, b"outside ro/\n")
        st["ro"] = sts_client(C.fetch_sts(env, C.sts_ro_policy(B)))
    try:
        ro_setup()
        ro_err = None
    except Exception as e:  # noqa: BLE001 - reported by the ops that need it
        ro_err = describe(e)

    def ro_token():
        check(ro_err is None, "setup failed: %s" % ro_err)
        return st["ro"]

    def read_in_prefix():
        check(get_with(ro_token(), C.RO_KEY) == C.RO_BODY, "body mismatch")
        return "GET " + C.RO_KEY
    R.run("StsPolicyReadInPrefix", read_in_prefix, needs=["PutBucket"])

    def put_denied():
        ro = ro_token()
        try:
            put(ro, C.RO_PUT_KEY, b"must be denied")
        finally:
            check(not client.is_object_exist(B, C.RO_PUT_KEY), "a refused PutObject wrote " + C.RO_PUT_KEY)
    R.expect_error("StsPolicyPutDenied", put_denied, "AccessDenied", needs=["PutBucket"])
    R.expect_error("StsPolicyOutsideDenied", lambda: get_with(ro_token(), C.OUTSIDE_KEY),
                   "AccessDenied", needs=["PutBucket"])

    def deny_wins():
        tok = sts_client(C.fetch_sts(env, C.sts_deny_policy(B)))
        try:
            put(tok, C.LOCKED_KEY, b"must be denied")
        except Exception as e:  # noqa: BLE001
            code, status = code_of(e)
            check(code == "AccessDenied", "PutObject %s: expected AccessDenied, got %s" % (C.LOCKED_KEY, describe(e)))
            locked = "%s (HTTP %s)" % (code, status)
        else:
            raise CheckFailed("PutObject %s succeeded: the Deny statement did not win" % C.LOCKED_KEY)
        check(not client.is_object_exist(B, C.LOCKED_KEY), "a refused PutObject wrote " + C.LOCKED_KEY)
        put(tok, C.OPEN_KEY, b"allowed\n")
        check(get_bytes(C.OPEN_KEY) == b"allowed\n", "body of %s mismatch" % C.OPEN_KEY)
        return "PutObject %s -> %s; PutObject %s -> ok" % (C.LOCKED_KEY, locked, C.OPEN_KEY)
    R.run("StsPolicyDenyWins", deny_wins, needs=["PutBucket"])

    # ------------------------------------------------------------ error cases
    R.expect_error("ErrNoSuchKey", lambda: get_bytes("missing/nope.txt"), "NoSuchKey", needs=["PutBucket"])
    R.expect_error("ErrNoSuchBucket",
                   lambda: read_all(client.get_object(oss.GetObjectRequest(bucket=B[:55] + "-nx", key="x.txt"))),
                   "NoSuchBucket")
    R.expect_error("ErrSignatureDoesNotMatch",
                   lambda: read_all(make_client(env.ak, env.sk + "x").get_object(
                       oss.GetObjectRequest(bucket=B, key=C.MAIN_KEY))),
                   "SignatureDoesNotMatch", needs=["PutBucket"])
    R.expect_error("ErrInvalidRange",
                   lambda: get_bytes(C.MAIN_KEY, range_header="bytes=1000-2000", range_behavior="standard"),
                   "InvalidRange", needs=["PutObject"])
    R.expect_error("ErrBucketNotEmpty", lambda: client.delete_bucket(oss.DeleteBucketRequest(bucket=B)),
                   "BucketNotEmpty", needs=["PutObject"])

    # ------------------------------------------------------------ cleanup
    def cleanup():
        for page in client.list_multipart_uploads_paginator().iter_page(oss.ListMultipartUploadsRequest(bucket=B)):
            for u in page.uploads or []:
                client.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=B, key=u.key, upload_id=u.upload_id))
        keys = []
        for page in client.list_objects_v2_paginator().iter_page(oss.ListObjectsV2Request(bucket=B, max_keys=1000)):
            keys += keys_of(page)
        for i in range(0, len(keys), 1000):
            client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
                bucket=B, objects=[oss.DeleteObject(key=k) for k in keys[i:i + 1000]], quiet=True))
        left = keys_of(client.list_objects_v2(oss.ListObjectsV2Request(bucket=B)))
        check(not left, "left %r" % left[:5])
        return "deleted %d objects" % len(keys)
    R.run("Cleanup", cleanup, needs=["PutBucket"])

    def delete_bucket():
        client.delete_bucket(oss.DeleteBucketRequest(bucket=B))
        try:
            client.get_bucket_info(oss.GetBucketInfoRequest(bucket=B))
        except Exception as e:  # noqa: BLE001
            check(code_of(e)[0] == "NoSuchBucket", "GetBucketInfo after delete: %s" % describe(e))
            return "then GetBucketInfo -> NoSuchBucket"
        raise CheckFailed("bucket still exists after DeleteBucket")
    R.run("DeleteBucket", delete_bucket, needs=["PutBucket"])


if __name__ == "__main__":
    C.main_guard(main)
