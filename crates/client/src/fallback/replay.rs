//! The spool's replay target: OSS through this client (its whole pipeline: retries, breaker,
//! CRC-64 of what was sent).

use ossguard_spool::{
    PutCondition, PutResult, ReplayBody, ReplayReport, ReplayTarget, SpoolPut, TargetError,
};

use super::{classify, Failure, Fallback};
use crate::body::Body;
use crate::client::Client;
use crate::error::Error;
use crate::ops::object::PutObjectOptions;

/// The primary, and the cache whose copy of each key it writes is dropped then and there (a
/// replay dropped halfway leaves no written key cached older than OSS).
struct Oss<'a>(&'a Client, Option<&'a ossguard_cache::Cache>);

fn target_error(e: Error) -> TargetError {
    TargetError {
        transient: classify(&e) == Failure::Unavailable,
        message: e.to_string(),
    }
}

impl ReplayTarget for Oss<'_> {
    async fn head_etag(&self, bucket: &str, key: &str) -> Result<Option<String>, TargetError> {
        match self.0.head_object(bucket, key).await {
            Ok(m) => Ok(Some(m.etag)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(target_error(e)),
        }
    }

    async fn put(
        &self,
        put: &SpoolPut,
        body: &ReplayBody,
        condition: PutCondition,
    ) -> Result<PutResult, TargetError> {
        let mut opts = PutObjectOptions {
            content_type: put.content_type.clone(),
            metadata: put.metadata.clone(),
            ..Default::default()
        };
        match condition {
            PutCondition::ForbidOverwrite => opts.forbid_overwrite = true,
            // OSS documents no If-Match on PutObject; the spool checked the ETag with a HEAD.
            PutCondition::IfMatch(_) | PutCondition::None => {}
        }
        let data = Body::from_file_range(body.path(), 0, body.len);
        // Dropped (or failed) once sent, the write may have landed.
        let in_flight = super::StaleOnDrop::arm(self.1, &put.bucket, &put.key);
        let sent = self.0.put_object(&put.bucket, &put.key, data, opts).await;
        drop(in_flight);
        match sent {
            Ok(out) => Ok(PutResult::Stored { etag: out.etag }),
            Err(e) if matches!(e.code(), Some("FileAlreadyExists" | "PreconditionFailed")) => {
                Ok(PutResult::PreconditionFailed)
            }
            Err(e) => Err(target_error(e)),
        }
    }
}

impl Fallback {
    /// Sends the spooled writes to OSS in order (see `ossguard_spool::Spool::replay`): an object
    /// changed on OSS since it was spooled is reported as a conflict and never overwritten; a
    /// failure stops the replay and keeps the rest for the next one. The cached copies of the
    /// replayed keys are dropped. `None` without a spool.
    pub async fn replay(&self) -> Option<ReplayReport> {
        let spool = self.spool()?;
        Some(spool.replay(&Oss(self.primary(), self.cache())).await)
    }
}
