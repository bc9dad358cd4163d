//! Work a transfer leaves running after its caller stopped waiting: a last step (a download's
//! rename into place and the checkpoint's removal, a copy's Complete and check; see
//! `commit_to_end`) and a drop guard's abort. Spawned tasks die with their runtime, so a process
//! that is about to exit (the CLI after Ctrl-C) waits for them with [`settled`] first; otherwise
//! a file could be in place with its checkpoint left beside it, or a multipart upload would
//! never be aborted.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static IDLE: Notify = Notify::const_new();

/// Counts one piece of finishing work for as long as it lives (also when its task is dropped
/// unrun by a runtime shutting down).
struct Token;

impl Token {
    fn new() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Token
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            IDLE.notify_waiters();
        }
    }
}

/// Spawns `work` on the current runtime, counted by [`in_flight`] until it ends.
pub(crate) fn spawn<F>(work: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let token = Token::new();
    tokio::spawn(async move {
        let _token = token;
        work.await
    })
}

/// Finishing work (commits, aborts of dropped uploads) still running in this process.
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// Waits until no finishing work is left, at most `limit`; whether none is left. Call it before
/// a runtime shuts down after transfers were dropped (Ctrl-C), or their ends are lost.
pub async fn settled(limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        loop {
            let idle = IDLE.notified();
            tokio::pin!(idle);
            // Registered before the check, so a last task ending in between still wakes us.
            idle.as_mut().enable();
            if in_flight() == 0 {
                return;
            }
            idle.await;
        }
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: the count is process-wide, and tests in one binary run in parallel.
    #[test]
    fn settled_waits_for_spawned_work_and_work_dropped_unrun_is_not_counted() {
        let base = in_flight();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let task = spawn(async move {
                let _ = rx.await;
            });
            assert_eq!(in_flight(), base + 1);
            if base == 0 {
                assert!(!settled(Duration::from_secs(5)).await, "work still running");
            }
            tx.send(()).unwrap();
            task.await.unwrap();
            assert_eq!(in_flight(), base);
            if base == 0 {
                assert!(settled(Duration::from_secs(5)).await);
            }
            spawn(std::future::pending::<()>());
            assert_eq!(in_flight(), base + 1);
        });
        // The runtime drops the pending task unrun: its count goes with it.
        drop(rt);
        assert_eq!(in_flight(), base);
    }
}
