//! CRC-64/XZ, the checksum OSS reports as `x-oss-hash-crc64ecma` (unsigned decimal).
//!
//! Backed by `crc-fast` (SIMD: PCLMULQDQ / VPCLMULQDQ / PMULL). The SDK semantics we need on top:
//! continuing from a previous *final* value (AppendObject, resumed downloads) and combining part
//! checksums into the whole-object checksum (multipart).

use crc_fast::CrcAlgorithm::Crc64Xz;

/// The response header that carries an object's CRC-64.
pub const HEADER: &str = "x-oss-hash-crc64ecma";

const XOROUT: u64 = u64::MAX;

/// CRC-64/XZ of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(Crc64Xz, data)
}

/// `crc(A ‖ B)` from `crc(A)`, `crc(B)` and `len(B)`. `combine(0, x, n) == x`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    crc_fast::checksum_combine(Crc64Xz, crc_a, crc_b, len_b)
}

/// Whole-object CRC of a multipart object: fold [`combine`] over `(part_crc, part_len)` in
/// part-number order.
pub fn combine_parts<I: IntoIterator<Item = (u64, u64)>>(parts: I) -> u64 {
    parts
        .into_iter()
        .fold(0, |acc, (crc, len)| combine(acc, crc, len))
}

/// Parses the decimal header value. `None` when absent or malformed (callers then skip the check,
/// as every official SDK does for objects that predate CRC support).
pub fn parse_header(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// Streaming CRC-64/XZ.
#[derive(Clone)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl Crc64 {
    /// A fresh checksum (of the empty input, `0`).
    pub fn new() -> Self {
        Self {
            digest: crc_fast::Digest::new(Crc64Xz),
        }
    }

    /// Continues from the *final* CRC of some earlier bytes, as the SDKs' `init_crc` does:
    /// `Crc64::resume(crc(A))` fed with `B` finishes as `crc(A ‖ B)`.
    pub fn resume(previous: u64) -> Self {
        Self {
            digest: crc_fast::Digest::new_with_init_state(Crc64Xz, previous ^ XOROUT),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    /// The checksum of everything fed so far; the value can keep growing afterwards.
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }

    /// Bytes fed since creation (not counting what a resumed value already covered).
    pub fn len(&self) -> u64 {
        self.digest.get_amount()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crc64")
            .field("value", &self.value())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn streaming_equals_one_shot_and_resume_continues() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut s = Crc64::new();
        for chunk in data.chunks(777) {
            s.update(chunk);
        }
        assert_eq!(s.value(), checksum(&data));
        let (a, b) = data.split_at(40_001);
        let mut r = Crc64::resume(checksum(a));
        r.update(b);
        assert_eq!(r.value(), checksum(&data));
        assert_eq!(Crc64::resume(checksum(a)).value(), checksum(a));
    }
}
