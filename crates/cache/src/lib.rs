//! `ossguard-cache`: the local object cache of ossguard's read fallback chain (DESIGN §7).
//!
//! Whole objects up to `max_entry_bytes`, persistent, bounded by total bytes (LRU), fresh for
//! `max_age`, servable stale for `stale_if_error` when OSS fails, deleted after `ttl`. Every
//! read verifies: the metadata carries its own checksum and the body's CRC-64 is checked over the
//! whole body before a byte is handed out; a bad entry is a miss — removed, counted, never served.
//!
//! ```
//! # fn main() -> Result<(), ossguard_cache::CacheError> {
//! # let dir = tempfile::tempdir().unwrap();
//! use ossguard_cache::{Cache, CacheConfig, FillMeta, Freshness};
//! let cache = Cache::open(dir.path(), CacheConfig::default())?;
//! let meta = FillMeta { size: 5, etag: Some("\"e1\"".into()), ..Default::default() };
//! if let Some(mut fill) = cache.fill("bucket", "key", meta)? {
//!     fill.write(b"hel")?; // as the GET body streams in
//!     fill.write(b"lo")?;
//!     fill.commit()?;
//! }
//! let hit = cache.get("bucket", "key")?.expect("just filled");
//! assert_eq!(hit.freshness(cache.now()), Freshness::Fresh);
//! assert_eq!(&hit.bytes()?[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! # Why a small format of our own
//! - `cacache` verifies integrity on read and writes atomically, but has no eviction and no size
//!   bound (entries live until removed by hand; its index is an append-only log that grows), and
//!   its content-addressed store cannot cheaply answer "which key does this body belong to" for
//!   LRU by bytes. We would rebuild half of a cache around it.
//! - `foyer` is bounded, checksummed and fast, but a hybrid memory/disk engine with its own
//!   runtime, buffer pools and admission policies: heavy for a fallback path that is cold until
//!   OSS is down, and its recovery semantics after kill -9 are not ours to state.
//!
//! Ours is two files per entry, all standard library: an immutable body file and a checksummed
//! metadata file that is the commit point. See `layout.rs` for the directory, `fill.rs` for the
//! write order (temp + fsync + rename, metadata last) and `recover.rs` for what `open` repairs.
//! Durability ordering is not a safety question here: whatever survives a crash is verified on
//! read, so a torn entry is a miss, not a wrong byte.
//!
//! The API is blocking (`std::fs`): call `commit` (fsync) and `open` from `spawn_blocking` in
//! async code.
#![forbid(unsafe_code)]

mod cache;
mod clock;
mod config;
mod error;
mod fill;
mod fsutil;
mod hit;
mod index;
mod layout;
mod meta;
mod recover;
mod stats;

pub use cache::Cache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CacheConfig, Freshness};
pub use error::CacheError;
pub use fill::Filler;
pub use hit::Hit;
pub use meta::{EntryMeta, FillMeta};
pub use stats::{CacheStats, RecoveryReport};

/// Deterministic content for the crash test and its helper binary (not part of the API).
#[doc(hidden)]
pub mod stress {
    /// The key of stress object `i`.
    pub fn key(i: usize) -> String {
        format!("stress/{i:05}")
    }

    /// The body of `key` at version `tag`: 1 B to 48 KiB, bytes derived from both.
    pub fn content(key: &str, tag: &str) -> Vec<u8> {
        let seed = ossguard_proto::crc64::checksum(format!("{tag}\0{key}").as_bytes());
        let mut rng = fastrand::Rng::with_seed(seed);
        let len = rng.usize(1..=48 << 10);
        let mut body = vec![0u8; len];
        rng.fill(&mut body);
        body
    }
}
