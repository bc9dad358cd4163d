//! An in-memory OSS for replay tests: ETag = quoted upper-case MD5 (as OSS for a simple PUT),
//! `x-oss-forbid-overwrite`, `If-Match`, injected transient failures and lost responses.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use md5::{Digest, Md5};
use ossguard_spool::{
    PutCondition, PutResult, ReplayBody, ReplayTarget, Spool, SpoolOptions, SpoolPut, TargetError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub body: Vec<u8>,
    pub etag: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// One PUT that reached the fake, stored or not.
#[derive(Debug, Clone)]
pub struct PutCall {
    pub bucket: String,
    pub key: String,
    pub body: Vec<u8>,
    pub condition: PutCondition,
    pub metadata: BTreeMap<String, String>,
    pub stored: bool,
}

#[derive(Default)]
pub struct FakeOss {
    objects: Mutex<HashMap<(String, String), Obj>>,
    pub calls: Mutex<Vec<PutCall>>,
    put_count: AtomicUsize,
    pub heads: AtomicUsize,
    /// PUT call numbers (0-based) that fail with a transient error before storing.
    pub fail_puts: Mutex<BTreeSet<usize>>,
    /// PUT call numbers that store, then fail transiently (the response was lost).
    pub lose_responses: Mutex<BTreeSet<usize>>,
}

pub fn etag_of(body: &[u8]) -> String {
    let d: [u8; 16] = Md5::digest(body).into();
    let hex: String = d.iter().map(|b| format!("{b:02X}")).collect();
    format!("\"{hex}\"")
}

impl FakeOss {
    /// Another writer stores an object (bypassing the spool).
    pub fn put_direct(&self, bucket: &str, key: &str, body: &[u8]) -> String {
        let etag = etag_of(body);
        self.objects.lock().unwrap().insert(
            (bucket.into(), key.into()),
            Obj {
                body: body.to_vec(),
                etag: etag.clone(),
                content_type: None,
                metadata: BTreeMap::new(),
            },
        );
        etag
    }

    pub fn delete(&self, bucket: &str, key: &str) {
        self.objects
            .lock()
            .unwrap()
            .remove(&(bucket.to_string(), key.to_string()));
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Obj> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    pub fn stored_calls(&self) -> Vec<PutCall> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.stored)
            .cloned()
            .collect()
    }

    pub fn put_calls(&self) -> usize {
        self.put_count.load(Ordering::SeqCst)
    }
}

impl ReplayTarget for FakeOss {
    async fn head_etag(&self, bucket: &str, key: &str) -> Result<Option<String>, TargetError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        Ok(self.get(bucket, key).map(|o| o.etag))
    }

    async fn put(
        &self,
        put: &SpoolPut,
        body: &ReplayBody,
        condition: PutCondition,
    ) -> Result<PutResult, TargetError> {
        let n = self.put_count.fetch_add(1, Ordering::SeqCst);
        let bytes = tokio::fs::read(body.path()).await.expect("body readable");
        // The spool promises a verified body: hold it to that.
        assert_eq!(bytes.len() as u64, body.len);
        assert_eq!(ossguard_proto::crc64::checksum(&bytes), body.crc64);
        assert_eq!(<[u8; 16]>::from(Md5::digest(&bytes)), body.md5);
        let mut call = PutCall {
            bucket: put.bucket.clone(),
            key: put.key.clone(),
            body: bytes.clone(),
            condition: condition.clone(),
            metadata: put.metadata.clone(),
            stored: false,
        };
        if self.fail_puts.lock().unwrap().contains(&n) {
            self.calls.lock().unwrap().push(call);
            return Err(TargetError::transient(format!(
                "injected failure of PUT #{n}"
            )));
        }
        let current = self.get(&put.bucket, &put.key);
        let refused = match &condition {
            PutCondition::ForbidOverwrite => current.is_some(),
            PutCondition::IfMatch(e) => current.as_ref().map(|o| &o.etag) != Some(e),
            PutCondition::None => false,
        };
        if refused {
            self.calls.lock().unwrap().push(call);
            return Ok(PutResult::PreconditionFailed);
        }
        let etag = etag_of(&bytes);
        self.objects.lock().unwrap().insert(
            (put.bucket.clone(), put.key.clone()),
            Obj {
                body: bytes,
                etag: etag.clone(),
                content_type: put.content_type.clone(),
                metadata: put.metadata.clone(),
            },
        );
        call.stored = true;
        self.calls.lock().unwrap().push(call);
        if self.lose_responses.lock().unwrap().contains(&n) {
            return Err(TargetError::transient(format!("response of PUT #{n} lost")));
        }
        Ok(PutResult::Stored { etag })
    }
}

pub fn open(dir: &Path) -> Spool {
    Spool::open(dir).expect("spool opens")
}

pub fn open_with(dir: &Path, opts: SpoolOptions) -> Spool {
    Spool::open_with(dir, opts).expect("spool opens")
}

/// Names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
