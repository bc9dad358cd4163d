//! One proxied connection: two directions ("links"), each copying from its source socket to
//! its destination socket through the toxics of its direction.
//!
//! A direction without enabled toxics takes the fast path: a straight copy (on Linux with
//! `splice(2)` through a pipe, so the bytes never enter user space). As soon as a toxic of its
//! direction is enabled for this connection it switches to the toxic path: a reader stamps each
//! chunk with its read time and queues it (bounded), a writer runs the chunks through the
//! toxics and sends them at their release times. When the toxics go away the reader stops, the
//! queue drains and the direction returns to the fast path. Toxics added, changed or removed
//! through the API act on live connections, as in toxiproxy.
//!
//! Closing follows TCP rather than toxiproxy: the source's FIN becomes a FIN (half-close) on
//! the destination, and the connection ends when both directions have ended. A read error
//! (e.g. a reset by one peer) resets the other peer too; a toxic that ends the stream closes
//! (FIN) or resets (RST) both sides.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::metrics::{LinkMeter, ToxicCounter};
use crate::model::Stream;
use crate::server::ToxicSet;
use crate::toxics::{End, Item, Piece, Stage};
use prometheus_client::metrics::counter::Counter;

/// How long to wait for the upstream to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest read on the toxic path (and the copy buffer of the portable fast path).
const READ_CHUNK: usize = 64 * 1024;
/// Chunks queued between reader and writer on the toxic path (≤ 4 MiB per direction).
const QUEUE_CHUNKS: usize = 64;

/// Why a direction stopped.
#[derive(Debug)]
enum Outcome {
    /// The source closed and the close was passed on.
    Eof,
    /// A toxic ended the connection.
    End(End),
    /// The connection was cancelled (proxy disabled/removed, or the other direction failed).
    Cancelled,
    /// Reading from the source failed.
    ReadError(io::Error),
    /// Writing to the destination failed.
    WriteError(io::Error),
}

enum Step {
    Done(Outcome),
    /// Switch between fast and toxic path.
    Switch,
}

/// Serves one accepted client: connects upstream, then pumps both directions until both end.
pub(crate) async fn serve(
    client: TcpStream,
    upstream: Arc<str>,
    toxics: watch::Receiver<Arc<ToxicSet>>,
    token: CancellationToken,
    seed: u64,
    meter: LinkMeter,
) {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*upstream));
    let server = tokio::select! {
        _ = token.cancelled() => return,
        r = connect => match r {
            Ok(Ok(s)) => s,
            // toxiproxy closes the client when the upstream cannot be reached
            _ => return,
        },
    };
    // Go (and so toxiproxy) sets TCP_NODELAY on every connection; so do we, or Nagle plus
    // delayed ACKs would add their own 40 ms "latency".
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let client = Arc::new(client);
    let server = Arc::new(server);
    let mut rng = fastrand::Rng::with_seed(seed);
    let up = Pump::new(
        Stream::Upstream,
        client.clone(),
        server.clone(),
        toxics.clone(),
        token.clone(),
        rng.u64(..),
        &meter,
    );
    let down = Pump::new(
        Stream::Downstream,
        server,
        client,
        toxics,
        token,
        rng.u64(..),
        &meter,
    );
    let up = tokio::spawn(up.run());
    down.run().await;
    let _ = up.await;
}

struct Pump {
    dir: Stream,
    src: Arc<TcpStream>,
    dst: Arc<TcpStream>,
    toxics: watch::Receiver<Arc<ToxicSet>>,
    toxics_gone: bool,
    token: CancellationToken,
    rng: fastrand::Rng,
    stages: Vec<Stage>,
    bytes: Counter,
    applied: ToxicCounter,
}

impl Pump {
    fn new(
        dir: Stream,
        src: Arc<TcpStream>,
        dst: Arc<TcpStream>,
        mut toxics: watch::Receiver<Arc<ToxicSet>>,
        token: CancellationToken,
        seed: u64,
        meter: &LinkMeter,
    ) -> Pump {
        toxics.mark_unchanged();
        let mut p = Pump {
            dir,
            src,
            dst,
            toxics,
            toxics_gone: false,
            token,
            rng: fastrand::Rng::with_seed(seed),
            stages: Vec::new(),
            bytes: meter.bytes(dir),
            applied: meter.toxic_counter(),
        };
        p.refresh();
        p
    }

    /// Rebuilds the stages from the current toxics of this direction: unchanged toxics keep
    /// their per-connection state (and toxicity draw); new or updated ones are drawn afresh.
    fn refresh(&mut self) {
        let set = self.toxics.borrow_and_update().clone();
        let now = Instant::now();
        let mut old = std::mem::take(&mut self.stages);
        for t in set.get(self.dir) {
            match old.iter().position(|s| Arc::ptr_eq(&s.toxic, t)) {
                Some(i) => self.stages.push(old.swap_remove(i)),
                None => {
                    let stage = Stage::new(t.clone(), &mut self.rng, now);
                    if stage.enabled {
                        self.applied.applied(t.kind.type_name());
                    }
                    self.stages.push(stage);
                }
            }
        }
    }

    fn any_enabled(&self) -> bool {
        self.stages.iter().any(|s| s.enabled)
    }

    async fn run(mut self) {
        let outcome = loop {
            let step = if self.any_enabled() {
                self.toxic_path().await
            } else {
                self.fast_path().await
            };
            match step {
                Step::Done(o) => break o,
                Step::Switch => continue,
            }
        };
        match outcome {
            Outcome::Eof | Outcome::Cancelled => {}
            Outcome::End(End::Close) => {
                let _ = SockRef::from(&*self.dst).shutdown(std::net::Shutdown::Write);
                self.token.cancel();
            }
            Outcome::End(End::Reset) => {
                reset_on_close(&self.src);
                reset_on_close(&self.dst);
                self.token.cancel();
            }
            Outcome::ReadError(e) => {
                // pass a reset on to the other peer; anything else just closes
                if e.kind() == io::ErrorKind::ConnectionReset {
                    reset_on_close(&self.dst);
                }
                self.token.cancel();
            }
            Outcome::WriteError(e) => {
                if e.kind() == io::ErrorKind::ConnectionReset {
                    reset_on_close(&self.src);
                }
                self.token.cancel();
            }
        }
    }

    /// Waits for a change of the toxics; never returns once the proxy is gone.
    async fn toxics_changed(toxics: &mut watch::Receiver<Arc<ToxicSet>>, gone: &mut bool) {
        if !*gone && toxics.changed().await.is_ok() {
            return;
        }
        *gone = true;
        std::future::pending::<()>().await
    }

    // ------------------------------------------------------------ fast path

    async fn fast_path(&mut self) -> Step {
        #[cfg(target_os = "linux")]
        {
            if splice_enabled() {
                if let Some(step) = self.splice_path().await {
                    return step;
                }
            }
        }
        self.copy_path().await
    }

    /// Portable fast path: read into a buffer, write it out.
    async fn copy_path(&mut self) -> Step {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            tokio::select! {
                biased;
                _ = self.token.cancelled() => return Step::Done(Outcome::Cancelled),
                _ = Self::toxics_changed(&mut self.toxics, &mut self.toxics_gone) => {
                    self.refresh();
                    if self.any_enabled() {
                        return Step::Switch;
                    }
                }
                r = self.src.readable() => {
                    let n = match r.and_then(|()| self.src.try_read(&mut buf)) {
                        Ok(0) => return Step::Done(self.finish()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Step::Done(Outcome::ReadError(e)),
                    };
                    if let Some(o) = self.write_all(&buf[..n]).await {
                        return Step::Done(o);
                    }
                }
            }
        }
    }

    /// Linux fast path: `splice(2)` source → pipe → destination. `None` when no pipe could be
    /// made (the caller falls back to copying).
    #[cfg(target_os = "linux")]
    async fn splice_path(&mut self) -> Option<Step> {
        use rustix::pipe::{pipe_with, splice, PipeFlags, SpliceFlags};
        use tokio::io::Interest;

        const PIPE_SIZE: usize = 1 << 20;
        let (pr, pw) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).ok()?;
        // A bigger pipe moves more per call; the default (64 KiB) also works.
        let cap = rustix::pipe::fcntl_setpipe_size(&pw, PIPE_SIZE).unwrap_or(64 * 1024);
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        loop {
            // The pipe is empty here: EAGAIN from the first splice means "source not ready".
            let n = tokio::select! {
                biased;
                _ = self.token.cancelled() => return Some(Step::Done(Outcome::Cancelled)),
                _ = Self::toxics_changed(&mut self.toxics, &mut self.toxics_gone) => {
                    self.refresh();
                    if self.any_enabled() {
                        return Some(Step::Switch);
                    }
                    continue;
                }
                r = self.src.readable() => {
                    let r = r.and_then(|()| {
                        self.src.try_io(Interest::READABLE, || {
                            splice(&*self.src, None, &pw, None, cap, flags).map_err(io::Error::from)
                        })
                    });
                    match r {
                        Ok(0) => return Some(Step::Done(self.finish())),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        // e.g. EINVAL on a kernel without socket splice: copy instead
                        Err(e) if e.kind() == io::ErrorKind::InvalidInput => return None,
                        Err(e) => return Some(Step::Done(Outcome::ReadError(e))),
                    }
                }
            };
            let mut left = n;
            while left > 0 {
                tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Some(Step::Done(Outcome::Cancelled)),
                    r = self.dst.writable() => {
                        let r = r.and_then(|()| {
                            self.dst.try_io(Interest::WRITABLE, || {
                                splice(&pr, None, &*self.dst, None, left, flags)
                                    .map_err(io::Error::from)
                            })
                        });
                        match r {
                            Ok(0) => {
                                return Some(Step::Done(Outcome::WriteError(
                                    io::ErrorKind::WriteZero.into(),
                                )))
                            }
                            Ok(m) => {
                                left -= m;
                                self.bytes.inc_by(m as u64);
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Some(Step::Done(Outcome::WriteError(e))),
                        }
                    }
                }
            }
        }
    }

    /// The source closed: pass the FIN on.
    fn finish(&self) -> Outcome {
        let _ = SockRef::from(&*self.dst).shutdown(std::net::Shutdown::Write);
        Outcome::Eof
    }

    /// Writes all of `data`; `Some(outcome)` when the connection ended meanwhile.
    async fn write_all(&self, mut data: &[u8]) -> Option<Outcome> {
        while !data.is_empty() {
            tokio::select! {
                biased;
                _ = self.token.cancelled() => return Some(Outcome::Cancelled),
                r = self.dst.writable() => {
                    match r.and_then(|()| self.dst.try_write(data)) {
                        Ok(0) => return Some(Outcome::WriteError(io::ErrorKind::WriteZero.into())),
                        Ok(n) => {
                            data = &data[n..];
                            self.bytes.inc_by(n as u64);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Some(Outcome::WriteError(e)),
                    }
                }
            }
        }
        None
    }

    // ------------------------------------------------------------ toxic path

    async fn toxic_path(&mut self) -> Step {
        let (tx, mut rx) = mpsc::channel::<Read>(QUEUE_CHUNKS);
        let stop = CancellationToken::new();
        let reader = read_loop(self.src.clone(), tx, stop.clone());
        tokio::pin!(reader);
        let writer = self.write_loop(&mut rx, &stop);
        tokio::pin!(writer);
        tokio::select! {
            biased;
            step = &mut writer => step,
            never = &mut reader => match never {},
        }
    }

    async fn write_loop(
        &mut self,
        rx: &mut mpsc::Receiver<Read>,
        stop: &CancellationToken,
    ) -> Step {
        loop {
            if !self.any_enabled() {
                // Back to the fast path once the reader has stopped and the queue is drained.
                stop.cancel();
            }
            // A timeout toxic stops everything; its deadline closes the connection.
            let mut hold: Option<Option<Instant>> = None;
            for s in &self.stages {
                if let Some(deadline) = s.hold() {
                    hold = Some(match (hold.flatten(), deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    });
                }
            }
            let holding = hold.is_some();
            let deadline = hold.flatten();
            let read = tokio::select! {
                biased;
                _ = self.token.cancelled() => return Step::Done(Outcome::Cancelled),
                _ = Self::toxics_changed(&mut self.toxics, &mut self.toxics_gone) => {
                    self.refresh();
                    continue;
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return Step::Done(Outcome::End(End::Close));
                }
                r = rx.recv(), if !holding => r,
            };
            let (item, at) = match read {
                // the reader stopped on request and everything queued has been written
                None => return Step::Switch,
                Some(Read::Error(e)) => return Step::Done(Outcome::ReadError(e)),
                Some(Read::Data(b, at)) => (Item::Data(b), at),
                Some(Read::Eof(at)) => (Item::Eof, at),
            };
            let mut pieces = vec![Piece { item, at }];
            let mut end = None;
            for s in self.stages.iter_mut().filter(|s| s.enabled) {
                pieces = s.apply(pieces, &mut end, &mut self.rng);
            }
            for p in pieces {
                if let Some(o) = self.sleep_until(p.at).await {
                    return Step::Done(o);
                }
                match p.item {
                    Item::Data(b) => {
                        if let Some(o) = self.write_all(&b).await {
                            return Step::Done(o);
                        }
                    }
                    Item::Eof => return Step::Done(self.finish()),
                }
            }
            if let Some((how, at)) = end {
                if let Some(o) = self.sleep_until(at).await {
                    return Step::Done(o);
                }
                return Step::Done(Outcome::End(how));
            }
        }
    }

    async fn sleep_until(&self, at: Instant) -> Option<Outcome> {
        if at <= Instant::now() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.token.cancelled() => Some(Outcome::Cancelled),
            _ = sleep_until(at) => None,
        }
    }
}

/// What the toxic path's reader hands to the writer.
enum Read {
    Data(bytes::Bytes, Instant),
    Eof(Instant),
    Error(io::Error),
}

enum Never {}

/// Reads chunks from `src` into the queue until the source ends, the writer goes away or
/// `stop` is cancelled (checked only between chunks, so no chunk is lost); then idles forever
/// (the writer's end ends the pair).
async fn read_loop(src: Arc<TcpStream>, tx: mpsc::Sender<Read>, stop: CancellationToken) -> Never {
    let mut buf = BytesMut::new();
    loop {
        if buf.capacity() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let r = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = src.readable() => r,
        };
        let item = match r.and_then(|()| src.try_read_buf(&mut buf)) {
            Ok(0) => Read::Eof(Instant::now()),
            Ok(_) => Read::Data(buf.split().freeze(), Instant::now()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => Read::Error(e),
        };
        let last = !matches!(item, Read::Data(..));
        if tx.send(item).await.is_err() || last {
            break;
        }
    }
    drop(tx);
    std::future::pending().await
}

/// `OSSGUARD_CHAOS_NO_SPLICE=1` turns the `splice(2)` fast path off (to compare, or on a
/// kernel where it misbehaves).
#[cfg(target_os = "linux")]
fn splice_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("OSSGUARD_CHAOS_NO_SPLICE").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Makes the socket's close send RST (`SO_LINGER` with a zero timeout).
fn reset_on_close(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}
