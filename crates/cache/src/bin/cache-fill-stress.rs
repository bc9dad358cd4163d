//! Helper of the kill -9 test (`tests/crash.rs`): runs `COUNT` fills of `ossguard_cache::stress`
//! content at version `TAG`, all in flight at once, spread over `THREADS` threads that write
//! 4 KiB chunks round-robin. Prints `started <n>` when every fill is open and `committed <key>`
//! after each commit, so the test can kill it mid-way.
//!
//! Usage: cache-fill-stress DIR COUNT THREADS TAG MAX_BYTES

use std::io::Write;
use std::sync::{Arc, Barrier};

use ossguard_cache::{stress, Cache, CacheConfig, FillMeta};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, count, threads, tag, max_bytes] = args.as_slice() else {
        eprintln!("usage: cache-fill-stress DIR COUNT THREADS TAG MAX_BYTES");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT: a number");
    let threads: usize = threads.parse().expect("THREADS: a number");
    let max_bytes: u64 = max_bytes.parse().expect("MAX_BYTES: a number");
    let cache = Cache::open(dir, CacheConfig::default().max_bytes(max_bytes)).expect("open cache");
    let opened = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, opened, tag) = (cache.clone(), opened.clone(), tag.clone());
            std::thread::spawn(move || {
                let mut fills: Vec<_> = (t..count)
                    .step_by(threads)
                    .map(|i| {
                        let key = stress::key(i);
                        let body = stress::content(&key, &tag);
                        let meta = FillMeta {
                            etag: Some(tag.clone()),
                            size: body.len() as u64,
                            crc64: Some(ossguard_proto::crc64::checksum(&body)),
                            ..Default::default()
                        };
                        let filler = cache
                            .fill("b", &key, meta)
                            .expect("fill")
                            .expect("no other fill");
                        (key, body, 0usize, Some(filler))
                    })
                    .collect();
                opened.wait();
                let mut open = fills.len();
                while open > 0 {
                    for (key, body, pos, slot) in fills.iter_mut() {
                        let Some(filler) = slot.as_mut() else {
                            continue;
                        };
                        let end = (*pos + 4096).min(body.len());
                        filler.write(&body[*pos..end]).expect("write");
                        *pos = end;
                        if end == body.len() {
                            slot.take().unwrap().commit().expect("commit");
                            open -= 1;
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "committed {key}");
                            let _ = out.flush();
                        }
                    }
                }
            })
        })
        .collect();
    opened.wait();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "started {count}");
        let _ = out.flush();
    }
    for w in workers {
        w.join().expect("worker");
    }
    println!("done");
}
