//! The commit step every durable change goes through, and the object-level wrapper.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::OwnedMutexGuard;

use super::durable::{
    fresh_path, remove_quietly, sync_dir, write_new_file, PendingFile, TEMP_SUFFIX,
};
use super::names::record_file_name;
use super::state::{Bucket, BucketState, ObjectRecord};
use super::types::ObjectInfo;
use super::{blocking, Result, Store, StoreError};

/// What a commit carries until it is done: the new data files (removed unless committed) and the
/// key lock of a read-modify-write (released only after the commit).
#[derive(Debug, Default)]
pub(crate) struct CommitHold {
    pub new_data: Vec<PendingFile>,
    pub key_lock: Option<OwnedMutexGuard<()>>,
}

impl Store {
    /// [`commit_object_blocking`](Self::commit_object_blocking) on the blocking pool. Once
    /// started it runs to the end even if this future is dropped; `hold` goes with it.
    pub(crate) async fn commit_object(
        &self,
        bucket: Arc<Bucket>,
        record: ObjectRecord,
        hold: CommitHold,
        check: impl FnOnce(Option<&ObjectRecord>) -> Result<()> + Send + 'static,
    ) -> Result<ObjectInfo> {
        let this = self.clone();
        blocking(move || this.commit_object_blocking(&bucket, record, hold, check)).await
    }

    /// Makes `record` the current version of its key (see [`commit_file`]), then deletes the
    /// replaced version's data file.
    pub(crate) fn commit_object_blocking(
        &self,
        bucket: &Bucket,
        record: ObjectRecord,
        hold: CommitHold,
        check: impl FnOnce(Option<&ObjectRecord>) -> Result<()>,
    ) -> Result<ObjectInfo> {
        let layout = self.layout();
        let dir = layout.objects_dir(&bucket.name);
        let key = record.info.key.clone();
        let info = record.info.clone();
        let new_files: Vec<String> = record.data_files().map(str::to_owned).collect();
        let bytes = serde_json::to_vec_pretty(&record)?;
        let (replaced, durable) = commit_file(
            bucket,
            &dir,
            &record_file_name(&key),
            &bytes,
            layout.sync,
            |state| check(state.objects.get(&key)),
            |state| state.objects.insert(key.clone(), record),
        )?;
        let CommitHold { new_data, key_lock } = hold;
        for data in new_data {
            data.keep();
        }
        durable?;
        // Only now may the old version go: had the rename not been durable, a crash could bring
        // back the old record without its data.
        if let Some(old) = replaced {
            for file in old
                .data_files()
                .filter(|f| !new_files.iter().any(|n| n == f))
            {
                self.remove_data(&dir.join(file));
            }
        }
        drop(key_lock); // explicit: the read-modify-write ends here, not earlier
        Ok(info)
    }
}

/// An I/O error seen by a writer whose bucket was deleted meanwhile is really `NoSuchBucket`.
pub(crate) fn explain_io(bucket: &Bucket, e: std::io::Error) -> StoreError {
    if bucket.lock().removed {
        StoreError::NoSuchBucket(bucket.name.clone())
    } else {
        StoreError::Io(e)
    }
}

/// The commit step shared by every durable change: write `bytes` as a temp file in `dir`, fsync
/// it and `dir` (which also makes any data file created in `dir` durable), then, under the
/// bucket lock, run `check`, `rename` the temp file to `dir/name` (the commit point) and `apply`
/// the change to the index; finally fsync `dir` so the rename itself is durable.
///
/// Renames and index updates happen in the same order because both happen under the lock, so
/// the index always mirrors the disk. If the change is not committed, the temp file is removed
/// (the caller's `PendingFile` takes care of its data). Once committed, the value of `apply`
/// comes back with the outcome of the last fsync: an error there means the change is visible
/// but may not survive a power cut, and the caller must still treat it as committed.
pub(crate) fn commit_file<T>(
    bucket: &Bucket,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: bool,
    check: impl FnOnce(&BucketState) -> Result<()>,
    apply: impl FnOnce(&mut BucketState) -> T,
) -> Result<(T, std::io::Result<()>)> {
    let tmp = fresh_path(dir, TEMP_SUFFIX);
    let committed = write_new_file(&tmp, bytes, sync)
        .and_then(|()| sync_dir(dir, sync))
        .map_err(|e| explain_io(bucket, e))
        .and_then(|()| {
            let mut state = bucket.lock();
            if state.removed {
                return Err(StoreError::NoSuchBucket(bucket.name.clone()));
            }
            check(&state)?;
            std::fs::rename(&tmp, dir.join(name))?;
            Ok(apply(&mut state))
        });
    match committed {
        Ok(value) => Ok((value, sync_dir(dir, sync))),
        Err(e) => {
            remove_quietly(&tmp);
            Err(e)
        }
    }
}
