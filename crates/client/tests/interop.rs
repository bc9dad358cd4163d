//! Interop with the official SDKs (the conformance peers of peers/): objects ossguard writes,
//! simple and multipart, are read byte-identical by oss2 and the Debian Go SDK and vice versa;
//! presigned URLs from ossguard are fetched by curl; ACL/CORS set by ossguard are read by oss2.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ossguard::{Client, CompletedPart, Credentials, SignatureVersion};
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_proto::xml::{CorsConfiguration, CorsRule};
use serde_json::Value;
use sha2::{Digest, Sha256};

const AK: &str = "interop-ak";
const SK: &str = "interop-secret";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs a peer program; `None` when it is not installed (a failure under CI=true).
fn run_peer(program: &Path, args: &[PathBuf], env: &[(&str, String)]) -> Option<Vec<Value>> {
    if !program.exists() {
        let msg = format!(
            "interop peer {} is not installed (run peers/install)",
            program.display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("WARNING: {msg}; skipping that peer");
        return None;
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("peer runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    )
}

async fn write_ours(c: &Client, bucket: &str) -> Vec<(String, String)> {
    let simple = random(1 << 20, 1);
    c.put_object(
        bucket,
        "ossguard/simple.bin",
        simple.clone().into(),
        Default::default(),
    )
    .await
    .unwrap();
    let parts = [random(256 * 1024, 2), random(256 * 1024, 3), random(100, 4)];
    let id = c
        .initiate_multipart_upload(bucket, "ossguard/multi.bin", &Default::default())
        .await
        .unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let m = c
            .upload_part(
                bucket,
                "ossguard/multi.bin",
                &id,
                i as u32 + 1,
                p.clone().into(),
            )
            .await
            .unwrap();
        done.push(CompletedPart::from(&m));
    }
    c.complete_multipart_upload(bucket, "ossguard/multi.bin", &id, &done)
        .await
        .unwrap();
    let multi: Vec<u8> = parts.concat();
    vec![
        ("ossguard/simple.bin".into(), sha(&simple)),
        ("ossguard/multi.bin".into(), sha(&multi)),
    ]
}

async fn check_peer_writes(c: &Client, bucket: &str, lines: &[Value], who: &str) -> usize {
    let mut n = 0;
    for l in lines.iter().filter(|l| l["op"] == "write") {
        assert_eq!(l["ok"], true, "{who} write failed: {l}");
        let key = l["key"].as_str().unwrap();
        let got = c
            .get_object(bucket, key, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            sha(&got),
            l["sha256"].as_str().unwrap(),
            "{who} wrote {key}; ossguard read other bytes"
        );
        n += 1;
    }
    assert_eq!(n, 2, "{who} reported its two writes: {lines:?}");
    n
}

fn check_peer_reads(lines: &[Value], ours: &[(String, String)], who: &str) {
    for (key, want) in ours {
        let l = lines
            .iter()
            .find(|l| l["op"] == "read" && l["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{who} did not read {key}: {lines:?}"));
        assert_eq!(l["ok"], true, "{who} read {key}: {l}");
        assert_eq!(
            l["sha256"].as_str(),
            Some(want.as_str()),
            "{who} read other bytes for {key}"
        );
        if let Some(crc) = l.get("crc_ok") {
            assert_eq!(
                crc, true,
                "{who}: CRC-64 of {key} disagrees with the server's"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_and_ossguard_read_each_others_objects() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let c = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    let bucket = "interop-bucket";
    c.create_bucket(bucket, Default::default()).await.unwrap();
    let ours = write_ours(&c, bucket).await;
    c.put_bucket_acl(bucket, "public-read").await.unwrap();
    let cors = CorsConfiguration {
        rules: vec![CorsRule {
            allowed_origins: vec!["https://example.com".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    c.put_bucket_cors(bucket, &cors).await.unwrap();

    let root = root();
    let env = |prefix: &str| {
        vec![
            ("OSS_ENDPOINT", emu.endpoint()),
            ("OSS_ACCESS_KEY_ID", AK.to_owned()),
            ("OSS_ACCESS_KEY_SECRET", SK.to_owned()),
            ("OSSGUARD_BUCKET", bucket.to_owned()),
            ("OSSGUARD_WORKDIR", dir.path().display().to_string()),
            (
                "OSSGUARD_READ",
                ours.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("OSSGUARD_WRITE_PREFIX", prefix.to_owned()),
            ("OSSGUARD_SIG", "v4".to_owned()),
        ]
    };
    let (mut checked, mut peers) = (0, 0);
    let py = root.join(".tools/venv/bin/python");
    let oss2 = tokio::task::block_in_place(|| {
        run_peer(&py, &[root.join("peers/interop_oss2.py")], &env("oss2/"))
    });
    if let Some(lines) = oss2 {
        peers += 1;
        check_peer_reads(&lines, &ours, "oss2");
        let acl = lines.iter().find(|l| l["op"] == "acl").unwrap();
        assert_eq!(
            acl["acl"], "public-read",
            "oss2 reads the ACL ossguard set: {acl}"
        );
        let cors = lines.iter().find(|l| l["op"] == "cors").unwrap();
        assert_eq!(
            cors["origins"],
            serde_json::json!(["https://example.com"]),
            "{cors}"
        );
        assert_eq!(cors["methods"], serde_json::json!(["GET", "PUT"]), "{cors}");
        checked += check_peer_writes(&c, bucket, &lines, "oss2").await;
    }
    let go = tokio::task::block_in_place(|| {
        run_peer(&root.join(".tools/bin/oss-go-interop"), &[], &env("go/"))
    });
    if let Some(lines) = go {
        peers += 1;
        check_peer_reads(&lines, &ours, "go");
        checked += check_peer_writes(&c, bucket, &lines, "go").await;
    }

    // Presigned URLs, V1 and V4, fetched by curl.
    let mut curl_ok = 0;
    for v in [SignatureVersion::V1, SignatureVersion::V4] {
        let url = c
            .presign_url(
                http::Method::GET,
                bucket,
                "ossguard/multi.bin",
                Duration::from_secs(300),
                v,
            )
            .await
            .unwrap();
        let out_path = dir.path().join(format!("curl-{v:?}"));
        let status = tokio::task::block_in_place(|| {
            std::process::Command::new("curl")
                .args(["-sS", "--fail", "-o"])
                .arg(&out_path)
                .arg(&url)
                .status()
        })
        .expect("curl is installed");
        assert!(status.success(), "curl failed on {url}");
        assert_eq!(
            sha(&std::fs::read(&out_path).unwrap()),
            ours[1].1,
            "curl got other bytes ({v:?})"
        );
        curl_ok += 1;
    }
    println!("interop: {peers} SDK peers read {} ossguard objects each and wrote {checked} objects ossguard read back; curl fetched {curl_ok} presigned URLs", ours.len());
    assert!(peers >= 1, "no interop peer ran");
    emu.shutdown().await.unwrap();
}
