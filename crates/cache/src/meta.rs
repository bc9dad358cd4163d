//! Entry metadata and its on-disk form (pure: bytes in, bytes out).
//!
//! A metadata file is `MAGIC`, the CRC-64 of the JSON document as 16 hex digits and a newline,
//! then the JSON document. JSON keeps hostile keys and user metadata exact (any UTF-8, NUL
//! included) and the file readable when debugging; the checksum catches torn or altered files.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"ossguard-cache-meta 1\n";
/// Metadata files above this are not ours (OSS caps keys at 1 KiB and user metadata at 8 KiB).
pub(crate) const MAX_META_FILE: u64 = 1 << 20;

/// What the object's GET response said, given to [`crate::Cache::fill`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillMeta {
    /// `ETag` as OSS sent it (quotes included); used for `If-None-Match` and verification.
    pub etag: Option<String>,
    /// The body's exact length; the fill fails unless exactly this many bytes arrive.
    pub size: u64,
    /// The object's CRC-64 (`x-oss-hash-crc64ecma`) when OSS sent one: the fill fails on a
    /// mismatch. `None`: the cache computes it from the bytes received.
    pub crc64: Option<u64>,
    pub last_modified: Option<SystemTime>,
    pub content_type: Option<String>,
    /// `x-oss-meta-*` user metadata, without the prefix.
    pub user_meta: BTreeMap<String, String>,
}

/// A stored entry's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub bucket: String,
    pub key: String,
    /// As given to the fill (refreshed entries keep it: a 304 means the same ETag).
    pub etag: Option<String>,
    /// CRC-64/XZ of the body, checked on every read.
    pub crc64: u64,
    pub size: u64,
    pub last_modified: Option<SystemTime>,
    pub content_type: Option<String>,
    pub user_meta: BTreeMap<String, String>,
    /// When the body was fetched from OSS, or last revalidated by a 304; ages count from here.
    pub stored_at: SystemTime,
}

/// The metadata file's document: the entry plus the body file it describes.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DiskMeta {
    pub entry: EntryMeta,
    /// Generation of the body file (`<hash>-<body>.body`): a replacement writes a new body file, so
    /// a metadata file never describes bytes that are being overwritten.
    pub body: u64,
}

impl DiskMeta {
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("metadata always serializes");
        let crc = ossguard_proto::crc64::checksum(&json);
        let mut out = Vec::with_capacity(MAGIC.len() + 17 + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(format!("{crc:016x}\n").as_bytes());
        out.extend_from_slice(&json);
        out
    }

    /// Parses and verifies a metadata file; `Err` says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("metadata header missing")?;
        if rest.len() < 17 || rest[16] != b'\n' {
            return Err("metadata checksum line missing".into());
        }
        let (line, json) = (&rest[..16], &rest[17..]);
        let expected = std::str::from_utf8(line)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or("metadata checksum unreadable")?;
        let actual = ossguard_proto::crc64::checksum(json);
        if actual != expected {
            return Err(format!(
                "metadata checksum {actual:016x}, expected {expected:016x}"
            ));
        }
        serde_json::from_slice(json).map_err(|e| format!("metadata unreadable: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> DiskMeta {
        DiskMeta {
            entry: EntryMeta {
                bucket: "b".into(),
                key: "../\0\u{202e}键".into(),
                etag: Some("\"abc\"".into()),
                crc64: 42,
                size: 3,
                last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                content_type: Some("text/plain".into()),
                user_meta: [("a".to_string(), "x\ny".to_string())].into(),
                stored_at: SystemTime::UNIX_EPOCH + Duration::new(1_700_000_001, 5),
            },
            body: 7,
        }
    }

    #[test]
    fn round_trips_exactly() {
        let m = sample();
        assert_eq!(DiskMeta::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn every_single_byte_flip_is_rejected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(DiskMeta::decode(&b).is_err(), "flip at {i} accepted");
        }
        for len in 0..bytes.len() {
            assert!(
                DiskMeta::decode(&bytes[..len]).is_err(),
                "truncation {len} accepted"
            );
        }
    }
}
