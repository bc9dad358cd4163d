//! Whole small files put in place atomically: a reader sees the old file or the complete new
//! one, never a part, and a killed process leaves no partial file under the destination's name.
//!
//! On Linux the bytes go into an unnamed file (`O_TMPFILE`) that is linked under the
//! destination's name once written: for a new destination that is one directory entry added,
//! where a named temporary file and a rename add two and remove one (`cp -r` of 10,000 4 KiB
//! objects spent a third of its time in ext4's directory code). An existing destination, or a
//! file system without `O_TMPFILE`, takes the portable path: a temporary file of its own
//! (`<name>.<pid>-<n>.ossguard-tmp`, created exclusively, so two writers of one destination
//! never share one), renamed over the destination.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::download::TEMP_SUFFIX;

/// Writes `data` to `path` atomically (blocking), fsyncing the file and then the directory
/// when `sync`. `path`'s parent is created if missing.
pub(crate) fn write_atomically(path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let parent = parent_of(path)?;
    #[cfg(target_os = "linux")]
    if unnamed::write(parent, path, data, sync).is_ok() {
        return finish(path, sync);
    }
    via_temp_name(parent, path, data, sync)
}

/// The portable path: a temporary file of its own, renamed over `path`.
fn via_temp_name(parent: &Path, path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let temp = unique_temp(path);
    let written = with_parent(parent, || {
        std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
    })
    .and_then(|mut file| {
        file.write_all(data)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    })
    .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    finish(path, sync)
}

/// A temporary name next to `path` that no other writer uses.
fn unique_temp(path: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}-{seq}{TEMP_SUFFIX}", std::process::id()));
    path.with_file_name(name)
}

fn parent_of(path: &Path) -> io::Result<&Path> {
    match (path.parent(), path.file_name()) {
        (Some(p), Some(_)) => Ok(if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )),
    }
}

/// `op`, retried once after creating `parent` if it failed for want of it.
fn with_parent<T>(parent: &Path, op: impl Fn() -> io::Result<T>) -> io::Result<T> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(parent)?;
            op()
        }
        r => r,
    }
}

fn finish(path: &Path, sync: bool) -> io::Result<()> {
    if sync {
        super::checkpoint::sync_dir(path);
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::io::{self, Write};
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    use rustix::io::Errno;

    use super::{unique_temp, with_parent};

    /// The unnamed-file path could not be used; nothing was left behind.
    #[derive(Debug)]
    pub struct Fallback;

    /// `data` into an unnamed file in `parent`, linked as `path` (or, if `path` exists, linked
    /// under a unique temporary name and renamed over it).
    pub fn write(parent: &Path, path: &Path, data: &[u8], sync: bool) -> Result<(), Fallback> {
        let open = || {
            rustix::fs::open(
                parent,
                OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            )
            .map_err(io::Error::from)
        };
        // Any failure before the link leaves nothing on disk: the portable path then reports
        // the real error (a full disk, a read-only directory) if it has the same trouble.
        let mut file = std::fs::File::from(with_parent(parent, open).map_err(|_| Fallback)?);
        file.write_all(data).map_err(|_| Fallback)?;
        if sync {
            file.sync_all().map_err(|_| Fallback)?;
        }
        let link = |to: &Path| link_unnamed(&file, to);
        match link(path) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let temp = unique_temp(path);
                link(&temp).map_err(|_| Fallback)?;
                std::fs::rename(&temp, path).map_err(|_| {
                    let _ = std::fs::remove_file(&temp);
                    Fallback
                })
            }
            Err(_) => Err(Fallback),
        }
    }

    /// Linking by descriptor (`AT_EMPTY_PATH`) needs `CAP_DAC_READ_SEARCH` before Linux 6.10;
    /// the file's /proc/self/fd link does not (and measured no slower on 6.18).
    fn link_unnamed(file: &std::fs::File, to: &Path) -> rustix::io::Result<()> {
        rustix::fs::linkat(
            CWD,
            format!("/proc/self/fd/{}", file.as_raw_fd()),
            CWD,
            to,
            AtFlags::SYMLINK_FOLLOW,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    type Write = fn(&Path, &[u8], bool) -> io::Result<()>;

    /// The entry point and, on its own, the portable path (which Linux takes only when the
    /// unnamed-file path fails).
    fn both_paths() -> [Write; 2] {
        [write_atomically, |path, data, sync| {
            via_temp_name(parent_of(path)?, path, data, sync)
        }]
    }

    #[test]
    fn new_and_existing_destinations_get_the_bytes_and_nothing_else_is_left() {
        for write in both_paths() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a/b/file");
            for (data, sync) in [
                (&b"first"[..], false),
                (b"second, longer", true),
                (b"", false),
            ] {
                write(&path, data, sync).unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), data);
                assert_eq!(names(&dir.path().join("a/b")), ["file"]);
            }
        }
    }

    #[test]
    fn a_directory_in_the_way_is_an_error_and_leaves_no_temporary_file() {
        for write in both_paths() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("taken");
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("inside"), b"kept").unwrap();
            assert!(write(&path, b"x", false).is_err());
            assert_eq!(names(dir.path()), ["taken"]);
            assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_new_file_gets_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        for write in both_paths() {
            let dir = tempfile::tempdir().unwrap();
            let (ours, usual) = (dir.path().join("ours"), dir.path().join("usual"));
            write(&ours, b"x", false).unwrap();
            std::fs::write(&usual, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&ours), mode(&usual));
        }
    }

    /// Where this runs (ext4 or tmpfs under /tmp) the fast path is the one taken.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_unnamed_file_path_works_here() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for data in [&b"new"[..], b"replaced"] {
            unnamed::write(dir.path(), &path, data, false).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data);
            assert_eq!(names(dir.path()), ["f"]);
        }
    }

    #[test]
    fn no_file_name_is_an_error() {
        assert_eq!(
            write_atomically(Path::new("/"), b"x", false)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn temporary_names_are_unique_and_skipped_by_listings() {
        let p = Path::new("/d/name");
        let (a, b) = (unique_temp(p), unique_temp(p));
        assert_ne!(a, b);
        for t in [a, b] {
            assert!(t.to_str().unwrap().ends_with(TEMP_SUFFIX));
            assert_eq!(t.parent(), p.parent());
        }
    }
}
