//! Checkpoint writes beside the part pipeline, not in it.
//!
//! A finished part is recorded without waiting for the disk: the next part starts while the
//! checkpoint is fsynced and renamed. At most one write is in flight; states that arrive
//! meanwhile coalesce, so the write after it carries the newest state (a 128-part upload whose
//! parts finish faster than the disk syncs writes fewer than 128 checkpoints).
//!
//! A checkpoint that lags the server by a few parts loses nothing: a rerun lists the upload's
//! parts and adopts the ones the checkpoint missed after checking them against the file
//! (`upload::adopt_unrecorded_parts`); a download re-fetches them. Transfers call
//! [`CheckpointWriter::flush`] before they complete or return, so a checkpoint left behind by an
//! error names every part that finished.
//!
//! Each recorded part carries its size back out of [`CheckpointWriter::written`], so a transfer
//! reports a part done once a checkpoint names it: what a resumable transfer reports survives a
//! crash.
//!
//! The writer and each of its writes hold the checkpoint's lock (see `CheckpointFile::writer`):
//! a write still running when its transfer is dropped (a blocking task cannot be cancelled)
//! keeps a rerun waiting until it has landed, so it can never put back a checkpoint the rerun
//! has finished and removed.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::checkpoint::Checkpoint;
use crate::error::Error;

/// Writes one serialised checkpoint durably (see [`CheckpointFile::writer`]).
///
/// [`CheckpointFile::writer`]: super::checkpoint::CheckpointFile::writer
pub(crate) type WriteFn = Arc<dyn Fn(&Checkpoint) -> Result<(), Error> + Send + Sync>;

/// At most one checkpoint write in flight, newest state next.
pub(crate) struct CheckpointWriter {
    write: WriteFn,
    in_flight: Option<JoinHandle<Result<(), Error>>>,
    /// The state changed since the write in flight (if any) took its snapshot.
    due: bool,
    /// Sizes of the parts finished since the last snapshot.
    waiting: Vec<u64>,
    /// Sizes of the parts the write in flight records.
    recording: Vec<u64>,
}

impl CheckpointWriter {
    pub fn new(write: WriteFn) -> Self {
        Self {
            write,
            in_flight: None,
            due: false,
            waiting: Vec::new(),
            recording: Vec::new(),
        }
    }

    /// A part of `size` bytes finished: the state is written when [`start`](Self::start) finds
    /// no write in flight.
    pub fn part_finished(&mut self, size: u64) {
        self.waiting.push(size);
        self.due = true;
    }

    /// Starts writing `snapshot()` when a write is due and none is in flight; returns at once.
    pub fn start(&mut self, snapshot: impl FnOnce() -> Checkpoint) {
        if self.due && self.in_flight.is_none() {
            self.due = false;
            self.recording = std::mem::take(&mut self.waiting);
            let cp = snapshot();
            let write = self.write.clone();
            self.in_flight = Some(tokio::task::spawn_blocking(move || write(&cp)));
        }
    }

    /// Resolves when the write in flight ends, with the sizes of the parts it recorded; never
    /// while none is in flight (so it can sit in a `select!` loop). Cancel-safe: dropped early,
    /// the write stays in flight.
    pub async fn written(&mut self) -> Result<Vec<u64>, Error> {
        let Some(handle) = &mut self.in_flight else {
            return std::future::pending().await;
        };
        let joined = handle.await;
        self.in_flight = None;
        let recorded = std::mem::take(&mut self.recording);
        joined
            .unwrap_or_else(|e| Err(Error::from(std::io::Error::other(e.to_string()))))
            .map(|()| recorded)
    }

    /// Waits for the write in flight to end, whatever its outcome, and starts none: a transfer
    /// that gives up calls it before removing the checkpoint, which the write would otherwise
    /// put back.
    pub async fn settle(&mut self) {
        if self.in_flight.is_some() {
            let _ = self.written().await;
        }
    }

    /// Waits for the write in flight, then writes the state if it changed since; the sizes of
    /// the parts both recorded.
    pub async fn flush(
        &mut self,
        snapshot: impl FnOnce() -> Checkpoint,
    ) -> Result<Vec<u64>, Error> {
        let mut recorded = Vec::new();
        if self.in_flight.is_some() {
            recorded = self.written().await?;
        }
        self.start(snapshot);
        if self.in_flight.is_some() {
            recorded.extend(self.written().await?);
        }
        Ok(recorded)
    }
}

/// [`CheckpointWriter::settle`] of an optional writer.
pub(crate) async fn settle(writer: &mut Option<CheckpointWriter>) {
    if let Some(w) = writer {
        w.settle().await;
    }
}

/// [`CheckpointWriter::written`] of an optional writer (transfers without a checkpoint have none).
pub(crate) async fn written(writer: &mut Option<CheckpointWriter>) -> Result<Vec<u64>, Error> {
    match writer {
        Some(w) => w.written().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Mutex;

    use super::*;
    use crate::transfer::checkpoint::{Direction, Source, VERSION};

    fn state(parts_total: u32) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            direction: Direction::Upload,
            bucket: "b".into(),
            key: "k".into(),
            local_path: "/f".into(),
            part_size: 1,
            parts_total,
            upload_id: None,
            temp_path: None,
            source: Source::File {
                size: 1,
                mtime_ns: None,
                sample_crc64: 0,
            },
            put_options: None,
            parts: vec![],
        }
    }

    /// A disk that holds each write until the test lets it go, and records what was written.
    fn gated_disk() -> (WriteFn, mpsc::Sender<()>, Arc<Mutex<Vec<u32>>>) {
        let (go, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let write: WriteFn = Arc::new(move |cp: &Checkpoint| {
            gate.lock().unwrap().recv().unwrap();
            log.lock().unwrap().push(cp.parts_total);
            Ok(())
        });
        (write, go, seen)
    }

    #[tokio::test]
    async fn states_coalesce_behind_a_slow_write_and_the_newest_is_written() {
        let (write, go, seen) = gated_disk();
        let mut w = CheckpointWriter::new(write);
        w.part_finished(10);
        w.start(|| state(1));
        // The disk holds write 1; states 2..=5 arrive and `start` neither waits nor writes.
        for n in 2..=5 {
            w.part_finished(10 * u64::from(n));
            w.start(|| state(n));
        }
        assert!(seen.lock().unwrap().is_empty());
        go.send(()).unwrap();
        assert_eq!(w.written().await.unwrap(), vec![10]);
        assert_eq!(*seen.lock().unwrap(), vec![1]);
        // One write for the four states that waited: the newest, recording all four parts.
        go.send(()).unwrap();
        assert_eq!(w.flush(|| state(5)).await.unwrap(), vec![20, 30, 40, 50]);
        assert_eq!(*seen.lock().unwrap(), vec![1, 5]);
        // Nothing changed: flushing writes nothing more (the gate would block it otherwise).
        let none = w.flush(|| unreachable!("nothing is due")).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn flush_waits_for_the_write_in_flight_and_writes_what_came_after() {
        let (write, go, seen) = gated_disk();
        let mut w = CheckpointWriter::new(write);
        w.part_finished(1);
        w.start(|| state(1));
        w.part_finished(2);
        go.send(()).unwrap();
        go.send(()).unwrap();
        assert_eq!(w.flush(|| state(2)).await.unwrap(), vec![1, 2]);
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }

    #[tokio::test]
    async fn settle_waits_for_the_write_in_flight_and_starts_none() {
        let (write, go, seen) = gated_disk();
        let mut w = CheckpointWriter::new(write);
        w.part_finished(1);
        w.start(|| state(1));
        w.part_finished(2);
        let settling = tokio::spawn(async move {
            w.settle().await;
            w
        });
        tokio::task::yield_now().await;
        assert!(!settling.is_finished(), "settled before the write landed");
        go.send(()).unwrap();
        let w = settling.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![1]);
        assert!(
            w.in_flight.is_none() && w.due,
            "the newer state is not written"
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_once_and_a_later_state_is_still_written() {
        let calls = Arc::new(Mutex::new(0u32));
        let c = calls.clone();
        let write: WriteFn = Arc::new(move |_: &Checkpoint| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(Error::from(std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        });
        let mut w = CheckpointWriter::new(write);
        w.part_finished(1);
        w.start(|| state(1));
        let e = w.written().await.unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        // The failed write's part is not reported recorded; the next one's is.
        w.part_finished(2);
        assert_eq!(w.flush(|| state(2)).await.unwrap(), vec![2]);
        assert_eq!(*calls.lock().unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_writer_never_resolves() {
        let mut none: Option<CheckpointWriter> = None;
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(3600), written(&mut none)).await;
        assert!(waited.is_err());
        let (write, _go, _) = gated_disk();
        let mut idle = Some(CheckpointWriter::new(write));
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(3600), written(&mut idle)).await;
        assert!(waited.is_err());
    }
}
