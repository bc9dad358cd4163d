//! `oss://bucket/key` parsing and the local-or-remote locations of `cp`.

use std::fmt;
use std::path::PathBuf;

use crate::error::CliError;

/// `oss://bucket[/key]`; `key` may be empty (the bucket itself, or every key for `-r`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssUrl {
    pub bucket: String,
    pub key: String,
}

impl fmt::Display for OssUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oss://{}/{}", self.bucket, self.key)
    }
}

/// Bucket names: 3-63 characters of lowercase letters, digits and `-`, not starting or ending
/// with `-`.
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-')
}

impl OssUrl {
    pub fn is_oss(s: &str) -> bool {
        s.len() >= 6 && s[..6].eq_ignore_ascii_case("oss://")
    }

    pub fn parse(s: &str) -> Result<Self, CliError> {
        if !Self::is_oss(s) {
            return Err(CliError::usage(format!(
                "{s:?} is not an OSS URL: write oss://bucket/key"
            )));
        }
        let rest = &s[6..];
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(CliError::usage(format!(
                "{s:?} has no bucket: write oss://bucket/key"
            )));
        }
        if !valid_bucket(bucket) {
            return Err(CliError::usage(format!(
                "{bucket:?} is not a valid bucket name: 3-63 lowercase letters, digits and '-', \
                 not starting or ending with '-'"
            )));
        }
        if key.len() > 1023 || key.contains('\0') {
            return Err(CliError::usage(format!(
                "{s:?}: object keys are at most 1023 bytes, without NUL"
            )));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// A URL that must name a bucket only (`oss://b` or `oss://b/`).
    pub fn parse_bucket(s: &str) -> Result<Self, CliError> {
        let u = Self::parse(s)?;
        if !u.key.is_empty() {
            return Err(CliError::usage(format!(
                "{s:?} names an object; this command takes a bucket: oss://bucket"
            )));
        }
        Ok(u)
    }

    /// A URL that must name an object (`oss://b/key`).
    pub fn parse_object(s: &str) -> Result<Self, CliError> {
        let u = Self::parse(s)?;
        if u.key.is_empty() {
            return Err(CliError::usage(format!(
                "{s:?} names no object: write oss://bucket/key"
            )));
        }
        Ok(u)
    }

    /// The key as a "directory" prefix for recursive commands: empty, or ending with `/`.
    pub fn dir_prefix(&self) -> String {
        if self.key.is_empty() || self.key.ends_with('/') {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        }
    }

    /// The last path segment of the key (`a/b/c.txt` → `c.txt`).
    pub fn basename(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

/// One side of `cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Oss(OssUrl),
}

impl Location {
    pub fn parse(s: &str) -> Result<Self, CliError> {
        if OssUrl::is_oss(s) {
            return Ok(Self::Oss(OssUrl::parse(s)?));
        }
        if s.is_empty() {
            return Err(CliError::usage("empty path"));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.contains(['/', '\\']) {
                return Err(CliError::usage(format!(
                    "{s:?}: only oss:// URLs and local paths are supported"
                )));
            }
        }
        Ok(Self::Local(PathBuf::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = OssUrl::parse("oss://my-bucket/a/b c/ü.txt").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("my-bucket", "a/b c/ü.txt")
        );
        assert_eq!(u.basename(), "ü.txt");
        assert_eq!(u.to_string(), "oss://my-bucket/a/b c/ü.txt");
        assert_eq!(OssUrl::parse("OSS://bkt").unwrap().key, "");
        assert_eq!(OssUrl::parse("oss://bkt/").unwrap().key, "");
        assert_eq!(OssUrl::parse("oss://bkt/dir").unwrap().dir_prefix(), "dir/");
        assert_eq!(
            OssUrl::parse("oss://bkt/dir/").unwrap().dir_prefix(),
            "dir/"
        );
        assert_eq!(OssUrl::parse("oss://bkt").unwrap().dir_prefix(), "");
        for bad in [
            "oss://",
            "oss:///k",
            "oss://Bad_Bucket/k",
            "oss://ab",
            "s3://b/k",
            "b/k",
        ] {
            assert!(OssUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(OssUrl::parse_bucket("oss://bkt/k").is_err());
        assert!(OssUrl::parse_object("oss://bkt/").is_err());
        assert_eq!(
            Location::parse("./x").unwrap(),
            Location::Local(PathBuf::from("./x"))
        );
        assert!(Location::parse("http://x/y").is_err());
    }
}
