//! Global flags and the resolution of endpoint, region and credentials:
//! flags > environment > config file (`--config FILE`, else `~/.ossutilconfig`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use ossguard::{Client, Credentials, ErrorKind, SignatureVersion};

use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigVersion {
    V1,
    V4,
}

impl From<SigVersion> for SignatureVersion {
    fn from(v: SigVersion) -> Self {
        match v {
            SigVersion::V1 => SignatureVersion::V1,
            SigVersion::V4 => SignatureVersion::V4,
        }
    }
}

/// Flags accepted before or after any command. (`serve` keeps its own `--access-key-id`,
/// `--access-key-secret` and `--region`: same ids and types, so clap leaves them alone.)
#[derive(Args, Clone, Default)]
pub struct GlobalArgs {
    /// OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com [env: OSS_ENDPOINT]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region id, e.g. cn-hangzhou (derived from the endpoint when not given) [env: OSS_REGION]
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Access key id [env: OSS_ACCESS_KEY_ID]
    #[arg(long, global = true, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Access key secret (prefer the environment or the config file) [env: OSS_ACCESS_KEY_SECRET]
    #[arg(long, global = true, value_name = "SECRET")]
    pub access_key_secret: Option<String>,
    /// STS security token, with temporary keys [env: OSS_SESSION_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN")]
    pub sts_token: Option<String>,
    /// Signature version of requests and presigned URLs [default: v4]
    #[arg(long, global = true, value_enum)]
    pub signature_version: Option<SigVersion>,
    /// No progress bars or status messages.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Machine-readable output: one JSON document per command (JSON lines for listings).
    #[arg(long, global = true)]
    pub json: bool,
    /// Config file in ossutil's INI format [default: ~/.ossutilconfig]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Multipart part size for transfers: bytes, or with a K/M/G suffix (8M).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub part_size: Option<u64>,
    /// Parts transferred at once.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// Where resumable transfers keep their checkpoints.
    #[arg(long, global = true, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Append one JSON line per OSS operation (principal = access key id, op, bucket, key,
    /// outcome, status, request id, attempts, duration, bytes) to FILE, rotated at 64 MiB.
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Do not resume interrupted transfers (and keep no checkpoint).
    #[arg(long, global = true)]
    pub no_resume: bool,
    /// Retries after a failed attempt (default 3, i.e. 4 attempts); 0 = never retry.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: Option<u32>,
    /// Do not retry (same as --retries 0).
    #[arg(long, global = true)]
    pub no_retry: bool,
    /// Overall deadline of one operation, all attempts (and a download's body) included: 30s, 2m,
    /// 500ms [default: 30s; none for object data, which is bounded by progress instead].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<std::time::Duration>,
    /// Connect timeout [default: 5s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Longest silence of a connection moving a body, either direction [default: 10s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<std::time::Duration>,
    /// No hedged reads.
    #[arg(long, global = true)]
    pub no_hedge: bool,
    /// No circuit breaker.
    #[arg(long, global = true)]
    pub no_breaker: bool,
    /// The naive client of comparisons: one attempt, no breaker, no hedging.
    #[arg(long, global = true)]
    pub naive: bool,
    /// Degraded mode: keep whole objects read by `cat` and `cp` (single-object downloads) in
    /// this directory; serve them without asking OSS while fresh, and stale when OSS fails
    /// [env: OSSGUARD_CACHE_DIR; config file: cachedir]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Bytes the cache keeps at most; least recently used entries go first [default: 1G]
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub cache_max_size: Option<u64>,
    /// A cached copy younger than this is served without asking OSS [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub cache_max_age: Option<std::time::Duration>,
    /// How long past --cache-max-age a cached copy may still be served while OSS fails
    /// (RFC 5861 stale-if-error) [default: 24h]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub stale_if_error: Option<std::time::Duration>,
    /// Degraded mode: read from this endpoint when the primary fails (same credentials and
    /// policy flags; same bucket name unless --replica-bucket) [env: OSSGUARD_REPLICA_ENDPOINT;
    /// config file: replicaendpoint]
    #[arg(long, global = true, value_name = "URL")]
    pub replica_endpoint: Option<String>,
    /// The replica's bucket (on --replica-endpoint, else on the primary endpoint)
    /// [env: OSSGUARD_REPLICA_BUCKET; config file: replicabucket]
    #[arg(long, global = true, value_name = "NAME")]
    pub replica_bucket: Option<String>,
    /// Degraded mode: journal single-PUT uploads (`cp FILE oss://…`) here when OSS is
    /// unavailable; they are NOT stored until `ossguard spool replay` (exit code 6)
    /// [env: OSSGUARD_SPOOL_DIR; config file: spooldir]
    #[arg(long, global = true, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

/// `30s`, `2m`, `500ms`, `1h`, or plain seconds (`30`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (30s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: use ms, s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
        return Err(format!("{s:?} must be a positive duration"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The resilience policy the flags ask for (defaults: DESIGN.md §4).
pub fn policy(g: &GlobalArgs) -> ossguard::Policy {
    let mut p = if g.naive {
        ossguard::Policy::none()
    } else {
        ossguard::Policy::default()
    };
    if g.no_retry {
        p = p.with_attempts(1);
    } else if let Some(r) = g.retries {
        p = p.with_attempts(r + 1);
    }
    if let Some(d) = g.deadline {
        p = p.with_deadline(d);
    }
    if g.no_hedge {
        p.hedge = None;
    }
    if g.no_breaker {
        p.breaker = None;
    }
    p
}

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("GlobalArgs")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &redact(&self.access_key_secret))
            .field("sts_token", &redact(&self.sts_token))
            .field("signature_version", &self.signature_version)
            .field("quiet", &self.quiet)
            .field("json", &self.json)
            .field("config", &self.config)
            .field("part_size", &self.part_size)
            .field("parallel", &self.parallel)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .field("no_resume", &self.no_resume)
            .finish()
    }
}

/// `8388608`, `8M`, `8MiB`, `512k`, `1G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 8M or 8388608)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown size unit (use K, M or G)")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

/// The values of a config file, keys normalized (lowercase, no `_`/`-`).
#[derive(Debug, Default, Clone)]
pub struct FileConfig {
    values: HashMap<String, String>,
}

impl FileConfig {
    /// Parses ossutil v1 (`[Credentials]`: endpoint, accessKeyID, accessKeySecret, stsToken)
    /// or v2 (`[default]`: accessKeyId, accessKeySecret, region, endpoint). `[Credentials]`
    /// wins when both are present; keys are matched ignoring case, `_` and `-`.
    pub fn parse(text: &str) -> Self {
        let norm = |k: &str| {
            k.chars()
                .filter(|c| *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim().to_ascii_lowercase();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim();
            if !v.is_empty() {
                sections
                    .entry(current.clone())
                    .or_default()
                    .insert(norm(k.trim()), v.to_owned());
            }
        }
        let values = ["credentials", "default", "profile default", ""]
            .iter()
            .find_map(|s| sections.remove(*s))
            .unwrap_or_default();
        Self { values }
    }

    pub(crate) fn get(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.values.get(*n).cloned())
    }
}

/// Everything needed to build the client.
pub struct Resolved {
    pub endpoint: String,
    pub region: Option<String>,
    pub credentials: Credentials,
    pub signature: SignatureVersion,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.credentials.access_key_id)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// Reads the config file: `--config` must exist; the default `~/.ossutilconfig` may not.
pub fn load_file(explicit: Option<&Path>) -> Result<FileConfig, CliError> {
    match explicit {
        Some(p) => std::fs::read_to_string(p)
            .map(|t| FileConfig::parse(&t))
            .map_err(|e| {
                CliError::usage(format!("cannot read the config file {}: {e}", p.display()))
            }),
        None => {
            let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
            let Some(home) = home else {
                return Ok(FileConfig::default());
            };
            match std::fs::read_to_string(Path::new(&home).join(".ossutilconfig")) {
                Ok(t) => Ok(FileConfig::parse(&t)),
                Err(_) => Ok(FileConfig::default()),
            }
        }
    }
}

/// flags > env > file, field by field; the key pair (and its token) comes whole from the first
/// source that has it.
pub fn resolve(
    g: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
) -> Result<Resolved, CliError> {
    let env_any = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let endpoint = g
        .endpoint
        .clone()
        .or_else(|| env_any(&["OSS_ENDPOINT"]))
        .or_else(|| file.get(&["endpoint"]))
        .ok_or_else(|| {
            CliError::usage(
                "no endpoint: pass --endpoint, set OSS_ENDPOINT, or put endpoint= in ~/.ossutilconfig",
            )
        })?;
    let region = g
        .region
        .clone()
        .or_else(|| env_any(&["OSS_REGION"]))
        .or_else(|| file.get(&["region"]));

    let credentials = match (&g.access_key_id, &g.access_key_secret) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone(), g.sts_token.clone())),
        (None, None) => None,
        _ => {
            return Err(CliError::usage(
                "give both --access-key-id and --access-key-secret, or neither",
            ))
        }
    };
    let credentials = credentials
        .or_else(|| {
            let id = env_any(&["OSS_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"])?;
            let secret = env_any(&["OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"])?;
            let token = env_any(&["OSS_SESSION_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN"]);
            Some((id, secret, token))
        })
        .or_else(|| {
            let id = file.get(&["accesskeyid"])?;
            let secret = file.get(&["accesskeysecret"])?;
            let token = file.get(&["ststoken", "securitytoken", "sessiontoken"]);
            Some((id, secret, token))
        });
    let Some((id, secret, token)) = credentials else {
        return Err(CliError::Oss(ossguard::Error::new(ErrorKind::Credentials(
            "no access key: pass --access-key-id/--access-key-secret, set OSS_ACCESS_KEY_ID and \
             OSS_ACCESS_KEY_SECRET, or put accessKeyID/accessKeySecret in ~/.ossutilconfig"
                .into(),
        ))));
    };
    let mut credentials = Credentials::new(id, secret);
    if let Some(t) = token {
        credentials = credentials.with_security_token(t);
    }

    let signature = match g.signature_version {
        Some(v) => v.into(),
        None => match env_any(&["OSS_SIGNATURE_VERSION"])
            .or_else(|| file.get(&["signversion", "signatureversion"]))
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("v4") | Some("4") => SignatureVersion::V4,
            Some("v1") | Some("1") => SignatureVersion::V1,
            Some(other) => {
                return Err(CliError::usage(format!(
                    "signature version {other:?}: use v1 or v4"
                )))
            }
        },
    };
    Ok(Resolved {
        endpoint,
        region,
        credentials,
        signature,
    })
}

/// The process's audit log (one writer thread per file, shared by every client).
static AUDIT: std::sync::OnceLock<ossguard::AuditLog> = std::sync::OnceLock::new();

fn audit_log(path: &Path) -> Result<ossguard::AuditLog, CliError> {
    if let Some(log) = AUDIT.get() {
        return Ok(log.clone());
    }
    let log = ossguard::AuditLog::to_file(path, ossguard::AuditConfig::default()).map_err(|e| {
        CliError::usage(format!(
            "cannot open the audit log {}: {e}; check the directory exists and is writable",
            path.display()
        ))
    })?;
    Ok(AUDIT.get_or_init(|| log).clone())
}

/// Writes what the audit log still holds (called before the process exits).
pub fn flush_audit() {
    if let Some(log) = AUDIT.get() {
        if !log.flush(std::time::Duration::from_secs(5)) {
            eprintln!("warning: the audit log could not be written completely within 5 s");
        }
        if log.dropped() > 0 {
            eprintln!(
                "warning: {} audit records were dropped (the audit queue was full)",
                log.dropped()
            );
        }
    }
}

/// Resolves the configuration from the real environment and builds the client.
pub fn client(g: &GlobalArgs) -> Result<(Client, Resolved), CliError> {
    let file = load_file(g.config.as_deref())?;
    let r = resolve(g, &|n| std::env::var(n).ok(), &file)?;
    let client = build_client(g, &r, &r.endpoint, r.region.as_deref())?;
    Ok((client, r))
}

/// A client of `endpoint` with the resolved credentials and the flags' policy and timeouts
/// (the primary, or the replica of degraded mode).
pub fn build_client(
    g: &GlobalArgs,
    r: &Resolved,
    endpoint: &str,
    region: Option<&str>,
) -> Result<Client, CliError> {
    let mut b = Client::builder()
        .endpoint(endpoint.to_owned())
        .credentials(r.credentials.clone())
        .signature_version(r.signature)
        .policy(policy(g));
    if let Some(t) = g.connect_timeout {
        b = b.connect_timeout(t);
    }
    if let Some(t) = g.read_timeout {
        b = b.read_timeout(t);
    }
    if let Some(region) = region {
        b = b.region(region.to_owned());
    }
    if let Some(path) = &g.audit_log {
        b = b.audit_log(audit_log(path)?);
    }
    b.build().map_err(|e| match e.kind() {
        ErrorKind::InvalidInput(m) => CliError::usage(format!("bad configuration: {m}")),
        _ => CliError::Oss(e),
    })
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30s"),
            Ok(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration("2m"),
            Ok(std::time::Duration::from_secs(120))
        );
        assert_eq!(
            parse_duration("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_duration("7"), Ok(std::time::Duration::from_secs(7)));
        assert!(
            parse_duration("0s").is_err()
                && parse_duration("x").is_err()
                && parse_duration("3d").is_err()
        );
    }

    #[test]
    fn flags_shape_the_policy() {
        let g = GlobalArgs {
            retries: Some(0),
            ..Default::default()
        };
        assert_eq!(policy(&g).retry.max_attempts, 1);
        let g = GlobalArgs {
            retries: Some(5),
            no_hedge: true,
            deadline: Some(std::time::Duration::from_secs(9)),
            ..Default::default()
        };
        let p = policy(&g);
        assert_eq!(
            (p.retry.max_attempts, p.hedge.is_none(), p.deadline),
            (6, true, std::time::Duration::from_secs(9))
        );
        let g = GlobalArgs {
            naive: true,
            ..Default::default()
        };
        let p = policy(&g);
        assert!(p.breaker.is_none() && p.hedge.is_none() && p.retry.max_attempts == 1);
        assert_eq!(policy(&GlobalArgs::default()).retry.max_attempts, 4);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn ini_v1_and_v2() {
        let v1 = FileConfig::parse(
            "[Credentials]\nlanguage=EN\nendpoint = oss-cn-beijing.aliyuncs.com\naccessKeyID=id1\naccessKeySecret=s1\nstsToken=t1\n",
        );
        assert_eq!(
            v1.get(&["endpoint"]).as_deref(),
            Some("oss-cn-beijing.aliyuncs.com")
        );
        assert_eq!(v1.get(&["accesskeyid"]).as_deref(), Some("id1"));
        assert_eq!(v1.get(&["ststoken"]).as_deref(), Some("t1"));
        let v2 = FileConfig::parse(
            "# comment\n[default]\naccessKeyId = id2\naccess_key_secret = s2\nregion=cn-shanghai\nendpoint=\n",
        );
        assert_eq!(v2.get(&["accesskeysecret"]).as_deref(), Some("s2"));
        assert_eq!(v2.get(&["region"]).as_deref(), Some("cn-shanghai"));
        assert_eq!(v2.get(&["endpoint"]), None, "empty values are missing");
        let both = FileConfig::parse("[default]\nendpoint=b\n[Credentials]\nendpoint=a\n");
        assert_eq!(both.get(&["endpoint"]).as_deref(), Some("a"));
    }

    #[test]
    fn precedence() {
        let file = FileConfig::parse(
            "[Credentials]\nendpoint=http://file\naccessKeyID=fid\naccessKeySecret=fs\nregion=file-r\n",
        );
        let none = GlobalArgs::default();
        let r = resolve(&none, &env_of(&[]), &file).unwrap();
        assert_eq!(
            (
                r.endpoint.as_str(),
                r.credentials.access_key_id.as_str(),
                r.region.as_deref()
            ),
            ("http://file", "fid", Some("file-r"))
        );
        let env = env_of(&[
            ("OSS_ENDPOINT", "http://env"),
            ("OSS_ACCESS_KEY_ID", "eid"),
            ("OSS_ACCESS_KEY_SECRET", "es"),
        ]);
        let r = resolve(&none, &env, &file).unwrap();
        assert_eq!(
            (
                r.endpoint.as_str(),
                r.credentials.access_key_id.as_str(),
                r.region.as_deref()
            ),
            ("http://env", "eid", Some("file-r"))
        );
        let flags = GlobalArgs {
            endpoint: Some("http://flag".into()),
            access_key_id: Some("gid".into()),
            access_key_secret: Some("gs".into()),
            signature_version: Some(SigVersion::V1),
            ..Default::default()
        };
        let r = resolve(&flags, &env, &file).unwrap();
        assert_eq!(
            (r.endpoint.as_str(), r.credentials.access_key_id.as_str()),
            ("http://flag", "gid")
        );
        assert_eq!(r.signature, SignatureVersion::V1);
        assert!(!format!("{r:?}").contains("gs\""));
        assert!(!format!("{flags:?}").contains("gs\""));
        let half = GlobalArgs {
            access_key_id: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&half, &env, &file),
            Err(CliError::Usage(_))
        ));
        let e = resolve(
            &none,
            &env_of(&[("OSS_ENDPOINT", "http://e")]),
            &FileConfig::default(),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let e = resolve(&none, &env_of(&[]), &FileConfig::default()).unwrap_err();
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8X").is_err());
        assert!(parse_size("").is_err());
    }
}
