//! Request bodies (replayable or not) and response byte streams with CRC-64 checking.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ossguard_proto::crc64::Crc64;
use ossguard_proto::error::TransportFailure;

use std::sync::atomic::Ordering;

use ossguard_proto::range::{parse_content_range, ByteRange};
use ossguard_proto::{Operation, Request};
use ossguard_resilience::progress::Progress;

use crate::client::{Client, Sent};
use crate::error::{Error, ErrorKind};
use crate::pipeline::{OpRun, Response};
use crate::transport::{body_error, data_stream, full_body, stream_body, HttpBody, HttpResponse};

type DynStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

enum Inner {
    Bytes(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    Stream {
        stream: DynStream,
        len: Option<u64>,
    },
}

/// An upload body. Bytes and file ranges can be sent again (retries); a stream only once.
pub struct Body(Inner);

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Inner::File { path, offset, len } => {
                write!(f, "Body::File({}, {offset}+{len})", path.display())
            }
            Inner::Stream { len, .. } => write!(f, "Body::Stream({len:?})"),
        }
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self(Inner::Bytes(Bytes::new()))
    }

    /// A whole local file (length read now; re-read on each attempt).
    pub async fn from_file(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let len = tokio::fs::metadata(&path).await?.len();
        Ok(Self(Inner::File {
            path,
            offset: 0,
            len,
        }))
    }

    /// `len` bytes of a local file from `offset` (a multipart part).
    pub fn from_file_range(path: impl Into<PathBuf>, offset: u64, len: u64) -> Self {
        Self(Inner::File {
            path: path.into(),
            offset,
            len,
        })
    }

    /// A one-shot stream; with `len` the request carries a Content-Length, else it is chunked.
    pub fn from_stream<S>(stream: S, len: Option<u64>) -> Self
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        Self(Inner::Stream {
            stream: Box::pin(stream),
            len,
        })
    }

    /// The length in bytes, when known (a stream's only when it was given).
    pub fn len(&self) -> Option<u64> {
        match &self.0 {
            Inner::Bytes(b) => Some(b.len() as u64),
            Inner::File { len, .. } => Some(*len),
            Inner::Stream { len, .. } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Can be sent again after a failed attempt.
    pub fn is_replayable(&self) -> bool {
        !matches!(self.0, Inner::Stream { .. })
    }

    /// A copy for another attempt (`None` for streams).
    pub fn try_clone(&self) -> Option<Self> {
        match &self.0 {
            Inner::Bytes(b) => Some(Self(Inner::Bytes(b.clone()))),
            Inner::File { path, offset, len } => Some(Self(Inner::File {
                path: path.clone(),
                offset: *offset,
                len: *len,
            })),
            Inner::Stream { .. } => None,
        }
    }

    /// CRC-64 and length of what a replayable body sends (`None` for a stream). The future
    /// owns what it reads (a path, or the bytes), so it stays `Send` although `Body` is not
    /// `Sync`: callers hold it across awaits inside operations users spawn.
    pub(crate) fn checksum(
        &self,
    ) -> Option<impl std::future::Future<Output = Result<(u64, u64), Error>> + Send + 'static> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        enum Source {
            Bytes(Bytes),
            File(PathBuf, u64, u64),
        }
        let source = match &self.0 {
            Inner::Bytes(b) => Source::Bytes(b.clone()),
            Inner::File { path, offset, len } => Source::File(path.clone(), *offset, *len),
            Inner::Stream { .. } => return None,
        };
        Some(async move {
            let (path, offset, len) = match source {
                Source::Bytes(b) => {
                    return Ok((ossguard_proto::crc64::checksum(&b), b.len() as u64))
                }
                Source::File(p, o, l) => (p, o, l),
            };
            let read = async {
                let mut f = crate::file_chunks::open_regular_async(&path).await?;
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                let mut f = f.take(len);
                let (mut crc, mut buf) = (Crc64::new(), vec![0u8; 256 * 1024]);
                loop {
                    let n = f.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<_, std::io::Error>((crc.value(), crc.len()));
                    }
                    crc.update(&buf[..n]);
                }
            };
            read.await.map_err(Error::from)
        })
    }

    /// The HTTP body, feeding every byte sent into `crc`; with `watch`, every byte the
    /// connection takes is reported to the progress guard (see [`Watched`]).
    pub(crate) async fn into_http(
        self,
        crc: Arc<Mutex<Crc64>>,
        watch: Option<Watch>,
    ) -> Result<HttpBody, Error> {
        let len = self.len();
        let stream: DynStream = match self.0 {
            Inner::Bytes(b) => {
                crc.lock().unwrap_or_else(|e| e.into_inner()).update(&b);
                let Some(watch) = watch else {
                    return Ok(full_body(b));
                };
                // In pieces, so the guard sees the connection take them.
                let pieces = (0..b.len().div_ceil(UPLOAD_PIECE)).map(move |i| {
                    Ok(b.slice(i * UPLOAD_PIECE..((i + 1) * UPLOAD_PIECE).min(b.len())))
                });
                let stream = futures_util::stream::iter(pieces.collect::<Vec<_>>());
                return Ok(stream_body(Watched::new(Box::pin(stream), watch, len)));
            }
            Inner::File { path, offset, len } => {
                Box::pin(crate::file_chunks::FileChunks::open(&path, offset, len).await?)
            }
            Inner::Stream { stream, .. } => stream,
        };
        let counted: DynStream = Box::pin(stream.map(move |chunk| {
            if let Ok(b) = &chunk {
                crc.lock().unwrap_or_else(|e| e.into_inner()).update(b);
            }
            chunk
        }));
        Ok(match watch {
            Some(w) => stream_body(Watched::new(counted, w, len)),
            None => stream_body(counted),
        })
    }
}

/// Piece size of an in-memory upload body watched by the progress guard.
const UPLOAD_PIECE: usize = 64 * 1024;

/// A progress guard shared with the attempt that watches it, and the pipeline's clock origin.
pub(crate) type Watch = (Arc<Mutex<Progress>>, tokio::time::Instant);

/// An upload body that tells the progress guard when the connection takes its bytes: a piece
/// handed out counts as sent once the connection asks for the next one; the time in between,
/// and after the last piece until the response, is time spent waiting for the network.
struct Watched {
    inner: DynStream,
    progress: Arc<Mutex<Progress>>,
    origin: tokio::time::Instant,
    handed_out: Option<u64>,
    /// Bytes still to come when the length is known (hyper may not ask past the last one).
    left: Option<u64>,
}

impl Watched {
    fn new(inner: DynStream, (progress, origin): Watch, len: Option<u64>) -> Self {
        Self {
            inner,
            progress,
            origin,
            handed_out: None,
            left: len,
        }
    }
}

impl Stream for Watched {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let now = self.origin.elapsed();
        if let Some(n) = self.handed_out.take() {
            self.progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .bytes(now, n);
        }
        let r = self.inner.as_mut().poll_next(cx);
        match &r {
            Poll::Ready(Some(Ok(b))) => {
                let n = b.len() as u64;
                self.left = self.left.map(|l| l.saturating_sub(n));
                let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
                if self.left == Some(0) {
                    p.bytes(now, n);
                    p.sent_all(now);
                } else {
                    p.waiting(now);
                    drop(p);
                    self.handed_out = Some(n);
                }
            }
            Poll::Ready(None) => self
                .progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sent_all(now),
            _ => {}
        }
        r
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self(Inner::Bytes(b))
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Self(Inner::Bytes(b.into()))
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Self(Inner::Bytes(Bytes::from_static(s.as_bytes())))
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Self(Inner::Bytes(s.into()))
    }
}

/// How to continue a download whose connection broke: a ranged GET of the rest, pinned to the
/// same object version with `If-Match`, as another attempt of the same operation.
pub(crate) struct Resume {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// Absolute offset of the next byte the caller expects.
    pub next_offset: u64,
    /// Last byte wanted (inclusive); `None`: to the end of the object.
    pub last: Option<u64>,
}

type Fetch =
    Pin<Box<dyn std::future::Future<Output = (OpRun, Result<HttpResponse, Error>)> + Send>>;

/// A downloaded body. When it covers the whole object and the server sent a CRC-64, the stream
/// ends with an `Integrity` error instead of `None` if the bytes do not match.
///
/// The body is part of its GET operation: it holds the operation's bulkhead slot until it ends
/// or is dropped, and its deadline (an explicit one; data has none by default). While the
/// caller waits for bytes, the progress guard (idle timeout, throughput floor) watches the
/// connection; a body that breaks or falls below the floor resumes from where it was (Range +
/// If-Match) — an attempt of the same operation, decided by its state machine (attempt cap,
/// retry budget, deadline) — and the CRC spans the seam.
///
/// The state sits behind one allocation: a GET's output is moved several times on its way to
/// the caller (out of the pipeline, into `bytes()`'s future, into the caller's), and ~1.7 KiB
/// moved by value cost a small GET ~5 % of its CPU in memcpy (perf, session 14).
pub struct ByteStream {
    state: Box<BodyState>,
}

/// What a [`ByteStream`] tracks while the body streams.
struct BodyState {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, hyper::Error>> + Send>>,
    crc: Crc64,
    expected_crc: Option<u64>,
    done: bool,
    client: Client,
    run: Option<OpRun>,
    resume: Option<Resume>,
    fetching: Option<Fetch>,
    progress: Option<Progress>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes this connection delivered (a resume after progress starts a fresh attempt count).
    attempt_bytes: u64,
    /// Set by [`ByteStream::bytes`]: where to read the object again from when its CRC-64 does
    /// not match — nothing has been handed out yet, so a re-read is invisible to the caller.
    reread_from: Option<u64>,
    /// Times the body started over (so `bytes` drops what it had collected).
    restarts: u32,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("expected_crc", &self.state.expected_crc)
            .finish_non_exhaustive()
    }
}

impl ByteStream {
    pub(crate) fn new(
        client: &Client,
        sent: Sent,
        expected_crc: Option<u64>,
        resume: Option<Resume>,
    ) -> Self {
        let state = BodyState {
            inner: Box::pin(data_stream(sent.response)),
            crc: Crc64::new(),
            expected_crc,
            done: false,
            progress: BodyState::guard(client),
            client: client.clone(),
            run: Some(sent.run),
            resume,
            fetching: None,
            timer: None,
            attempt_bytes: 0,
            reread_from: None,
            restarts: 0,
        };
        Self {
            state: Box::new(state),
        }
    }

    /// Collects the whole body. When the server sent the object's CRC-64 and the bytes do not
    /// match (flipped in transit), the object is read again — an attempt of the same
    /// operation, within its attempt cap, deadline and budget — since nothing was handed out
    /// yet; the `Integrity` error surfaces only when the attempts run out.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        if self.state.expected_crc.is_some() {
            self.state.reread_from = self.state.resume.as_ref().map(|r| r.next_offset);
        }
        // A body that arrives as one chunk (most small objects) is returned as that chunk;
        // only a second chunk starts a copy.
        let mut first = Bytes::new();
        let mut joined: Option<bytes::BytesMut> = None;
        let mut seen = self.state.restarts;
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            if self.state.restarts != seen {
                (first, joined) = (Bytes::new(), None);
                seen = self.state.restarts;
            }
            match &mut joined {
                Some(out) => out.extend_from_slice(&chunk),
                None if first.is_empty() => first = chunk,
                None => {
                    let mut out = bytes::BytesMut::with_capacity(first.len() + chunk.len());
                    out.extend_from_slice(&first);
                    out.extend_from_slice(&chunk);
                    joined = Some(out);
                }
            }
        }
        Ok(joined.map_or(first, bytes::BytesMut::freeze))
    }

    /// CRC-64 of the bytes read so far.
    pub fn crc64(&self) -> u64 {
        self.state.crc.value()
    }
}

impl BodyState {
    fn guard(client: &Client) -> Option<Progress> {
        let cfg = client.inner.endpoint.policy.progress;
        (cfg.idle < std::time::Duration::MAX || cfg.min_bytes_per_sec > 0)
            .then(|| Progress::new(cfg))
    }

    fn now(&self) -> std::time::Duration {
        self.client.inner.endpoint.now()
    }

    /// The connection failed with `e`: start a resume if the operation's state machine allows
    /// one (`None`), else the error to surface.
    fn fail(&mut self, e: Error) -> Option<Error> {
        let progressed = self.attempt_bytes > 0;
        self.fail_with(e, progressed)
    }

    /// [`BodyState::fail`] with the progress flag given: a re-read after a CRC mismatch made
    /// "progress" that must not reset the attempt cap.
    fn fail_with(&mut self, e: Error, progressed: bool) -> Option<Error> {
        let client = self.client.clone();
        if self.resume.is_none() {
            return Some(match self.run.as_mut() {
                Some(run) => run.failed(&client, e),
                None => e,
            });
        }
        let (Some(mut run), Some(r)) = (self.run.take(), self.resume.as_ref()) else {
            return Some(e);
        };
        let after = match run.body_failed(&self.client, e, progressed) {
            Ok(after) => after,
            Err(e) => return Some(e),
        };
        let (offset, last) = (r.next_offset, r.last);
        let (bucket, key, etag) = (r.bucket.clone(), r.key.clone(), r.etag.clone());
        self.fetching = Some(Box::pin(async move {
            tokio::time::sleep(after).await;
            client
                .inner
                .endpoint
                .stats
                .body_resumes
                .fetch_add(1, Ordering::Relaxed);
            let r = resume_get(&client, &mut run, &bucket, &key, &etag, offset, last).await;
            (run, r)
        }));
        None
    }

    /// Ends the body with `e`: the operation failed.
    fn finish_err(&mut self, e: Error) -> Poll<Option<Result<Bytes, Error>>> {
        let client = self.client.clone();
        let e = match self.run.as_mut() {
            Some(run) => run.failed(&client, e),
            None => e,
        };
        self.finish();
        Poll::Ready(Some(Err(e)))
    }

    /// Ends the body: the operation is over (its slot freed, resume costs refunded).
    fn finish(&mut self) {
        self.done = true;
        if let Some(mut run) = self.run.take() {
            run.body_done(&self.client);
        }
    }
}

/// The ranged GET of a resume; the answer must start exactly where the body broke.
async fn resume_get(
    client: &Client,
    run: &mut OpRun,
    bucket: &str,
    key: &str,
    etag: &str,
    offset: u64,
    last: Option<u64>,
) -> Result<HttpResponse, Error> {
    let range = match last {
        Some(l) => ByteRange::Closed {
            first: offset,
            last: l,
        },
        None => ByteRange::From { first: offset },
    };
    let mut req = Request::new(http::Method::GET, Some(bucket), Some(key));
    let bad = |e: ossguard_proto::request::InvalidHeader| Error::invalid_input(e.to_string());
    req.set_header("range", &range.to_header()).map_err(bad)?;
    req.set_header("if-match", etag).map_err(bad)?;
    let answer = client.drive(run, &req, Body::empty(), false).await?;
    let Response::Streaming(resp) = answer.response else {
        unreachable!("drive leaves the body unread")
    };
    let got = resp
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range);
    let start_ok = resp.status().as_u16() == 206
        && got.is_some_and(|(first, l, _)| first == offset && last.is_none_or(|want| l == want));
    if !start_ok {
        return Err(Error::new(ErrorKind::Protocol(format!(
            "the resume asked for bytes from {offset}, the server answered status {} with range {got:?}; restart the download",
            resp.status().as_u16()
        )))
        .in_op("GetObject"));
    }
    Ok(resp)
}

impl Drop for BodyState {
    fn drop(&mut self) {
        if !self.done {
            if let Some(run) = self.run.as_mut() {
                run.cancelled();
            }
        }
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.state.poll_body(cx)
    }
}

impl BodyState {
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if let Some(f) = self.fetching.as_mut() {
                match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready((run, r)) => {
                        self.fetching = None;
                        self.run = Some(run);
                        match r {
                            Ok(resp) => {
                                self.inner = Box::pin(data_stream(resp));
                                self.progress = BodyState::guard(&self.client);
                                self.attempt_bytes = 0;
                                continue;
                            }
                            Err(e) => {
                                return self.finish_err(e);
                            }
                        }
                    }
                }
            }
            let now = self.now();
            if let Some(run) = self.run.as_mut() {
                if run.deadline().expired(now) {
                    let e = run.deadline_error();
                    return self.finish_err(e);
                }
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    self.crc.update(&b);
                    let n = b.len() as u64;
                    self.attempt_bytes += n;
                    let client = self.client.clone();
                    if let Some(run) = self.run.as_mut() {
                        run.received(&client, n);
                    }
                    if let Some(p) = self.progress.as_mut() {
                        p.bytes(now, n);
                    }
                    if let Some(r) = self.resume.as_mut() {
                        r.next_offset += n;
                    }
                    return Poll::Ready(Some(Ok(b)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = body_error(&e).in_op("GetObject");
                    match self.fail(e) {
                        None => continue,
                        Some(e) => {
                            return self.finish_err(e);
                        }
                    }
                }
                Poll::Ready(None) => {
                    if let (Some(exp), Some(from)) = (self.expected_crc, self.reread_from) {
                        if exp != self.crc.value() {
                            let e = Error::new(ErrorKind::Integrity {
                                expected: exp,
                                actual: self.crc.value(),
                            })
                            .in_op("GetObject");
                            let start_over = self.resume.as_ref().map(|r| r.next_offset);
                            if let Some(r) = self.resume.as_mut() {
                                r.next_offset = from;
                            }
                            // Counted here: the re-read (or `finish_err` without the run) is
                            // the same corruption.
                            self.client
                                .inner
                                .endpoint
                                .integrity_failure(Operation::GetObject);
                            match self.fail_with(e, false) {
                                None => {
                                    self.crc = Crc64::new();
                                    self.restarts += 1;
                                    continue;
                                }
                                Some(e) => {
                                    if let (Some(r), Some(at)) = (self.resume.as_mut(), start_over)
                                    {
                                        r.next_offset = at;
                                    }
                                    return self.finish_err(e);
                                }
                            }
                        }
                    }
                    return match self.expected_crc {
                        Some(exp) if exp != self.crc.value() => {
                            let e = Error::new(ErrorKind::Integrity {
                                expected: exp,
                                actual: self.crc.value(),
                            })
                            .in_op("GetObject");
                            self.finish_err(e)
                        }
                        _ => {
                            self.finish();
                            Poll::Ready(None)
                        }
                    };
                }
                Poll::Pending => {
                    let deadline = self.run.as_ref().map(|r| r.deadline());
                    let Some(p) = self.progress.as_mut() else {
                        return Poll::Pending;
                    };
                    p.waiting(now);
                    match p.check(now) {
                        Err(stall) => {
                            let cfg = *p.config();
                            let ep = &self.client.inner.endpoint;
                            ep.stats
                                .slow_connections_cut
                                .fetch_add(1, Ordering::Relaxed);
                            let report = crate::client::StallReport { stall, cfg };
                            let e = Error::transport(
                                TransportFailure::BodyStalled,
                                format!("reading the body: {report}"),
                            )
                            .in_op("GetObject");
                            match self.fail(e) {
                                None => continue,
                                Some(e) => {
                                    return self.finish_err(e);
                                }
                            }
                        }
                        Ok(next) => {
                            let next = deadline.map_or(next, |d| next.min(d.remaining(now)));
                            let at = tokio::time::Instant::now() + next;
                            match self.timer.as_mut() {
                                Some(t) => t.as_mut().reset(at),
                                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                            }
                            let timer = self.timer.as_mut().expect("just set");
                            if timer.as_mut().poll(cx).is_ready() {
                                continue;
                            }
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A GET's output moves several times on its way to the caller; its body must stay one
    /// pointer wide (the state was 1.7 KiB by value, ~5 % of a small GET's CPU in memcpy).
    #[test]
    fn byte_stream_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<super::ByteStream>(),
            std::mem::size_of::<usize>()
        );
    }
}
