//! Per-connection toxic state and the effect of each toxic on the data passing through.
//!
//! Each direction of a connection keeps one [`Stage`] per toxic of that direction, in the order
//! the toxics were added (toxiproxy's chain order). A chunk read from the source becomes a
//! [`Piece`] stamped with its read time; every enabled stage in turn may delay it (by moving its
//! release time `at` forward), split it, truncate it, drop it, or end the stream after it. The
//! writer then sends each piece at its release time. Release times are absolute, so delays do
//! not accumulate timer slop: a 1000 KB/s bandwidth toxic stays at 1000 KB/s however coarse the
//! sleeps are.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::model::{Toxic, ToxicKind};

/// Data or the source's close, with the time it may be released to the destination.
#[derive(Debug)]
pub(crate) struct Piece {
    pub item: Item,
    pub at: Instant,
}

#[derive(Debug)]
pub(crate) enum Item {
    Data(Bytes),
    Eof,
}

/// How a stream ends when a toxic ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Close the connection (FIN).
    Close,
    /// Reset both sides (RST).
    Reset,
}

/// A toxic as applied to one direction of one connection.
pub(crate) struct Stage {
    pub toxic: Arc<Toxic>,
    /// Drawn once from the toxic's toxicity when the stage is created.
    pub enabled: bool,
    /// When this stage started acting on the connection (timeout toxic's clock).
    pub activated: Instant,
    /// Latency/loss: release time of the previous piece (keeps order). Bandwidth/slicer: when
    /// the link is free again.
    last: Option<Instant>,
    /// limit_data: bytes forwarded so far.
    sent: u64,
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

impl Stage {
    pub fn new(toxic: Arc<Toxic>, rng: &mut fastrand::Rng, now: Instant) -> Stage {
        let t = toxic.toxicity;
        // toxiproxy: `rand.Float32() < toxicity`; 1.0 always applies, 0.0 never.
        let enabled = t >= 1.0 || (t > 0.0 && rng.f32() < t);
        Stage {
            toxic,
            enabled,
            activated: now,
            last: None,
            sent: 0,
        }
    }

    /// While enabled, does this stage stop all data (timeout toxic)? Returns the time the
    /// connection must be closed, `Some(None)` for "hold forever".
    pub fn hold(&self) -> Option<Option<Instant>> {
        match self.toxic.kind {
            ToxicKind::Timeout { timeout } if self.enabled => {
                Some((timeout > 0).then(|| self.activated + ms(timeout)))
            }
            _ => None,
        }
    }

    /// Applies this stage to the pieces (in order). May set `end`: the stream ends after the
    /// returned pieces, at the given time.
    pub fn apply(
        &mut self,
        pieces: Vec<Piece>,
        end: &mut Option<(End, Instant)>,
        rng: &mut fastrand::Rng,
    ) -> Vec<Piece> {
        match self.toxic.kind.clone() {
            ToxicKind::Noop | ToxicKind::Timeout { .. } => pieces,
            ToxicKind::Latency { latency, jitter } => {
                let mut out = pieces;
                for p in &mut out {
                    let delay = match p.item {
                        Item::Data(_) => {
                            let mut d = latency;
                            if jitter > 0 {
                                // toxiproxy: latency + rand.Int63n(2*jitter) - jitter
                                d += rng.i64(0..jitter.saturating_mul(2)) - jitter;
                            }
                            ms(d)
                        }
                        Item::Eof => Duration::ZERO,
                    };
                    self.order(p, delay);
                }
                out
            }
            ToxicKind::Loss { probability, rto } => {
                let mut out = pieces;
                for p in &mut out {
                    let lost = matches!(p.item, Item::Data(_))
                        && probability > 0.0
                        && rng.f64() < probability;
                    self.order(p, if lost { ms(rto) } else { Duration::ZERO });
                }
                out
            }
            ToxicKind::SlowClose { delay } => {
                let mut out = pieces;
                for p in &mut out {
                    if matches!(p.item, Item::Eof) {
                        p.at += ms(delay);
                    }
                }
                out
            }
            ToxicKind::Bandwidth { rate } if rate > 0 => {
                // toxiproxy sends chunks larger than 100 ms worth of data in 100 ms pieces.
                let piece_max = (rate as u64).saturating_mul(100).max(1) as usize;
                let mut out = Vec::with_capacity(pieces.len());
                for p in pieces {
                    match p.item {
                        Item::Data(mut data) => {
                            while !data.is_empty() {
                                let part = data.split_to(data.len().min(piece_max));
                                let start = self.last.map_or(p.at, |l| l.max(p.at));
                                // rate KB/s = rate bytes per ms
                                let nanos = part.len() as u128 * 1_000_000 / rate as u128;
                                let done = start + Duration::from_nanos(nanos as u64);
                                self.last = Some(done);
                                out.push(Piece {
                                    item: Item::Data(part),
                                    at: done,
                                });
                            }
                        }
                        Item::Eof => {
                            let at = self.last.map_or(p.at, |l| l.max(p.at));
                            out.push(Piece {
                                item: Item::Eof,
                                at,
                            });
                        }
                    }
                }
                out
            }
            ToxicKind::Bandwidth { .. } => pieces,
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } if average_size > 0 => {
                let step = Duration::from_micros(delay.max(0) as u64);
                let mut out = Vec::with_capacity(pieces.len() * 4);
                for p in pieces {
                    let start = self.last.map_or(p.at, |l| l.max(p.at));
                    match p.item {
                        Item::Data(data) => {
                            let bounds = slice_bounds(
                                data.len(),
                                average_size as usize,
                                size_variation.max(0) as usize,
                                rng,
                            );
                            let mut at = start;
                            for w in bounds.windows(2) {
                                out.push(Piece {
                                    item: Item::Data(data.slice(w[0]..w[1])),
                                    at,
                                });
                                at += step;
                            }
                            self.last = Some(at);
                        }
                        Item::Eof => out.push(Piece {
                            item: Item::Eof,
                            at: start,
                        }),
                    }
                }
                out
            }
            ToxicKind::Slicer { .. } => pieces,
            ToxicKind::LimitData { bytes } => {
                let limit = bytes.max(0) as u64;
                let mut out = Vec::with_capacity(pieces.len());
                for p in pieces {
                    if end.is_some() {
                        break;
                    }
                    match p.item {
                        Item::Data(mut data) => {
                            let left = limit.saturating_sub(self.sent);
                            if (data.len() as u64) > left {
                                data.truncate(left as usize);
                            }
                            self.sent += data.len() as u64;
                            let at = p.at;
                            if !data.is_empty() {
                                out.push(Piece {
                                    item: Item::Data(data),
                                    at,
                                });
                            }
                            if self.sent >= limit {
                                *end = Some((End::Close, at));
                            }
                        }
                        Item::Eof => out.push(p),
                    }
                }
                out
            }
            ToxicKind::ResetPeer { timeout } => {
                // toxiproxy: the first chunk (or the close) that reaches the toxic is dropped,
                // and `timeout` ms later both sides are reset.
                if let Some(first) = pieces.first() {
                    *end = Some((End::Reset, first.at + ms(timeout)));
                }
                Vec::new()
            }
        }
    }

    /// Delays a piece and keeps pieces in order (a later piece never overtakes an earlier one,
    /// as on a TCP stream).
    fn order(&mut self, p: &mut Piece, delay: Duration) {
        let mut at = p.at + delay;
        if let Some(last) = self.last {
            at = at.max(last);
        }
        p.at = at;
        self.last = Some(at);
    }
}

/// Offsets cutting `len` bytes into slices of `avg` ± `var` bytes: toxiproxy's recursive
/// halving (no tendency to a small slice at the start or end), made safe for `var` = 0 and
/// `var` ≥ `avg`. Returns `[0, c1, c2, ..., len]`.
pub(crate) fn slice_bounds(
    len: usize,
    avg: usize,
    var: usize,
    rng: &mut fastrand::Rng,
) -> Vec<usize> {
    let mut out = vec![0];
    // explicit stack of (start, end), processed left to right
    let mut stack = vec![(0usize, len)];
    while let Some((start, end)) = stack.pop() {
        let size = end - start;
        if size <= avg + var || size < 2 {
            if end > start {
                out.push(end);
            }
            continue;
        }
        let mut mid = (start + size / 2) as i64;
        if var > 0 {
            mid += rng.i64(0..(2 * var) as i64) - var as i64;
        }
        let mid = (mid.max(start as i64 + 1) as usize).min(end - 1);
        stack.push((mid, end));
        stack.push((start, mid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Stream;

    fn stage(kind: ToxicKind) -> Stage {
        let t = Arc::new(Toxic {
            name: "t".into(),
            stream: Stream::Downstream,
            toxicity: 1.0,
            kind,
        });
        Stage::new(t, &mut fastrand::Rng::with_seed(1), Instant::now())
    }

    fn data(n: usize, at: Instant) -> Piece {
        Piece {
            item: Item::Data(Bytes::from(vec![7u8; n])),
            at,
        }
    }

    #[test]
    fn slices_cover_everything_in_order() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (len, avg, var) in [
            (1000, 100, 20),
            (5, 1, 0),
            (1000, 10, 50),
            (64 * 1024, 1460, 0),
        ] {
            let b = slice_bounds(len, avg, var, &mut rng);
            assert_eq!(*b.first().unwrap(), 0);
            assert_eq!(*b.last().unwrap(), len);
            assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
            for w in b.windows(2) {
                assert!(w[1] - w[0] <= avg + var + 1 || avg + var == 0);
            }
        }
    }

    #[test]
    fn bandwidth_schedules_exact_rate() {
        let mut s = stage(ToxicKind::Bandwidth { rate: 1000 });
        let t0 = Instant::now();
        let mut end = None;
        let mut rng = fastrand::Rng::with_seed(1);
        let out = s.apply(vec![data(250_000, t0)], &mut end, &mut rng);
        // 100 ms pieces of 100 000 bytes
        assert_eq!(out.len(), 3);
        assert_eq!(out.last().unwrap().at - t0, Duration::from_millis(250));
        let out = s.apply(vec![data(1000, t0)], &mut end, &mut rng);
        assert_eq!(out[0].at - t0, Duration::from_millis(251));
    }

    #[test]
    fn limit_data_truncates_and_ends() {
        let mut s = stage(ToxicKind::LimitData { bytes: 150 });
        let t0 = Instant::now();
        let mut end = None;
        let mut rng = fastrand::Rng::with_seed(1);
        let out = s.apply(vec![data(100, t0)], &mut end, &mut rng);
        assert_eq!(out.len(), 1);
        assert!(end.is_none());
        let out = s.apply(vec![data(100, t0)], &mut end, &mut rng);
        match &out[0].item {
            Item::Data(d) => assert_eq!(d.len(), 50),
            Item::Eof => panic!(),
        }
        assert_eq!(end.unwrap().0, End::Close);
    }

    #[test]
    fn latency_keeps_order_under_jitter() {
        let mut s = stage(ToxicKind::Latency {
            latency: 100,
            jitter: 90,
        });
        let t0 = Instant::now();
        let mut end = None;
        let mut rng = fastrand::Rng::with_seed(3);
        let mut last = t0;
        for i in 0..200 {
            let out = s.apply(
                vec![data(1, t0 + Duration::from_millis(i))],
                &mut end,
                &mut rng,
            );
            assert!(out[0].at >= last);
            assert!(out[0].at >= t0 + Duration::from_millis(i + 10));
            last = out[0].at;
        }
    }

    #[test]
    fn toxicity_is_drawn() {
        let t = Arc::new(Toxic {
            name: "t".into(),
            stream: Stream::Downstream,
            toxicity: 0.5,
            kind: ToxicKind::Noop,
        });
        let mut rng = fastrand::Rng::with_seed(9);
        let on = (0..1000)
            .filter(|_| Stage::new(t.clone(), &mut rng, Instant::now()).enabled)
            .count();
        assert!((400..600).contains(&on), "{on}");
    }
}
