//! Streaming bytes in and out of data files, never holding a whole object in memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use md5::{Digest, Md5};
use ossguard_proto::crc64::Crc64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf, Take};

use super::durable::remove_quietly;
use super::state::PartRecord;

const CHUNK: usize = 256 * 1024;

/// What a write measured on the way through.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

/// Streams `body` into a new file at `path` (which must not exist), hashing as it goes, and
/// fsyncs it if asked. The caller owns cleanup (hold the path in a `PendingFile`).
pub async fn write_new_data<R: AsyncRead + Unpin + ?Sized>(
    path: &Path,
    body: &mut R,
    sync: bool,
) -> io::Result<Ingested> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    let (mut md5, mut crc) = (Md5::new(), Crc64::new());
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = body.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        crc.update(&buf[..n]);
        file.write_all(&buf[..n]).await?;
        size += n as u64;
    }
    file.flush().await?;
    if sync {
        file.sync_all().await?;
    }
    Ok(Ingested {
        size,
        md5: md5.finalize().into(),
        crc64: crc.value(),
    })
}

/// An object's bytes in a requested range: an [`AsyncRead`] over a file opened when the read
/// started, so a concurrent overwrite or delete cannot change what it yields.
#[derive(Debug)]
pub struct ObjectBody {
    inner: Take<tokio::fs::File>,
}

impl ObjectBody {
    /// Reads `len` bytes of `file` from `start` (blocking seek: call from a blocking context).
    pub(crate) fn new(mut file: File, start: u64, len: u64) -> io::Result<Self> {
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner: tokio::fs::File::from_std(file).take(len),
        })
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> u64 {
        self.inner.limit()
    }
}

impl AsyncRead for ObjectBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
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
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source data file is shorter than its record",
            ));
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

/// Writes the parts one after another into the new file `dest` (kernel copy where possible).
pub(crate) fn concat_parts(
    upload_dir: &Path,
    parts: &[PartRecord],
    dest: &Path,
    sync: bool,
) -> io::Result<()> {
    let result = (|| {
        let mut out = OpenOptions::new().write(true).create_new(true).open(dest)?;
        for part in parts {
            let src = File::open(upload_dir.join(&part.data_file))?;
            let copied = io::copy(&mut src.take(part.info.size), &mut out)?;
            if copied != part.info.size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "part {} data is shorter than recorded",
                        part.info.part_number
                    ),
                ));
            }
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
