//! Opening a cache directory: claim it, clear crash leftovers, rebuild the index from what
//! verifies. Bodies are not read here (CRC-64 is checked on every read); sizes are.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fsutil::{create_dir, remove_quiet, sync_dir, write_new};
use crate::index::Index;
use crate::layout::{self, key_hash, DataFile, Hash, Layout};
use crate::meta::{DiskMeta, MAX_META_FILE};
use crate::{CacheError, RecoveryReport};

/// Makes sure `root` is ours: empty (then marked) or already marked. Refuses anything else, since
/// the cache deletes files it does not recognise as entries.
pub(crate) fn claim(layout: &Layout, durable: bool) -> Result<(), CacheError> {
    let root = &layout.root;
    create_dir(root)?;
    let marker = root.join(layout::MARKER);
    if let Ok(text) = fs::read_to_string(&marker) {
        if text.contains(layout::MARKER_OURS) {
            return Ok(());
        }
    }
    let others = fs::read_dir(root)
        .map_err(|e| CacheError::io("list", root, e))?
        .filter_map(Result::ok)
        .any(|e| e.file_name() != layout::MARKER);
    if others {
        return Err(CacheError::NotACacheDir { path: root.clone() });
    }
    // Only a (possibly torn) marker of ours or nothing: (re)write it.
    remove_quiet(&marker)?;
    write_new(&marker, layout::MARKER_TEXT.as_bytes(), durable)?;
    if durable {
        sync_dir(root)?;
    }
    Ok(())
}

/// Deletes every file in `tmp/` (fills and metadata writes cut short by a crash).
pub(crate) fn wipe_temp(layout: &Layout) -> Result<u64, CacheError> {
    create_dir(&layout.tmp)?;
    let mut removed = 0;
    for entry in fs::read_dir(&layout.tmp).map_err(|e| CacheError::io("list", &layout.tmp, e))? {
        let entry = entry.map_err(|e| CacheError::io("list", &layout.tmp, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            remove_quiet(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

struct Found {
    metas: Vec<(Hash, PathBuf)>,
    /// (hash, generation) → (path, length).
    bodies: HashMap<(Hash, u64), (PathBuf, u64)>,
}

fn scan(layout: &Layout) -> Result<Found, CacheError> {
    create_dir(&layout.data)?;
    let list = |dir: &Path| fs::read_dir(dir).map_err(|e| CacheError::io("list", dir, e));
    let mut found = Found {
        metas: Vec::new(),
        bodies: HashMap::new(),
    };
    for shard in list(&layout.data)? {
        let shard = shard.map_err(|e| CacheError::io("list", &layout.data, e))?;
        if !shard.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        for file in list(&shard.path())? {
            let file = file.map_err(|e| CacheError::io("list", shard.path(), e))?;
            let path = file.path();
            let Some(name) = file.file_name().to_str().and_then(layout::parse_data_file) else {
                continue;
            };
            // Our names in the wrong shard are strangers: lookups would never find them.
            match name {
                DataFile::Meta(h) if layout.meta(&h) == path => found.metas.push((h, path)),
                DataFile::Body(h, g) if layout.body(&h, g) == path => {
                    let len = file
                        .metadata()
                        .map_err(|e| CacheError::io("inspect", &path, e))?
                        .len();
                    found.bodies.insert((h, g), (path, len));
                }
                _ => {}
            }
        }
    }
    Ok(found)
}

pub(crate) fn read_meta(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_META_FILE + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Rebuilds the index from the entries that check out; deletes the rest.
/// Evicts the least recently stored entries beyond `max_bytes` (a smaller limit than last time).
pub(crate) fn rebuild(
    layout: &Layout,
    max_bytes: u64,
    report: &mut RecoveryReport,
) -> Result<Index, CacheError> {
    let found = scan(layout)?;
    let mut kept = Vec::new();
    let mut used = HashSet::new();
    for (h, path) in found.metas {
        let verdict = match read_meta(&path) {
            Ok(bytes) => DiskMeta::decode(&bytes).and_then(|m| {
                let body = found.bodies.get(&(h, m.body));
                if key_hash(&m.entry.bucket, &m.entry.key) != h {
                    Err("metadata names another key".into())
                } else if body.map(|(_, len)| *len) != Some(m.entry.size) {
                    Err("body missing or of the wrong size".into())
                } else {
                    Ok(m)
                }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CacheError::io("read", &path, e)),
        };
        match verdict {
            Ok(m) => {
                used.insert((h, m.body));
                kept.push((h, m));
            }
            Err(_) => {
                remove_quiet(&path)?;
                report.corrupt_discarded += 1;
            }
        }
    }
    for (id, (path, _)) in &found.bodies {
        if !used.contains(id) {
            remove_quiet(path)?;
            report.orphans_removed += 1;
        }
    }
    // LRU order after a restart: oldest stored first (last access is not persisted, to keep
    // hits free of writes).
    kept.sort_by_key(|(_, m)| m.entry.stored_at);
    let mut index = Index::default();
    for (h, m) in kept {
        index.insert(h, m.entry, m.body);
    }
    for (h, slot) in index.evict_to(max_bytes, None) {
        remove_quiet(&layout.meta(&h))?;
        remove_quiet(&layout.body(&h, slot.body))?;
        report.evicted += 1;
    }
    report.entries = index.len() as u64;
    report.bytes = index.bytes();
    Ok(index)
}
