//! File-system steps of the commit protocol: names, atomic replace, directory fsync, body
//! streaming with checksums.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use ossguard_proto::crc64::Crc64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::error::{IoContext, SpoolError};

/// Suffix of every temporary file; all of them are removed at open.
pub(crate) const PART: &str = ".part";
const CHUNK: usize = 256 * 1024;

/// File names come from the sequence number only (never from keys): fixed width so that a
/// directory listing sorts in replay order.
pub(crate) fn rec_name(seq: u64) -> String {
    format!("{seq:020}.rec")
}

pub(crate) fn body_name(seq: u64) -> String {
    format!("{seq:020}.body")
}

/// `(seq, is_record)` for `<20 digits>.rec` / `.body`.
pub(crate) fn parse_name(name: &str) -> Option<(u64, bool)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = stem.parse().ok()?;
    match ext {
        "rec" => Some((seq, true)),
        "body" => Some((seq, false)),
        _ => None,
    }
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}

/// Writes `bytes` to `dir/name` via `name.part` + fsync + rename. The caller fsyncs `dir`.
pub(crate) fn write_replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SpoolError> {
    let tmp = dir.join(format!("{name}{PART}"));
    let dst = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx("write", tmp);
    }
    fs::rename(&tmp, &dst).ctx("rename into place", dst)
}

/// Removes a file; a file already gone is fine.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).ctx("remove", path),
        _ => Ok(()),
    }
}

/// What streaming a body to disk produced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyInfo {
    pub len: u64,
    pub crc64: u64,
    pub md5: [u8; 16],
}

/// Streams `reader` into `path` (created), CRC-64 and MD5 on the way, then fsyncs the file.
/// Memory: one chunk. On error the partial file is removed.
pub(crate) async fn stream_to_file<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    path: &Path,
) -> Result<BodyInfo, SpoolError> {
    let result = async {
        let mut file = tokio::fs::File::create(path).await.ctx("create", path)?;
        let mut buf = vec![0u8; CHUNK];
        let mut crc = Crc64::new();
        let mut md5 = Md5::new();
        let mut len = 0u64;
        loop {
            let n = reader.read(&mut buf).await.ctx("read the body for", path)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            md5.update(&buf[..n]);
            len += n as u64;
            file.write_all(&buf[..n]).await.ctx("write", path)?;
        }
        file.flush().await.ctx("write", path)?;
        file.sync_all().await.ctx("fsync", path)?;
        Ok(BodyInfo {
            len,
            crc64: crc.value(),
            md5: md5.finalize().into(),
        })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

/// Reads a body file and checks its length and CRC-64 (blocking). `Err` says what is wrong.
pub(crate) fn verify_body(path: &Path, len: u64, crc64: u64) -> Result<(), String> {
    let mut f = File::open(path).map_err(|e| format!("body unreadable: {e}"))?;
    let mut buf = vec![0u8; CHUNK];
    let mut crc = Crc64::new();
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("body unreadable: {e}"))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    if crc.len() != len {
        return Err(format!("body is {} bytes, record says {len}", crc.len()));
    }
    if crc.value() != crc64 {
        return Err("body CRC-64 mismatch".into());
    }
    Ok(())
}

/// Moves whatever exists of entry `seq` into `quarantine`, with a `.reason` file.
pub(crate) fn quarantine(
    entries: &Path,
    quarantine: &Path,
    seq: u64,
    reason: &str,
) -> Result<(), SpoolError> {
    for name in [body_name(seq), rec_name(seq)] {
        let from = entries.join(&name);
        match fs::rename(&from, quarantine.join(&name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx("move into quarantine", from)
            }
            _ => {}
        }
    }
    let _ = fs::write(quarantine.join(format!("{seq:020}.reason")), reason);
    sync_dir(quarantine)?;
    sync_dir(entries)
}

pub(crate) fn entries_dir(dir: &Path) -> PathBuf {
    dir.join("entries")
}

pub(crate) fn quarantine_dir(dir: &Path) -> PathBuf {
    dir.join("quarantine")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_strangers() {
        assert_eq!(parse_name(&rec_name(7)), Some((7, true)));
        assert_eq!(parse_name(&body_name(u64::MAX)), Some((u64::MAX, false)));
        for bad in [
            "7.rec",
            "0000000000000000000x.rec",
            "00000000000000000007.rec.part",
            "x",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
