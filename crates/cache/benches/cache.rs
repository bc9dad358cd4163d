//! Cache hit latency (get + verified bytes), 1 MiB hit throughput, miss lookup, 1 MiB fill.
//! Figures go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ossguard_cache::{Cache, CacheConfig, FillMeta};

fn body(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + 3) as u8).collect()
}

fn meta(body: &[u8]) -> FillMeta {
    FillMeta {
        etag: Some("\"bench\"".into()),
        size: body.len() as u64,
        crc64: Some(ossguard_proto::crc64::checksum(body)),
        ..Default::default()
    }
}

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), CacheConfig::default()).unwrap();
    let mut g = c.benchmark_group("cache_hit");
    for size in [4usize << 10, 1 << 20] {
        let data = body(size);
        let key = format!("obj-{size}");
        cache
            .insert("b", &key, meta(&data), &data)
            .unwrap()
            .unwrap();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("get_bytes", size), &key, |b, key| {
            b.iter(|| {
                let hit = cache.get("b", black_box(key)).unwrap().unwrap();
                black_box(hit.bytes().unwrap())
            })
        });
    }
    g.finish();
    c.bench_function("cache_miss/get_absent", |b| {
        b.iter(|| black_box(cache.get("b", black_box("absent")).unwrap().is_none()))
    });
}

fn fills(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_fill");
    let data = body(1 << 20);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for durable in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), CacheConfig::default().durable(durable)).unwrap();
        let name = if durable { "fsync" } else { "no_fsync" };
        g.bench_function(BenchmarkId::new("1MiB_64KiB_chunks", name), |b| {
            b.iter(|| {
                let mut f = cache.fill("b", "filled", meta(&data)).unwrap().unwrap();
                for chunk in data.chunks(64 << 10) {
                    f.write(chunk).unwrap();
                }
                black_box(f.commit().unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hits, fills);
criterion_main!(benches);
