//! `ossguard`: an async client for Alibaba Cloud OSS that keeps working on bad networks.
//!
//! Every request goes through a resilience pipeline — an overall deadline, per-phase timeouts,
//! budgeted retries with jitter, a circuit breaker, hedged reads, CRC-64 checks end to end — and
//! large transfers move in parallel parts that resume where they stopped. When OSS is down all
//! the same, a [`Fallback`] chain answers reads from a replica, a local cache or a default
//! resource, and can spool writes until OSS is back.
//!
//! This page walks through the library in the order you would use it. Each topic has a runnable
//! example in `crates/client/examples/` that starts an in-process OSS emulator on 127.0.0.1 — no
//! credentials, no network — or uses real OSS when `OSS_ENDPOINT` is set:
//!
//! | example | shows |
//! |---|---|
//! | `upload.rs` | [`Client::upload_file`]: parallel parts, progress, resuming after a crash |
//! | `download.rs` | [`Client::download_file`] under a deadline; resuming after it passed |
//! | `resilience.rs` | a [`Policy`] knob by knob; retries and the breaker; [`Client::stats`] |
//! | `presign.rs` | presigned GET and PUT URLs used by plain `reqwest` |
//! | `metrics.rs` | [`Client::register_metrics`] into a `prometheus-client` registry |
//! | `fallback.rs` | a cache serving stale copies while the server is down |
//!
//! Run one with `cargo run -p ossguard --example upload`.
//!
//! # Create a client
//!
//! A [`Client`] is cheap to clone (an `Arc` inside), `Send + Sync`, and pools its connections:
//! build one per endpoint and share it. Credentials come from the builder, from a
//! [`CredentialsProvider`] (STS, rotation) or, by default, from `OSS_ACCESS_KEY_ID` /
//! `OSS_ACCESS_KEY_SECRET` / `OSS_SESSION_TOKEN`. The region is derived from an
//! `oss-<region>` endpoint; signatures are V4 unless you ask for [`SignatureVersion::V1`].
//!
//! ```no_run
//! # fn main() -> Result<(), ossguard::Error> {
//! use ossguard::{Client, Credentials};
//!
//! let client = Client::builder()
//!     .endpoint("https://oss-cn-hangzhou.aliyuncs.com")
//!     .credentials(Credentials::new("LTAI…", "secret"))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # Put and get
//!
//! Uploads take a [`Body`] (bytes, a file or file range — both can be sent again on a retry —
//! or a one-shot stream); downloads return a [`GetObjectOutput`] whose body is a
//! [`ByteStream`] of `Bytes` chunks. The body's CRC-64 is compared with the server's at its
//! end, and a connection that breaks mid-body is resumed with a ranged GET pinned to the same
//! ETag, invisibly to the reader.
//!
//! ```no_run
//! # async fn demo(client: ossguard::Client) -> Result<(), ossguard::Error> {
//! use futures_util::StreamExt;
//! use ossguard::{GetObjectOptions, PutObjectOptions};
//!
//! let options = PutObjectOptions {
//!     content_type: Some("text/plain".into()),
//!     ..Default::default()
//! };
//! client.put_object("bucket", "notes/hello.txt", "hello".into(), options).await?;
//!
//! // Small objects: the whole body at once.
//! let object = client.get_object("bucket", "notes/hello.txt", GetObjectOptions::default()).await?;
//! assert_eq!(object.bytes().await?, "hello");
//!
//! // Large ones: chunk by chunk, in bounded memory.
//! let mut body = client.get_object("bucket", "big.bin", Default::default()).await?.body;
//! while let Some(chunk) = body.next().await {
//!     let chunk = chunk?;
//!     // … write `chunk` somewhere
//! }
//! # Ok(()) }
//! ```
//!
//! Errors are one type, [`Error`]: [`Error::kind`] says what failed ([`ErrorKind`]),
//! [`Error::class`] how the pipeline treated it, [`Error::code`] and [`Error::request_id`] what
//! OSS said.
//!
//! # Policies
//!
//! [`Policy::default()`] is the resilient client of DESIGN.md §4: 5 attempts with full-jitter
//! backoff, a retry budget, an adaptive circuit breaker, hedged reads at the p99 (at most
//! 3 × the p90), a 30 s deadline per metadata operation and an idle/throughput guard on data
//! bodies.
//! [`Policy::none()`] is the naive client most SDKs are (one attempt). Start from the default
//! and change what your workload needs; the parts are the sans-IO configs of [`resilience`].
//!
//! ```
//! use std::time::Duration;
//! use ossguard::resilience::breaker::BreakerConfig;
//! use ossguard::Policy;
//!
//! let mut policy = Policy::default().with_attempts(5);
//! policy.deadline = Duration::from_secs(10); // a whole operation, retries included
//! policy.hedge = None; // no hedged reads
//! policy.breaker = Some(BreakerConfig {
//!     probe_interval: Duration::from_millis(500),
//!     ..BreakerConfig::default()
//! });
//! let client = ossguard::Client::builder()
//!     .endpoint("http://127.0.0.1:9000")
//!     .credentials(ossguard::Credentials::new("ak", "sk"))
//!     .policy(policy)
//!     .build()?;
//! assert_eq!(client.stats().retries, 0); // what the pipeline did so far
//! # Ok::<(), ossguard::Error>(())
//! ```
//!
//! See `examples/resilience.rs` for every knob, with a flaky server and an outage.
//!
//! # Resumable upload under a deadline
//!
//! [`Client::upload_file`] and [`Client::download_file`] split large files into parts that move
//! in parallel and stream from / to disk. With [`TransferOptions::resumable`] (the default) a
//! checkpoint records the finished parts, so a transfer that failed, was cancelled or whose
//! process died continues where it stopped when run again. [`pipeline::deadline::with_deadline`]
//! puts one deadline over everything inside it — every part, retry and resume:
//!
//! ```no_run
//! # async fn demo(client: ossguard::Client) -> Result<(), ossguard::Error> {
//! use std::path::Path;
//! use std::time::Duration;
//! use ossguard::pipeline::deadline::with_deadline;
//! use ossguard::{ErrorKind, TransferOptions, TransportFailure};
//!
//! let options = TransferOptions::default()
//!     .with_part_size(16 << 20)
//!     .with_concurrency(8)
//!     .with_progress(|p| println!("{} / {} bytes", p.bytes_done, p.bytes_total));
//! let file = Path::new("backup.tar");
//! let upload = client.upload_file(file, "bucket", "backups/backup.tar", &options);
//! match with_deadline(Duration::from_secs(600), upload).await {
//!     Ok(out) => println!("uploaded, etag {}", out.etag),
//!     Err(e) if matches!(
//!         e.kind(),
//!         ErrorKind::Transport { failure: TransportFailure::DeadlineExceeded, .. }
//!     ) => {
//!         // The finished parts are kept: the same call later sends only the rest.
//!         println!("not done in 10 minutes; run again to resume");
//!     }
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! The [`transfer`] module documents the integrity checks, the checkpoint format and what
//! happens on failure or cancellation. Examples: `examples/upload.rs`, `examples/download.rs`.
//!
//! # Presigned URLs
//!
//! [`Client::presign_url`] signs a URL that lets anyone holding it do one thing (a GET or a PUT
//! of one key) until it expires — no credentials needed on their side:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ossguard::Error> {
//! use std::time::Duration;
//! use ossguard::{Client, Credentials, SignatureVersion};
//!
//! let client = Client::builder()
//!     .endpoint("https://oss-cn-hangzhou.aliyuncs.com")
//!     .credentials(Credentials::new("ak", "sk"))
//!     .build()?;
//! let url = client
//!     .presign_url(
//!         http::Method::GET,
//!         "bucket",
//!         "reports/2024.pdf",
//!         Duration::from_secs(3600),
//!         SignatureVersion::V4,
//!     )
//!     .await?;
//! assert!(url.starts_with("https://bucket.oss-cn-hangzhou.aliyuncs.com/reports/2024.pdf?"));
//! # Ok(()) }
//! ```
//!
//! `examples/presign.rs` uses such URLs with plain `reqwest`.
//!
//! # Metrics
//!
//! Each client records Prometheus metrics (`observability/METRICS.md`: operations, attempts,
//! retries, latencies, bytes, breaker state, retry budget, hedges, integrity failures, fallback
//! serves). Register them into your `prometheus-client` registry once and serve its text:
//!
//! ```
//! use prometheus_client::registry::Registry;
//!
//! let client = ossguard::Client::builder()
//!     .endpoint("http://127.0.0.1:9000")
//!     .credentials(ossguard::Credentials::new("ak", "sk"))
//!     .build()?;
//! let mut registry = Registry::default();
//! client.register_metrics(&mut registry);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("ossguard_operations_total"));
//! # Ok::<(), ossguard::Error>(())
//! ```
//!
//! Several clients in one registry: see [`Client::register_metrics`] and [`ClientMetrics`].
//! Each logical operation is also a `tracing` span (`ossguard.op`), and an [`AuditLog`] can
//! write one JSON line per operation. Example: `examples/metrics.rs`.
//!
//! # When OSS is down: the fallback chain
//!
//! A [`Fallback`] wraps a client. Reads go to the primary first; when it fails in a way worth
//! falling back for (transient or throttled errors, the deadline, an open breaker) they are
//! answered by a replica, the local cache (stale copies flagged as such) or a default resource.
//! With a spool, writes that cannot reach OSS are journaled on disk and replayed later. Every
//! answer says where it came from ([`Source`]).
//!
//! ```no_run
//! # async fn demo(client: ossguard::Client) -> Result<(), ossguard::Error> {
//! use std::time::Duration;
//! use ossguard::cache::CacheConfig;
//! use ossguard::fallback::SpoolOptions;
//! use ossguard::{Fallback, Source, WriteOutcome};
//!
//! let chain = Fallback::builder()
//!     .cache("/var/cache/myapp/oss", CacheConfig::default().max_age(Duration::from_secs(30)))
//!     .spool("/var/spool/myapp/oss", SpoolOptions::default())
//!     .build(client)
//!     .await?;
//! let served = chain.get("bucket", "config.json").await?;
//! if let Source::Cache { stale: true, age } = served.source {
//!     eprintln!("OSS is unreachable; serving a copy {age:?} old");
//! }
//! let write = chain.put("bucket", "events/1.json", "{}".into(), Default::default(), None);
//! match write.await? {
//!     WriteOutcome::Stored(_) => {}
//!     WriteOutcome::Spooled(id) => eprintln!("queued as {id:?} until OSS is back"),
//! }
//! # Ok(()) }
//! ```
//!
//! The [`fallback`] module describes the chain in full. Example: `examples/fallback.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod body;
mod client;
mod config;
pub mod credentials;
mod error;
pub mod fallback;
mod file_chunks;
pub mod metrics;
mod ops;
pub mod pipeline;
pub mod transfer;
mod transport;

pub use audit::{AuditConfig, AuditLog};
pub use body::{Body, ByteStream};
pub use client::Client;
pub use config::{ClientBuilder, SignatureVersion};
pub use credentials::{CredentialsProvider, StaticCredentials};
pub use error::{Error, ErrorKind};
pub use fallback::{Fallback, Served, Source, WriteOutcome};
pub use metrics::ClientMetrics;
pub use ops::bucket::{BucketSummary, CreateBucketOptions};
pub use ops::list::{ListObjectsPage, ListOptions, ObjectEntry};
pub use ops::multipart::{
    CompletedPart, ListUploadsOptions, PartCopySource, PartMeta, UploadMarker, UploadMeta,
    UploadsPage,
};
pub use ops::object::{
    CopyOptions, GetObjectOptions, GetObjectOutput, ObjectMeta, PutObjectOptions, PutObjectOutput,
};
/// The cache and spool engines of the fallback chain.
pub use ossguard_cache as cache;
pub use ossguard_proto::auth::Credentials;
pub use ossguard_proto::error::{ErrorClass, ServiceError, TransportFailure};
pub use ossguard_proto::AddressingStyle;
/// The sans-IO policies, for configuring a [`Policy`] in detail.
pub use ossguard_resilience as resilience;
pub use ossguard_resilience::breaker::BreakerState;
pub use ossguard_spool as spool;
pub use pipeline::policy::Policy;
pub use pipeline::state::StatsSnapshot;
pub use transfer::{CopyOutput, Progress, TransferOptions};
