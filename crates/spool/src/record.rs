//! The on-disk record of an entry and the sequence high-water mark: pure encode / decode.
//!
//! Record file: `MAGIC (8) | payload length u32 LE | CRC-64/XZ of payload u64 LE | payload`,
//! payload = JSON of [`Record`]. SEQ file: `SEQ_MAGIC (8) | u64 LE | CRC-64 of the 16 bytes`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ossguard_proto::crc64;
use serde::{Deserialize, Serialize};

use crate::model::{EntryState, Expect, SpoolEntry, SpoolId, SpoolPut};

const MAGIC: &[u8; 8] = b"OGSPREC1";
const SEQ_MAGIC: &[u8; 8] = b"OGSPSEQ1";
const HEADER: usize = 8 + 4 + 8;

/// Upper bound of an encoded record (key ≤ 1023 bytes and OSS's 8 KiB of user metadata fit
/// easily); a longer file is corrupt, whatever its header says.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Everything the spool knows about an entry except its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub seq: u64,
    pub put: SpoolPut,
    pub size: u64,
    pub crc64: u64,
    /// Hex MD5 of the body: OSS's ETag of a simple PUT, so a replay can recognise its own
    /// earlier write (and the target can send Content-MD5).
    pub md5: String,
    pub enqueued_at_ms: u64,
    pub state: EntryState,
    /// The ETag an earlier spooled write of the same key left on OSS; replaces `put.expect`.
    pub base: Option<String>,
}

impl Record {
    pub fn expect(&self) -> Expect {
        match &self.base {
            Some(etag) => Expect::ETag(etag.clone()),
            None => self.put.expect.clone(),
        }
    }

    pub fn same_key(&self, other: &Record) -> bool {
        self.put.bucket == other.put.bucket && self.put.key == other.put.key
    }

    pub fn entry(&self) -> SpoolEntry {
        SpoolEntry {
            id: SpoolId(self.seq),
            seq: self.seq,
            bucket: self.put.bucket.clone(),
            key: self.put.key.clone(),
            content_type: self.put.content_type.clone(),
            size: self.size,
            crc64: self.crc64,
            enqueued_at: UNIX_EPOCH + Duration::from_millis(self.enqueued_at_ms),
            expect: self.expect(),
            state: self.state.clone(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let payload = serde_json::to_vec(self).expect("a record always serialises");
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc64::checksum(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// `Err` says what is wrong (for the quarantine report).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("record header is missing or unknown".into());
        }
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(format!("record is {} bytes, over the limit", bytes.len()));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let crc = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let payload = &bytes[HEADER..];
        if payload.len() != len {
            return Err(format!(
                "record is torn: {} payload bytes, header says {len}",
                payload.len()
            ));
        }
        if crc64::checksum(payload) != crc {
            return Err("record checksum mismatch".into());
        }
        serde_json::from_slice(payload).map_err(|e| format!("record does not parse: {e}"))
    }
}

/// Validates a PUT before anything is written.
pub(crate) fn validate(put: &SpoolPut) -> Result<(), String> {
    if put.bucket.is_empty() || put.bucket.len() > 63 {
        return Err(format!(
            "bucket name must be 1..=63 bytes, got {}",
            put.bucket.len()
        ));
    }
    if put.key.is_empty() || put.key.len() > 1023 {
        return Err(format!(
            "object key must be 1..=1023 bytes (the OSS limit), got {}",
            put.key.len()
        ));
    }
    let meta: usize = put.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if meta > 8 * 1024 {
        return Err(format!("user metadata is {meta} bytes; OSS allows 8 KiB"));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970).
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn encode_seq(next: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(SEQ_MAGIC);
    out.extend_from_slice(&next.to_le_bytes());
    let crc = crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_seq(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != 24 || &bytes[..8] != SEQ_MAGIC {
        return None;
    }
    let crc = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    (crc64::checksum(&bytes[..16]) == crc)
        .then(|| u64::from_le_bytes(bytes[8..16].try_into().unwrap()))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            seq: 42,
            put: SpoolPut::new("b", "../x\0\n\"y").meta("a", "b"),
            size: 3,
            crc64: 7,
            md5: "00".into(),
            enqueued_at_ms: 1,
            state: EntryState::Pending,
            base: None,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_rejected() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Record::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Record::decode(&b).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn seq_round_trip_and_corruption() {
        let b = encode_seq(1 << 40);
        assert_eq!(decode_seq(&b), Some(1 << 40));
        let mut c = b.clone();
        c[9] ^= 1;
        assert_eq!(decode_seq(&c), None);
        assert_eq!(decode_seq(&b[..20]), None);
    }

    #[test]
    fn validation_limits() {
        assert!(validate(&SpoolPut::new("b", "k".repeat(1023))).is_ok());
        assert!(validate(&SpoolPut::new("b", "k".repeat(1024))).is_err());
        assert!(validate(&SpoolPut::new("b", "")).is_err());
        assert!(validate(&SpoolPut::new("", "k")).is_err());
        assert!(validate(&SpoolPut::new("b", "k").meta("m", "v".repeat(9000))).is_err());
    }
}
