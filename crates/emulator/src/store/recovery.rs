//! Open-time scan: rebuild the index from the records on disk and remove what interrupted
//! writes left behind (temp files, staged folders, data no record refers to, finished uploads).
//!
//! Records are the source of truth. A record that cannot be parsed is an error (the store
//! refuses to open rather than silently lose an object); everything that is not a committed
//! record, or data a committed record refers to, is a leftover.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::durable::{sync_dir, write_new_file, DATA_SUFFIX, TEMP_SUFFIX};
use super::layout::{
    is_upload_id, parse_part_record_name, Layout, BUCKET_FILE, FORMAT_FILE, FORMAT_VERSION,
    MIN_FORMAT_VERSION, UPLOAD_FILE,
};
use super::names::{record_file_name, validate_bucket_name};
use super::state::{Bucket, BucketState, ObjectRecord, PartRecord, UploadState};
use super::types::{BucketInfo, RecoveryReport, UploadInfo};
use super::{Result, StoreError};

#[derive(serde::Serialize, serde::Deserialize)]
struct FormatMarker {
    format: u32,
}

type Buckets = BTreeMap<String, Arc<Bucket>>;

pub(crate) fn recover(layout: &Layout) -> Result<(Buckets, RecoveryReport)> {
    let mut report = RecoveryReport::default();
    fs::create_dir_all(layout.root())?;
    check_format(layout)?;
    let tmp = layout.tmp_dir();
    if tmp.exists() {
        for entry in fs::read_dir(&tmp)? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            report.temp_files_removed += 1;
        }
    } else {
        fs::create_dir(&tmp)?;
    }
    fs::create_dir_all(layout.buckets_dir())?;

    let mut buckets = Buckets::new();
    for entry in fs::read_dir(layout.buckets_dir())? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // not ours; leave it alone
        };
        if validate_bucket_name(&name).is_err() || !entry.path().join(BUCKET_FILE).is_file() {
            continue;
        }
        let info: BucketInfo = read_json(&entry.path().join(BUCKET_FILE))?;
        let objects = load_objects(&layout.objects_dir(&name), &mut report)?;
        let uploads = load_uploads(&layout.uploads_dir(&name), &objects, &mut report)?;
        report.buckets += 1;
        report.objects += objects.len();
        report.uploads += uploads.len();
        let state = BucketState {
            info,
            objects,
            uploads,
            removed: false,
        };
        buckets.insert(name, Arc::new(Bucket::new(state)));
    }
    Ok((buckets, report))
}

fn check_format(layout: &Layout) -> Result<()> {
    let path = layout.root().join(FORMAT_FILE);
    if path.exists() {
        let marker: FormatMarker = read_json(&path)?;
        if marker.format == FORMAT_VERSION {
            return Ok(());
        }
        if !(MIN_FORMAT_VERSION..FORMAT_VERSION).contains(&marker.format) {
            return Err(invalid(
                &path,
                &format!(
                    "store format {} (this build reads {MIN_FORMAT_VERSION} to {FORMAT_VERSION})",
                    marker.format
                ),
            ));
        }
        // An older store is a valid newer one; mark it so older builds refuse it from now on
        // (they would misread segmented objects).
        let tmp = path.with_extension("json.tmp");
        write_json_marker(&tmp, layout.sync)?;
        fs::rename(&tmp, &path)?;
        sync_dir(layout.root(), layout.sync)?;
        return Ok(());
    }
    if fs::read_dir(layout.root())?.next().is_some() {
        return Err(invalid(
            &path,
            "missing: the data folder is not empty and not an ossguard store",
        ));
    }
    write_json_marker(&path, layout.sync)?;
    sync_dir(layout.root(), layout.sync)?;
    Ok(())
}

fn write_json_marker(path: &Path, sync: bool) -> Result<()> {
    let _ = fs::remove_file(path); // a leftover of an interrupted upgrade
    let bytes = serde_json::to_vec(&FormatMarker {
        format: FORMAT_VERSION,
    })?;
    write_new_file(path, &bytes, sync)?;
    Ok(())
}

fn load_objects(dir: &Path, report: &mut RecoveryReport) -> Result<BTreeMap<String, ObjectRecord>> {
    let (records, data, temps) = scan_folder(dir)?;
    report.temp_files_removed += remove_all(dir, &temps);
    let mut objects = BTreeMap::new();
    for name in records {
        let path = dir.join(&name);
        let record: ObjectRecord = read_json(&path)?;
        if record_file_name(&record.info.key) != name {
            return Err(invalid(&path, "record does not belong to the key it holds"));
        }
        for file in record.data_files() {
            check_data_name(&path, file)?;
        }
        check_segments(&path, &record)?;
        let complete = record
            .extents()
            .iter()
            .all(|e| data_is_complete(&dir.join(&e.file), e.size));
        if !complete {
            fs::remove_file(&path)?;
            report.broken_records_removed += 1;
            continue;
        }
        objects.insert(record.info.key.clone(), record);
    }
    let referenced: HashSet<&str> = objects.values().flat_map(|r| r.data_files()).collect();
    let orphans: Vec<String> = data
        .into_iter()
        .filter(|d| !referenced.contains(d.as_str()))
        .collect();
    report.orphan_data_removed += remove_all(dir, &orphans);
    Ok(objects)
}

fn load_uploads(
    dir: &Path,
    objects: &BTreeMap<String, ObjectRecord>,
    report: &mut RecoveryReport,
) -> Result<HashMap<String, UploadState>> {
    let completed: HashSet<&str> = objects
        .values()
        .filter_map(|r| r.upload_id.as_deref())
        .collect();
    let mut uploads = HashMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_upload_id(&id) || !path.is_dir() {
            continue;
        }
        if completed.contains(id.as_str()) || !path.join(UPLOAD_FILE).is_file() {
            fs::remove_dir_all(&path)?;
            report.uploads_removed += 1;
            continue;
        }
        let info: UploadInfo = read_json(&path.join(UPLOAD_FILE))?;
        let (records, data, temps) = scan_folder(&path)?;
        report.temp_files_removed += remove_all(&path, &temps);
        let mut parts = BTreeMap::new();
        for name in records {
            let record_path = path.join(&name);
            let Some(number) = parse_part_record_name(&name) else {
                continue; // upload.json
            };
            let record: PartRecord = read_json(&record_path)?;
            check_data_name(&record_path, &record.data_file)?;
            if record.info.part_number != number {
                return Err(invalid(
                    &record_path,
                    "part number differs from the file name",
                ));
            }
            if !data_is_complete(&path.join(&record.data_file), record.info.size) {
                fs::remove_file(&record_path)?;
                report.broken_records_removed += 1;
                continue;
            }
            parts.insert(number, record);
        }
        let referenced: HashSet<&str> = parts.values().map(|p| p.data_file.as_str()).collect();
        let orphans: Vec<String> = data
            .into_iter()
            .filter(|d| !referenced.contains(d.as_str()))
            .collect();
        report.orphan_data_removed += remove_all(&path, &orphans);
        uploads.insert(id, UploadState { info, parts });
    }
    Ok(uploads)
}

/// Names of `*.json`, `*.data` and `*.tmp` files in `dir` (other entries are ignored).
fn scan_folder(dir: &Path) -> io::Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let (mut records, mut data, mut temps) = (Vec::new(), Vec::new(), Vec::new());
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.file_type()?.is_file() {
            continue;
        }
        if name.ends_with(".json") {
            records.push(name);
        } else if name.ends_with(DATA_SUFFIX) {
            data.push(name);
        } else if name.ends_with(TEMP_SUFFIX) {
            temps.push(name);
        }
    }
    Ok((records, data, temps))
}

fn remove_all(dir: &Path, names: &[String]) -> usize {
    names
        .iter()
        .filter(|n| fs::remove_file(dir.join(n)).is_ok())
        .count()
}

fn data_is_complete(path: &Path, size: u64) -> bool {
    // Appendable data may be longer (an append that never committed); never shorter.
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() >= size)
}

/// A segmented record's segments must start with its data file and add up to its size.
fn check_segments(path: &Path, record: &ObjectRecord) -> Result<()> {
    if record.segments.is_empty() {
        return Ok(());
    }
    let total: u64 = record.segments.iter().map(|s| s.size).sum();
    if record.segments[0].file != record.data_file || total != record.info.size {
        return Err(invalid(
            path,
            "segments disagree with the record (first file or total size)",
        ));
    }
    Ok(())
}

/// A record's data file name becomes a path: it must be one of ours (`<32 hex>.data`).
fn check_data_name(record: &Path, data_file: &str) -> Result<()> {
    let ok = data_file
        .strip_suffix(DATA_SUFFIX)
        .is_some_and(|stem| stem.len() == 32 && stem.bytes().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            record,
            "record names a data file the store did not make",
        ))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(path, &e.to_string()))
}

fn invalid(path: &Path, why: &str) -> StoreError {
    StoreError::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{}: {why}; fix or move the file, then open again",
            path.display()
        ),
    ))
}
