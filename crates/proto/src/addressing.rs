//! Where the bucket and key of a request are: the server side of addressing.
//!
//! Path style for IP literals, `localhost` and the server's own host names; virtual-hosted
//! (`bucket.<anything>`) otherwise. ali-oss with `sldEnable` and an IP endpoint sends *both* a
//! bucket Host and a `/bucket/key` path, so a virtual-hosted Host also yields the path-style
//! reading as a second candidate: the caller keeps the one whose signature verifies.

use std::net::IpAddr;

use crate::encoding::{decode_path, DecodeError};

/// Bucket and key a request addresses (`None` bucket = service, `None` key = bucket level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Strips the port (and IPv6 brackets) from a Host value.
pub fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn is_path_style_host(name: &str, own_hosts: &[&str]) -> bool {
    name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || own_hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn path_style(path: &str) -> Target {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.split_once('/') {
        Some((b, k)) => Target {
            bucket: non_empty(b),
            key: if b.is_empty() { None } else { non_empty(k) },
        },
        None => Target {
            bucket: non_empty(rest),
            key: None,
        },
    }
}

/// Candidate targets for `Host` + raw (still percent-encoded) path, most likely first.
pub fn resolve(host: &str, raw_path: &str, own_hosts: &[&str]) -> Result<Vec<Target>, DecodeError> {
    let path = decode_path(raw_path)?;
    let name = host_name(host);
    if is_path_style_host(name, own_hosts) || !name.contains('.') {
        return Ok(vec![path_style(&path)]);
    }
    let bucket = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let virtual_hosted = Target {
        bucket: non_empty(&bucket),
        key: non_empty(path.strip_prefix('/').unwrap_or(&path)),
    };
    let alt = path_style(&path);
    if alt.bucket.as_deref() == Some(bucket.as_str()) {
        Ok(vec![virtual_hosted, alt])
    } else {
        Ok(vec![virtual_hosted])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(b: Option<&str>, k: Option<&str>) -> Target {
        Target {
            bucket: b.map(Into::into),
            key: k.map(Into::into),
        }
    }

    #[test]
    fn styles() {
        assert_eq!(
            resolve("127.0.0.1:80", "/b/dir%2Fa+b", &[]).unwrap(),
            vec![t(Some("b"), Some("dir/a+b"))]
        );
        assert_eq!(
            resolve("localhost", "/b/", &[]).unwrap(),
            vec![t(Some("b"), None)]
        );
        assert_eq!(
            resolve("[::1]:9000", "/b", &[]).unwrap(),
            vec![t(Some("b"), None)]
        );
        assert_eq!(resolve("127.0.0.1", "/", &[]).unwrap(), vec![t(None, None)]);
        assert_eq!(
            resolve("bk.oss-cn-hangzhou.aliyuncs.com", "/k%20x", &[]).unwrap(),
            vec![t(Some("bk"), Some("k x"))]
        );
        assert_eq!(
            resolve("bk.oss-cn-hangzhou.aliyuncs.com", "/bk/k", &[]).unwrap(),
            vec![t(Some("bk"), Some("bk/k")), t(Some("bk"), Some("k"))]
        );
        assert_eq!(
            resolve("my.host", "/b/k", &["my.host"]).unwrap(),
            vec![t(Some("b"), Some("k"))]
        );
    }
}
