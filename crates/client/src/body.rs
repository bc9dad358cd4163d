//! Request bodies (replayable or not) and response byte streams with CRC-64 checking.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ossguard_proto::crc64::Crc64;
use ossguard_proto::error::TransportFailure;

use crate::error::{Error, ErrorKind};

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

    pub fn len(&self) -> Option<u64> {
        match &self.0 {
            Inner::Bytes(b) => Some(b.len() as u64),
            Inner::File { len, .. } => Some(*len),
            Inner::Stream { len, .. } => *len,
        }
    }

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

    /// CRC-64 and length of what a replayable body sends (`None` for a stream).
    pub(crate) async fn checksum(&self) -> Option<Result<(u64, u64), Error>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let (path, offset, len) = match &self.0 {
            Inner::Bytes(b) => {
                return Some(Ok((ossguard_proto::crc64::checksum(b), b.len() as u64)))
            }
            Inner::File { path, offset, len } => (path, *offset, *len),
            Inner::Stream { .. } => return None,
        };
        let read = async {
            let mut f = tokio::fs::File::open(path).await?;
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
        Some(read.await.map_err(Error::from))
    }

    /// The reqwest body, feeding every byte sent into `crc`.
    pub(crate) async fn into_reqwest(self, crc: Arc<Mutex<Crc64>>) -> Result<reqwest::Body, Error> {
        let stream: DynStream = match self.0 {
            Inner::Bytes(b) => {
                crc.lock().unwrap_or_else(|e| e.into_inner()).update(&b);
                return Ok(reqwest::Body::from(b));
            }
            Inner::File { path, offset, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(&path).await?;
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                Box::pin(tokio_util::io::ReaderStream::with_capacity(
                    f.take(len),
                    256 * 1024,
                ))
            }
            Inner::Stream { stream, .. } => stream,
        };
        let counted = stream.map(move |chunk| {
            if let Ok(b) = &chunk {
                crc.lock().unwrap_or_else(|e| e.into_inner()).update(b);
            }
            chunk
        });
        Ok(reqwest::Body::wrap_stream(counted))
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
/// same object version with `If-Match`.
pub(crate) type Resumer = Box<
    dyn Fn(u64) -> futures_util::future::BoxFuture<'static, Result<reqwest::Response, Error>>
        + Send
        + Sync,
>;

pub(crate) struct Resume {
    pub resumer: Resumer,
    /// Absolute offset of the next byte the caller expects.
    pub next_offset: u64,
    pub max_resumes: u32,
    pub on_resume: Box<dyn Fn() + Send + Sync>,
}

type Fetch = Pin<Box<dyn std::future::Future<Output = Result<reqwest::Response, Error>> + Send>>;

/// A downloaded body. When it covers the whole object and the server sent a CRC-64, the stream
/// ends with an `Integrity` error instead of `None` if the bytes do not match. A body that
/// breaks mid-way is resumed (when the client allows it) and the CRC spans the seam.
pub struct ByteStream {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    crc: Crc64,
    expected_crc: Option<u64>,
    done: bool,
    resume: Option<Resume>,
    fetching: Option<Fetch>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("expected_crc", &self.expected_crc)
            .finish_non_exhaustive()
    }
}

impl ByteStream {
    pub(crate) fn new(
        resp: reqwest::Response,
        expected_crc: Option<u64>,
        resume: Option<Resume>,
    ) -> Self {
        Self {
            inner: Box::pin(resp.bytes_stream()),
            crc: Crc64::new(),
            expected_crc,
            done: false,
            resume,
            fetching: None,
        }
    }

    /// Collects the whole body (checks the CRC at the end).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = self.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }

    /// CRC-64 of the bytes read so far.
    pub fn crc64(&self) -> u64 {
        self.crc.value()
    }

    /// Starts a resume if one is allowed; `false` when the error must surface.
    fn try_resume(&mut self) -> bool {
        let Some(r) = self.resume.as_mut() else {
            return false;
        };
        if r.max_resumes == 0 {
            return false;
        }
        r.max_resumes -= 1;
        (r.on_resume)();
        self.fetching = Some((r.resumer)(r.next_offset));
        true
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if let Some(f) = self.fetching.as_mut() {
                match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(resp)) => {
                        self.fetching = None;
                        self.inner = Box::pin(resp.bytes_stream());
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        self.fetching = None;
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(b))) => {
                    self.crc.update(&b);
                    if let Some(r) = self.resume.as_mut() {
                        r.next_offset += b.len() as u64;
                    }
                    return Poll::Ready(Some(Ok(b)));
                }
                Poll::Ready(Some(Err(e))) => {
                    if self.try_resume() {
                        continue;
                    }
                    self.done = true;
                    let failure = if e.is_timeout() {
                        TransportFailure::BodyStalled
                    } else {
                        TransportFailure::BodyTruncated
                    };
                    return Poll::Ready(Some(Err(Error::transport(failure, e.to_string()))));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    return match self.expected_crc {
                        Some(exp) if exp != self.crc.value() => {
                            Poll::Ready(Some(Err(Error::new(ErrorKind::Integrity {
                                expected: exp,
                                actual: self.crc.value(),
                            }))))
                        }
                        _ => Poll::Ready(None),
                    };
                }
            }
        }
    }
}
