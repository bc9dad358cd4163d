//! CRC-64 throughput and signing latency. Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::Method;
use ossguard_proto::auth::{v1, v4};
use ossguard_proto::crc64::{checksum, combine};
use ossguard_proto::time::from_unix_seconds;
use ossguard_proto::{Credentials, Request};

fn crc64(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc64");
    for size in [4 << 10, 1 << 20, 16 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("crc_fast", size), &data, |b, d| {
            b.iter(|| checksum(black_box(d)))
        });
        // Peer: the table-driven `crc` crate (what the protocol notes suggest), same data.
        let table = crc::Crc::<u64>::new(&crc::CRC_64_XZ);
        g.bench_with_input(BenchmarkId::new("crc_crate_table", size), &data, |b, d| {
            b.iter(|| table.checksum(black_box(d)))
        });
    }
    g.finish();
    c.bench_function("crc64/combine_8MiB_part", |b| {
        b.iter(|| combine(black_box(0x1234), black_box(0x5678), black_box(8 << 20)))
    });
}

fn put_request() -> Request {
    Request::new(
        Method::PUT,
        Some("examplebucket"),
        Some("dir/sub dir/文件.txt"),
    )
    .with_header("content-type", "text/plain")
    .and_then(|r| r.with_header("content-md5", "8PGMLGauHdUSvc1DZvdtow=="))
    .and_then(|r| r.with_header("x-oss-meta-author", "alice"))
    .unwrap()
    .with_query("partNumber", "1")
    .with_query("uploadId", "0004B9895DBBB6EC98E")
}

fn signing(c: &mut Criterion) {
    let creds = Credentials::new("LTAI-test-id", "test-secret");
    let now = from_unix_seconds(1_672_223_261);
    let base = put_request();
    c.bench_function("sign/v4_header", |b| {
        b.iter(|| {
            let mut r = base.clone();
            v4::sign(&mut r, &creds, "cn-hangzhou", black_box(now), &[]).unwrap();
            r
        })
    });
    let keys = v4::SigningKeyCache::default();
    // What a small GET signs: no query, no content headers.
    let get = Request::new(Method::GET, Some("peer-bench"), Some("small/000123"));
    for (what, req) in [("header", &base), ("get", &get)] {
        c.bench_function(&format!("sign/v4_{what}_key_cached"), |b| {
            b.iter(|| {
                let mut r = req.clone();
                v4::sign_cached(
                    &mut r,
                    &creds,
                    "cn-hangzhou",
                    black_box(now),
                    &[],
                    Some(&keys),
                )
                .unwrap();
                r
            })
        });
        c.bench_function(&format!("sign/v1_{what}"), |b| {
            b.iter(|| {
                let mut r = req.clone();
                v1::sign(&mut r, &creds, black_box(now), v1::DateHeader::Date).unwrap();
                r
            })
        });
    }
    c.bench_function("sign/clone_only_baseline", |b| {
        b.iter(|| black_box(base.clone()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = crc64, signing
}
criterion_main!(benches);
