//! Name rules and the mapping from names to file names.
//!
//! Object keys never become path components: a key's metadata file is named after the SHA-256
//! of the key, so `../../etc/passwd`, `%2F` or a 1023-byte key all land in the same flat folder.
//! Bucket names do become folder names, which is safe because they are `[a-z0-9-]` only.

use sha2::{Digest, Sha256};

use super::error::{Result, StoreError};

/// Longest key OSS accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1023;

/// 3-63 characters of `[a-z0-9-]`, first and last alphanumeric.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let charset_ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let ends_ok = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if (3..=63).contains(&b.len()) && charset_ok && ends_ok(b.first()) && ends_ok(b.last()) {
        Ok(())
    } else {
        Err(StoreError::InvalidBucketName(name.to_owned()))
    }
}

/// 1..=1023 bytes, no NUL, not starting with `/` or `\`. (`&str` already guarantees UTF-8.)
pub fn validate_key(key: &str) -> Result<()> {
    let problem = if key.is_empty() {
        "empty key"
    } else if key.len() > MAX_KEY_LEN {
        "longer than 1023 bytes"
    } else if key.contains('\0') {
        "contains NUL"
    } else if key.starts_with('/') || key.starts_with('\\') {
        "starts with '/' or '\\'"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidObjectName(problem.to_owned()))
}

/// File name of a key's metadata record: hex SHA-256 of the key bytes plus `.json`.
pub fn record_file_name(key: &str) -> String {
    format!("{}.json", hex::encode(Sha256::digest(key.as_bytes())))
}

/// 32 uppercase hex characters from the OS RNG (upload ids, data and temp file names).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS RNG failing is not something a store can work around.
    getrandom::fill(&mut bytes).expect("OS random number generator unavailable");
    hex::encode_upper(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "a-b", "0bucket9", &"a".repeat(63)] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-",
            "ab",
            "-ab",
            "ab-",
            "aBc",
            "a_b",
            "a.b",
            "a/b",
            "..",
            "a b",
            "ünï",
            &"a".repeat(64),
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        for ok in [
            "a",
            "..",
            "../../etc/passwd",
            "a\\b",
            " ",
            "%2F",
            "😀",
            &"k".repeat(1023),
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "\\a", "a\0b", &"k".repeat(1024), &"é".repeat(512)] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn record_names_are_flat_and_distinct() {
        let a = record_file_name("../x");
        let b = record_file_name("../X");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64 + 5);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || c == b'.' || c.is_ascii_alphabetic()));
        assert_eq!(random_id().len(), 32);
        assert_ne!(random_id(), random_id());
    }
}
