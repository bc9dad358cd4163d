//! `ossguard`: an async client for Alibaba Cloud OSS that keeps working on bad networks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ossguard::Error> {
//! let client = ossguard::Client::builder()
//!     .endpoint("http://127.0.0.1:9000")
//!     .credentials_from_env()
//!     .build()?;
//! client.put_object("bucket", "key", "hello".into(), Default::default()).await?;
//! let bytes = client.get_object("bucket", "key", Default::default()).await?.bytes().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod audit;
mod body;
mod client;
mod config;
pub mod credentials;
mod error;
pub mod fallback;
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
pub use ops::multipart::{CompletedPart, PartMeta, UploadMeta};
pub use ops::object::{
    CopyOptions, GetObjectOptions, GetObjectOutput, ObjectMeta, PutObjectOptions, PutObjectOutput,
};
/// The cache and spool engines of the fallback chain.
pub use ossguard_cache as cache;
pub use ossguard_proto::auth::Credentials;
pub use ossguard_proto::error::ErrorClass;
pub use ossguard_proto::AddressingStyle;
/// The sans-IO policies, for configuring a [`Policy`] in detail.
pub use ossguard_resilience as resilience;
pub use ossguard_resilience::breaker::BreakerState;
pub use ossguard_spool as spool;
pub use pipeline::policy::Policy;
pub use pipeline::state::StatsSnapshot;
pub use transfer::{Progress, TransferOptions};
