//! Crash recovery at open: keep what verifies, remove what was never acknowledged, quarantine
//! what is damaged.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::error::{IoContext, SpoolError};
use crate::fsio::{self, PART};
use crate::model::{Quarantined, RecoveryReport, SpoolId};
use crate::record::{Record, MAX_RECORD_BYTES};

/// Scans `entries`. Every record left has a checksum-valid record and a body of the recorded
/// length (and CRC-64 when `verify_bodies`).
pub(crate) fn recover(
    entries: &Path,
    quarantine: &Path,
    verify_bodies: bool,
) -> Result<(BTreeMap<u64, Record>, RecoveryReport), SpoolError> {
    let mut report = RecoveryReport::default();
    let mut recs = BTreeSet::new();
    let mut bodies = BTreeSet::new();
    for item in fs::read_dir(entries).ctx("list", entries)? {
        let item = item.ctx("list", entries)?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(PART) {
            // A temporary file: its write never reached the rename, so never acknowledged.
            fsio::remove_if_exists(&item.path())?;
            report.temp_removed += 1;
            continue;
        }
        match fsio::parse_name(&name) {
            Some((seq, true)) => {
                recs.insert(seq);
            }
            Some((seq, false)) => {
                bodies.insert(seq);
            }
            None => report.unknown_files.push(name),
        }
    }

    let mut records = BTreeMap::new();
    for &seq in &recs {
        match load(entries, seq, verify_bodies) {
            Ok(rec) => {
                records.insert(seq, rec);
            }
            Err(reason) => {
                fsio::quarantine(entries, quarantine, seq, &reason)?;
                report.quarantined.push(Quarantined {
                    id: Some(SpoolId(seq)),
                    reason,
                });
            }
        }
    }
    for seq in bodies.difference(&recs) {
        // The body was renamed into place but its record never was: not acknowledged.
        fsio::remove_if_exists(&entries.join(fsio::body_name(*seq)))?;
        report.orphans_removed += 1;
    }
    if report.temp_removed + report.orphans_removed > 0 {
        fsio::sync_dir(entries)?;
    }
    report.recovered = records.len();
    Ok((records, report))
}

/// One entry, fully checked. `Err` is the quarantine reason.
fn load(entries: &Path, seq: u64, verify_body: bool) -> Result<Record, String> {
    let path = entries.join(fsio::rec_name(seq));
    let meta = fs::metadata(&path).map_err(|e| format!("record unreadable: {e}"))?;
    if meta.len() > MAX_RECORD_BYTES as u64 {
        return Err(format!("record is {} bytes, over the limit", meta.len()));
    }
    let bytes = fs::read(&path).map_err(|e| format!("record unreadable: {e}"))?;
    let rec = Record::decode(&bytes)?;
    if rec.seq != seq {
        return Err(format!(
            "record of entry {} found under name {seq}",
            rec.seq
        ));
    }
    let body = entries.join(fsio::body_name(seq));
    if verify_body {
        fsio::verify_body(&body, rec.size, rec.crc64)?;
    } else {
        let len = fs::metadata(&body)
            .map_err(|e| format!("body unreadable: {e}"))?
            .len();
        if len != rec.size {
            return Err(format!("body is {len} bytes, record says {}", rec.size));
        }
    }
    Ok(rec)
}
