//! Deferred removal of data files that readers still use.
//!
//! A read of a one-file object opens its file under the bucket lock, and the open descriptor
//! keeps the bytes readable after the version is replaced or deleted. A segmented object is read
//! one file at a time instead (opening 10,000 part files up front would run out of descriptors),
//! so its read pins the files: removing a pinned file waits for the last reader to let go.
//!
//! Pins are taken under the bucket lock while the record is current, and files are only removed
//! once their record has left the index, so no pin can appear on a file already removed. A crash
//! loses the deferred removals; the open-time scan removes the then unreferenced files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::durable::remove_quietly;
use super::state::Segment;

#[derive(Debug, Default)]
pub(crate) struct ReadPins {
    files: Mutex<HashMap<PathBuf, Pinned>>,
}

#[derive(Debug)]
struct Pinned {
    readers: usize,
    /// Removed from the store while pinned: the last reader deletes it.
    doomed: bool,
}

impl ReadPins {
    fn files(&self) -> MutexGuard<'_, HashMap<PathBuf, Pinned>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `paths` on disk until the returned pin is dropped.
    pub fn pin(self: &Arc<Self>, paths: Vec<PathBuf>) -> ReadPin {
        let mut files = self.files();
        for path in &paths {
            files
                .entry(path.clone())
                .or_insert(Pinned {
                    readers: 0,
                    doomed: false,
                })
                .readers += 1;
        }
        ReadPin {
            pins: self.clone(),
            paths,
        }
    }

    /// The `segments` of an object in `dir`, as paths with their lengths, kept on disk for as
    /// long as the result lives.
    pub fn pin_segments(self: &Arc<Self>, dir: &Path, segments: &[Segment]) -> PinnedSegments {
        let files: Vec<(PathBuf, u64)> = segments
            .iter()
            .map(|s| (dir.join(&s.file), s.size))
            .collect();
        let pin = self.pin(files.iter().map(|(path, _)| path.clone()).collect());
        PinnedSegments { files, _pin: pin }
    }

    /// Removes `path` now, or when its last reader lets go.
    pub fn remove(&self, path: &Path) {
        let mut files = self.files();
        match files.get_mut(path) {
            Some(pinned) => pinned.doomed = true,
            None => remove_quietly(path),
        }
    }
}

/// A segmented object's files (path, length, in order) and the pin that keeps them.
#[derive(Debug)]
pub(crate) struct PinnedSegments {
    pub files: Vec<(PathBuf, u64)>,
    _pin: ReadPin,
}

/// Files a reader is using; see [`ReadPins`].
#[derive(Debug)]
pub(crate) struct ReadPin {
    pins: Arc<ReadPins>,
    paths: Vec<PathBuf>,
}

impl Drop for ReadPin {
    fn drop(&mut self) {
        let mut files = self.pins.files();
        for path in &self.paths {
            let Some(pinned) = files.get_mut(path) else {
                continue;
            };
            pinned.readers -= 1;
            if pinned.readers == 0 {
                if pinned.doomed {
                    remove_quietly(path);
                }
                files.remove(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_file_goes_with_its_last_reader() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.data"), dir.path().join("b.data"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let pins = Arc::new(ReadPins::default());
        let first = pins.pin(vec![a.clone()]);
        let second = pins.pin(vec![a.clone(), b.clone()]);
        pins.remove(&a);
        drop(first);
        assert!(a.exists(), "a reader still uses it");
        drop(second);
        assert!(!a.exists(), "the last reader removes it");
        assert!(b.exists(), "never removed, so kept");
        pins.remove(&b);
        assert!(!b.exists(), "unpinned files go at once");
        assert!(pins.files().is_empty());
    }
}
