//! Bucket lifecycle and per-bucket configuration.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::sync::Arc;

use super::commit::commit_file;
use super::durable::{fresh_path, move_aside, purge, sync_dir, write_new_file, TEMP_SUFFIX};
use super::layout::BUCKET_FILE;
use super::state::{Bucket, BucketState};
use super::types::{
    BucketAcl, BucketInfo, BucketTotals, CreateBucketOptions, StorageClass, MIN_BILLED_SIZE,
};
use super::{blocking, validate_bucket_name, Result, Store, StoreError};

impl Store {
    /// Creates a bucket. `BucketAlreadyExists` if the name is taken.
    ///
    /// The bucket folder is assembled under `tmp/` and renamed into `buckets/` in one step, so a
    /// crash never leaves a half-made bucket.
    pub async fn create_bucket(
        &self,
        name: &str,
        options: CreateBucketOptions,
    ) -> Result<BucketInfo> {
        validate_bucket_name(name)?;
        if self.bucket(name).is_ok() {
            return Err(StoreError::BucketAlreadyExists(name.to_owned()));
        }
        let info = BucketInfo {
            name: name.to_owned(),
            acl: options.acl,
            storage_class: options.storage_class,
            created_ms: self.now_ms(),
            location: options
                .location
                .unwrap_or_else(|| self.inner.default_location.clone()),
            cors: None,
            logging: None,
            lifecycle: None,
            tags: Default::default(),
        };
        let this = self.clone();
        let created = info.clone();
        blocking(move || {
            let layout = this.layout();
            let sync = layout.sync;
            let stage = fresh_path(&layout.tmp_dir(), TEMP_SUFFIX);
            let staged = (|| {
                fs::create_dir(&stage)?;
                fs::create_dir(stage.join("objects"))?;
                fs::create_dir(stage.join("uploads"))?;
                write_new_file(
                    &stage.join(BUCKET_FILE),
                    &serde_json::to_vec_pretty(&created)?,
                    sync,
                )?;
                sync_dir(&stage, sync)?;
                Ok::<_, StoreError>(())
            })();
            let committed = staged.and_then(|()| {
                let mut buckets = this
                    .inner
                    .buckets
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                if buckets.contains_key(&created.name) {
                    return Err(StoreError::BucketAlreadyExists(created.name.clone()));
                }
                fs::rename(&stage, layout.bucket_dir(&created.name))?;
                let state = BucketState {
                    info: created.clone(),
                    objects: BTreeMap::new(),
                    uploads: HashMap::new(),
                    removed: false,
                };
                buckets.insert(created.name.clone(), Arc::new(Bucket::new(state)));
                Ok(())
            });
            if let Err(e) = committed {
                let _ = fs::remove_dir_all(&stage);
                return Err(e);
            }
            sync_dir(&layout.buckets_dir(), sync)?;
            Ok(())
        })
        .await?;
        Ok(info)
    }

    /// Deletes an empty bucket: `BucketNotEmpty` while it holds objects or multipart uploads.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let bucket = self.bucket(name)?;
        let this = self.clone();
        blocking(move || {
            let layout = this.layout();
            let trash = {
                let mut buckets = this
                    .inner
                    .buckets
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                let mut state = bucket.lock();
                if state.removed {
                    return Err(StoreError::NoSuchBucket(bucket.name.clone()));
                }
                if !state.objects.is_empty() || !state.uploads.is_empty() {
                    return Err(StoreError::BucketNotEmpty(bucket.name.clone()));
                }
                let trash = move_aside(&layout.bucket_dir(&bucket.name), &layout.tmp_dir())?;
                state.removed = true;
                buckets.remove(&bucket.name);
                trash
            };
            sync_dir(&layout.buckets_dir(), layout.sync)?;
            purge(&trash);
            Ok(())
        })
        .await
    }

    /// All buckets, sorted by name.
    pub async fn list_buckets(&self) -> Vec<BucketInfo> {
        let buckets: Vec<Arc<Bucket>> = self
            .inner
            .buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        buckets.iter().map(|b| b.lock().info.clone()).collect()
    }

    /// One bucket's configuration.
    pub async fn bucket_info(&self, name: &str) -> Result<BucketInfo> {
        Ok(self.bucket(name)?.lock().info.clone())
    }

    /// Sizes and counts of one bucket (GetBucketStat), from the in-memory index.
    pub async fn bucket_totals(&self, name: &str) -> Result<BucketTotals> {
        let bucket = self.bucket(name)?;
        let state = bucket.lock();
        let mut t = BucketTotals::default();
        for record in state.objects.values() {
            let info = &record.info;
            t.bytes += info.size;
            t.objects += 1;
            t.last_modified_ms = t.last_modified_ms.max(info.last_modified_ms);
            let class = info.headers.storage_class;
            let (bytes, count) = &mut t.by_class[class.index()];
            *bytes += info.size;
            *count += 1;
            t.billed_by_class[class.index()] += match class {
                StorageClass::Standard => info.size,
                _ => info.size.max(MIN_BILLED_SIZE),
            };
        }
        t.uploads = state.uploads.len() as u64;
        t.parts = state.uploads.values().map(|u| u.parts.len() as u64).sum();
        Ok(t)
    }

    /// Sets the bucket ACL.
    pub async fn set_bucket_acl(&self, name: &str, acl: BucketAcl) -> Result<BucketInfo> {
        self.update_bucket(name, move |info| info.acl = acl).await
    }

    /// Stores (or with `None` removes) the CORS configuration, kept verbatim.
    pub async fn set_bucket_cors(&self, name: &str, cors: Option<String>) -> Result<BucketInfo> {
        self.update_bucket(name, move |info| info.cors = cors).await
    }

    /// Stores (or with `None` removes) the logging configuration, kept verbatim.
    pub async fn set_bucket_logging(
        &self,
        name: &str,
        logging: Option<String>,
    ) -> Result<BucketInfo> {
        self.update_bucket(name, move |info| info.logging = logging)
            .await
    }

    /// Stores (or with `None` removes) the lifecycle configuration, kept verbatim.
    pub async fn set_bucket_lifecycle(
        &self,
        name: &str,
        lifecycle: Option<String>,
    ) -> Result<BucketInfo> {
        self.update_bucket(name, move |info| info.lifecycle = lifecycle)
            .await
    }

    /// Replaces the bucket's tags (empty: none).
    pub async fn set_bucket_tags(
        &self,
        name: &str,
        tags: std::collections::BTreeMap<String, String>,
    ) -> Result<BucketInfo> {
        self.update_bucket(name, move |info| info.tags = tags).await
    }

    /// Read-modify-write of `bucket.json`, one at a time per bucket.
    async fn update_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut BucketInfo) + Send + 'static,
    ) -> Result<BucketInfo> {
        let bucket = self.bucket(name)?;
        let _config = bucket.config_lock.lock().await;
        let mut info = bucket.lock().info.clone();
        change(&mut info);
        let this = self.clone();
        let b = bucket.clone();
        let updated = info.clone();
        blocking(move || {
            let layout = this.layout();
            let bytes = serde_json::to_vec_pretty(&updated)?;
            commit_file(
                &b,
                &layout.bucket_dir(&b.name),
                BUCKET_FILE,
                &bytes,
                layout.sync,
                |_| Ok(()),
                |state| state.info = updated,
            )
            .and_then(|((), durable)| Ok(durable?))
        })
        .await?;
        Ok(info)
    }
}
