"""Peer bench driver for oss2 (Python SDK). Contract: bench_common.py / README.md.

Defaults are oss2's own (retries, pool of 10 connections, CRC-64 on); whole-file helpers are
resumable_upload / resumable_download with their default thresholds, part sizes and threads
(upload: 10 MiB parts, 1 thread; download: above 100 MiB, 10 MiB parts, 4 threads) unless the
spec sets "threads" (the tuned row)."""
import os

import oss2

import bench_common as C

E = os.environ


def bucket(spec):
    auth = oss2.AuthV4(E["OSS_ACCESS_KEY_ID"], E["OSS_ACCESS_KEY_SECRET"])
    return oss2.Bucket(auth, E["OSS_ENDPOINT"], spec["bucket"], region=E.get("OSS_REGION", "cn-hangzhou"))


def store(spec):
    return oss2.ResumableStore(root=spec.get("workdir", "/tmp"))


def upload(spec):
    kw = {"num_threads": spec["threads"]} if spec.get("threads") else {}
    oss2.resumable_upload(bucket(spec), spec["key"], spec["file"], store=store(spec), **kw)
    return {"ok": True}


def download(spec):
    kw = {"num_threads": spec["threads"]} if spec.get("threads") else {}
    oss2.resumable_download(bucket(spec), spec["key"], spec["file"],
                            store=oss2.ResumableDownloadStore(root=spec.get("workdir", "/tmp")), **kw)
    return {"ok": True}


def put(spec):
    b = bucket(spec)
    return C.many(spec, lambda k: b.put_object(k, C.content(k, spec["size"])) and True)


def get_bytes(b, k):
    return b.get_object(k).read()


def get(spec):
    b = bucket(spec)
    return C.many(spec, lambda k: True if get_bytes(b, k) == C.content(k, spec["size"]) else "corrupt")


def list_(spec):
    n = sum(1 for _ in oss2.ObjectIteratorV2(bucket(spec), prefix=spec["prefix"]))
    return {"ok": True, "count": n}


def probe(spec):
    b = bucket(spec)
    return C.probe(spec, lambda k: get_bytes(b, k))


if __name__ == "__main__":
    C.main("oss2", {"upload": upload, "download": download, "put": put, "get": get,
                    "list": list_, "probe": probe})
