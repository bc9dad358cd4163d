//! Helpers shared by the cache's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ossguard_cache::FillMeta;

/// Every regular file under `dir`, recursively (bounded depth: our layout is 3 levels).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        assert!(depth < 8, "unexpectedly deep tree at {}", dir.display());
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), depth + 1, out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.sort();
    out
}

pub fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

pub fn meta_for(body: &[u8], etag: &str) -> FillMeta {
    FillMeta {
        etag: Some(etag.into()),
        size: body.len() as u64,
        crc64: Some(ossguard_proto::crc64::checksum(body)),
        content_type: Some("application/octet-stream".into()),
        ..Default::default()
    }
}

/// Deterministic body of `len` bytes for `seed`.
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut b = vec![0u8; len];
    rng.fill(&mut b);
    b
}
