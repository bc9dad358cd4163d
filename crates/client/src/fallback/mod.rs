//! Degraded mode (DESIGN §7): when OSS is down, reads fall back along a chain and writes can be
//! spooled locally.
//!
//! Reads, in order: **primary** → **replica** (an optional second client/bucket with its own
//! breaker) → **local cache** (fresh within `max_age` without asking OSS; revalidated with
//! `If-None-Match` when stale; served stale within `stale_if_error` when the primary fails with
//! a transient or throttled error, its deadline, or an open breaker — at once when the breaker
//! is already open) → **default resource** per key prefix → the primary's error. Every answer
//! carries its [`Source`]; each path has its own counter (`ossguard_fallback_serves_total`).
//!
//! Writes with a spool: a PUT that fails the same way is journaled on disk (crash-safe) and
//! answered [`WriteOutcome::Spooled`] — never "stored". [`Fallback::replay`] sends the spool in
//! order once OSS is back, never overwriting an object that changed meanwhile.
//!
//! The chain is a layer over [`Client`]: the client's pipeline (retries, breaker, hedging,
//! CRC-64) runs first, and only its final answer decides whether to fall back ([`classify`]).

mod decide;
mod defaults;
mod maintenance;
mod replay;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ossguard_cache::{Cache, FillMeta, Freshness, Hit};
use ossguard_proto::Operation;
use ossguard_spool::{Expect, Spool, SpoolId, SpoolPut};

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::metrics::OpOutcome;
use crate::ops::object::{GetObjectOptions, ObjectMeta, PutObjectOptions, PutObjectOutput};
use crate::pipeline::report;

pub use decide::{classify, Failure};
pub use defaults::{DefaultResource, Defaults};
pub use maintenance::VerifyReport;
pub use ossguard_cache::CacheConfig;
pub use ossguard_spool::{ReplayReport, SpoolOptions};

/// Where a read was answered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The primary endpoint (a 304 revalidation of a cached copy included).
    Primary,
    /// The replica endpoint, after the primary failed.
    Replica,
    /// The local cache: `stale` when past `max_age` (served because the primary failed).
    Cache {
        /// Since the copy was fetched from OSS.
        age: Duration,
        /// Past `max_age`: served only because the primary failed.
        stale: bool,
    },
    /// The default resource configured for the key's prefix.
    Default,
}

impl Source {
    /// The `source` label of `ossguard_fallback_serves_total` (`None` for the primary).
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Self::Primary => None,
            Self::Replica => Some("replica"),
            Self::Cache { stale: false, .. } => Some("cache_fresh"),
            Self::Cache { stale: true, .. } => Some("cache_stale"),
            Self::Default => Some("default"),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Primary => write!(f, "primary"),
            Self::Replica => write!(f, "replica"),
            Self::Cache { age, stale } => write!(
                f,
                "cache ({}, age {})",
                if *stale { "stale" } else { "fresh" },
                humanize(*age)
            ),
            Self::Default => write!(f, "default resource"),
        }
    }
}

/// An age as people read it: `42s`, `3m`, `5h`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// A whole object and where it came from.
#[derive(Debug, Clone)]
pub struct Served {
    /// The object's bytes.
    pub bytes: Bytes,
    /// Its metadata, as the answering source knows it.
    pub meta: ObjectMeta,
    /// Where the answer came from.
    pub source: Source,
    /// Why the primary did not answer, when something else did (its error, shown to users).
    pub primary_error: Option<String>,
}

/// What happened to a write.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// OSS stored it.
    Stored(PutObjectOutput),
    /// OSS was unreachable: the write is journaled locally and will be replayed; it is NOT
    /// stored yet.
    Spooled(SpoolId),
}

/// A second endpoint (e.g. a cross-region replica) with its own client, breaker included.
#[derive(Debug, Clone)]
pub struct Replica {
    /// The replica's client: its own endpoint, credentials, policy and breaker.
    pub client: Client,
    /// The replica's bucket (`None`: the same name as the primary's).
    pub bucket: Option<String>,
}

/// The chain's parts. Build with [`Fallback::builder`].
#[derive(Clone)]
pub struct Fallback {
    inner: Arc<Inner>,
}

struct Inner {
    primary: Client,
    replica: Option<Replica>,
    cache: Option<Cache>,
    defaults: Defaults,
    spool: Option<Spool>,
    /// Keys with a background revalidation in flight (one per key).
    revalidating: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallback")
            .field("replica", &self.inner.replica.is_some())
            .field(
                "cache",
                &self.inner.cache.as_ref().map(|c| c.dir().to_owned()),
            )
            .field(
                "spool",
                &self.inner.spool.as_ref().map(|s| s.dir().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`Fallback`]; every part is optional.
#[derive(Default)]
pub struct FallbackBuilder {
    replica: Option<Replica>,
    cache: Option<(std::path::PathBuf, CacheConfig)>,
    defaults: Defaults,
    spool: Option<(std::path::PathBuf, SpoolOptions)>,
}

impl FallbackBuilder {
    /// Tries `client` when the primary fails (`bucket`: the replica's bucket, `None` for the
    /// primary's name).
    pub fn replica(mut self, client: Client, bucket: Option<String>) -> Self {
        self.replica = Some(Replica { client, bucket });
        self
    }

    /// A persistent cache in `dir` (created), bounded as `config` says.
    pub fn cache(mut self, dir: impl Into<std::path::PathBuf>, config: CacheConfig) -> Self {
        self.cache = Some((dir.into(), config));
        self
    }

    /// Serve `resource` for keys starting with `prefix` when nothing else can answer (the
    /// longest matching prefix wins).
    pub fn default_resource(
        mut self,
        prefix: impl Into<String>,
        resource: DefaultResource,
    ) -> Self {
        self.defaults.add(prefix.into(), resource);
        self
    }

    /// Journal writes in `dir` while OSS is down.
    pub fn spool(mut self, dir: impl Into<std::path::PathBuf>, options: SpoolOptions) -> Self {
        self.spool = Some((dir.into(), options));
        self
    }

    /// Opens the cache and the spool (blocking disk work: recovery checks every entry).
    pub async fn build(self, primary: Client) -> Result<Fallback, Error> {
        let cache = match self.cache {
            None => None,
            Some((dir, cfg)) => Some(
                blocking(move || Cache::open(&dir, cfg).map_err(|e| local(e.to_string()))).await?,
            ),
        };
        let spool = match self.spool {
            None => None,
            Some((dir, opts)) => Some(
                blocking(move || Spool::open_with(&dir, opts).map_err(|e| local(e.to_string())))
                    .await?,
            ),
        };
        let m = primary.metrics();
        let mut sources = Vec::new();
        if self.replica.is_some() {
            sources.push("replica");
        }
        if cache.is_some() {
            sources.extend(["cache_fresh", "cache_stale"]);
        }
        if !self.defaults.is_empty() {
            sources.push("default");
        }
        m.precreate_fallback(Operation::GetObject, &sources);
        if spool.is_some() {
            m.precreate_spooled(Operation::PutObject);
        }
        Ok(Fallback {
            inner: Arc::new(Inner {
                primary,
                replica: self.replica,
                cache,
                defaults: self.defaults,
                spool,
                revalidating: Default::default(),
            }),
        })
    }
}

fn local(msg: String) -> Error {
    Error::new(ErrorKind::InvalidInput(msg))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| local(format!("a disk task failed: {e}")))?
}

impl Fallback {
    /// Starts a [`FallbackBuilder`].
    pub fn builder() -> FallbackBuilder {
        FallbackBuilder::default()
    }

    /// The primary client.
    pub fn primary(&self) -> &Client {
        &self.inner.primary
    }

    /// The cache, if the chain has one.
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// The write spool, if the chain has one.
    pub fn spool(&self) -> Option<&Spool> {
        self.inner.spool.as_ref()
    }

    /// Reads a whole object through the chain (objects above the cache's entry limit are read
    /// but not cached).
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Served, Error> {
        let hit = self.lookup(bucket, key).await;
        let now = self.inner.cache.as_ref().map(|c| c.now());
        if let (Some((hit, bytes)), Some(now)) = (&hit, now) {
            match hit.freshness(now) {
                Freshness::Fresh => {
                    return Ok(self.serve_cached(hit, bytes.clone(), now, false));
                }
                Freshness::Stale | Freshness::Expired => {}
            }
        }
        let etag = hit.as_ref().and_then(|(h, _)| h.meta.etag.clone());
        // Known down: the rest of the chain answers now, and the breaker's probe (which may
        // wait for a timeout in a blackhole) runs in the background instead of in this read.
        let (primary, deferred) = if self.inner.primary.breaker_state() == crate::BreakerState::Open
        {
            self.revalidate_behind(bucket, key, etag);
            let e = Error::new(ErrorKind::CircuitOpen).in_op("GetObject");
            (Err(e), None)
        } else {
            report::deferred(self.primary_get(bucket, key, etag)).await
        };
        let m = self.inner.primary.metrics();
        let error = match primary {
            Ok(Fetched::Fresh(served)) => {
                m.operation_done(Operation::GetObject, deferred.unwrap_or(OpOutcome::Ok));
                return Ok(*served);
            }
            Ok(Fetched::NotModified) => {
                m.operation_done(Operation::GetObject, OpOutcome::Ok);
                let (hit, bytes) = hit.expect("a 304 answers a conditional GET");
                if let Some(c) = &self.inner.cache {
                    let (c, b, k) = (c.clone(), bucket.to_owned(), key.to_owned());
                    let _ =
                        blocking(move || c.refresh(&b, &k).map_err(|e| local(e.to_string()))).await;
                }
                return Ok(Served {
                    bytes,
                    meta: meta_of(&hit.meta),
                    source: Source::Primary,
                    primary_error: None,
                });
            }
            Err(e) => e,
        };
        let fall_back = classify(&error) == Failure::Unavailable;
        if !fall_back {
            m.operation_done(
                Operation::GetObject,
                deferred.unwrap_or(OpOutcome::of(&error)),
            );
            if error.status() == Some(404) {
                if let Some(c) = &self.inner.cache {
                    let (c, b, k) = (c.clone(), bucket.to_owned(), key.to_owned());
                    let _ =
                        blocking(move || c.remove(&b, &k).map_err(|e| local(e.to_string()))).await;
                }
            }
            return Err(error);
        }
        let why = Some(error.to_string());
        if let Some(served) = self.read_replica(bucket, key).await {
            m.operation_done(Operation::GetObject, OpOutcome::FailedOver);
            m.fallback_serve(Operation::GetObject, "replica");
            return Ok(Served {
                primary_error: why,
                ..served
            });
        }
        if let (Some((hit, bytes)), Some(now)) = (&hit, now) {
            if hit.freshness(now) != Freshness::Expired {
                m.operation_done(Operation::GetObject, OpOutcome::ServedStale);
                return Ok(Served {
                    primary_error: why,
                    ..self.serve_cached(hit, bytes.clone(), now, true)
                });
            }
        }
        if let Some(d) = self.inner.defaults.lookup(key) {
            m.operation_done(Operation::GetObject, OpOutcome::FailedOver);
            m.fallback_serve(Operation::GetObject, "default");
            return Ok(Served {
                bytes: d.body.clone(),
                meta: ObjectMeta {
                    size: d.body.len() as u64,
                    content_type: d.content_type.clone(),
                    ..Default::default()
                },
                source: Source::Default,
                primary_error: why,
            });
        }
        m.operation_done(
            Operation::GetObject,
            deferred.unwrap_or(OpOutcome::of(&error)),
        );
        Err(error)
    }

    /// A cache entry and its verified body (a bad entry is a miss: the cache removed it).
    async fn lookup(&self, bucket: &str, key: &str) -> Option<(Hit, Bytes)> {
        let c = self.inner.cache.clone()?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            Ok(match c.get(&b, &k) {
                Ok(Some(hit)) => hit.bytes().ok().map(|bytes| (hit, bytes)),
                _ => None,
            })
        })
        .await
        .ok()
        .flatten()
    }

    fn serve_cached(&self, hit: &Hit, bytes: Bytes, now: SystemTime, stale: bool) -> Served {
        let source = Source::Cache {
            age: hit.age_at(now),
            stale,
        };
        if let Some(label) = source.label() {
            self.inner
                .primary
                .metrics()
                .fallback_serve(Operation::GetObject, label);
        }
        Served {
            bytes,
            meta: meta_of(&hit.meta),
            source,
            primary_error: None,
        }
    }

    async fn primary_get(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<String>,
    ) -> Result<Fetched, Error> {
        let opts = GetObjectOptions {
            if_none_match: etag,
            ..Default::default()
        };
        let out = match self.inner.primary.get_object(bucket, key, opts).await {
            Ok(o) => o,
            Err(e) if e.status() == Some(304) => return Ok(Fetched::NotModified),
            Err(e) => return Err(e),
        };
        let meta = out.meta.clone();
        let bytes = out.bytes().await?;
        self.fill(bucket, key, &meta, &bytes).await;
        Ok(Fetched::Fresh(Box::new(Served {
            bytes,
            meta,
            source: Source::Primary,
            primary_error: None,
        })))
    }

    async fn fill(&self, bucket: &str, key: &str, meta: &ObjectMeta, bytes: &Bytes) {
        let Some(c) = self.inner.cache.clone() else {
            return;
        };
        let fill = FillMeta {
            etag: Some(meta.etag.clone()).filter(|e| !e.is_empty()),
            size: bytes.len() as u64,
            crc64: meta.crc64,
            last_modified: meta.last_modified,
            content_type: meta.content_type.clone(),
            user_meta: meta.metadata.clone(),
        };
        let (b, k, body) = (bucket.to_owned(), key.to_owned(), bytes.clone());
        // A cache that cannot store is a miss next time, never an error now.
        let _ = blocking(move || {
            c.insert(&b, &k, fill, &body)
                .map(|_| ())
                .map_err(|e| local(e.to_string()))
        })
        .await;
    }

    /// While the breaker is open, a stale serve also sends a conditional GET in the
    /// background: the breaker's probe, and a refresh when OSS is back.
    fn revalidate_behind(&self, bucket: &str, key: &str, etag: Option<String>) {
        let this = self.clone();
        let id = (bucket.to_owned(), key.to_owned());
        let mut busy = self
            .inner
            .revalidating
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !busy.insert(id.clone()) {
            return;
        }
        drop(busy);
        tokio::spawn(async move {
            let (b, k) = id.clone();
            let r = this.primary_get(&b, &k, etag).await;
            if let (Ok(Fetched::NotModified), Some(c)) = (r, this.inner.cache.clone()) {
                let _ = blocking(move || c.refresh(&b, &k).map_err(|e| local(e.to_string()))).await;
            }
            this.inner
                .revalidating
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
    }

    async fn read_replica(&self, bucket: &str, key: &str) -> Option<Served> {
        let r = self.inner.replica.as_ref()?;
        let rb = r.bucket.as_deref().unwrap_or(bucket);
        let out = r
            .client
            .get_object(rb, key, Default::default())
            .await
            .ok()?;
        let meta = out.meta.clone();
        let bytes = out.bytes().await.ok()?;
        self.fill(bucket, key, &meta, &bytes).await;
        Some(Served {
            bytes,
            meta,
            source: Source::Replica,
            primary_error: None,
        })
    }

    /// Writes through the primary; when it is unavailable and a spool is configured, journals
    /// the write instead. `expect`: what the caller last saw of the object (conflict base for
    /// the replay); `None` takes the cached copy's ETag, else "unknown" (a plain overwrite).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        opts: PutObjectOptions,
        expect: Option<Expect>,
    ) -> Result<WriteOutcome, Error> {
        // The cached copy goes when the write lands, or may have landed: answered, dropped in
        // flight, or failed without an answer after the request may have gone out (not even
        // an error code). A write the spool takes keeps it for stale-if-error reads during the
        // outage; the replay drops it when the write lands.
        let mut stale = StaleOnDrop::arm(self.inner.cache.as_ref(), bucket, key);
        let err = match self
            .inner
            .primary
            .put_object(bucket, key, body.clone().into(), opts.clone())
            .await
        {
            Ok(out) => return Ok(WriteOutcome::Stored(out)),
            Err(e) => e,
        };
        let maybe_stored = match err.kind() {
            ErrorKind::Transport { failure, .. } => !failure.request_never_sent(),
            ErrorKind::Integrity { .. } => true,
            _ => false,
        };
        if !maybe_stored {
            stale.disarm();
        }
        let Some(spool) = &self.inner.spool else {
            return Err(err);
        };
        if classify(&err) != Failure::Unavailable {
            return Err(err);
        }
        stale.disarm();
        let expect = match expect {
            Some(e) => e,
            None => match self.lookup(bucket, key).await {
                Some((hit, _)) => hit.meta.etag.clone().map_or(Expect::Unknown, Expect::ETag),
                _ => Expect::Unknown,
            },
        };
        let mut put = SpoolPut::new(bucket, key).expect(expect);
        if let Some(ct) = &opts.content_type {
            put = put.content_type(ct.clone());
        }
        for (n, v) in &opts.metadata {
            put = put.meta(n.clone(), v.clone());
        }
        let id = spool.enqueue(put, body).await.map_err(|e| {
            local(format!(
                "{e} (the write was not stored: OSS failed with: {err})"
            ))
        })?;
        self.inner.primary.metrics().spooled(Operation::PutObject);
        Ok(WriteOutcome::Spooled(id))
    }
}

/// Drops the cached copy of an object when dropped while armed, around a PUT: OSS holds, or
/// may hold, the new bytes, and the old copy would be served as fresh for up to `max_age`
/// without asking OSS.
struct StaleOnDrop<'a> {
    cache: Option<&'a Cache>,
    bucket: &'a str,
    key: &'a str,
}

impl<'a> StaleOnDrop<'a> {
    fn arm(cache: Option<&'a Cache>, bucket: &'a str, key: &'a str) -> Self {
        Self { cache, bucket, key }
    }

    /// The PUT surely did not change the object (or the spool took it): keep the copy.
    fn disarm(&mut self) {
        self.cache = None;
    }
}

impl Drop for StaleOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.cache.take() {
            // Here and now (an index update and one unlink, like `RemoveGuard`'s), so a read
            // that follows cannot find the old copy.
            let _ = c.remove(self.bucket, self.key);
        }
    }
}

enum Fetched {
    Fresh(Box<Served>),
    NotModified,
}

fn meta_of(e: &ossguard_cache::EntryMeta) -> ObjectMeta {
    ObjectMeta {
        size: e.size,
        etag: e.etag.clone().unwrap_or_default(),
        last_modified: e.last_modified,
        content_type: e.content_type.clone(),
        crc64: Some(e.crc64),
        metadata: e.user_meta.clone(),
        ..Default::default()
    }
}
