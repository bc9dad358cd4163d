//! Access keys the emulator accepts: permanent ones from its configuration and temporary STS
//! triples it issues itself, each optionally bound to a least-privilege policy.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use ossguard_proto::auth::verify::{KeyStore, KnownKey};
use ossguard_proto::auth::Secret;
use serde::{Deserialize, Serialize};

/// What an STS key may do: allowed actions (`oss:GetObject`, `oss:*`) on resources
/// (`acs:oss:*:*:bucket/prefix/*`). `*` matches any run of characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// `*`-glob match (no other metacharacters), linear time.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The RAM resource name of a bucket or object: `acs:oss:*:*:bucket[/key]`.
pub fn resource_name(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (None, _) => "acs:oss:*:*:*".to_owned(),
        (Some(b), None) => format!("acs:oss:*:*:{b}"),
        (Some(b), Some(k)) => format!("acs:oss:*:*:{b}/{k}"),
    }
}

impl Policy {
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|a| glob_match(a, action))
            && self.resources.iter().any(|r| glob_match(r, resource))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: KnownKey,
    policy: Option<Policy>,
}

/// Temporary credentials handed out by `/-/sts`.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    /// ISO 8601 UTC, as STS reports it.
    pub expiration: String,
}

/// The emulator's key table.
#[derive(Debug, Default)]
pub struct KeyTable {
    entries: RwLock<HashMap<String, Entry>>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    hex::encode_upper(buf)
}

impl KeyTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a permanent key with full rights.
    pub fn add_permanent(&self, access_key_id: &str, secret: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                access_key_id.to_owned(),
                Entry {
                    key: KnownKey::permanent(secret),
                    policy: None,
                },
            );
    }

    /// Issues an STS triple valid for `duration` from `now`, limited to `policy` if given.
    pub fn issue_sts(
        &self,
        now: SystemTime,
        duration: Duration,
        policy: Option<Policy>,
    ) -> IssuedCredentials {
        let ak = format!("STS.{}", random_hex(12));
        let secret = random_hex(20);
        let token = format!("CAIS{}", random_hex(48));
        let expires = now + duration;
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                ak.clone(),
                Entry {
                    key: KnownKey {
                        secret: Secret::new(secret.clone()),
                        security_token: Some(Secret::new(token.clone())),
                        expires: Some(expires),
                    },
                    policy,
                },
            );
        let t = ossguard_proto::time::iso8601_millis(expires);
        IssuedCredentials {
            access_key_id: ak,
            access_key_secret: secret,
            security_token: token,
            expiration: format!("{}Z", &t[..19]),
        }
    }

    /// The policy an access key is bound to (`None`: full rights or unknown key).
    pub fn policy(&self, access_key_id: &str) -> Option<Policy> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .and_then(|e| e.policy.clone())
    }
}

impl KeyStore for KeyTable {
    fn lookup(&self, access_key_id: &str) -> Option<KnownKey> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .map(|e| e.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("oss:*", "oss:GetObject"));
        assert!(glob_match("acs:oss:*:*:b/sts/*", "acs:oss:*:*:b/sts/x/y"));
        assert!(!glob_match("acs:oss:*:*:b/sts/*", "acs:oss:*:*:b/other"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn sts_keys_carry_policy_and_token() {
        let t = KeyTable::new();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = Policy {
            actions: vec!["oss:GetObject".into()],
            resources: vec!["acs:oss:*:*:b/sts/*".into()],
        };
        let c = t.issue_sts(now, Duration::from_secs(900), Some(p.clone()));
        let k = t.lookup(&c.access_key_id).unwrap();
        assert_eq!(k.security_token.unwrap().expose(), c.security_token);
        assert_eq!(t.policy(&c.access_key_id), Some(p.clone()));
        assert!(p.allows("oss:GetObject", &resource_name(Some("b"), Some("sts/a"))));
        assert!(!p.allows("oss:PutObject", &resource_name(Some("b"), Some("sts/a"))));
        assert_eq!(c.expiration, "2023-11-14T22:28:20Z");
    }
}
