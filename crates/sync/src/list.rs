//! The listings, as streams sorted by relative path (byte order): a local directory walked on a
//! blocking thread, an OSS prefix page by page. Neither holds more than one directory or one
//! page (1000 keys) at a time, plus a bounded channel.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use futures_util::{Stream, TryStreamExt};
use ossguard::transfer::TEMP_SUFFIX;
use ossguard::{Client, ListOptions};

use crate::model::{Entry, SyncError};

/// One item of a listing.
#[derive(Debug)]
pub(crate) enum Listed {
    Entry(Entry),
    /// Cannot take part (not UTF-8, unreadable); the path as well as it can be named.
    Unusable {
        name: String,
        why: String,
    },
}

pub(crate) type Listing = Pin<Box<dyn Stream<Item = Result<Listed, SyncError>> + Send>>;

/// Entries handed from the walking thread at once, at most.
const CHANNEL: usize = 1024;

/// Sorts a directory's entries so the walk yields full relative paths in byte order: a
/// directory sorts as its name followed by `/` (so `a-b` < `a/…` < `a0`).
fn walk_order(a: &walkdir::DirEntry, b: &walkdir::DirEntry) -> Ordering {
    fn key(e: &walkdir::DirEntry) -> Vec<u8> {
        let mut k = e.file_name().as_encoded_bytes().to_vec();
        // A symlink's own type is what walkdir sorts by; ask where it leads.
        let dir = e.file_type().is_dir() || (e.path_is_symlink() && e.path().is_dir());
        if dir {
            k.push(b'/');
        }
        k
    }
    key(a).cmp(&key(b))
}

/// The `/`-joined relative path, when every component is UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for c in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(c.as_os_str().to_str()?);
    }
    Some(out)
}

fn walk(root: &Path, tx: &tokio::sync::mpsc::Sender<Result<Listed, SyncError>>) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .min_depth(1)
        .sort_by(walk_order);
    for item in walker {
        let listed = match item {
            Err(e) => Listed::Unusable {
                name: e
                    .path()
                    .and_then(|p| relative(root, p))
                    .unwrap_or_else(|| root.display().to_string()),
                why: e.to_string(),
            },
            Ok(d) if d.file_type().is_dir() => continue,
            Ok(d) => match relative(root, d.path()) {
                None => Listed::Unusable {
                    name: d.path().display().to_string(),
                    why: "the name is not UTF-8 and cannot be an object key".into(),
                },
                // Our own unfinished downloads.
                Some(rel) if rel.ends_with(TEMP_SUFFIX) => continue,
                Some(rel) if !d.file_type().is_file() => Listed::Unusable {
                    name: rel,
                    why: "not a regular file".into(),
                },
                Some(rel) => match d.metadata() {
                    Err(e) => Listed::Unusable {
                        name: rel,
                        why: e.to_string(),
                    },
                    Ok(m) => Listed::Entry(Entry {
                        rel,
                        size: m.len(),
                        mtime: m.modified().ok(),
                        crc64: None,
                        etag: None,
                    }),
                },
            },
        };
        if tx.blocking_send(Ok(listed)).is_err() {
            return; // The sync stopped reading.
        }
    }
}

/// The files under `root` (which must be a directory; symlinks followed, temporary download
/// files left out).
pub(crate) fn local(root: PathBuf) -> Listing {
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    tokio::task::spawn_blocking(move || walk(&root, &tx));
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// The objects under `prefix` (directory markers, keys ending with `/`, left out).
pub(crate) fn oss(client: &Client, bucket: &str, prefix: &str) -> Listing {
    let location = format!("oss://{bucket}/{prefix}");
    let strip = prefix.len();
    let pages = client.list_objects(
        bucket,
        ListOptions {
            prefix: prefix.to_owned(),
            ..Default::default()
        },
    );
    Box::pin(
        pages
            .map_err(move |source| SyncError::List {
                location: location.clone(),
                source,
            })
            .map_ok(move |page| {
                futures_util::stream::iter(page.objects.into_iter().filter_map(move |o| {
                    let rel = o.key.get(strip..)?;
                    if rel.is_empty() || rel.ends_with('/') {
                        return None;
                    }
                    Some(Ok(Listed::Entry(Entry {
                        rel: rel.to_owned(),
                        size: o.size,
                        mtime: o.last_modified,
                        crc64: None,
                        etag: Some(o.etag),
                    })))
                }))
            })
            .try_flatten(),
    )
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn local_walk_is_in_byte_order_with_unicode_and_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "a-b",
            "a/b",
            "a/c/d",
            "a0",
            "z",
            "é/ü.txt",
            "日本/語",
            "x.ossguard-tmp",
        ];
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/dir")).unwrap();
        let got: Vec<String> = local(dir.path().to_path_buf())
            .map(|r| match r.unwrap() {
                Listed::Entry(e) => {
                    assert_eq!(e.size, e.rel.len() as u64);
                    assert!(e.mtime.is_some());
                    e.rel
                }
                Listed::Unusable { name, why } => panic!("{name}: {why}"),
            })
            .collect()
            .await;
        let mut want: Vec<String> = files[..7].iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "byte order, temp files and directories left out");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn local_symlinks_to_directories_sort_as_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/f"), "x").unwrap();
        std::fs::write(dir.path().join("l-x"), "y").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("l")).unwrap();
        let got: Vec<String> = local(dir.path().to_path_buf())
            .filter_map(|r| async move {
                match r.unwrap() {
                    Listed::Entry(e) => Some(e.rel),
                    Listed::Unusable { .. } => None,
                }
            })
            .collect()
            .await;
        assert_eq!(got, ["l-x", "l/f", "real/f"]);
    }
}
