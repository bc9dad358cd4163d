//! Streaming bytes in and out of data files, never holding a whole object in memory.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use md5::{Digest, Md5};
use ossguard_proto::crc64::Crc64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf, Take};

use super::chunks::{ChunkReader, ChunkSource, ObjectChunks};
use super::durable::remove_quietly;
use super::read_pins::PinnedSegments;

const CHUNK: usize = 256 * 1024;

/// What a write measured on the way through.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

/// Runs of zero bytes at least this long, aligned to it, are stored as holes (sparse files): a
/// zero-filled object — a disk image, a test's multi-GiB object — takes no disk for its zeros.
const HOLE_BLOCK: usize = 4096;

/// Whether `block` is all zero bytes (stops at the first word that is not: ordinary data costs
/// one comparison per block).
fn is_zero(block: &[u8]) -> bool {
    let (words, rest) = block.split_at(block.len() / 8 * 8);
    words
        .chunks_exact(8)
        .all(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")) == 0)
        && rest.iter().all(|&b| b == 0)
}

/// The ranges of `chunk` (which starts at object offset `at`) that must be written: everything
/// but whole [`HOLE_BLOCK`]-aligned blocks of zeros.
fn data_runs(chunk: &[u8], at: u64) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while i < chunk.len() {
        let into_block = ((at + i as u64) % HOLE_BLOCK as u64) as usize;
        let end = (i + HOLE_BLOCK - into_block).min(chunk.len());
        let block = &chunk[i..end];
        if !(block.len() == HOLE_BLOCK && is_zero(block)) {
            match runs.last_mut() {
                Some(r) if r.end == i => r.end = end,
                _ => runs.push(i..end),
            }
        }
        i = end;
    }
    runs
}

/// Streams `body` into a new file at `path` (which must not exist), hashing as it goes, and
/// fsyncs it if asked. Aligned 4 KiB blocks of zeros become holes. The caller owns cleanup
/// (hold the path in a `PendingFile`).
pub async fn write_new_data<R: AsyncRead + Unpin + ?Sized>(
    path: &Path,
    body: &mut R,
    sync: bool,
) -> io::Result<Ingested> {
    use tokio::io::AsyncSeekExt;
    // A small body is read whole first, then created, written, hashed and synced in one
    // blocking call: tokio's file API takes a blocking-pool round trip (a thread wake-up and
    // two context switches) for each of open, write, flush and sync.
    let mut head = Vec::with_capacity(16 * 1024);
    (&mut *body)
        .take(INLINE_MAX + 1)
        .read_to_end(&mut head)
        .await?;
    if head.len() as u64 <= INLINE_MAX {
        let path = path.to_owned();
        return match tokio::task::spawn_blocking(move || write_small(&path, &head, sync)).await {
            Ok(r) => r,
            Err(e) => Err(io::Error::other(e)),
        };
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    let (mut md5, mut crc) = (Md5::new(), Crc64::new());
    let mut buf = Vec::new();
    let mut size = 0u64;
    // Where the file's cursor is (it lags `size` after a hole).
    let mut cursor = 0u64;
    let mut first = Some(head);
    loop {
        let data = match first.take() {
            Some(head) => {
                buf = head;
                &buf[..]
            }
            None => {
                buf.resize(CHUNK.max(buf.len()), 0);
                let n = body.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                &buf[..n]
            }
        };
        md5.update(data);
        crc.update(data);
        for run in data_runs(data, size) {
            let at = size + run.start as u64;
            if cursor != at {
                file.seek(SeekFrom::Start(at)).await?;
            }
            file.write_all(&data[run.clone()]).await?;
            cursor = size + run.end as u64;
        }
        size += data.len() as u64;
    }
    file.flush().await?;
    if cursor != size {
        // Trailing zeros: the hole runs to the end.
        file.set_len(size).await?;
    }
    if sync {
        file.sync_all().await?;
    }
    Ok(Ingested {
        size,
        md5: md5.finalize().into(),
        crc64: crc.value(),
    })
}

/// [`write_new_data`] for a body already in memory (blocking). Written whole: holes are for
/// large runs of zeros, not worth a seek in a file this small.
fn write_small(path: &Path, data: &[u8], sync: bool) -> io::Result<Ingested> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(data)?;
    if sync {
        file.sync_all()?;
    }
    let mut crc = Crc64::new();
    crc.update(data);
    Ok(Ingested {
        size: data.len() as u64,
        md5: Md5::digest(data).into(),
        crc64: crc.value(),
    })
}

/// An object's bytes in a requested range: an [`AsyncRead`] over the version that was current
/// when the read started, so a concurrent overwrite or delete cannot change what it yields (a
/// one-file object through the descriptor opened then, a segmented one through read pins).
#[derive(Debug)]
pub struct ObjectBody {
    inner: Source,
}

#[derive(Debug)]
enum Source {
    /// `len` bytes from file offset `start`.
    File {
        file: Take<tokio::fs::File>,
        start: u64,
        len: u64,
    },
    Segments(Segments),
    /// A small object read whole while it was opened; yields `bytes[pos..end]`.
    Inline {
        bytes: bytes::Bytes,
        pos: u64,
        end: u64,
    },
}

/// Objects up to this size are read whole in the blocking call that opens them: a small GET
/// then costs one blocking-pool round trip instead of two (open, then the first chunk), which
/// was ~15 % of the server's CPU for 4 KiB GETs (`perf`, 16 connections).
pub(crate) const INLINE_MAX: u64 = 64 * 1024;

impl ObjectBody {
    /// Reads `len` bytes of `file` from `start` (blocking seek: call from a blocking context).
    pub(crate) fn new(mut file: File, start: u64, len: u64) -> io::Result<Self> {
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner: Source::File {
                file: tokio::fs::File::from_std(file).take(len),
                start,
                len,
            },
        })
    }

    /// The `start..start + len` part of a small object held whole (`file` holds all
    /// `object_size` bytes; blocking: call from a blocking context).
    pub(crate) fn inline(
        mut file: File,
        object_size: u64,
        start: u64,
        len: u64,
    ) -> io::Result<Self> {
        let mut bytes = Vec::with_capacity(object_size as usize);
        (&mut file).take(object_size).read_to_end(&mut bytes)?;
        if (bytes.len() as u64) < object_size {
            return Err(shorter_than_record("an object's data file"));
        }
        Ok(Self {
            inner: Source::Inline {
                bytes: bytes.into(),
                pos: start,
                end: start + len,
            },
        })
    }

    /// Reads `len` bytes from `start` of the object made of `segments`; each file is opened
    /// when the read reaches it.
    pub(crate) fn segmented(segments: PinnedSegments, start: u64, len: u64) -> Self {
        let mut starts = Vec::with_capacity(segments.files.len());
        let mut at = 0u64;
        for (_, size) in &segments.files {
            starts.push(at);
            at += size;
        }
        Self {
            inner: Source::Segments(Segments {
                segments,
                starts,
                pos: start,
                end: start + len,
                state: SegmentState::Between,
            }),
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> u64 {
        match &self.inner {
            Source::File { file, .. } => file.limit(),
            Source::Segments(s) => s.end - s.pos,
            Source::Inline { pos, end, .. } => end - pos,
        }
    }

    /// The same version's bytes from offset `start` of the object, `len` of them: lets a caller
    /// open a version, check its metadata, and only then choose the range to read. The
    /// resulting body is not limited by the original range, so take the range from the
    /// version's size.
    pub async fn narrow(self, start: u64, len: u64) -> io::Result<Self> {
        use tokio::io::AsyncSeekExt;
        let inner = match self.inner {
            Source::File { file, .. } => {
                let mut file = file.into_inner();
                file.seek(SeekFrom::Start(start)).await?;
                Source::File {
                    file: file.take(len),
                    start,
                    len,
                }
            }
            Source::Segments(mut s) => {
                s.pos = start;
                s.end = start + len;
                s.state = SegmentState::Between;
                Source::Segments(s)
            }
            Source::Inline { bytes, .. } => Source::Inline {
                bytes,
                pos: start,
                end: start + len,
            },
        };
        Ok(Self { inner })
    }

    /// The bytes not yet read, as a stream of owned chunks for a response body (see
    /// [`ObjectChunks`]: one copy less than `ReaderStream` over this reader, and read-ahead).
    pub async fn into_chunks(self) -> ObjectChunks {
        let reader = match self.inner {
            Source::File { file, start, len } => {
                let pos = start + (len - file.limit());
                let end = start + len;
                // Waits for a read in flight; the reader seeks to `pos` itself.
                let file = file.into_inner().into_std().await;
                ChunkReader::new(ChunkSource::File(file), pos, end)
            }
            Source::Segments(s) => ChunkReader::new(
                ChunkSource::Segments {
                    segments: s.segments,
                    starts: s.starts,
                    open: None,
                },
                s.pos,
                s.end,
            ),
            Source::Inline { bytes, pos, end } => {
                let (pos, end) = (pos.min(end) as usize, end as usize);
                return ObjectChunks::ready(
                    bytes.slice(pos.min(bytes.len())..end.min(bytes.len())),
                );
            }
        };
        ObjectChunks::new(reader)
    }
}

impl AsyncRead for ObjectBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Source::File { file, .. } => Pin::new(file).poll_read(cx, buf),
            Source::Segments(s) => s.poll_read(cx, buf),
            Source::Inline { bytes, pos, end } => {
                let (from, to) = (*pos as usize, (*end as usize).min(bytes.len()));
                let n = to.saturating_sub(from).min(buf.remaining());
                if n > 0 {
                    buf.put_slice(&bytes[from..from + n]);
                    *pos += n as u64;
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// Reader over a segmented object: one open file at a time.
#[derive(Debug)]
struct Segments {
    segments: PinnedSegments,
    /// Object offset where each file starts.
    starts: Vec<u64>,
    /// Object offset of the next byte to yield, and where to stop.
    pos: u64,
    end: u64,
    state: SegmentState,
}

#[derive(Debug)]
enum SegmentState {
    /// No file open: the next read opens the one holding `pos`.
    Between,
    Opening(tokio::task::JoinHandle<io::Result<File>>, u64),
    Reading(Take<tokio::fs::File>),
}

impl Segments {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match &mut self.state {
                SegmentState::Between => {
                    if self.pos >= self.end {
                        return Poll::Ready(Ok(()));
                    }
                    let index = self.starts.partition_point(|&s| s <= self.pos) - 1;
                    let (path, size) = self.segments.files[index].clone();
                    let offset = self.pos - self.starts[index];
                    let len = (size - offset).min(self.end - self.pos);
                    let open = tokio::task::spawn_blocking(move || {
                        let mut file = File::open(path)?;
                        file.seek(SeekFrom::Start(offset))?;
                        Ok(file)
                    });
                    self.state = SegmentState::Opening(open, len);
                }
                SegmentState::Opening(open, len) => {
                    let file = match std::task::ready!(Pin::new(open).poll(cx)) {
                        Ok(Ok(file)) => file,
                        Ok(Err(e)) => return Poll::Ready(Err(e)),
                        Err(e) => return Poll::Ready(Err(io::Error::other(e))),
                    };
                    self.state = SegmentState::Reading(tokio::fs::File::from_std(file).take(*len));
                }
                SegmentState::Reading(file) => {
                    let before = buf.filled().len();
                    std::task::ready!(Pin::new(&mut *file).poll_read(cx, buf))?;
                    let n = (buf.filled().len() - before) as u64;
                    if n > 0 {
                        self.pos += n;
                        return Poll::Ready(Ok(()));
                    }
                    if file.limit() > 0 {
                        return Poll::Ready(Err(shorter_than_record("a segment's data file")));
                    }
                    self.state = SegmentState::Between;
                }
            }
        }
    }
}

/// `"<UPPER HEX>"`, the ETag of a simple upload or part.
pub fn md5_etag(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode_upper(md5))
}

/// Copies the first `len` bytes of `src` into a new file `dest` (fsynced), returning their MD5.
pub(crate) fn copy_prefix(src: File, len: u64, dest: &Path, sync: bool) -> io::Result<[u8; 16]> {
    let result = (|| {
        let mut out = OpenOptions::new().write(true).create_new(true).open(dest)?;
        let mut src = src.take(len);
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        let mut copied = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            copied += n as u64;
        }
        if copied != len {
            return Err(shorter_than_record("source data file"));
        }
        if sync {
            out.sync_all()?;
        }
        Ok(md5.finalize().into())
    })();
    if result.is_err() {
        remove_quietly(dest);
    }
    result
}

/// Whether `file` has holes (takes fewer blocks than its length needs).
#[cfg(unix)]
fn is_sparse(file: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok(m.blocks().saturating_mul(512) < m.len())
}

#[cfg(not(unix))]
fn is_sparse(_file: &File) -> io::Result<bool> {
    Ok(false)
}

/// Copies `len` bytes from `src` to `out` at `out`'s cursor, keeping zero blocks as holes (the
/// caller sets the final length). Returns the bytes read.
fn copy_sparse(src: File, len: u64, out: &mut File) -> io::Result<u64> {
    let start = out.stream_position()?;
    let mut src = src.take(len);
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(done);
        }
        for run in data_runs(&buf[..n], done) {
            out.seek(SeekFrom::Start(start + done + run.start as u64))?;
            out.write_all(&buf[run])?;
        }
        done += n as u64;
        out.seek(SeekFrom::Start(start + done))?;
    }
}

/// Writes the first `len` bytes of each file, one after another, into the new file `dest`
/// (kernel copy where possible; the holes of sparse files stay holes).
pub(crate) fn concat_files(files: &[(PathBuf, u64)], dest: &Path, sync: bool) -> io::Result<()> {
    let result = (|| {
        let mut out = OpenOptions::new().write(true).create_new(true).open(dest)?;
        for (path, len) in files {
            let src = File::open(path)?;
            let copied = if is_sparse(&src)? {
                copy_sparse(src, *len, &mut out)?
            } else {
                io::copy(&mut src.take(*len), &mut out)?
            };
            if copied != *len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than recorded", path.display()),
                ));
            }
        }
        // A hole at the very end leaves the cursor past the written length.
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        if out.metadata()?.len() != total {
            out.set_len(total)?;
        }
        if sync {
            out.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        remove_quietly(dest);
    }
    result
}

/// A data file that ended before the length its record promises: an error, never a short
/// success (a reader would take the missing bytes for the end of the object).
pub(crate) fn shorter_than_record(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{what} is shorter than its record"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small object held whole: every range, read as chunks and as `AsyncRead`, then
    /// narrowed, gives the file's bytes; a file shorter than its record is an error.
    #[tokio::test]
    async fn inline_bodies_give_the_bytes_of_their_range() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.data");
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let size = data.len() as u64;
        for (start, len) in [(0, size), (0, 1), (4999, 1), (1234, 2000), (17, 0)] {
            let want = &data[start as usize..(start + len) as usize];
            let open = || ObjectBody::inline(File::open(&path).unwrap(), size, start, len).unwrap();
            let mut got = Vec::new();
            let mut chunks = open().into_chunks().await;
            while let Some(c) = chunks.next().await {
                got.extend_from_slice(&c.unwrap());
            }
            assert_eq!(got, want, "chunks {start}+{len}");
            let mut body = open();
            assert_eq!(body.remaining(), len);
            let mut got = Vec::new();
            body.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, want, "AsyncRead {start}+{len}");
            let mut got = Vec::new();
            let narrowed = open().narrow(100, 300).await.unwrap();
            narrowed.take(1000).read_to_end(&mut got).await.unwrap();
            assert_eq!(got, &data[100..400], "narrowed from {start}+{len}");
        }
        let short = ObjectBody::inline(File::open(&path).unwrap(), size + 1, 0, size + 1);
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn only_whole_aligned_zero_blocks_are_holes() {
        let b = HOLE_BLOCK;
        let mut chunk = vec![0u8; 4 * b];
        chunk[b + 7] = 1; // block 1 has data
        assert_eq!(data_runs(&chunk, 0), vec![b..2 * b]);
        // Starting 100 bytes into a block: the partial first and last blocks are written.
        assert_eq!(
            data_runs(&chunk, 100),
            vec![0..2 * b - 100, 4 * b - 100..4 * b]
        );
        assert!(data_runs(&vec![0u8; 3 * b], 0).is_empty());
        assert_eq!(data_runs(&[0u8; 10], 0), vec![0..10]); // a partial block is written
        assert_eq!(data_runs(&[5u8; 3], 0), vec![0..3]);
        assert!(is_zero(&[0u8; 13]) && !is_zero(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    }

    /// Zeros + data + zeros, written in odd-sized reads: the bytes and hashes are those of the
    /// input, and the zeros take no disk.
    /// Either side of the small-body cut-over, in odd-sized reads, with and without sync: the
    /// file holds the body, the hashes are its hashes, and an existing file is never replaced.
    #[tokio::test]
    async fn bodies_around_the_inline_limit_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let max = INLINE_MAX as usize;
        for (i, len) in [0, 1, 4096, max - 1, max, max + 1, max + 2, 3 * max + 5]
            .into_iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|j| (j % 253) as u8 + 1).collect();
            let path = dir.path().join(format!("{i}.data"));
            let mut reader = tokio::io::BufReader::with_capacity(7_001, &data[..]);
            let w = write_new_data(&path, &mut reader, i % 2 == 0)
                .await
                .unwrap();
            assert_eq!(w.size, len as u64, "{len}");
            assert_eq!(w.md5, <[u8; 16]>::from(Md5::digest(&data)), "{len}");
            assert_eq!(w.crc64, ossguard_proto::crc64::checksum(&data), "{len}");
            assert_eq!(std::fs::read(&path).unwrap(), data, "{len}");
            let again = write_new_data(&path, &mut &b"other"[..], false).await;
            assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(std::fs::read(&path).unwrap(), data, "{len} kept");
        }
    }

    #[tokio::test]
    async fn zero_runs_become_holes_and_read_back_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0u8; 8 << 20];
        data[3 << 20..(3 << 20) + 5000].fill(0xAB);
        let path = dir.path().join("sparse.data");
        let mut reader = tokio::io::BufReader::with_capacity(100_003, &data[..]);
        let w = write_new_data(&path, &mut reader, false).await.unwrap();
        assert_eq!(w.size, data.len() as u64);
        assert_eq!(w.md5, <[u8; 16]>::from(Md5::digest(&data)));
        assert_eq!(w.crc64, ossguard_proto::crc64::checksum(&data));
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let f = File::open(&path).unwrap();
        assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
        #[cfg(unix)]
        assert!(is_sparse(&f).unwrap());

        // Concatenated with an ordinary part, holes and all.
        let dense: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(dir.path().join("dense.data"), &dense).unwrap();
        let part = |file: &str, size: usize| (dir.path().join(file), size as u64);
        let dest = dir.path().join("whole.data");
        concat_files(
            &[
                part("sparse.data", data.len()),
                part("dense.data", dense.len()),
                part("sparse.data", data.len()),
            ],
            &dest,
            false,
        )
        .unwrap();
        let mut want = data.clone();
        want.extend_from_slice(&dense);
        want.extend_from_slice(&data);
        assert!(std::fs::read(&dest).unwrap() == want);
        #[cfg(unix)]
        assert!(is_sparse(&File::open(&dest).unwrap()).unwrap());
    }
}
