//! Replay: pending entries in sequence order to a [`ReplayTarget`], with conflict detection.

use std::sync::atomic::Ordering;

use crate::fsio;
use crate::model::{
    Conflict, ConflictReason, EntryState, Expect, Quarantined, ReplayError, ReplayReport,
    ReplayStop, Replayed, SpoolId,
};
use crate::record::Record;
use crate::spool::{remove_entry, Inner, Spool};
use crate::target::{PutCondition, PutResult, ReplayBody, ReplayTarget, TargetError};

impl From<TargetError> for ReplayError {
    fn from(e: TargetError) -> Self {
        ReplayError::Target(e)
    }
}

impl From<crate::SpoolError> for ReplayError {
    fn from(e: crate::SpoolError) -> Self {
        ReplayError::Spool(e)
    }
}

/// What OSS answers told us about one entry.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Landed { etag: String, already_present: bool },
    Conflict(ConflictReason),
}

enum Step {
    Replayed(Replayed),
    Conflict(Conflict),
    Quarantined(Quarantined),
}

/// ETags compared as OSS spells them in different places: quotes and case do not matter.
pub(crate) fn etag_eq(a: &str, b: &str) -> bool {
    fn bare(e: &str) -> &str {
        let e = e.trim();
        e.strip_prefix("W/").unwrap_or(e).trim_matches('"')
    }
    bare(a).eq_ignore_ascii_case(bare(b))
}

/// Clears `replaying` and the in-flight mark, also when the replay future is dropped.
struct Running<'a>(&'a Inner);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight = None;
        self.0.replaying.store(false, Ordering::Release);
    }
}

impl Spool {
    /// Replays pending entries in sequence order. For each: the conflict check of its
    /// [`Expect`] (crate docs), the PUT, and — only after OSS confirmed it stored — removal
    /// from disk. A conflict is persisted (state `Conflict`), reported, and not retried; later
    /// entries of that key become conflicts too. Any target error stops the replay there (a
    /// later write must not land first): that entry and all after it stay pending for the
    /// next call. Cancel-safe: dropping the future leaves every unconfirmed entry pending.
    pub async fn replay<T: ReplayTarget>(&self, target: &T) -> ReplayReport {
        let mut report = ReplayReport::default();
        if self.inner.replaying.swap(true, Ordering::AcqRel) {
            report.stopped = Some(ReplayStop {
                id: None,
                error: ReplayError::AlreadyRunning,
            });
            return report;
        }
        let _running = Running(&self.inner);
        let mut cursor = 0u64;
        while let Some((rec, blocker)) = self.next_pending(cursor) {
            cursor = rec.seq + 1;
            match self.replay_one(target, &rec, blocker).await {
                Ok(Step::Replayed(r)) => report.replayed.push(r),
                Ok(Step::Conflict(c)) => report.conflicts.push(c),
                Ok(Step::Quarantined(q)) => report.quarantined.push(q),
                Err(error) => {
                    report.stopped = Some(ReplayStop {
                        id: Some(SpoolId(rec.seq)),
                        error,
                    });
                    break;
                }
            }
        }
        report
    }

    /// The first pending entry at or after `cursor`, marked in flight, and the earliest entry
    /// of the same key in conflict before it, if any.
    fn next_pending(&self, cursor: u64) -> Option<(Record, Option<u64>)> {
        let mut s = self.inner.lock();
        let rec = s
            .records
            .range(cursor..)
            .map(|(_, r)| r)
            .find(|r| r.state == EntryState::Pending)?
            .clone();
        let blocker = s
            .records
            .range(..rec.seq)
            .map(|(_, r)| r)
            .find(|r| r.same_key(&rec) && matches!(r.state, EntryState::Conflict { .. }))
            .map(|r| r.seq);
        s.in_flight = Some(rec.seq);
        Some((rec, blocker))
    }

    async fn replay_one<T: ReplayTarget>(
        &self,
        target: &T,
        rec: &Record,
        blocker: Option<u64>,
    ) -> Result<Step, ReplayError> {
        if let Some(seq) = blocker {
            return self
                .conflict(rec, ConflictReason::EarlierConflict { seq })
                .await;
        }
        let body = ReplayBody {
            path: self.inner.entries.join(fsio::body_name(rec.seq)),
            len: rec.size,
            crc64: rec.crc64,
            md5: md5_bytes(&rec.md5),
        };
        let (path, len, crc) = (body.path.clone(), body.len, body.crc64);
        let checked = tokio::task::spawn_blocking(move || fsio::verify_body(&path, len, crc))
            .await
            .expect("body verification does not panic");
        if let Err(reason) = checked {
            return self.quarantine(rec, reason).await;
        }
        match self.verdict(target, rec, &body).await? {
            Verdict::Landed {
                etag,
                already_present,
            } => self.landed(rec, etag, already_present).await,
            Verdict::Conflict(reason) => self.conflict(rec, reason).await,
        }
    }

    /// Talks to OSS. A HEAD that finds exactly our bytes (ETag = MD5 of the body, as OSS sets
    /// it for a simple PUT) means an earlier replay landed and crashed before removing the
    /// entry: nothing is sent again.
    async fn verdict<T: ReplayTarget>(
        &self,
        target: &T,
        rec: &Record,
        body: &ReplayBody,
    ) -> Result<Verdict, ReplayError> {
        let (bucket, key) = (rec.put.bucket.as_str(), rec.put.key.as_str());
        let ours = |etag: &str| etag_eq(etag, &rec.md5);
        let landed = |etag: String, already_present| Verdict::Landed {
            etag,
            already_present,
        };
        Ok(match rec.expect() {
            Expect::Absent => match target
                .put(&rec.put, body, PutCondition::ForbidOverwrite)
                .await?
            {
                PutResult::Stored { etag } => landed(etag, false),
                PutResult::PreconditionFailed => match target.head_etag(bucket, key).await? {
                    Some(etag) if ours(&etag) => landed(etag, true),
                    etag => Verdict::Conflict(ConflictReason::Exists { etag }),
                },
            },
            Expect::ETag(expected) => match target.head_etag(bucket, key).await? {
                Some(found) if etag_eq(&found, &expected) => {
                    let condition = match self.inner.opts.send_if_match {
                        true => PutCondition::IfMatch(expected.clone()),
                        false => PutCondition::None,
                    };
                    match target.put(&rec.put, body, condition).await? {
                        PutResult::Stored { etag } => landed(etag, false),
                        PutResult::PreconditionFailed => {
                            match target.head_etag(bucket, key).await? {
                                Some(etag) if ours(&etag) => landed(etag, true),
                                found => {
                                    Verdict::Conflict(ConflictReason::Changed { expected, found })
                                }
                            }
                        }
                    }
                }
                Some(found) if ours(&found) => landed(found, true),
                found => Verdict::Conflict(ConflictReason::Changed { expected, found }),
            },
            Expect::Unknown => match target.put(&rec.put, body, PutCondition::None).await? {
                PutResult::Stored { etag } => landed(etag, false),
                PutResult::PreconditionFailed => {
                    return Err(TargetError::permanent(
                        "the target answered an unconditional PUT with 'precondition failed'",
                    )
                    .into())
                }
            },
        })
    }

    /// OSS confirmed: hand the new ETag to the next spooled write of the key (durably, before
    /// this entry goes), then remove the entry.
    async fn landed(
        &self,
        rec: &Record,
        etag: String,
        already_present: bool,
    ) -> Result<Step, ReplayError> {
        let inner = self.inner.clone();
        let seq = rec.seq;
        let base = etag.clone();
        blocking(move || {
            let mut s = inner.lock();
            let me = s.records.get(&seq).cloned();
            let next = me.and_then(|me| {
                s.records
                    .range(seq + 1..)
                    .map(|(_, r)| r)
                    .find(|r| r.same_key(&me))
                    .filter(|r| r.state == EntryState::Pending)
                    .cloned()
            });
            if let Some(mut next) = next {
                next.base = Some(base);
                fsio::write_replace(&inner.entries, &fsio::rec_name(next.seq), &next.encode())?;
                fsio::sync_dir(&inner.entries)?;
                s.records.insert(next.seq, next);
            }
            remove_entry(&inner, seq)?;
            s.records.remove(&seq);
            s.replayed += 1;
            Ok(())
        })
        .await?;
        Ok(Step::Replayed(Replayed {
            id: SpoolId(rec.seq),
            bucket: rec.put.bucket.clone(),
            key: rec.put.key.clone(),
            etag,
            already_present,
        }))
    }

    async fn conflict(&self, rec: &Record, reason: ConflictReason) -> Result<Step, ReplayError> {
        let inner = self.inner.clone();
        let mut updated = rec.clone();
        updated.state = EntryState::Conflict {
            reason: reason.clone(),
        };
        blocking(move || {
            let mut s = inner.lock();
            fsio::write_replace(
                &inner.entries,
                &fsio::rec_name(updated.seq),
                &updated.encode(),
            )?;
            fsio::sync_dir(&inner.entries)?;
            s.records.insert(updated.seq, updated);
            s.conflicts += 1;
            Ok(())
        })
        .await?;
        Ok(Step::Conflict(Conflict {
            id: SpoolId(rec.seq),
            bucket: rec.put.bucket.clone(),
            key: rec.put.key.clone(),
            reason,
        }))
    }

    async fn quarantine(&self, rec: &Record, reason: String) -> Result<Step, ReplayError> {
        let inner = self.inner.clone();
        let seq = rec.seq;
        let why = reason.clone();
        blocking(move || {
            let mut s = inner.lock();
            fsio::quarantine(&inner.entries, &inner.quarantine, seq, &why)?;
            s.records.remove(&seq);
            s.quarantined += 1;
            Ok(())
        })
        .await?;
        Ok(Step::Quarantined(Quarantined {
            id: Some(SpoolId(seq)),
            reason,
        }))
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<(), crate::SpoolError> + Send + 'static,
) -> Result<(), crate::SpoolError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("spool disk steps do not panic")
}

fn md5_bytes(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_without_quotes_or_case() {
        assert!(etag_eq("\"ABCDEF\"", "abcdef"));
        assert!(etag_eq("W/\"ab\"", "\"AB\""));
        assert!(!etag_eq("\"ab\"", "\"abc\""));
    }

    #[test]
    fn md5_hex_round_trip() {
        let raw: [u8; 16] = std::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(md5_bytes(&crate::record::hex(&raw)), raw);
    }
}
