//! Access keys the emulator accepts: permanent ones from its configuration and temporary STS
//! triples it issues itself, each optionally bound to a least-privilege policy.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use ossguard_proto::auth::v4;
use ossguard_proto::auth::verify::{KeyStore, KnownKey};
use ossguard_proto::auth::Secret;
use serde::Serialize;

use super::ram_policy::PolicyDocument;

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

#[derive(Debug, Clone)]
struct Entry {
    key: KnownKey,
    /// Every document must allow a request (an STS key's own policy intersected with its
    /// issuer's); empty: full rights.
    policies: Vec<PolicyDocument>,
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
    /// The last V4 signing key derived (four HMACs per request otherwise).
    signing_keys: v4::SigningKeyCache,
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
                    policies: Vec::new(),
                },
            );
    }

    /// Issues an STS triple valid for `duration` from `now`, limited to what every one of
    /// `policies` allows (none: full rights).
    pub fn issue_sts(
        &self,
        now: SystemTime,
        duration: Duration,
        policies: Vec<PolicyDocument>,
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
                    policies,
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

    /// The policy documents an access key is bound to (empty: full rights, or unknown key).
    pub fn policies(&self, access_key_id: &str) -> Vec<PolicyDocument> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .map(|e| e.policies.clone())
            .unwrap_or_default()
    }

    /// A key from the configuration (not an STS key): the only kind that may use the admin API.
    pub fn is_permanent(&self, access_key_id: &str) -> bool {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .is_some_and(|e| e.key.security_token.is_none() && e.key.expires.is_none())
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

    fn v4_signing_key(&self, key: &KnownKey, day: &str, region: &str, product: &str) -> [u8; 32] {
        self.signing_keys.key(&key.secret, day, region, product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's cached V4 signing key never lets a request through that the uncached
    /// derivation would refuse: keys alternating, a wrong secret right after the right one
    /// was cached, the next day.
    #[test]
    fn cached_signing_keys_verify_like_fresh_ones() {
        use ossguard_proto::auth::verify::{verify, VerifyOptions};
        use ossguard_proto::{Credentials, Request};
        let table = KeyTable::new();
        table.add_permanent("ak1", "sk1");
        table.add_permanent("ak2", "sk2");
        let day = 1_700_000_000;
        for (ak, sk, secs, ok) in [
            ("ak1", "sk1", day, true),
            ("ak2", "sk2", day, true),
            ("ak1", "sk1", day + 1, true),
            ("ak1", "sk2", day + 2, false),
            ("ak1", "wrong", day + 3, false),
            ("ak2", "sk2", day + 86_400, true),
            ("ak2", "sk1", day + 86_401, false),
        ] {
            let now = ossguard_proto::time::from_unix_seconds(secs);
            let mut req = Request::new(http::Method::GET, Some("b"), Some("k"));
            v4::sign(&mut req, &Credentials::new(ak, sk), "cn-hangzhou", now, &[]).unwrap();
            let got = verify(&req, &table, now, &VerifyOptions::default());
            assert_eq!(got.is_ok(), ok, "{ak} signed with {sk} at {secs}: {got:?}");
        }
    }

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
        let p = PolicyDocument::allow(&["oss:GetObject".into()], &["acs:oss:*:*:b/sts/*".into()])
            .unwrap();
        let c = t.issue_sts(now, Duration::from_secs(900), vec![p.clone()]);
        let k = t.lookup(&c.access_key_id).unwrap();
        assert_eq!(k.security_token.unwrap().expose(), c.security_token);
        assert_eq!(t.policies(&c.access_key_id), vec![p]);
        assert!(!t.is_permanent(&c.access_key_id));
        t.add_permanent("AK", "SK");
        assert!(t.is_permanent("AK"));
        assert!(!t.is_permanent("nobody"));
        assert_eq!(c.expiration, "2023-11-14T22:28:20Z");
    }
}
