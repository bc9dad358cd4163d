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
    let placed = unnamed::write(parent, path, data, sync).is_ok();
    #[cfg(not(target_os = "linux"))]
    let placed = false;
    if !placed {
        via_temp_name(parent, path, data, sync)?;
    }
    if sync {
        super::checkpoint::sync_dir(path);
    }
    Ok(())
}

/// The portable path: a temporary file of its own, renamed over `path`.
fn via_temp_name(parent: &Path, path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let (temp, mut file) = with_parent(parent, || {
        fresh_temp(path, |temp| {
            std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(temp)
        })
    })?;
    let written = write_file(&mut file, data, sync).and_then(|()| {
        drop(file);
        std::fs::rename(&temp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// `data` into `file`, fsynced when `sync`.
fn write_file(file: &mut std::fs::File, data: &[u8], sync: bool) -> io::Result<()> {
    file.write_all(data)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// `make(temp)` for a temporary name next to `path` that no other writer uses: retried with
/// the next name while one exists (a crashed earlier process with the same pid may have left
/// it). Returns the name with what `make` made.
fn fresh_temp<T>(path: &Path, make: impl Fn(&Path) -> io::Result<T>) -> io::Result<(PathBuf, T)> {
    let mut tries = 0;
    loop {
        let temp = unique_temp(path);
        match make(&temp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            r => return r.map(|t| (temp, t)),
        }
    }
}

/// A temporary name next to `path`, unique within this process.
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
            std::fs::create_dir_all(parent).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", parent.display()))
            })?;
            op()
        }
        r => r,
    }
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    use rustix::io::Errno;

    use super::{fresh_temp, with_parent, write_file};

    /// The unnamed-file path could not be used; nothing was left behind.
    #[derive(Debug)]
    pub struct Fallback;

    /// Cleared when this process finds the path unusable (no `O_TMPFILE` on the file system,
    /// no /proc): every later file then goes the portable way at once instead of being
    /// written twice.
    static USABLE: AtomicBool = AtomicBool::new(true);

    /// `data` into an unnamed file in `parent`, linked as `path` (or, if `path` exists, linked
    /// under a unique temporary name and renamed over it).
    pub fn write(parent: &Path, path: &Path, data: &[u8], sync: bool) -> Result<(), Fallback> {
        if !USABLE.load(Ordering::Relaxed) {
            return Err(Fallback);
        }
        let unusable = || {
            USABLE.store(false, Ordering::Relaxed);
            Fallback
        };
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
        let file = with_parent(parent, open).map_err(|e| match Errno::from_io_error(&e) {
            Some(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => unusable(),
            _ => Fallback,
        })?;
        let mut file = std::fs::File::from(file);
        write_file(&mut file, data, sync).map_err(|_| Fallback)?;
        let link = |to: &Path| link_unnamed(&file, to);
        match link(path) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let (temp, ()) =
                    fresh_temp(path, |t| link(t).map_err(io::Error::from)).map_err(|_| Fallback)?;
                std::fs::rename(&temp, path).map_err(|_| {
                    let _ = std::fs::remove_file(&temp);
                    Fallback
                })
            }
            // No /proc (or no link through it): not worth trying again.
            Err(Errno::NOENT | Errno::PERM | Errno::XDEV) => Err(unusable()),
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

    /// Where the file system has `O_TMPFILE` (ext4, xfs, btrfs, tmpfs) the fast path works.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_unnamed_file_path_works_here() {
        let dir = tempfile::tempdir().unwrap();
        let flags = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::TMPFILE;
        if let Err(e) = rustix::fs::open(dir.path(), flags, rustix::fs::Mode::from_raw_mode(0o600))
        {
            eprintln!(
                "{}: no O_TMPFILE here ({e}); the portable path is tested",
                dir.path().display()
            );
            return;
        }
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
    fn a_temporary_file_left_by_an_earlier_process_is_stepped_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // What a crashed process with our pid left: the next names this one would pick.
        let next = unique_temp(&path);
        let seq = |p: &Path| -> u64 {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.split('-')
                .nth(1)
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        for k in 1..=3 {
            let name = format!("f.{}-{}{TEMP_SUFFIX}", std::process::id(), seq(&next) + k);
            std::fs::write(dir.path().join(name), b"old").unwrap();
        }
        via_temp_name(dir.path(), &path, b"new", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            names(dir.path()).len(),
            4,
            "the leftovers are someone else's"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_parent_that_cannot_be_created_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        // A dangling link on the way: the open says "not found", creating the parent fails.
        std::os::unix::fs::symlink(dir.path().join("gone/deeper"), dir.path().join("link"))
            .unwrap();
        for write in both_paths() {
            let e = write(&dir.path().join("link/sub/x"), b"x", false).unwrap_err();
            assert!(
                e.to_string().contains("creating ") && e.to_string().contains("link/sub"),
                "{e}"
            );
        }
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
