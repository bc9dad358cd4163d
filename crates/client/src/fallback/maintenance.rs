//! Keeping the cache honest while the program runs: the seed's hourly ETag comparison with OSS
//! and its daily clean-up of old entries, as one background task.

use std::time::Duration;

use super::{blocking, local, Fallback};
use crate::error::Error;

/// What one verification pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries compared with OSS.
    pub checked: u64,
    /// Entries removed: the object changed (another ETag) or is gone (404).
    pub dropped: u64,
    /// Entries whose HEAD failed (kept: an outage is when the cache is needed).
    pub unreachable: u64,
}

impl Fallback {
    /// Compares every cached entry's ETag with OSS (HEAD) and drops the ones that changed or
    /// were deleted. An entry refilled meanwhile is left alone; a failed HEAD keeps the entry.
    pub async fn verify_cache(&self) -> Result<VerifyReport, Error> {
        let Some(cache) = self.cache().cloned() else {
            return Ok(VerifyReport::default());
        };
        let entries = {
            let c = cache.clone();
            blocking(move || Ok(c.entries())).await?
        };
        let mut r = VerifyReport::default();
        for e in entries {
            r.checked += 1;
            let current = match self.primary().head_object(&e.bucket, &e.key).await {
                Ok(m) => Some(m.etag),
                Err(err) if err.status() == Some(404) => None,
                Err(_) => {
                    r.unreachable += 1;
                    continue;
                }
            };
            if current.is_some() && current == e.etag {
                continue;
            }
            let c = cache.clone();
            let etag = e.etag.clone();
            let removed = blocking(move || {
                c.remove_if_etag(&e.bucket, &e.key, etag.as_deref())
                    .map_err(|x| local(x.to_string()))
            })
            .await?;
            r.dropped += u64::from(removed);
        }
        Ok(r)
    }

    /// Runs [`Fallback::verify_cache`] every `verify_every` (the seed: hourly) and removes
    /// entries older than the cache's TTL every `clean_every` (the seed: daily) until the handle
    /// is aborted or dropped with the runtime.
    pub fn spawn_maintenance(
        &self,
        verify_every: Duration,
        clean_every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut verify = tokio::time::interval(verify_every);
            let mut clean = tokio::time::interval(clean_every);
            loop {
                tokio::select! {
                    _ = verify.tick() => {
                        let _ = this.verify_cache().await;
                    }
                    _ = clean.tick() => {
                        if let Some(c) = this.cache().cloned() {
                            let _ = blocking(move || c.clean_expired().map_err(|e| local(e.to_string()))).await;
                        }
                    }
                }
            }
        })
    }
}
