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
    /// Profile of the config file: its [profile NAME] (ossutil v2) or [NAME] section
    /// [env: OSS_PROFILE; default: [Credentials], [default] or [profile default]]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Multipart part size for transfers: bytes, or with a K/M/G suffix (8M).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub part_size: Option<u64>,
    /// Parts of one file transferred at once, fixed. Default: 4; a single file transfer widens
    /// to 16 while each widening pays (a link that caps each connection; not where the server
    /// or disk binds); streams, server-side copies and batches (-j > 1) stay at 4.
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
    /// Retries after a failed attempt (default 4, i.e. 5 attempts); 0 = never retry.
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
            .field("profile", &self.profile)
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

/// The sections of ossutil v1 config files that are not profiles.
const NOT_PROFILES: [&str; 2] = ["bucket-endpoint", "bucket-cname"];

/// The sections that make the default profile, in order of preference (`""`: keys before any
/// section header).
const DEFAULT_SECTIONS: [&str; 4] = ["credentials", "default", "profile default", ""];

/// A profile asked for (`--profile`, `OSS_PROFILE`) that the config file does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchProfile {
    /// The profiles the file has, sorted (`default` for `[Credentials]`, `[default]` and
    /// `[profile default]`).
    pub present: Vec<String>,
}

impl FileConfig {
    /// Parses ossutil v1 (`[Credentials]`: endpoint, accessKeyID, accessKeySecret, stsToken)
    /// or v2 (`[default]`: accessKeyId, accessKeySecret, region, endpoint) and takes the
    /// default profile. `[Credentials]` wins when both are present; keys are matched ignoring
    /// case, `_` and `-`. (The command line goes through [`load_file`], which takes a profile.)
    #[cfg(test)]
    pub fn parse(text: &str) -> Self {
        Self::parse_profile(text, None).unwrap_or_default()
    }

    /// Like [`FileConfig::parse`], with the values of profile `profile` when given: section
    /// `[profile NAME]` (ossutil v2), else `[NAME]`, section names matched ignoring case;
    /// `default` is the default profile. An absent profile is an error that lists the
    /// profiles present.
    pub fn parse_profile(text: &str, profile: Option<&str>) -> Result<Self, NoSuchProfile> {
        let norm = |k: &str| {
            k.chars()
                .filter(|c| *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
        // Section names as written (for the list of profiles), by lowercase name.
        let mut spelled: HashMap<String, String> = HashMap::new();
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
                current = name.to_ascii_lowercase();
                spelled.entry(current.clone()).or_insert(name);
                // A named profile exists even while empty (the default one is taken only
                // when it has values, so that an empty [Credentials] does not hide [default]).
                if !DEFAULT_SECTIONS.contains(&current.as_str()) {
                    sections.entry(current.clone()).or_default();
                }
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
        let wanted = profile
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty() && p != "default");
        let Some(name) = wanted else {
            let default = DEFAULT_SECTIONS.iter().find_map(|s| sections.remove(*s));
            return match default {
                Some(values) => Ok(Self { values }),
                // `--profile default` in a file without a default profile.
                None if profile.is_some() => Err(Self::absent(&sections, &spelled)),
                None => Ok(Self::default()),
            };
        };
        let found = sections.remove(&format!("profile {name}")).or_else(|| {
            sections
                .remove(&name)
                .filter(|_| !NOT_PROFILES.contains(&&*name))
        });
        match found {
            Some(values) => Ok(Self { values }),
            None => Err(Self::absent(&sections, &spelled)),
        }
    }

    /// The error for an absent profile: the profiles of the file's sections that have values.
    fn absent(
        sections: &HashMap<String, HashMap<String, String>>,
        spelled: &HashMap<String, String>,
    ) -> NoSuchProfile {
        let mut present: Vec<String> = sections
            .keys()
            .filter(|s| !s.is_empty() && !NOT_PROFILES.contains(&s.as_str()))
            .map(|s| {
                if DEFAULT_SECTIONS.contains(&s.as_str()) {
                    return "default".to_owned();
                }
                let name = spelled.get(s).map_or(s.as_str(), String::as_str);
                match name.split_once(' ') {
                    Some((p, rest)) if p.eq_ignore_ascii_case("profile") => rest.to_owned(),
                    _ => name.to_owned(),
                }
            })
            .collect();
        present.sort();
        present.dedup();
        NoSuchProfile { present }
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

/// The profile asked for, and by what: `--profile`, else `OSS_PROFILE` (empty = none).
fn profile_of(
    g: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    let nonempty = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    g.profile
        .clone()
        .and_then(nonempty)
        .map(|p| (p, "--profile"))
        .or_else(|| {
            env("OSS_PROFILE")
                .and_then(nonempty)
                .map(|p| (p, "OSS_PROFILE"))
        })
}

/// Reads the config file (`--config`, else `~/.ossutilconfig`) and takes the profile of
/// `--profile` / `OSS_PROFILE` (else the default one). `--config` must exist; the default
/// file may not, unless a profile is asked for.
pub fn load_file(g: &GlobalArgs) -> Result<FileConfig, CliError> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
    load_file_from(
        g.config.as_deref(),
        profile_of(g, &|n| std::env::var(n).ok()).as_ref(),
        home.as_deref().map(Path::new),
    )
}

/// [`load_file`] with its inputs explicit: the `--config` path, the profile and where it was
/// asked for, and the home directory.
fn load_file_from(
    explicit: Option<&Path>,
    profile: Option<&(String, &'static str)>,
    home: Option<&Path>,
) -> Result<FileConfig, CliError> {
    let path = match (explicit, home) {
        (Some(p), _) => p.to_owned(),
        (None, Some(home)) => home.join(".ossutilconfig"),
        (None, None) => {
            return match profile {
                Some((name, from)) => Err(CliError::usage(format!(
                    "profile {name:?} ({from}) needs a config file, and there is no home \
                     directory to find ~/.ossutilconfig in: pass --config FILE"
                ))),
                None => Ok(FileConfig::default()),
            }
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if explicit.is_some() => {
            return Err(CliError::usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            )))
        }
        Err(e) => {
            return match profile {
                Some((name, from)) => Err(CliError::usage(format!(
                    "profile {name:?} ({from}) needs a config file, but {} cannot be read ({e}): \
                     create it or pass --config FILE",
                    path.display()
                ))),
                None => Ok(FileConfig::default()),
            }
        }
    };
    FileConfig::parse_profile(&text, profile.map(|(n, _)| n.as_str())).map_err(|e| {
        let (name, from) = profile.expect("only a profile asked for can be absent");
        let present = if e.present.is_empty() {
            "it has none".to_owned()
        } else {
            format!("it has: {}", e.present.join(", "))
        };
        CliError::usage(format!(
            "profile {name:?} ({from}) is not in the config file {} ({present}); \
             add a [profile {name}] section or choose another profile",
            path.display()
        ))
    })
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
    let file = load_file(g)?;
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
        assert_eq!(policy(&GlobalArgs::default()).retry.max_attempts, 5);
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
    fn profiles() {
        let text = "[Credentials]\nendpoint=v1\n[default]\nendpoint=v2\n\
                    [profile Prod]\nendpoint=prod\naccessKeyId=pid\n[prod]\nendpoint=plain-prod\n\
                    [dev]\nendpoint=dev\n[Bucket-Endpoint]\nbkt=x\n[profile empty]\n";
        let get = |p: Option<&str>| {
            FileConfig::parse_profile(text, p).map(|f| f.get(&["endpoint"]).unwrap_or_default())
        };
        assert_eq!(
            get(None).as_deref(),
            Ok("v1"),
            "no profile: the default chain"
        );
        assert_eq!(get(Some("default")).as_deref(), Ok("v1"));
        assert_eq!(
            get(Some("prod")).as_deref(),
            Ok("prod"),
            "[profile NAME] first"
        );
        assert_eq!(
            get(Some("PROD")).as_deref(),
            Ok("prod"),
            "names ignore case"
        );
        assert_eq!(get(Some("dev")).as_deref(), Ok("dev"), "[NAME] too");
        assert_eq!(
            get(Some("empty")).as_deref(),
            Ok(""),
            "an empty profile exists"
        );
        let e = get(Some("staging")).unwrap_err();
        assert_eq!(
            e.present,
            ["Prod", "default", "dev", "empty", "prod"],
            "the profiles present, not ossutil v1's [Bucket-Endpoint]"
        );
        assert!(FileConfig::parse_profile(text, Some("bucket-endpoint")).is_err());
        // Only [profile NAME] sections (ossutil v2 without a default).
        let v2 = "[profile a]\nendpoint=a\n[profile b]\nendpoint=b\n";
        assert_eq!(
            FileConfig::parse_profile(v2, Some("default"))
                .unwrap_err()
                .present,
            ["a", "b"]
        );
        assert_eq!(FileConfig::parse(v2).get(&["endpoint"]), None);
        let f = FileConfig::parse_profile(v2, Some(" b ")).unwrap();
        assert_eq!(f.get(&["endpoint"]).as_deref(), Some("b"));
    }

    #[test]
    fn profile_flag_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::write(&cfg, "[default]\nendpoint=d\n[profile prod]\nendpoint=p\n").unwrap();
        let g = GlobalArgs {
            profile: Some("prod".into()),
            ..Default::default()
        };
        let env = env_of(&[("OSS_PROFILE", "dev")]);
        assert_eq!(profile_of(&g, &env), Some(("prod".into(), "--profile")));
        let none = GlobalArgs::default();
        assert_eq!(profile_of(&none, &env), Some(("dev".into(), "OSS_PROFILE")));
        assert_eq!(profile_of(&none, &env_of(&[("OSS_PROFILE", " ")])), None);

        let prod = ("prod".to_owned(), "--profile");
        let f = load_file_from(Some(&cfg), Some(&prod), None).unwrap();
        assert_eq!(f.get(&["endpoint"]).as_deref(), Some("p"));
        let f = load_file_from(Some(&cfg), None, None).unwrap();
        assert_eq!(f.get(&["endpoint"]).as_deref(), Some("d"));
        // The default file under the home directory.
        std::fs::copy(&cfg, dir.path().join(".ossutilconfig")).unwrap();
        let f = load_file_from(None, Some(&prod), Some(dir.path())).unwrap();
        assert_eq!(f.get(&["endpoint"]).as_deref(), Some("p"));

        // An absent profile: a usage error naming the file and the profiles it has.
        let dev = ("dev".to_owned(), "OSS_PROFILE");
        let e = load_file_from(Some(&cfg), Some(&dev), None).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("\"dev\" (OSS_PROFILE)")
                && msg.contains(&cfg.display().to_string())
                && msg.contains("it has: default, prod"),
            "{msg}"
        );
        // A profile needs a file; without a profile, the default file may be missing.
        let empty_home = dir.path().join("nohome");
        let e = load_file_from(None, Some(&prod), Some(&empty_home)).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("--config FILE"), "{e}");
        assert!(load_file_from(None, None, Some(&empty_home)).is_ok());
        assert_eq!(
            load_file_from(None, Some(&prod), None)
                .unwrap_err()
                .exit_code(),
            1
        );
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
