//! Sans-IO resilience policies. Each type does one thing; none reads a clock or draws randomness
//! itself: callers pass `now` (a monotonic [`Duration`] since any fixed origin) and an
//! [`Rng`](rng::Rng), so every decision is reproducible in virtual time.
//!
//! The policies know nothing of OSS: callers classify results into an [`Outcome`].
#![forbid(unsafe_code)]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod deadline;
pub mod hedge;
pub mod latency;
pub mod op;
pub mod progress;
pub mod ramp;
pub mod retry;
pub mod rng;

pub use std::time::Duration;

/// How one attempt ended, as the policies need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Worth retrying; `timeout` costs more retry budget; `never_sent` means the request
    /// provably never reached the server (connect failure).
    Transient {
        timeout: bool,
        never_sent: bool,
    },
    /// The server is overloaded; `hint` is its requested delay, if any.
    Throttled {
        hint: Option<Duration>,
    },
    /// The clocks disagree; retry once after correcting.
    ClockSkew,
    /// The request was wrong; the server is healthy.
    Client,
    Cancelled,
}

impl Outcome {
    /// Hard failures count toward tripping the breaker.
    pub fn is_hard_failure(self) -> bool {
        matches!(self, Outcome::Transient { .. })
    }

    /// Did the backend answer without asking us to slow down? (adaptive throttling's
    /// "accepts"): a random error or a reset is an answer; throttling, a timeout or a request
    /// that never reached the server is not.
    pub fn backend_answered(self) -> bool {
        match self {
            Outcome::Transient {
                timeout,
                never_sent,
            } => !timeout && !never_sent,
            o => o.backend_accepted(),
        }
    }

    /// Did the backend accept (serve) the request?
    pub fn backend_accepted(self) -> bool {
        matches!(
            self,
            Outcome::Success | Outcome::Client | Outcome::ClockSkew
        )
    }
}
