//! Shared helpers: stores on temp folders, deterministic contents, folder walks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ossguard_emulator::store::{
    CreateBucketOptions, ObjectInfo, PutOptions, Store, StoreConfig, StoreError,
};
use tokio::io::AsyncReadExt;

pub const BUCKET: &str = "test-bucket";

/// A settable clock: tests move time by hand.
#[derive(Clone, Default)]
pub struct TestClock(pub Arc<AtomicU64>);

impl TestClock {
    pub fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn config(&self, sync: bool) -> StoreConfig {
        let ms = self.0.clone();
        StoreConfig {
            clock: Arc::new(move || UNIX_EPOCH + Duration::from_millis(ms.load(Ordering::SeqCst))),
            sync,
            ..StoreConfig::default()
        }
    }
}

/// `<tmp>/data` so tests can also check that nothing appears next to the data folder.
pub fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

/// A fresh store with one bucket, fsync on (the real thing).
pub async fn store_with_bucket(tmp: &tempfile::TempDir) -> Store {
    let store = Store::open(data_dir(tmp)).await.unwrap();
    store
        .create_bucket(BUCKET, CreateBucketOptions::default())
        .await
        .unwrap();
    store
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub async fn put(store: &Store, key: &str, data: &[u8]) -> ObjectInfo {
    store
        .put_object(BUCKET, key, data, PutOptions::default())
        .await
        .unwrap()
}

pub async fn read_all(store: &Store, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = store.get_object(bucket, key, None).await?;
    let mut bytes = Vec::new();
    out.body.read_to_end(&mut bytes).await?;
    assert_eq!(
        bytes.len() as u64,
        out.info.size,
        "body length = recorded size"
    );
    Ok(bytes)
}

/// Every file and folder below `root`.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// Files below `root` whose name ends with `suffix`.
pub fn files_ending(root: &Path, suffix: &str) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode_upper(Md5::digest(data))
}
