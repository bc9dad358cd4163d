//! Where entries live on disk. File names come from a hash of (bucket, key), never from the key:
//! keys may hold `../`, NUL or 1023 bytes.
//!
//! ```text
//! <dir>/CACHEDIR.TAG                       marker: ours (and backup tools skip the directory)
//! <dir>/tmp/<random>.tmp                   fills and metadata being written; wiped on open
//! <dir>/data/<h[0..2]>/<h>.meta            checksummed metadata, the commit point
//! <dir>/data/<h[0..2]>/<h>-<gen>.body      body bytes, immutable once renamed in
//! ```

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// 128 bits of SHA-256 over (bucket, key): collisions are not a practical concern, and the stored
/// metadata repeats bucket and key, which lookups compare anyway.
pub(crate) type Hash = [u8; 16];

pub(crate) const MARKER: &str = "CACHEDIR.TAG";
pub(crate) const MARKER_TEXT: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This directory is an ossguard-cache (ossguard's local object cache).\n\
# Safe to delete: it only empties the cache. See https://bford.info/cachedir/\n";
pub(crate) const MARKER_OURS: &str = "ossguard-cache";

pub(crate) fn key_hash(bucket: &str, key: &str) -> Hash {
    let mut h = Sha256::new();
    // Length prefix: ("ab", "c") and ("a", "bc") must differ.
    h.update((bucket.len() as u64).to_be_bytes());
    h.update(bucket.as_bytes());
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A file found under `data/`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DataFile {
    Meta(Hash),
    Body(Hash, u64),
}

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub tmp: PathBuf,
    pub data: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            tmp: root.join("tmp"),
            data: root.join("data"),
        }
    }

    pub fn shard(&self, h: &Hash) -> PathBuf {
        self.data.join(hex::encode(&h[..1]))
    }

    pub fn meta(&self, h: &Hash) -> PathBuf {
        self.shard(h).join(format!("{}.meta", hex::encode(h)))
    }

    pub fn body(&self, h: &Hash, generation: u64) -> PathBuf {
        self.shard(h)
            .join(format!("{}-{generation:016x}.body", hex::encode(h)))
    }

    /// A fresh temp file name (random: concurrent fills of other keys never clash).
    pub fn temp(&self, h: &Hash) -> PathBuf {
        self.tmp
            .join(format!("{}-{:016x}.tmp", hex::encode(h), fastrand::u64(..)))
    }
}

/// Recognises our names inside a shard directory; anything else is not ours.
pub(crate) fn parse_data_file(name: &str) -> Option<DataFile> {
    fn hash(s: &str) -> Option<Hash> {
        let mut h = [0u8; 16];
        if s.len() != 32 {
            return None;
        }
        hex::decode_to_slice(s, &mut h).ok()?;
        // Only our lowercase form, so one entry has exactly one name.
        (hex::encode(h) == s).then_some(h)
    }
    if let Some(stem) = name.strip_suffix(".meta") {
        return hash(stem).map(DataFile::Meta);
    }
    let stem = name.strip_suffix(".body")?;
    let (h, generation) = stem.split_once('-')?;
    if generation.len() != 16 || generation.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(DataFile::Body(
        hash(h)?,
        u64::from_str_radix(generation, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_rejected() {
        let l = Layout::new(Path::new("/c"));
        let h = key_hash("b", "../../etc/passwd\0");
        let meta = l.meta(&h);
        let body = l.body(&h, 0xdead_beef);
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(parse_data_file(&name(&meta)), Some(DataFile::Meta(h)));
        assert_eq!(
            parse_data_file(&name(&body)),
            Some(DataFile::Body(h, 0xdead_beef))
        );
        assert!(meta.starts_with("/c/data") && body.starts_with("/c/data"));
        for stranger in ["x.meta", "notes.txt", "ABCD.meta", "", ".body", "a-b.body"] {
            assert_eq!(parse_data_file(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn bucket_key_boundary_is_part_of_the_hash() {
        assert_ne!(key_hash("ab", "c"), key_hash("a", "bc"));
        assert_ne!(key_hash("", "abc"), key_hash("abc", ""));
    }
}
