//! A deadline that spans several operations: everything run inside [`with_deadline`] — and
//! every task spawned with [`inherit`], such as the parts of a multipart transfer — stops
//! when it passes, whatever each operation's own deadline would allow.

use std::future::Future;
use std::time::Duration;

use futures_util::future::Either;
use tokio::time::Instant;

tokio::task_local! {
    static INHERITED: Instant;
}

/// Runs `f` with an overall deadline `budget` from now (nested calls keep the earlier one).
pub async fn with_deadline<F: Future>(budget: Duration, f: F) -> F::Output {
    let mut at = Instant::now() + budget;
    if let Some(outer) = current() {
        at = at.min(outer);
    }
    INHERITED.scope(at, f).await
}

/// The inherited deadline of the current task, if any.
pub fn current() -> Option<Instant> {
    INHERITED.try_with(|d| *d).ok()
}

/// Wraps a future about to be spawned so that it keeps the spawning task's deadline.
pub fn inherit<F: Future>(f: F) -> impl Future<Output = F::Output> {
    match current() {
        Some(d) => Either::Left(INHERITED.scope(d, f)),
        None => Either::Right(f),
    }
}
