//! Throughput cost of the chaos proxy with no toxics: the same bulk transfer over loopback,
//! directly and through the proxy, in the same run, alternating. On Linux a third column is
//! a minimal reference relay (one blocking thread doing `splice(2)`, no runtime, no toxics):
//! the floor for any user-space TCP proxy, to tell the cost of the extra TCP hop from the
//! cost of our code.
//!
//! `cargo bench -p ossguard-chaos --bench throughput` moves 1 GiB per transfer, 5 rounds
//! (override with `OSSGUARD_CHAOS_BENCH_MIB` / `OSSGUARD_CHAOS_BENCH_ROUNDS`). Under
//! `cargo test` (no `--bench` argument) it is a quick smoke run of 32 MiB. The sender and
//! the sink are plain threads with blocking sockets; the proxy runs on a 2-worker tokio
//! runtime in the same process. Set `OSSGUARD_CHAOS_NO_SPLICE=1` to measure the portable
//! copy path instead of `splice(2)`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ossguard_chaos::{Chaos, ProxyConfig};

const BUF: usize = 256 * 1024;

/// A sink that reads each connection to EOF and answers with the byte count.
fn sink() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            thread::spawn(move || {
                let mut buf = vec![0u8; BUF];
                let mut n: u64 = 0;
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => n += k as u64,
                        Err(_) => return,
                    }
                }
                let _ = c.write_all(&n.to_be_bytes());
            });
        }
    });
    addr
}

/// CPU time (user + system) used so far by this whole process: sender, sink and proxy.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        f.get(i - 3)
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(14) + field(15);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Sends `total` bytes to `addr`, waits for the sink's count; returns (elapsed, CPU used).
fn transfer(addr: SocketAddr, total: u64) -> (Duration, Duration) {
    let buf = vec![0x5au8; BUF];
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut c = TcpStream::connect(addr).expect("connect");
    let mut left = total;
    while left > 0 {
        let k = left.min(BUF as u64) as usize;
        c.write_all(&buf[..k]).expect("write");
        left -= k as u64;
    }
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut ack = [0u8; 8];
    c.read_exact(&mut ack).expect("ack");
    let elapsed = start.elapsed();
    assert_eq!(u64::from_be_bytes(ack), total, "the sink got every byte");
    (elapsed, cpu_time().saturating_sub(cpu0))
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mib = env_u64("OSSGUARD_CHAOS_BENCH_MIB").unwrap_or(if bench { 1024 } else { 32 });
    let rounds = env_u64("OSSGUARD_CHAOS_BENCH_ROUNDS").unwrap_or(if bench { 5 } else { 1 });
    let total = mib * 1024 * 1024;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let upstream = sink();
    let chaos = Chaos::new();
    let proxy = rt
        .block_on(chaos.create_proxy(ProxyConfig::new("bench", upstream.to_string())))
        .expect("create proxy");
    let proxied = proxy.listen_addr().expect("proxy address");
    let mut targets = vec![("direct", upstream), ("chaos", proxied)];
    #[cfg(target_os = "linux")]
    targets.push(("relay", reference_relay(upstream)));

    // warm-up (page cache of the buffers, TCP autotuning)
    for (_, addr) in &targets {
        transfer(*addr, total.min(64 << 20));
    }

    let gib = total as f64 / (1u64 << 30) as f64;
    let mut speed = vec![Vec::new(); targets.len()];
    let mut cpu = vec![Vec::new(); targets.len()];
    for round in 0..rounds as usize {
        // rotate the order so drift in machine load hits every column alike
        let mut line = format!("round {round}:");
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let (name, addr) = targets[i];
            let (d, c) = transfer(addr, total);
            speed[i].push(mib_s(total, d));
            cpu[i].push(c.as_secs_f64() / gib);
            line += &format!(
                "  {name} {:.0} MiB/s ({:.3} s, CPU {:.2} s)",
                mib_s(total, d),
                d.as_secs_f64(),
                c.as_secs_f64()
            );
        }
        println!("{line}");
    }
    let med: Vec<(f64, f64)> = (0..targets.len())
        .map(|i| (median(speed[i].clone()), median(cpu[i].clone())))
        .collect();
    let (d, dc) = med[0];
    let (p, pc) = med[1];
    let ratio = p / d;
    let relay = med
        .get(2)
        .map(|(r, rc)| {
            format!(
                ",\"relay_mib_s\":{r:.1},\"relay_ratio\":{:.3},\"cpu_s_per_gib_relay\":{rc:.2}",
                r / d
            )
        })
        .unwrap_or_default();
    println!(
        "{{\"bench\":\"chaos_throughput\",\"mib_per_transfer\":{mib},\"rounds\":{rounds},\"splice\":{},\"direct_mib_s\":{d:.1},\"proxied_mib_s\":{p:.1},\"ratio\":{ratio:.3},\"overhead_pct\":{:.1},\"cpu_s_per_gib_direct\":{dc:.2},\"cpu_s_per_gib_proxied\":{pc:.2}{relay}}}",
        std::env::var_os("OSSGUARD_CHAOS_NO_SPLICE").is_none() && cfg!(target_os = "linux"),
        (1.0 - ratio) * 100.0
    );
    rt.block_on(chaos.shutdown());
}

/// The reference relay: per connection, one blocking thread splices client → upstream through a
/// pipe (and a plain copy thread handles the tiny reply). No runtime, no toxics, no checks.
#[cfg(target_os = "linux")]
fn reference_relay(upstream: SocketAddr) -> SocketAddr {
    use rustix::pipe::{fcntl_setpipe_size, pipe, splice, SpliceFlags};
    let l = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(client) = c else { continue };
            thread::spawn(move || {
                let up = TcpStream::connect(upstream).expect("relay connect");
                let (mut up_r, mut client_w) =
                    (up.try_clone().unwrap(), client.try_clone().unwrap());
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = up_r.read(&mut buf) {
                        if n == 0 || client_w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = client_w.shutdown(Shutdown::Write);
                });
                let (pr, pw) = pipe().expect("pipe");
                let _ = fcntl_setpipe_size(&pw, 1 << 20);
                loop {
                    let n = match splice(&client, None, &pw, None, 1 << 20, SpliceFlags::MOVE) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut left = n;
                    while left > 0 {
                        match splice(&pr, None, &up, None, left, SpliceFlags::MOVE) {
                            Ok(m) if m > 0 => left -= m,
                            _ => return,
                        }
                    }
                }
                let _ = up.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}
