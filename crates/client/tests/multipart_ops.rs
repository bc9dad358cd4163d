//! Multipart control operations and forbid-overwrite PUTs under the emulator's fault rules:
//! Initiate is retried, a Complete (or PUT) whose answer was lost is recognised by the object's
//! CRC-64 instead of failing, Abort of a vanished upload is done.

use ossguard::{Body, Client, CompletedPart, Credentials, PutObjectOptions};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const AK: &str = "mp-ak";
const SK: &str = "mp-sk";
const B: &str = "mp-bucket";
const PART: usize = 100 * 1024;

async fn start() -> (Emulator, tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let c = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    c.create_bucket(B, Default::default()).await.unwrap();
    (emu, dir, c)
}

/// One rule, fired once, on `op`.
fn once(emu: &Emulator, op: &str, fault: &str) {
    let json = format!(
        r#"{{"seed": 1, "rules": [{{"limit": 1, "match": {{"operations": ["{op}"]}}, "fault": {fault}}}]}}"#
    );
    emu.faults()
        .install(FaultConfig::parse(&json).unwrap())
        .unwrap();
}

fn fired(emu: &Emulator) -> u64 {
    emu.faults().stats().injected
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Initiates and uploads two parts of `bytes`; returns the upload id and the parts.
async fn two_parts(c: &Client, key: &str, bytes: &[u8]) -> (String, Vec<CompletedPart>) {
    let id = c
        .initiate_multipart_upload(B, key, &PutObjectOptions::default())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(PART).enumerate() {
        let p = c
            .upload_part(B, key, &id, i as u32 + 1, Body::from(chunk.to_vec()))
            .await
            .unwrap();
        parts.push(CompletedPart::from(&p));
    }
    (id, parts)
}

#[tokio::test]
async fn initiate_is_retried_after_a_500_and_a_503() {
    let (emu, _d, c) = start().await;
    // 500 InternalError is transient, 503 ServiceUnavailable throttled (DESIGN §3).
    for status in [500, 503] {
        once(
            &emu,
            "InitiateMultipartUpload",
            &format!(r#"{{"kind": "status", "status": {status}}}"#),
        );
        let before = c.stats().retries;
        let id = c
            .initiate_multipart_upload(B, "init", &PutObjectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("Initiate after one {status}: {e}"));
        assert!(!id.is_empty());
        assert_eq!(fired(&emu), 1, "the fault fired");
        assert_eq!(c.stats().retries, before + 1);
    }
}

#[tokio::test]
async fn complete_whose_answer_was_lost_succeeds_by_crc() {
    let (emu, _d, c) = start().await;
    let bytes = data(2 * PART, 7);
    let (id, parts) = two_parts(&c, "lost-complete", &bytes).await;
    once(
        &emu,
        "CompleteMultipartUpload",
        r#"{"kind": "reset", "after_processing": true}"#,
    );
    let out = c
        .complete_multipart_upload(B, "lost-complete", &id, &parts)
        .await
        .expect("the retry meets NoSuchUpload, the object's CRC-64 matches: success");
    assert_eq!(fired(&emu), 1);
    assert_eq!(out.crc64, Some(ossguard_proto::crc64::checksum(&bytes)));
    let got = c
        .get_object(B, "lost-complete", Default::default())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got[..] == bytes[..]);
}

#[tokio::test]
async fn complete_meeting_no_such_upload_fails_when_the_object_differs() {
    let (_emu, _d, c) = start().await;
    let bytes = data(2 * PART, 1);
    let (id, parts) = two_parts(&c, "other", &bytes).await;
    c.abort_multipart_upload(B, "other", &id).await.unwrap();
    // No object at all.
    let e = c
        .complete_multipart_upload(B, "other", &id, &parts)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
    // An object, but not the one these parts make.
    c.put_object(
        B,
        "other",
        Body::from(data(2 * PART, 2)),
        Default::default(),
    )
    .await
    .unwrap();
    let e = c
        .complete_multipart_upload(B, "other", &id, &parts)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
    // Without part CRCs nothing can be verified: the error stands.
    c.put_object(B, "other", Body::from(bytes), Default::default())
        .await
        .unwrap();
    let blind: Vec<CompletedPart> = parts
        .iter()
        .map(|p| CompletedPart {
            crc64: None,
            ..p.clone()
        })
        .collect();
    let e = c
        .complete_multipart_upload(B, "other", &id, &blind)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
}

#[tokio::test]
async fn abort_of_a_vanished_upload_is_done() {
    let (emu, _d, c) = start().await;
    let (id, _) = two_parts(&c, "abort", &data(PART, 3)).await;
    // The first answer is lost after the abort ran; the retry meets NoSuchUpload.
    once(
        &emu,
        "AbortMultipartUpload",
        r#"{"kind": "reset", "after_processing": true}"#,
    );
    c.abort_multipart_upload(B, "abort", &id).await.unwrap();
    assert_eq!(fired(&emu), 1);
    c.abort_multipart_upload(B, "abort", &id).await.unwrap();
    assert!(c
        .list_multipart_uploads(B, "abort")
        .await
        .unwrap()
        .is_empty());
}

fn forbid() -> PutObjectOptions {
    PutObjectOptions {
        forbid_overwrite: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn forbid_overwrite_put_whose_answer_was_lost_is_our_own_write() {
    let (emu, _d, c) = start().await;
    let bytes = data(50_000, 9);
    once(
        &emu,
        "PutObject",
        r#"{"kind": "reset", "after_processing": true}"#,
    );
    let out = c
        .put_object(B, "fo", Body::from(bytes.clone()), forbid())
        .await
        .expect("the retry meets FileAlreadyExists on our own write: success");
    assert_eq!(fired(&emu), 1);
    assert_eq!(out.crc64, Some(ossguard_proto::crc64::checksum(&bytes)));
    // A file body is recognised as well.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, &bytes[..40_000]).unwrap();
    once(
        &emu,
        "PutObject",
        r#"{"kind": "reset", "after_processing": true}"#,
    );
    c.put_object(
        B,
        "fo-file",
        Body::from_file(&path).await.unwrap(),
        forbid(),
    )
    .await
    .expect("file body: own write recognised");
}

#[tokio::test]
async fn forbid_overwrite_put_fails_on_someone_elses_object() {
    let (_emu, _d, c) = start().await;
    c.put_object(B, "taken", Body::from(data(1000, 1)), Default::default())
        .await
        .unwrap();
    let e = c
        .put_object(B, "taken", Body::from(data(1000, 2)), forbid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("FileAlreadyExists"), "{e}");
    // Same bytes, but written before this operation started: not ours either. (Real time:
    // the object must be older than the 1-s resolution of Last-Modified and Date.)
    c.put_object(B, "same", Body::from(data(1000, 3)), Default::default())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let e = c
        .put_object(B, "same", Body::from(data(1000, 3)), forbid())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("FileAlreadyExists"), "{e}");
}

/// A run whose Complete was executed but never answered (here: a client without retries) keeps
/// its checkpoint; the rerun finds the upload gone and the object equal to the recorded parts,
/// and sends nothing again.
#[tokio::test]
async fn a_complete_without_an_answer_is_checked_against_the_upload_and_the_object() {
    let (emu, dir, c) = start().await;
    let bytes = data(3 * PART, 5);
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &bytes).unwrap();
    let opts = ossguard::TransferOptions {
        checkpoint_dir: Some(dir.path().join("cp")),
        ..ossguard::TransferOptions::default().with_part_size(PART as u64)
    };
    let checkpoints = || std::fs::read_dir(dir.path().join("cp")).unwrap().count();
    // Nothing retries: the first answer lost is the last.
    let naive = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .policy(ossguard::Policy::none())
        .build()
        .unwrap();

    // Carried out, its answer lost: the upload is gone and the object is what the parts make.
    once(
        &emu,
        "CompleteMultipartUpload",
        r#"{"kind": "reset", "after_processing": true}"#,
    );
    let out = naive.upload_file(&src, B, "done", &opts).await.unwrap();
    assert_eq!(emu.faults().stats().injected, 1);
    assert_eq!(out.crc64, Some(ossguard_proto::crc64::checksum(&bytes)));
    assert_eq!(checkpoints(), 0);

    // Never carried out (reset before it ran), although an identical object is in place: the
    // upload is still listed, so it is an error and the checkpoint stays for the rerun.
    naive
        .put_object(B, "again", bytes.clone().into(), Default::default())
        .await
        .unwrap();
    once(
        &emu,
        "CompleteMultipartUpload",
        r#"{"kind": "reset", "after_processing": false}"#,
    );
    naive
        .upload_file(&src, B, "again", &opts)
        .await
        .expect_err("the upload was not completed");
    assert_eq!(checkpoints(), 1);
    // Count what the rerun sends: the Complete only.
    emu.faults()
        .install(
            FaultConfig::parse(r#"{"seed": 1, "rules": [{"match": {"operations": ["UploadPart", "InitiateMultipartUpload"]}, "fault": {"kind": "latency", "delay_ms": 0}}]}"#)
                .unwrap(),
        )
        .unwrap();
    let out = c.upload_file(&src, B, "again", &opts).await.unwrap();
    assert_eq!(out.crc64, Some(ossguard_proto::crc64::checksum(&bytes)));
    assert_eq!(emu.faults().stats().rules[0].matched, 0, "no part re-sent");
    assert_eq!(checkpoints(), 0);
    assert!(c.list_multipart_uploads(B, "").await.unwrap().is_empty());
}
