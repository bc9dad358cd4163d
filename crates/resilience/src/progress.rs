//! Progress of one body transfer (either direction): an idle timeout and a minimum-throughput
//! floor over a sliding window — curl's `--speed-limit/--speed-time`, and the idea behind S3's
//! advice to retry the slowest requests. A connection that falls below the floor is abandoned
//! and the transfer continues on a fresh one from where it was.
//!
//! Only time spent *waiting for the network* counts: the driver calls [`Progress::waiting`] when
//! it starts waiting and [`Progress::bytes`] when bytes move. A slow consumer (the caller not
//! reading) therefore never looks like a slow link.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressConfig {
    /// No byte at all for this long (of waiting) abandons the connection.
    pub idle: Duration,
    /// Bytes per second the connection must average over `window` of waiting.
    pub min_bytes_per_sec: u64,
    /// The sliding window of the floor; the floor is judged only once a window has passed.
    pub window: Duration,
}

/// Defaults (issue 9; DESIGN §4 style anchors):
/// * `idle` 10 s: reqwest's read timeout default of this client, and ~3 TCP retransmission
///   timeouts (RFC 6298: 1 s initial RTO, doubled: 1 + 2 + 4 s) — a connection silent that long
///   has lost its path.
/// * floor 8 KiB/s (64 kbit/s, GPRS class): below any link that still carries a transfer
///   usefully, yet far above a drip (3 KB/s in the test); a healthy 1 Mbit/s link shared
///   by 8 parallel parts still gives each ~15 KiB/s.
/// * `window` 8 s: a few RTOs, so one lost segment's recovery never trips it, and short enough
///   that a drip is cut quickly (a drip after a fast start is cut ≤ `window` after it begins).
impl Default for ProgressConfig {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10),
            min_bytes_per_sec: 8 * 1024,
            window: Duration::from_secs(8),
        }
    }
}

impl ProgressConfig {
    /// Never abandons a connection (the naive client).
    pub fn off() -> Self {
        Self {
            idle: Duration::MAX,
            min_bytes_per_sec: 0,
            window: Duration::MAX,
        }
    }
}

/// Why a connection was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Nothing moved for `idle`.
    Idle,
    /// Moving, but below the floor over the window.
    TooSlow { bytes_per_sec: u64 },
}

/// Samples are taken every `window / STEPS`; the ring holds two windows' worth.
const STEPS: u32 = 16;
const SLOTS: usize = 2 * STEPS as usize;

/// The monitor of one connection's body. `now` is any monotonic clock.
#[derive(Debug, Clone)]
pub struct Progress {
    cfg: ProgressConfig,
    /// Waiting time accumulated before the current wait.
    active: Duration,
    waiting_since: Option<Duration>,
    last_byte_active: Duration,
    total: u64,
    /// Ring of (active time, total bytes) samples, one per `window / STEPS` of active time.
    samples: [(Duration, u64); SLOTS],
    next_slot: usize,
    filled: usize,
    /// The sender handed out its last byte: extra silence allowed to drain buffers.
    drain: Option<Duration>,
}

/// Most bytes that can sit between a sender and its peer once handed to the connection:
/// Linux's default maximum send and receive buffers (4 MiB + 6 MiB, `tcp_wmem`/`tcp_rmem`)
/// plus a proxy's queue (ossguard chaos: 4 MiB), rounded up.
pub const MAX_IN_FLIGHT: u64 = 16 << 20;

impl Progress {
    pub fn new(cfg: ProgressConfig) -> Self {
        Self {
            cfg,
            active: Duration::ZERO,
            waiting_since: None,
            last_byte_active: Duration::ZERO,
            total: 0,
            samples: [(Duration::ZERO, 0); SLOTS],
            next_slot: 1,
            filled: 1,
            drain: None,
        }
    }

    pub fn config(&self) -> &ProgressConfig {
        &self.cfg
    }

    /// Bytes moved so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The driver starts waiting for the network (no-op if already waiting).
    pub fn waiting(&mut self, now: Duration) {
        if self.waiting_since.is_none() {
            self.waiting_since = Some(now);
        }
    }

    fn active_at(&self, now: Duration) -> Duration {
        match self.waiting_since {
            Some(s) => self.active + now.saturating_sub(s),
            None => self.active,
        }
    }

    /// `n` bytes moved; the wait (if any) ends.
    pub fn bytes(&mut self, now: Duration, n: u64) {
        self.active = self.active_at(now);
        self.waiting_since = None;
        self.total += n;
        if n > 0 {
            self.last_byte_active = self.active;
        }
        let step = self.cfg.window / STEPS;
        let last = self.samples[(self.next_slot + SLOTS - 1) % SLOTS].0;
        if self.active.saturating_sub(last) >= step {
            self.samples[self.next_slot] = (self.active, self.total);
            self.next_slot = (self.next_slot + 1) % SLOTS;
            self.filled = (self.filled + 1).min(SLOTS);
        }
    }

    /// An upload handed its last byte to the connection; now it waits for the answer. What it
    /// handed out may still sit in socket buffers and proxies (up to [`MAX_IN_FLIGHT`]) and
    /// must drain at no less than the floor: that long plus `idle` of silence is allowed, and
    /// the sliding-window floor no longer applies (nothing moves while the server reads). The
    /// client cannot tell draining buffers from a server that stopped reading, so after `idle`
    /// of silence ([`silent_after_send`](Self::silent_after_send)) the driver may race a
    /// duplicate on a fresh connection.
    pub fn sent_all(&mut self, now: Duration) {
        let floor = self.cfg.min_bytes_per_sec;
        let extra = if floor > 0 {
            Duration::from_secs_f64(self.total.min(MAX_IN_FLIGHT) as f64 / floor as f64)
        } else {
            Duration::ZERO
        };
        self.drain = Some(extra);
        self.waiting(now);
    }

    /// All bytes were handed out and the connection has been silent for `idle` since.
    pub fn silent_after_send(&self, now: Duration) -> bool {
        self.drain.is_some()
            && self.active_at(now).saturating_sub(self.last_byte_active) >= self.cfg.idle
    }

    /// Judges the connection now: `Ok(d)` — fine, check again after at most `d` (while still
    /// waiting); `Err` — abandon it.
    pub fn check(&self, now: Duration) -> Result<Duration, Stall> {
        let active = self.active_at(now);
        let idle_for = active.saturating_sub(self.last_byte_active);
        let idle = self.cfg.idle.saturating_add(self.drain.unwrap_or_default());
        if idle_for >= idle {
            return Err(Stall::Idle);
        }
        let mut next = idle - idle_for;
        if self.drain.is_none() && self.cfg.min_bytes_per_sec > 0 && self.cfg.window < Duration::MAX
        {
            // The oldest sample that is at least a window old.
            let from = active.saturating_sub(self.cfg.window);
            if active >= self.cfg.window {
                let mut base = None;
                for i in 0..self.filled {
                    let s = self.samples[(self.next_slot + SLOTS - 1 - i) % SLOTS];
                    if s.0 <= from {
                        base = Some(s);
                        break;
                    }
                }
                if let Some((t0, b0)) = base {
                    let span = active.saturating_sub(t0).as_secs_f64().max(1e-9);
                    let rate = (self.total - b0) as f64 / span;
                    if rate < self.cfg.min_bytes_per_sec as f64 {
                        return Err(Stall::TooSlow {
                            bytes_per_sec: rate as u64,
                        });
                    }
                }
            }
            next = next.min((self.cfg.window / STEPS).max(Duration::from_millis(100)));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn idle_fires_only_while_waiting() {
        let mut p = Progress::new(ProgressConfig::default());
        p.waiting(Duration::ZERO);
        p.bytes(S, 100_000);
        // The consumer takes 60 s to come back: not the network's fault.
        p.waiting(61 * S);
        assert!(p.check(65 * S).is_ok());
        assert_eq!(p.check(71 * S), Err(Stall::Idle));
    }

    #[test]
    fn a_drip_after_a_fast_start_is_cut_within_the_window() {
        let cfg = ProgressConfig::default();
        let mut p = Progress::new(cfg);
        let ms = Duration::from_millis(1);
        let mut now = Duration::ZERO;
        // 1 MB in 100 ms, then 3 KB/s in 60 B pieces every 20 ms.
        for _ in 0..100 {
            p.waiting(now);
            now += ms;
            p.bytes(now, 10_000);
        }
        let drip_start = now;
        let cut = loop {
            p.waiting(now);
            now += 20 * ms;
            if let Err(e) = p.check(now) {
                break (now - drip_start, e);
            }
            p.bytes(now, 60);
            assert!(now - drip_start < 60 * S, "never cut");
        };
        assert!(matches!(cut.1, Stall::TooSlow { .. }), "{cut:?}");
        assert!(cut.0 <= cfg.window + S, "cut after {:?}", cut.0);
    }

    /// Through a 125 KB/s link behind fast loopback buffers, an upload's last bytes leave the
    /// sender ~a minute before the server has them all: not a stall (only a reason to race a
    /// duplicate), unless what is in flight drains below the floor.
    #[test]
    fn buffers_draining_after_the_last_byte_are_not_a_stall() {
        let mut p = Progress::new(ProgressConfig::default());
        let mut now = Duration::ZERO;
        // 7 MB absorbed at once, then 1 MiB at 125 KB/s.
        p.waiting(now);
        p.bytes(now + Duration::from_millis(5), 7_000_000);
        now += Duration::from_millis(5);
        for _ in 0..16 {
            p.waiting(now);
            now += Duration::from_millis(524);
            p.bytes(now, 65_536);
        }
        p.sent_all(now);
        assert!(!p.silent_after_send(now + Duration::from_secs(9)));
        assert!(
            p.silent_after_send(now + Duration::from_secs(11)),
            "a duplicate may go"
        );
        assert!(p.check(now + Duration::from_secs(60)).is_ok(), "drain cut");
        // 8 MB in flight must drain at ≥ 8 KiB/s: ~977 s + idle.
        assert!(p.check(now + Duration::from_secs(980)).is_ok());
        assert_eq!(p.check(now + Duration::from_secs(1000)), Err(Stall::Idle));
    }

    #[test]
    fn a_slow_healthy_link_is_not_cut() {
        // 1 Mbit/s shared by 8 connections: ~15.6 KiB/s each, in 1460-byte segments.
        let mut p = Progress::new(ProgressConfig::default());
        let mut now = Duration::ZERO;
        let gap = Duration::from_secs_f64(1460.0 / 16_000.0);
        for _ in 0..20_000 {
            p.waiting(now);
            now += gap;
            assert!(p.check(now).is_ok(), "cut a healthy link at {now:?}");
            p.bytes(now, 1460);
        }
    }
}
