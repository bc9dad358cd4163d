"""Interop checker for oss2: reads objects another client wrote (SHA-256; oss2's own CRC-64 check
on), reads back bucket ACL and CORS, and writes its own simple and multipart (resumable) objects.
Output: one JSON object per line. Env as peers/go_interop/main.go, plus OSSGUARD_SIG (v1|v4)."""
import hashlib
import json
import os
import sys

import oss2

def emit(**kw):
    print(json.dumps(kw), flush=True)

def main():
    ep, ak, sk = os.environ["OSS_ENDPOINT"], os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"]
    auth = oss2.AuthV4(ak, sk) if os.environ.get("OSSGUARD_SIG") == "v4" else oss2.Auth(ak, sk)
    bucket = oss2.Bucket(auth, ep, os.environ["OSSGUARD_BUCKET"], region="cn-hangzhou", connect_timeout=30)
    work = os.environ["OSSGUARD_WORKDIR"]
    for key in filter(None, os.environ.get("OSSGUARD_READ", "").split(",")):
        try:
            path = os.path.join(work, "oss2-read-" + key.encode().hex())
            bucket.get_object_to_file(key, path)  # oss2 checks the CRC-64 of whole downloads
            data = open(path, "rb").read()
            emit(op="read", key=key, ok=True, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        except Exception as e:  # report, keep going
            emit(op="read", key=key, ok=False, detail=repr(e))
    try:
        emit(op="acl", ok=True, acl=bucket.get_bucket_acl().acl)
    except Exception as e:
        emit(op="acl", ok=False, detail=repr(e))
    try:
        rules = bucket.get_bucket_cors().rules
        emit(op="cors", ok=True, origins=[o for r in rules for o in r.allowed_origins],
             methods=[m for r in rules for m in r.allowed_methods])
    except Exception as e:
        emit(op="cors", ok=False, detail=repr(e))
    prefix = os.environ.get("OSSGUARD_WRITE_PREFIX")
    if not prefix:
        return
    simple = os.urandom(300 * 1024)
    try:
        bucket.put_object(prefix + "simple.bin", simple)
        emit(op="write", key=prefix + "simple.bin", ok=True, sha256=hashlib.sha256(simple).hexdigest())
    except Exception as e:
        emit(op="write", key=prefix + "simple.bin", ok=False, detail=repr(e))
    multi = os.urandom(350 * 1024 + 17)
    src = os.path.join(work, "oss2-multi.bin")
    open(src, "wb").write(multi)
    try:
        oss2.resumable_upload(bucket, prefix + "multi.bin", src, store=oss2.ResumableStore(root=work),
                              multipart_threshold=100 * 1024, part_size=100 * 1024, num_threads=3)
        emit(op="write", key=prefix + "multi.bin", ok=True, sha256=hashlib.sha256(multi).hexdigest())
    except Exception as e:
        emit(op="write", key=prefix + "multi.bin", ok=False, detail=repr(e))

if __name__ == "__main__":
    sys.exit(main())
