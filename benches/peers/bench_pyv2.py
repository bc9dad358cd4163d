"""Peer bench driver for alibabacloud-oss-v2 (Python SDK V2). Contract: bench_common.py / README.md.

Defaults are the SDK's own (3 attempts, 20 connections, CRC-64 on); whole-file helpers are the
uploader / downloader with their default part size (6 MiB) and parallelism (3) unless the spec
sets "threads" (the tuned row)."""
import os

import alibabacloud_oss_v2 as oss

import bench_common as C

E = os.environ


def client():
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        E["OSS_ACCESS_KEY_ID"], E["OSS_ACCESS_KEY_SECRET"])
    cfg.region = E.get("OSS_REGION", "cn-hangzhou")
    cfg.endpoint = E["OSS_ENDPOINT"]
    return oss.Client(cfg)


def upload(spec):
    kw = {"parallel_num": spec["threads"]} if spec.get("threads") else {}
    client().uploader(**kw).upload_file(
        oss.PutObjectRequest(bucket=spec["bucket"], key=spec["key"]), filepath=spec["file"])
    return {"ok": True}


def download(spec):
    kw = {"parallel_num": spec["threads"]} if spec.get("threads") else {}
    client().downloader(**kw).download_file(
        oss.GetObjectRequest(bucket=spec["bucket"], key=spec["key"]), filepath=spec["file"])
    return {"ok": True}


def put(spec):
    c, b = client(), spec["bucket"]
    return C.many(spec, lambda k: c.put_object(
        oss.PutObjectRequest(bucket=b, key=k, body=C.content(k, spec["size"]))) and True)


def get_bytes(c, b, k):
    with c.get_object(oss.GetObjectRequest(bucket=b, key=k)).body as body:
        return body.read()


def get(spec):
    c, b = client(), spec["bucket"]
    return C.many(spec, lambda k: True if get_bytes(c, b, k) == C.content(k, spec["size"]) else "corrupt")


def list_(spec):
    c, n = client(), 0
    for page in c.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=spec["bucket"], prefix=spec["prefix"])):
        n += len(page.contents or [])
    return {"ok": True, "count": n}


def probe(spec):
    c = client()
    return C.probe(spec, lambda k: get_bytes(c, spec["bucket"], k))


if __name__ == "__main__":
    C.main("pyv2", {"upload": upload, "download": download, "put": put, "get": get,
                    "list": list_, "probe": probe})
