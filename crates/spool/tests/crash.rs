//! kill -9 while enqueueing: every acknowledged entry survives and verifies, nothing partial
//! replays, sequence numbers keep increasing across restarts.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{open, FakeOss};
use ossguard_proto::crc64;

/// Same as `src/bin/spool-stress.rs` (the child also prints each body's CRC-64, which is
/// checked against this copy, so the two cannot drift apart unnoticed).
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

const ROUNDS: u64 = 8;
const KILL_DELAYS_US: [u64; ROUNDS as usize] = [0, 300, 700, 1_500, 2_500, 4_000, 7_000, 11_000];

#[derive(Debug, Clone, Copy)]
struct Ack {
    id: u64,
    i: u64,
    len: u64,
    crc: u64,
}

fn parse_ack(line: &str) -> Ack {
    let rest = line.strip_prefix("ack ").expect("an ack line");
    let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
    Ack {
        id: f[0],
        i: f[1],
        len: f[2],
        crc: f[3],
    }
}

/// What the child's own open found: `[kept, temp removed, orphans removed, quarantined]`.
type Recovery = [u64; 4];

/// Runs the stress binary from `start` until it acknowledged `count` entries, then SIGKILLs it.
fn run_and_kill(
    dir: &std::path::Path,
    start: u64,
    count: usize,
    kill_delay: Duration,
) -> (Recovery, Vec<Ack>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spool-stress"))
        .arg(dir)
        .arg(start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spool-stress starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acks = Vec::new();
    let mut recovery = None;
    while acks.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                panic!("spool-stress gave {} acks, then {e:?}", acks.len());
            }
        };
        if let Some(rest) = line.strip_prefix("recovery ") {
            let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
            recovery = Some([f[0], f[1], f[2], f[3]]);
            continue;
        }
        acks.push(parse_ack(&line));
    }
    // Let the child get some way into its next enqueue(s); the delay varies per round so the
    // kills land at different steps (this is crash timing, not a policy decision).
    std::thread::sleep(kill_delay);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // The child kept enqueueing while we slept: the acks it printed meanwhile are
    // acknowledgements too (the reader ends at EOF, so this drains all of them).
    reader.join().unwrap();
    for line in rx.try_iter() {
        acks.push(parse_ack(&line));
    }
    (recovery.expect("a recovery line first"), acks)
}

#[tokio::test]
async fn kill9_while_enqueueing_loses_no_acknowledged_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut acks: Vec<Ack> = Vec::new();
    let mut cleaned = [0u64; 2];
    for round in 0..ROUNDS {
        let delay = Duration::from_micros(KILL_DELAYS_US[round as usize]);
        let (rec, new) = run_and_kill(dir, round * 100_000, 6 + 2 * round as usize, delay);
        // Each child's open recovers after the previous kill: nothing acknowledged is lost.
        assert_eq!(rec[3], 0, "round {round}: entries quarantined");
        assert!(
            rec[0] >= acks.len() as u64,
            "round {round}: kept {} of {}",
            rec[0],
            acks.len()
        );
        cleaned[0] += rec[1];
        cleaned[1] += rec[2];
        acks.extend(new);
    }
    assert!(
        acks.windows(2).all(|w| w[0].id < w[1].id),
        "ids keep increasing across restarts"
    );
    for a in &acks {
        let body = body_of(a.i);
        assert_eq!((a.len, a.crc), (body.len() as u64, crc64::checksum(&body)));
    }

    let spool = open(dir);
    let rec = spool.recovery().clone();
    eprintln!(
        "after {ROUNDS} kills: {} acked, {} entries recovered, {} temp files and {} orphan bodies removed",
        acks.len(),
        rec.recovered,
        cleaned[0] + rec.temp_removed as u64,
        cleaned[1] + rec.orphans_removed as u64,
    );
    assert!(rec.quarantined.is_empty(), "{:?}", rec.quarantined);
    let pending: BTreeMap<u64, _> = spool.pending().into_iter().map(|e| (e.id.0, e)).collect();
    for a in &acks {
        let e = pending
            .get(&a.id)
            .unwrap_or_else(|| panic!("acked {a:?} is pending"));
        assert_eq!((e.size, e.crc64), (a.len, a.crc), "entry {}", a.id);
    }
    // At most one complete-but-unacknowledged entry per kill (committed, then killed before
    // the print).
    assert!(pending.len() <= acks.len() + ROUNDS as usize);

    let oss = FakeOss::default();
    let report = spool.replay(&oss).await;
    assert!(
        report.stopped.is_none() && report.conflicts.is_empty(),
        "{report:?}"
    );
    let ids: Vec<u64> = report.replayed.iter().map(|r| r.id.0).collect();
    assert_eq!(
        ids,
        pending.keys().copied().collect::<Vec<_>>(),
        "all, in order"
    );
    let calls = oss.stored_calls();
    assert_eq!(calls.len(), ids.len());
    for call in &calls {
        // Every replayed body, acknowledged or not, is exactly what its writer gave.
        let i: u64 = call.metadata["i"].parse().unwrap();
        assert_eq!(call.key, format!("k{}", i % 7));
        assert!(call.body == body_of(i), "body of i={i}");
    }
    let replayed_is: Vec<u64> = calls
        .iter()
        .map(|c| c.metadata["i"].parse().unwrap())
        .collect();
    assert!(
        replayed_is.windows(2).all(|w| w[0] < w[1]),
        "writes land in order"
    );
    assert!(spool.pending().is_empty());
}
