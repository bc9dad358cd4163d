//! How many parts a transfer keeps in flight: start narrow and widen while each widening pays.
//!
//! A multipart transfer is bounded either by something every connection shares (the server, the
//! local disk, one access link) or by something each connection meets on its own (a long path
//! where one TCP stream's window over the round trip caps it, per-connection shaping). Only in
//! the second case do more parts in flight help; in the first they add memory and server load
//! for nothing. [`Ramp`] tells the two apart by trying: it measures the throughput of one wave
//! of parts at the current width, doubles the width, measures again, and keeps the wider
//! setting only when the throughput grew by at least a quarter of what the added parts would
//! bring if each ran as fast as the old ones ([`Ramp::MIN_GAIN`]: a doubling must bring 1.25×).
//! Otherwise it goes back to the last width that paid and stays there for the rest of the
//! transfer.
//!
//! A measurement is one wave in steady state. The first: the first `width` completions, timed
//! from the start (every part of it was launched then). After a change, completions of parts
//! launched before it are ignored (they ran at the old width, and the new parts started beside
//! them, out of step), the first completion of a part launched at the new width starts the clock,
//! and the next `width` completions end it. Throughput is their bytes over that time. Sans-IO:
//! the caller passes `now`, measured from the launch of the first parts, and each part's
//! [`Ramp::epoch`] at launch.
//!
//! The first wave includes the new connections' handshakes and slow start, so it reads low and
//! leans toward widening. That is the cheap mistake: an unneeded wider setting costs some
//! memory and server load (and the doubling after it is judged against an unbiased wave); a
//! missed one costs a capped link its throughput.

use std::time::Duration;

/// The width controller of one transfer. Defaults: none; the transfer options choose the start
/// (ossguard: 4) and the ceiling (ossguard: 16). `start == max` keeps the width fixed.
#[derive(Debug, Clone)]
pub struct Ramp {
    width: usize,
    max: usize,
    epoch: u32,
    state: State,
    /// The last width that paid and the throughput (bytes/s) measured at it.
    paid: Option<(usize, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Waiting for the first completion of a part launched at the current width.
    Warming,
    /// Counting completions of the current epoch since `since`.
    Measuring {
        since: Duration,
        parts: usize,
        bytes: u64,
    },
    /// No more changes in this transfer.
    Settled,
}

impl Ramp {
    /// A widening is kept when throughput grew by at least this share of the linear gain
    /// (doubling the width must bring ≥ 1.25× the throughput). One server core answered
    /// 1.0–1.1× on loopback; a per-connection cap 1.9–2×; a cap of 32 MiB/s per connection
    /// in front of a server that takes ~370 MiB/s answered 8 → 16 with ~1.45×, which a
    /// threshold of 1.5× turned down (240 MiB/s instead of ~330 for 1 GiB).
    pub const MIN_GAIN: f64 = 0.25;

    /// Starts at `start` parts in flight (at least 1); widens up to `max` (at least `start`).
    /// Time 0 of [`part_done`](Self::part_done)'s `now` is when the first parts are launched.
    pub fn new(start: usize, max: usize) -> Self {
        let width = start.max(1);
        let max = max.max(width);
        Self {
            width,
            max,
            epoch: 0,
            state: if max > width {
                State::Measuring {
                    since: Duration::ZERO,
                    parts: 0,
                    bytes: 0,
                }
            } else {
                State::Settled
            },
            paid: None,
        }
    }

    /// Parts to keep in flight now.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Tag for a part launched now; pass it back to [`part_done`](Self::part_done).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the width can still change.
    pub fn is_settled(&self) -> bool {
        self.state == State::Settled
    }

    /// A part launched in `epoch` finished at `now`, having moved `bytes`.
    pub fn part_done(&mut self, now: Duration, epoch: u32, bytes: u64) {
        if epoch != self.epoch {
            return;
        }
        match self.state {
            State::Settled => {}
            State::Warming => {
                self.state = State::Measuring {
                    since: now,
                    parts: 0,
                    bytes: 0,
                }
            }
            State::Measuring {
                since,
                parts,
                bytes: sum,
            } => {
                let (parts, sum) = (parts + 1, sum + bytes);
                if parts < self.width {
                    self.state = State::Measuring {
                        since,
                        parts,
                        bytes: sum,
                    };
                    return;
                }
                let secs = now.saturating_sub(since).as_secs_f64().max(1e-6);
                self.decide(sum as f64 / secs);
            }
        }
    }

    fn decide(&mut self, rate: f64) {
        let pays = match self.paid {
            None => true,
            Some((old_width, old_rate)) => {
                let linear = (self.width - old_width) as f64 / old_width as f64;
                rate >= old_rate * (1.0 + Self::MIN_GAIN * linear)
            }
        };
        self.epoch += 1;
        if !pays {
            self.width = self.paid.map_or(self.width, |(w, _)| w);
            self.state = State::Settled;
            return;
        }
        self.paid = Some((self.width, rate));
        if self.width >= self.max {
            self.state = State::Settled;
        } else {
            self.width = self.width.saturating_mul(2).min(self.max);
            self.state = State::Warming;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// A fluid model of a transfer: `parts` parts of `part` bytes, each in-flight part moving at
    /// min(`per_conn`, `shared` / in flight) bytes/s. Drives the ramp in virtual time and returns
    /// (widths seen, seconds taken).
    fn simulate(
        start: usize,
        max: usize,
        parts: usize,
        part: u64,
        per_conn: f64,
        shared: f64,
    ) -> (Vec<usize>, f64) {
        let mut ramp = Ramp::new(start, max);
        let mut widths = vec![ramp.width()];
        let mut now = 0.0f64;
        let mut next = 0usize;
        // (bytes left, epoch)
        let mut flight: Vec<(f64, u32)> = Vec::new();
        let mut done = 0usize;
        for _ in 0..100_000 {
            while flight.len() < ramp.width() && next < parts {
                flight.push((part as f64, ramp.epoch()));
                next += 1;
            }
            if flight.is_empty() {
                break;
            }
            let speed = per_conn.min(shared / flight.len() as f64);
            let (i, _) = flight
                .iter()
                .enumerate()
                .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
                .unwrap();
            let dt = flight[i].0 / speed;
            now += dt;
            flight.iter_mut().for_each(|f| f.0 -= dt * speed);
            let (_, epoch) = flight.remove(i);
            done += 1;
            ramp.part_done(Duration::from_secs_f64(now), epoch, part);
            if *widths.last().unwrap() != ramp.width() {
                widths.push(ramp.width());
            }
        }
        assert_eq!(done, parts, "the simulation finished every part");
        (widths, now)
    }

    #[test]
    fn a_per_connection_cap_widens_to_the_ceiling() {
        // 32 MiB/s per connection, a server with 1 GiB/s to spare: 4 → 8 → 16.
        let (widths, secs) = simulate(4, 16, 128, 8 * MIB, 32.0 * MIB as f64, 1024.0 * MIB as f64);
        assert_eq!(widths, vec![4, 8, 16]);
        let (_, fixed) = simulate(4, 4, 128, 8 * MIB, 32.0 * MIB as f64, 1024.0 * MIB as f64);
        assert!(secs < fixed / 2.5, "ramped {secs:.2}s vs fixed {fixed:.2}s");
    }

    #[test]
    fn a_shared_bottleneck_keeps_the_start_width() {
        // The server (360 MiB/s for everyone) binds before any connection does.
        let (widths, _) = simulate(4, 16, 128, 8 * MIB, 2048.0 * MIB as f64, 360.0 * MIB as f64);
        assert_eq!(widths, vec![4, 8, 4]);
    }

    #[test]
    fn widening_stops_where_the_shared_limit_starts() {
        // 32 MiB/s per connection, 300 MiB/s in all: 8 wide is 256, 16 wide only 300 (< 1.25×).
        let (widths, _) = simulate(4, 16, 256, 8 * MIB, 32.0 * MIB as f64, 300.0 * MIB as f64);
        assert_eq!(widths, vec![4, 8, 16, 8]);
    }

    #[test]
    fn a_gain_short_of_linear_still_pays() {
        // 32 MiB/s per connection, a server that takes 370 in all: 16 wide brings 1.45× of 8.
        let (widths, _) = simulate(4, 16, 256, 8 * MIB, 32.0 * MIB as f64, 370.0 * MIB as f64);
        assert_eq!(widths, vec![4, 8, 16]);
    }

    #[test]
    fn start_equal_to_max_never_changes() {
        let mut r = Ramp::new(4, 4);
        assert!(r.is_settled());
        for i in 0..100 {
            r.part_done(Duration::from_millis(i), 0, MIB);
        }
        assert_eq!((r.width(), r.epoch()), (4, 0));
        assert_eq!(Ramp::new(0, 0).width(), 1, "never zero parts in flight");
        assert_eq!(
            Ramp::new(8, 2).width(),
            8,
            "a ceiling below the start is the start"
        );
    }

    #[test]
    fn completions_of_an_older_epoch_do_not_count() {
        let mut r = Ramp::new(2, 4);
        let t = Duration::from_millis;
        // The first wave, timed from the start: 2 parts in 1 s = 2 MiB/s → widen to 4.
        r.part_done(t(900), 0, MIB);
        r.part_done(t(1000), 0, MIB);
        assert_eq!((r.width(), r.epoch()), (4, 1));
        // Parts launched at width 2 finishing now say nothing about width 4.
        for i in 0..10 {
            r.part_done(t(1001 + i), 0, MIB);
        }
        assert!(!r.is_settled());
        // Width 4: warm-up, then 4 parts in 1 s = 4 MiB/s ≥ 2 × 1.25 → kept; at the ceiling.
        r.part_done(t(2000), 1, MIB);
        for i in 1..=4 {
            r.part_done(t(2000 + 250 * i), 1, MIB);
        }
        assert_eq!(r.width(), 4);
        assert!(r.is_settled());
    }

    #[test]
    fn a_widening_that_brings_too_little_is_undone() {
        let mut r = Ramp::new(2, 8);
        let t = Duration::from_millis;
        r.part_done(t(1000), 0, MIB);
        r.part_done(t(1000), 0, MIB); // 2 MiB/s at width 2
        assert_eq!(r.width(), 4);
        r.part_done(t(1000), 1, MIB);
        for i in 1..=4 {
            // 4 parts in 1.7 s ≈ 2.35 MiB/s < 2.5 MiB/s needed
            r.part_done(t(1000 + 425 * i), 1, MIB);
        }
        assert_eq!(r.width(), 2);
        assert!(r.is_settled());
    }
}
