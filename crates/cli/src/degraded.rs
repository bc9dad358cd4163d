//! Degraded mode (DESIGN §7) in the CLI: which parts of the fallback chain the flags, the
//! environment and the config file ask for (flags > env > file, like the rest of the
//! configuration), how the chain is built, and how a served read is described.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ossguard::cache::{Cache, CacheConfig};
use ossguard::fallback::SpoolOptions;
use ossguard::spool::{Spool, SpoolError};
use ossguard::{Client, Fallback, Source};
use serde_json::{json, Value};

use crate::config::{build_client, FileConfig, GlobalArgs, Resolved};
use crate::error::{exit, CliError};

/// Defaults of the cache flags.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(24 * 3600);

/// The second endpoint and/or bucket reads fail over to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSettings {
    /// `None`: the primary's endpoint.
    pub endpoint: Option<String>,
    /// `None`: the same bucket name as the primary's.
    pub bucket: Option<String>,
}

/// The parts of the chain that are configured (each optional).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub cache: Option<(PathBuf, CacheConfig)>,
    pub replica: Option<ReplicaSettings>,
    pub spool: Option<PathBuf>,
}

impl Settings {
    /// Resolves the degraded-mode settings. Environment: `OSSGUARD_CACHE_DIR`,
    /// `OSSGUARD_REPLICA_ENDPOINT`, `OSSGUARD_REPLICA_BUCKET`, `OSSGUARD_SPOOL_DIR`; config-file
    /// keys `cachedir`, `replicaendpoint`, `replicabucket`, `spooldir`.
    pub fn resolve(
        g: &GlobalArgs,
        env: &dyn Fn(&str) -> Option<String>,
        file: &FileConfig,
    ) -> Result<Self, CliError> {
        let pick = |flag: Option<String>, var: &str, key: &str| {
            flag.or_else(|| env(var).filter(|v| !v.trim().is_empty()))
                .or_else(|| file.get(&[key]))
        };
        let cache_dir = pick(
            g.cache_dir.as_ref().map(|p| p.display().to_string()),
            "OSSGUARD_CACHE_DIR",
            "cachedir",
        );
        let cache = match cache_dir {
            Some(dir) => {
                let mut c = CacheConfig::default()
                    .max_age(g.cache_max_age.unwrap_or(DEFAULT_MAX_AGE))
                    .stale_if_error(g.stale_if_error.unwrap_or(DEFAULT_STALE_IF_ERROR));
                if let Some(n) = g.cache_max_size {
                    c = c.max_bytes(n);
                }
                Some((PathBuf::from(dir), c))
            }
            None if g.cache_max_size.is_some()
                || g.cache_max_age.is_some()
                || g.stale_if_error.is_some() =>
            {
                return Err(CliError::usage(
                    "--cache-max-size, --cache-max-age and --stale-if-error configure the cache: \
                     give --cache-dir too",
                ))
            }
            None => None,
        };
        let endpoint = pick(
            g.replica_endpoint.clone(),
            "OSSGUARD_REPLICA_ENDPOINT",
            "replicaendpoint",
        );
        let bucket = pick(
            g.replica_bucket.clone(),
            "OSSGUARD_REPLICA_BUCKET",
            "replicabucket",
        );
        let replica = (endpoint.is_some() || bucket.is_some())
            .then_some(ReplicaSettings { endpoint, bucket });
        let spool = pick(
            g.spool_dir.as_ref().map(|p| p.display().to_string()),
            "OSSGUARD_SPOOL_DIR",
            "spooldir",
        )
        .map(PathBuf::from);
        Ok(Self {
            cache,
            replica,
            spool,
        })
    }

    /// Whether reads go through the chain (a default resource has no CLI flag yet).
    pub fn reads_fall_back(&self) -> bool {
        self.cache.is_some() || self.replica.is_some()
    }

    /// The largest object read through the chain (it is held in memory whole): the cache's
    /// entry limit, or the default one with a replica only.
    pub fn entry_limit(&self) -> u64 {
        match &self.cache {
            Some((_, c)) => c.entry_limit(),
            None => CacheConfig::default().entry_limit(),
        }
    }

    pub fn cache_or_usage(&self, command: &str) -> Result<&(PathBuf, CacheConfig), CliError> {
        self.cache.as_ref().ok_or_else(|| {
            CliError::usage(format!(
                "`ossguard {command}` needs the cache: give --cache-dir DIR (or set \
                 OSSGUARD_CACHE_DIR, or cachedir= in the config file)"
            ))
        })
    }

    pub fn spool_or_usage(&self, command: &str) -> Result<&Path, CliError> {
        self.spool.as_deref().ok_or_else(|| {
            CliError::usage(format!(
                "`ossguard {command}` needs the spool: give --spool-dir DIR (or set \
                 OSSGUARD_SPOOL_DIR, or spooldir= in the config file)"
            ))
        })
    }
}

/// `oss-cn-beijing.aliyuncs.com` → `cn-beijing` (a cross-region replica signs for its region).
fn region_hint(endpoint: &str) -> Option<String> {
    let host = endpoint.split_once("://").map_or(endpoint, |(_, h)| h);
    let first = host.split(['.', ':', '/']).next()?;
    let r = first.strip_prefix("oss-")?;
    Some(r.trim_end_matches("-internal").to_owned())
}

/// Builds the chain over `primary`. The spool is opened only when `with_spool` (it locks its
/// directory for the life of the process, so reads never take it).
pub async fn build(
    g: &GlobalArgs,
    s: &Settings,
    primary: &Client,
    r: &Resolved,
    with_spool: bool,
) -> Result<Fallback, CliError> {
    let mut replica = None;
    if let Some(rep) = &s.replica {
        let endpoint = rep.endpoint.as_deref().unwrap_or(&r.endpoint);
        if endpoint == r.endpoint && rep.bucket.is_none() {
            return Err(CliError::usage(
                "the replica is the primary itself: give --replica-endpoint and/or --replica-bucket",
            ));
        }
        let region = match &rep.endpoint {
            Some(e) => region_hint(e).or_else(|| r.region.clone()),
            None => r.region.clone(),
        };
        replica = Some((
            build_client(g, r, endpoint, region.as_deref())?,
            rep.bucket.clone(),
        ));
    }
    let spool = s.spool.as_ref().filter(|_| with_spool);
    let builder = || {
        let mut b = Fallback::builder();
        if let Some((client, bucket)) = &replica {
            b = b.replica(client.clone(), bucket.clone());
        }
        if let Some((dir, config)) = &s.cache {
            b = b.cache(dir.clone(), config.clone());
        }
        if let Some(dir) = spool {
            b = b.spool(dir.clone(), SpoolOptions::default());
        }
        b
    };
    let failed = |e: ossguard::Error| CliError::failed(exit::CLIENT, e.to_string());
    let Some(dir) = spool else {
        return builder().build(primary.clone()).await.map_err(failed);
    };
    // Several `cp` runs may spool at once, each holding the lock for its life (short): wait for
    // it, and again if another run took it between our check and our open.
    let started = std::time::Instant::now();
    loop {
        wait_until_unlocked(dir, started).await?;
        match builder().build(primary.clone()).await {
            // The chain reports the spool's errors as text only.
            Err(e) if e.to_string().contains("in use by another process") => {
                tokio::time::sleep(LOCK_POLL).await
            }
            r => return r.map_err(failed),
        }
    }
}

/// Opens the cache alone (the `cache` commands).
pub async fn open_cache(dir: &Path, config: &CacheConfig) -> Result<Cache, CliError> {
    let (dir, config) = (dir.to_owned(), config.clone());
    tokio::task::spawn_blocking(move || Cache::open(&dir, config))
        .await
        .map_err(|e| CliError::failed(exit::CLIENT, format!("the cache task failed: {e}")))?
        .map_err(|e| CliError::failed(exit::CLIENT, e.to_string()))
}

/// Opens the spool alone (`spool drop`), waiting a little for another process's lock.
pub async fn open_spool(dir: &Path) -> Result<Spool, CliError> {
    let started = std::time::Instant::now();
    loop {
        wait_until_unlocked(dir, started).await?;
        let d = dir.to_owned();
        match tokio::task::spawn_blocking(move || Spool::open(&d))
            .await
            .map_err(|e| CliError::failed(exit::CLIENT, format!("the spool task failed: {e}")))?
        {
            Err(SpoolError::Locked(_)) => tokio::time::sleep(LOCK_POLL).await,
            r => return r.map_err(spool_error),
        }
    }
}

pub fn spool_error(e: SpoolError) -> CliError {
    let code = match e {
        SpoolError::NotFound(_) | SpoolError::InvalidPut(_) => exit::USAGE,
        _ => exit::CLIENT,
    };
    CliError::failed(code, e.to_string())
}

/// How long a command waits for another process to release the spool's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(50);

/// Polls the spool's lock file until it is free, at most [`LOCK_WAIT`] after `started`; a
/// missing spool is free.
async fn wait_until_unlocked(dir: &Path, started: std::time::Instant) -> Result<(), CliError> {
    let lock = dir.join("LOCK");
    loop {
        let free = match std::fs::OpenOptions::new().write(true).open(&lock) {
            Err(_) => true,
            Ok(f) => match f.try_lock() {
                Ok(()) => {
                    let _ = f.unlock();
                    true
                }
                Err(_) => false,
            },
        };
        if free {
            return Ok(());
        }
        if started.elapsed() >= LOCK_WAIT {
            return Err(spool_error(SpoolError::Locked(dir.to_owned())));
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// Where a read came from as JSON fields: `field` (`primary|replica|cache|default`), `stale`,
/// `age_s` (cache only).
pub fn source_json(field: &str, source: &Source) -> Value {
    let (name, stale, age) = match source {
        Source::Primary => ("primary", false, None),
        Source::Replica => ("replica", false, None),
        Source::Cache { age, stale } => ("cache", *stale, Some(age.as_secs())),
        Source::Default => ("default", false, None),
    };
    json!({field: name, "stale": stale, "age_s": age})
}

/// The stderr note of a read not answered by the primary (`None` for the primary).
pub fn source_note(source: &Source, primary_error: Option<&str>) -> Option<String> {
    let why = match primary_error {
        Some(e) => format!("OSS failed: {e}"),
        None => "OSS failed".to_owned(),
    };
    match source {
        Source::Primary => None,
        Source::Cache { stale: false, age } => Some(format!(
            "served from cache (fresh, age {}); OSS was not asked",
            ossguard::fallback::humanize(*age)
        )),
        Source::Cache { stale: true, age } => Some(format!(
            "served from cache (stale, age {}): {why}",
            ossguard::fallback::humanize(*age)
        )),
        Source::Replica => Some(format!("served from replica: {why}")),
        Source::Default => Some(format!("served the default resource: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::tests::env_of;

    #[test]
    fn flags_over_env_over_file_and_defaults() {
        let file = FileConfig::parse(
            "[Credentials]\ncachedir=/f/cache\nreplicaEndpoint=http://f\nspool_dir=/f/spool\n",
        );
        let s = Settings::resolve(&GlobalArgs::default(), &env_of(&[]), &file).unwrap();
        let (dir, c) = s.cache.clone().unwrap();
        assert_eq!(dir, PathBuf::from("/f/cache"));
        assert_eq!(
            (c.max_bytes, c.max_age, c.stale_if_error),
            (1 << 30, DEFAULT_MAX_AGE, DEFAULT_STALE_IF_ERROR)
        );
        assert_eq!(
            s.replica,
            Some(ReplicaSettings {
                endpoint: Some("http://f".into()),
                bucket: None
            })
        );
        assert_eq!(s.spool, Some(PathBuf::from("/f/spool")));
        assert!(s.reads_fall_back());

        let env = env_of(&[
            ("OSSGUARD_CACHE_DIR", "/e/cache"),
            ("OSSGUARD_SPOOL_DIR", "/e/spool"),
        ]);
        let g = GlobalArgs {
            spool_dir: Some("/g/spool".into()),
            cache_max_size: Some(1000),
            cache_max_age: Some(Duration::from_millis(5)),
            ..Default::default()
        };
        let s = Settings::resolve(&g, &env, &file).unwrap();
        let (dir, c) = s.cache.clone().unwrap();
        assert_eq!(dir, PathBuf::from("/e/cache"));
        assert_eq!((c.max_bytes, c.max_age), (1000, Duration::from_millis(5)));
        assert_eq!(s.entry_limit(), 1000, "one entry never exceeds the cache");
        assert_eq!(s.spool, Some(PathBuf::from("/g/spool")));

        let none = Settings::resolve(&GlobalArgs::default(), &env_of(&[]), &FileConfig::default())
            .unwrap();
        assert!(!none.reads_fall_back() && none.spool.is_none());
        assert!(none.cache_or_usage("cache stats").is_err());
        let orphan = GlobalArgs {
            stale_if_error: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        assert!(matches!(
            Settings::resolve(&orphan, &env_of(&[]), &FileConfig::default()),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn notes_and_json_say_where_a_read_came_from() {
        let stale = Source::Cache {
            age: Duration::from_secs(185),
            stale: true,
        };
        assert_eq!(
            source_note(&stale, Some("connection reset")).unwrap(),
            "served from cache (stale, age 3m): OSS failed: connection reset"
        );
        assert_eq!(
            source_json("source", &stale),
            json!({"source": "cache", "stale": true, "age_s": 185})
        );
        assert_eq!(source_note(&Source::Primary, None), None);
        assert_eq!(
            source_json("source", &Source::Replica),
            json!({"source": "replica", "stale": false, "age_s": null})
        );
        assert_eq!(
            region_hint("https://oss-cn-beijing-internal.aliyuncs.com").as_deref(),
            Some("cn-beijing")
        );
        assert_eq!(region_hint("http://127.0.0.1:9000"), None);
    }
}
