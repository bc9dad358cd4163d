//! Response-body faults: stall, cut (reset or truncate), corrupt and drip, composed in one
//! stream adapter over the handler's body.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::ConnCtl;
use super::Installed;

/// How long a cut body waits before ending, so hyper flushes the bytes sent so far first.
const FLUSH_PAUSE: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    Reset,
    Truncate,
}

/// The body faults chosen for one response (rule index first in each).
#[derive(Debug, Default)]
pub(crate) struct BodyPlan {
    pub stall: Option<(usize, u64, Duration)>,
    pub cut: Option<(usize, u64, Cut)>,
    pub corrupt: Option<(usize, Vec<u64>, f64)>,
    pub drip: Option<(usize, u64, u64)>,
}

impl BodyPlan {
    pub fn is_empty(&self) -> bool {
        self.stall.is_none() && self.cut.is_none() && self.corrupt.is_none() && self.drip.is_none()
    }
}

struct Flow {
    inner: BodyDataStream,
    buf: Bytes,
    /// Bytes handed to hyper so far.
    pos: u64,
    stall: Option<(u64, Duration)>,
    cut: Option<(u64, Cut)>,
    offsets: Vec<u64>,
    chunk_rule: Option<(usize, f64)>,
    /// Absolute offset of the byte to flip in the current inner chunk.
    chunk_flip: Option<u64>,
    drip: Option<(u64, u64)>,
    drip_start: Option<Instant>,
    set: Arc<Installed>,
    ctl: Option<Arc<ConnCtl>>,
    changed: watch::Receiver<u64>,
    /// The rules changed: stop holding the body back.
    released: bool,
    ended: bool,
}

/// Wraps the body of a 2xx response of `len > 0` bytes. Offsets past the end are clamped to
/// `len - 1` (stall, cut, drip start) or dropped (corruption offsets) so every fault takes
/// effect; each applied fault counts as injected for its rule.
pub(crate) fn wrap(
    resp: Response,
    len: u64,
    plan: BodyPlan,
    set: Arc<Installed>,
    ctl: Option<Arc<ConnCtl>>,
    changed: watch::Receiver<u64>,
) -> Response {
    let last = len - 1;
    let mut offsets = Vec::new();
    let mut chunk_rule = None;
    if let Some((i, offs, p)) = plan.corrupt {
        offsets = offs.into_iter().filter(|o| *o < len).collect();
        offsets.sort_unstable();
        offsets.dedup();
        if p > 0.0 {
            chunk_rule = Some((i, p));
        }
        if !offsets.is_empty() || p > 0.0 {
            set.injected(i);
        }
    }
    for i in [
        plan.stall.map(|s| s.0),
        plan.cut.map(|c| c.0),
        plan.drip.map(|d| d.0),
    ]
    .into_iter()
    .flatten()
    {
        set.injected(i);
    }
    let (parts, body) = resp.into_parts();
    let flow = Flow {
        inner: body.into_data_stream(),
        buf: Bytes::new(),
        pos: 0,
        stall: plan.stall.map(|(_, at, d)| (at.min(last), d)),
        cut: plan.cut.map(|(_, at, c)| (at.min(last), c)),
        offsets,
        chunk_rule,
        chunk_flip: None,
        drip: plan.drip.map(|(_, at, rate)| (at.min(last), rate)),
        drip_start: None,
        set,
        ctl,
        changed,
        released: false,
        ended: false,
    };
    Response::from_parts(
        parts,
        Body::from_stream(futures_util::stream::unfold(flow, step)),
    )
}

/// Sleeps until `deadline` unless the rules change first (then returns `false`).
async fn hold(deadline: Instant, changed: &mut watch::Receiver<u64>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = changed.changed() => false,
    }
}

async fn step(mut f: Flow) -> Option<(io::Result<Bytes>, Flow)> {
    loop {
        if f.ended {
            return None;
        }
        if let Some((at, cut)) = f.cut {
            if f.pos >= at {
                f.ended = true;
                // Let hyper write out what it has before the connection goes.
                tokio::time::sleep(FLUSH_PAUSE).await;
                let err = match cut {
                    Cut::Reset => {
                        if let Some(c) = &f.ctl {
                            c.reset_on_close();
                        }
                        io::Error::new(io::ErrorKind::ConnectionReset, "fault: reset_mid_body")
                    }
                    Cut::Truncate => {
                        io::Error::new(io::ErrorKind::UnexpectedEof, "fault: truncate_body")
                    }
                };
                return Some((Err(err), f));
            }
        }
        if let Some((at, d)) = f.stall {
            if f.pos >= at {
                f.stall = None;
                if !f.released && !hold(Instant::now() + d, &mut f.changed).await {
                    f.released = true;
                }
                continue;
            }
        }
        if f.buf.is_empty() {
            match f.inner.next().await {
                None => {
                    f.ended = true;
                    return None;
                }
                Some(Err(e)) => {
                    f.ended = true;
                    return Some((Err(io::Error::other(e)), f));
                }
                Some(Ok(b)) => {
                    f.chunk_flip = match f.chunk_rule {
                        Some((i, p)) if !b.is_empty() => {
                            let r = &f.set.rule(i).rng;
                            r.chance(p)
                                .then(|| f.pos + r.between(0, b.len() as u64 - 1))
                        }
                        _ => None,
                    };
                    f.buf = b;
                    continue;
                }
            }
        }
        let mut take = f.buf.len() as u64;
        if let Some((at, _)) = f.cut {
            take = take.min(at - f.pos);
        }
        if let Some((at, _)) = f.stall {
            take = take.min(at - f.pos);
        }
        if let (Some((after, rate)), false) = (f.drip, f.released) {
            if f.pos < after {
                take = take.min(after - f.pos);
            } else {
                // Pieces of ~20 ms worth of bytes, each sent once the rate has "earned" it.
                let piece = (rate / 50).clamp(1, 64 * 1024);
                take = take.min(piece);
                let start = *f.drip_start.get_or_insert_with(Instant::now);
                let due = Duration::from_secs_f64((f.pos - after + take) as f64 / rate as f64);
                if !hold(start + due, &mut f.changed).await {
                    f.released = true;
                }
            }
        }
        let chunk = f.buf.split_to(take as usize);
        let end = f.pos + take;
        let in_range = |o: &u64| (f.pos..end).contains(o);
        let mut flips: Vec<u64> = f
            .offsets
            .iter()
            .copied()
            .filter(in_range)
            .chain(f.chunk_flip.filter(in_range))
            .collect();
        // A byte picked twice is still flipped once (two XORs would undo each other).
        flips.sort_unstable();
        flips.dedup();
        let chunk = if flips.is_empty() {
            chunk
        } else {
            let mut m = chunk.to_vec();
            for o in flips {
                m[(o - f.pos) as usize] ^= 0xFF;
            }
            Bytes::from(m)
        };
        f.pos = end;
        return Some((Ok(chunk), f));
    }
}
