//! The few file-system moves every durable write is built from.
//!
//! The pattern: write a new file under a fresh name, fsync it, fsync its folder, `rename` it over
//! the final name (atomic on POSIX), fsync the folder again. A crash at any point leaves either
//! the old or the new file under the final name, never a mix; leftovers carry names the
//! recovery scan recognises and removes. `sync = false` skips the fsyncs: still atomic against a
//! killed process (the page cache survives), but not against power loss.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::names::random_id;

/// Suffix of in-flight temp files (removed at open).
pub const TEMP_SUFFIX: &str = ".tmp";
/// Suffix of object and part data files.
pub const DATA_SUFFIX: &str = ".data";

/// A fresh, unused path `<dir>/<random><suffix>`.
pub fn fresh_path(dir: &Path, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", random_id()))
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path, sync: bool) -> io::Result<()> {
    if sync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Creates `path` (which must not exist) with `bytes`, fsynced.
pub fn write_new_file(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        remove_quietly(path);
    }
    result
}

/// A new file that is removed when dropped unless [`keep`](Self::keep) was called: cleans up
/// after errors and after futures dropped mid-write (a client that disconnects), alike.
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    keep: bool,
}

impl PendingFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file is now referenced by a committed record.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.keep {
            remove_quietly(&self.path);
        }
    }
}

/// Removes a file, ignoring "already gone" (and other errors: the recovery scan catches leftovers).
pub fn remove_quietly(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Moves a folder out of the live tree with one atomic rename into `trash_dir` (same file
/// system), returning where it went. Make the parent durable, then [`purge`] it; after a crash
/// the remains sit in `trash_dir`, which open empties.
pub fn move_aside(dir: &Path, trash_dir: &Path) -> io::Result<PathBuf> {
    let trash = fresh_path(trash_dir, TEMP_SUFFIX);
    fs::rename(dir, &trash)?;
    Ok(trash)
}

/// Deletes a folder moved aside (errors ignored: open empties the trash anyway).
pub fn purge(trash: &Path) {
    let _ = fs::remove_dir_all(trash);
}
