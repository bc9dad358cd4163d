//! `spool-stress DIR START [COUNT]`: opens the spool in DIR and enqueues deterministic PUTs
//! `i = START..START+COUNT` (default COUNT 1,000,000), printing `ack <id> <i> <len> <crc64>` after each
//! enqueue returned (after a first line `recovery <kept> <temp removed> <orphans removed>
//! <quarantined>`) — the crash test SIGKILLs it and checks every printed id after reopening.
//! Entry `i`: key `k{i % 7}` (keys repeat: per-key order matters), metadata `i`, body
//! [`body_of`]`(i)`.

use std::io::Write;

use ossguard_spool::{Expect, Spool, SpoolBody, SpoolPut};

/// Deterministic body of loop index `i`: mostly small, every 5th 512 KiB + a bit, so that a
/// kill often lands inside a body write.
fn body_of(i: u64) -> Vec<u8> {
    let len = match i % 5 {
        4 => (512 << 10) + (i % 977) as usize,
        _ => ((i * 7919) % 20_000) as usize,
    };
    // A 4 KiB pseudo-random block repeated: cheap to build even unoptimised, so the child
    // spends its time inside `enqueue` (where the kill should land).
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let block: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut body = block.repeat(len / 4096 + 1);
    body.truncate(len);
    body
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(start)) = (args.next(), args.next().and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: spool-stress DIR START [COUNT]");
        std::process::exit(1);
    };
    let count: u64 = args
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1_000_000);
    let spool = match Spool::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let r = spool.recovery();
    let _ = writeln!(
        out,
        "recovery {} {} {} {}",
        r.recovered,
        r.temp_removed,
        r.orphans_removed,
        r.quarantined.len()
    );
    for i in start..start + count {
        let put = SpoolPut::new("stress", format!("k{}", i % 7))
            .meta("i", i.to_string())
            .expect(Expect::Unknown);
        let body = body_of(i);
        let (len, crc) = (body.len(), ossguard_proto::crc64::checksum(&body));
        let body = match i % 3 {
            // Exercise the streaming path as well as bytes.
            0 => SpoolBody::reader(std::io::Cursor::new(body)),
            _ => SpoolBody::from(body),
        };
        match spool.enqueue(put, body).await {
            Ok(id) => {
                let _ = writeln!(out, "ack {id} {i} {len} {crc}");
                let _ = out.flush();
            }
            Err(e) => {
                eprintln!("enqueue {i}: {e}");
                std::process::exit(2);
            }
        }
    }
}
