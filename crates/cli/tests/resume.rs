//! Resumable transfers through the CLI: SIGKILL mid-way, rerun the same command, check the
//! result is byte-identical and that (per the emulator's access log) finished parts were not
//! sent again. Also Ctrl-C (SIGINT) → exit 5 with a hint, and resuming after it.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{hold_beyond, output, sha256_file, write_random_file, Env, AK, SK};
use futures_util::TryStreamExt;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const MIB: usize = 1024 * 1024;
const SIZE: usize = 200 * MIB;
const PARTS: usize = 25; // 200 MiB / 8 MiB

fn emulator_config(dir: &Path, addr: std::net::SocketAddr) -> EmulatorConfig {
    let mut cfg = EmulatorConfig::local(dir.join("data"), AK, SK);
    cfg.sync = false;
    cfg.addr = addr;
    cfg
}

/// Part numbers recorded in the (single) checkpoint of `direction` in `dir`.
fn checkpoint_part_numbers(dir: &Path, direction: &str) -> Option<Vec<u32>> {
    let entry = std::fs::read_dir(dir).ok()?.flatten().find(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.starts_with(direction) && n.ends_with(".json")
    })?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["body"]["parts"]
        .as_array()?
        .iter()
        .map(|p| p["part_number"].as_u64().map(|n| n as u32))
        .collect()
}

fn checkpoint_parts(dir: &Path, direction: &str) -> Option<usize> {
    checkpoint_part_numbers(dir, direction).map(|p| p.len())
}

/// Checkpoints in `dir` (not the `*.json.tmp-*` a process killed mid-save may leave).
fn checkpoint_files(dir: &Path) -> Vec<String> {
    all_files(dir)
        .into_iter()
        .filter(|n| n.ends_with(".json"))
        .collect()
}

fn all_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `cmd`, waits until its checkpoint records at least `min_parts` parts, SIGKILLs it
/// by PID (`Child::start_kill`) and returns the part numbers recorded after the kill.
async fn kill_midway(
    mut cmd: tokio::process::Command,
    cp_dir: &Path,
    direction: &str,
    min_parts: usize,
) -> Vec<u32> {
    let mut child = cmd.spawn().expect("ossguard starts");
    let deadline = Instant::now() + Duration::from_secs(40);
    while checkpoint_parts(cp_dir, direction).unwrap_or(0) < min_parts {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ossguard finished ({status}) before it could be killed mid-way");
        }
        assert!(Instant::now() < deadline, "no progress within 40 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap(); // SIGKILL to this child's PID
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    checkpoint_part_numbers(cp_dir, direction).expect("the checkpoint survives the kill")
}

/// Ctrl-C: SIGINT to this child's PID only, then its output once it exits (within 20 s).
async fn ctrl_c(child: tokio::process::Child) -> std::process::Output {
    let pid = child.id().expect("the child is running");
    let st = std::process::Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("exits promptly after Ctrl-C")
        .unwrap()
}

struct LogLine {
    status: u16,
    operation: String,
    uri: String,
}

/// `remote - - [time] "METHOD URI HTTP/1.1" status sent ms "ref" "ua" "host" "id" "true" "-" "Op" …`
fn parse_log_line(line: &str) -> Option<LogLine> {
    let quoted: Vec<&str> = line.split('"').collect();
    // quoted[1] = request line, quoted[2] = " status sent ms ", quoted[15] = operation
    let uri = quoted.get(1)?.to_string();
    let status = quoted.get(2)?.split_whitespace().next()?.parse().ok()?;
    let operation = quoted.get(15)?.to_string();
    Some(LogLine {
        status,
        operation,
        uri,
    })
}

async fn log_lines(
    client: &ossguard::Client,
    skip: &HashSet<String>,
) -> (Vec<LogLine>, HashSet<String>) {
    let pages: Vec<_> = client
        .list_objects("bkt-logs", Default::default())
        .try_collect()
        .await
        .unwrap();
    let mut keys = HashSet::new();
    let mut lines = Vec::new();
    for o in pages.into_iter().flat_map(|p| p.objects) {
        keys.insert(o.key.clone());
        if skip.contains(&o.key) {
            continue;
        }
        let body = client
            .get_object("bkt-logs", &o.key, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for l in String::from_utf8_lossy(&body).lines() {
            lines.push(parse_log_line(l).unwrap_or_else(|| panic!("unparsable log line {l:?}")));
        }
    }
    (lines, keys)
}

fn client_for(endpoint: String) -> ossguard::Client {
    ossguard::Client::builder()
        .endpoint(endpoint)
        .credentials(ossguard::Credentials::new(AK, SK))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_midway_then_rerun_resumes_upload_and_download() {
    let t0 = Instant::now();
    let env = Env::start().await;
    let addr = env.emu.addr();
    let c = env.client();
    c.create_bucket("bkt-resume", Default::default())
        .await
        .unwrap();
    c.create_bucket("bkt-logs", Default::default())
        .await
        .unwrap();
    c.put_bucket_logging("bkt-resume", "bkt-logs", "log/")
        .await
        .unwrap();

    let src = env.path("big.bin");
    let digest = write_random_file(&src, SIZE, 42);
    let cp_dir = env.path("checkpoints");
    let flags = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--part-size", "8M", "--parallel", "4", "--checkpoint-dir"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.push(cp_dir.to_str().unwrap().to_owned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let up = flags(&["cp", src.to_str().unwrap(), "oss://bkt-resume/big.bin"]);

    // Upload: kill once about half the parts are recorded, rerun.
    let t = Instant::now();
    let mut cmd = env.cmd();
    cmd.args(&up);
    env.install_faults(hold_beyond("UploadPart", PARTS / 2))
        .await;
    let up_recorded = kill_midway(cmd, &cp_dir, "upload", PARTS / 2).await;
    env.emu.faults().clear();
    let uploads = c.list_multipart_uploads("bkt-resume", "").await.unwrap();
    assert_eq!(
        uploads.len(),
        1,
        "the killed upload is still open for resuming"
    );
    // What the server had finished when the client died: the parts the hold let through, every
    // one of them recorded in the checkpoint.
    let mut on_server: Vec<u32> = c
        .list_parts("bkt-resume", "big.bin", &uploads[0].upload_id)
        .await
        .unwrap()
        .iter()
        .map(|p| p.part_number)
        .collect();
    on_server.sort_unstable();
    let mut recorded_sorted = up_recorded.clone();
    recorded_sorted.sort_unstable();
    assert_eq!(on_server, recorded_sorted);
    let mut cmd = env.cmd();
    cmd.args(&up);
    let o = output(cmd).await;
    assert_eq!(o.code, 0, "rerun: {}", o.stderr);
    let upload_secs = t.elapsed();
    // Byte-identical: the object's CRC-64 (checked by the library against the parts sent) and,
    // below, the downloaded copy's SHA-256.
    let head = c.head_object("bkt-resume", "big.bin").await.unwrap();
    assert_eq!(head.size, SIZE as u64);
    assert!(c
        .list_multipart_uploads("bkt-resume", "")
        .await
        .unwrap()
        .is_empty());
    assert!(
        checkpoint_files(&cp_dir).is_empty(),
        "checkpoint removed: {:?}",
        checkpoint_files(&cp_dir)
    );

    // Download: same.
    let t = Instant::now();
    let dst = env.path("big.down");
    let down = flags(&["cp", "oss://bkt-resume/big.bin", dst.to_str().unwrap()]);
    let mut cmd = env.cmd();
    cmd.args(&down);
    env.install_faults(hold_beyond("GetObject", PARTS - 1))
        .await;
    let down_recorded = kill_midway(cmd, &cp_dir, "download", PARTS / 2).await.len();
    env.emu.faults().clear();
    assert!(!dst.exists(), "the destination appears only once complete");

    // Flush the first run's access log, then serve again on the same address.
    let Env { emu, dir } = env;
    emu.shutdown().await.unwrap();
    let emu = Emulator::start(emulator_config(dir.path(), addr))
        .await
        .unwrap();
    let c = client_for(emu.endpoint());
    let (_, before_rerun) = log_lines(&c, &HashSet::new()).await;

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ossguard"));
    cmd.env_clear()
        .env("HOME", dir.path().join("home"))
        .env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK)
        .arg("--endpoint")
        .arg(emu.endpoint())
        .args(&down)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let o = output(cmd).await;
    assert_eq!(o.code, 0, "rerun: {}", o.stderr);
    let download_secs = t.elapsed();
    assert_eq!(
        sha256_file(&dst),
        digest,
        "the downloaded copy of the uploaded object"
    );
    assert!(
        checkpoint_files(&cp_dir).is_empty(),
        "{:?}",
        all_files(&cp_dir)
    );
    let leftovers = all_files(&cp_dir);
    assert!(!PathBuf::from(format!("{}.ossguard-tmp", dst.display())).exists());

    emu.shutdown().await.unwrap();
    let emu = Emulator::start(emulator_config(dir.path(), addr))
        .await
        .unwrap();
    let c = client_for(emu.endpoint());
    let (all, _) = log_lines(&c, &HashSet::new()).await;
    let (rerun, _) = log_lines(&c, &before_rerun).await;

    // UploadPart: every part completed once; the rerun sent none the killed run had finished.
    // (Parts a dead client finished but had not recorded yet are adopted on resume by size and
    // CRC-64: transfer.rs `upload_resumes_after_interruption` tests that.)
    let mut per_part: BTreeMap<u32, u32> = BTreeMap::new();
    for l in all
        .iter()
        .filter(|l| l.operation == "UploadPart" && l.status == 200)
    {
        let n = l
            .uri
            .split(['?', '&', ' '])
            .find_map(|kv| kv.strip_prefix("partNumber="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no part number in {}", l.uri));
        *per_part.entry(n).or_default() += 1;
    }
    assert_eq!(per_part.len(), PARTS, "{per_part:?}");
    assert!(per_part.values().all(|c| *c == 1), "{per_part:?}");

    // Ranged GETs: the rerun fetched only what the checkpoint did not have (the access log does
    // not record the Range header, so ranges are counted, not matched; +1 for a possible hedge).
    let rerun_ranged = rerun
        .iter()
        .filter(|l| l.operation == "GetObject" && l.status == 206)
        .count();
    let missing = PARTS - down_recorded;
    assert!(
        rerun_ranged >= missing && rerun_ranged <= missing + 1,
        "rerun fetched {rerun_ranged} ranges, {missing} were missing"
    );
    let up_recorded = up_recorded.len();
    let first_run_ranged = all
        .iter()
        .filter(|l| l.operation == "GetObject" && l.status == 206)
        .count()
        - rerun_ranged;
    emu.shutdown().await.unwrap();
    eprintln!(
        "resume: upload killed with {up_recorded}/{PARTS} parts recorded, \
         upload total {upload_secs:?}; download killed with {down_recorded}/{PARTS} parts recorded, \
         ranged GETs run 1: {first_run_ranged}, rerun: {rerun_ranged} (missing {missing}), \
         download total {download_secs:?}; left in the checkpoint dir: {leftovers:?}; whole test {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(90),
        "took {:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_exits_5_and_the_rerun_resumes() {
    let env = Env::start().await;
    let c = env.client();
    c.create_bucket("bkt-int", Default::default())
        .await
        .unwrap();
    let src = env.path("int.bin");
    let digest = write_random_file(&src, 48 * MIB, 5);
    let cp_dir = env.path("cp");
    let args = [
        "--part-size",
        "1M",
        "--parallel",
        "1",
        "--checkpoint-dir",
        cp_dir.to_str().unwrap(),
        "cp",
        src.to_str().unwrap(),
        "oss://bkt-int/int.bin",
    ];
    let mut cmd = env.cmd();
    cmd.args(args);
    env.install_faults(hold_beyond("UploadPart", 3)).await;
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_parts(&cp_dir, "upload").unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let o = ctrl_c(child).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("rerun the same command"), "{stderr}");
    assert!(!stderr.contains(SK));
    let recorded = checkpoint_parts(&cp_dir, "upload").expect("checkpoint kept");
    assert_eq!(recorded, 3, "interrupted where the hold stopped it");
    env.emu.faults().clear();
    assert_eq!(
        c.list_multipart_uploads("bkt-int", "").await.unwrap().len(),
        1
    );
    let o = env.run(&args).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let back = env.path("int.back");
    env.ok(&["cp", "oss://bkt-int/int.bin", back.to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&back), digest);
    assert!(c
        .list_multipart_uploads("bkt-int", "")
        .await
        .unwrap()
        .is_empty());

    // --no-resume: Ctrl-C aborts the multipart upload and keeps no checkpoint.
    let nr = [
        "--part-size",
        "1M",
        "--parallel",
        "1",
        "--no-resume",
        "--checkpoint-dir",
        cp_dir.to_str().unwrap(),
        "cp",
        src.to_str().unwrap(),
        "oss://bkt-int/nr.bin",
    ];
    let mut cmd = env.cmd();
    cmd.args(nr);
    env.install_faults(hold_beyond("UploadPart", 3)).await;
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ups = c.list_multipart_uploads("bkt-int", "nr.bin").await.unwrap();
        if let Some(u) = ups.first() {
            if c.list_parts("bkt-int", "nr.bin", &u.upload_id)
                .await
                .unwrap()
                .len()
                >= 3
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let o = ctrl_c(child).await;
    env.emu.faults().clear();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{stderr}");
    assert!(!stderr.contains("rerun the same command"), "{stderr}");
    assert!(checkpoint_files(&cp_dir).is_empty());
    assert!(
        c.list_multipart_uploads("bkt-int", "nr.bin")
            .await
            .unwrap()
            .is_empty(),
        "the non-resumable upload was aborted"
    );
}

/// Ctrl-C while the server holds the answer to a CompleteMultipartUpload it has already
/// carried out. Resumable: the checkpoint stays and the rerun recognises the object by it,
/// sending no part again. `--no-resume`: the process waits for the drop guard's abort before it
/// exits, so no multipart upload is left behind either way.
#[tokio::test]
async fn ctrl_c_during_the_complete() {
    let env = Env::start().await;
    let c = env.client();
    c.create_bucket("bkt-commit", Default::default())
        .await
        .unwrap();
    let src = env.path("commit.bin");
    let digest = write_random_file(&src, 4 * MIB, 6);
    let cp_dir = env.path("cp-commit");
    // The abort (--no-resume) is slow, so the process has something to wait for.
    let hold = serde_json::json!({"rules": [
        {"match": {"operations": ["CompleteMultipartUpload"]}, "limit": 1,
         "fault": {"kind": "stall_before_headers", "stall_ms": 3000}},
        {"match": {"operations": ["AbortMultipartUpload"]},
         "fault": {"kind": "latency", "delay_ms": 1000}}
    ]});
    for resumable in [true, false] {
        env.install_faults(hold.to_string()).await;
        let key = format!("oss://bkt-commit/{resumable}");
        let mut args = vec!["--part-size", "1M"];
        if !resumable {
            args.push("--no-resume");
        }
        args.extend([
            "--checkpoint-dir",
            cp_dir.to_str().unwrap(),
            "cp",
            src.to_str().unwrap(),
            &key,
        ]);
        let mut cmd = env.cmd();
        cmd.args(&args);
        let child = cmd.spawn().unwrap();
        // The stall fires once the server has completed the object.
        assert!(
            env.emu
                .faults()
                .wait_injected(1, Duration::from_secs(30))
                .await,
            "no Complete"
        );
        let o = ctrl_c(child).await;
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(5), "{resumable}: {stderr}");
        if resumable {
            assert_eq!(checkpoint_files(&cp_dir).len(), 1, "{stderr}");
            // Counted from here: the rerun sends no part, no Complete.
            let count = serde_json::json!({"rules": [
                {"name": "parts", "match": {"operations": ["UploadPart", "CompleteMultipartUpload"]},
                 "fault": {"kind": "latency", "delay_ms": 0}}
            ]});
            env.install_faults(count.to_string()).await;
            env.ok(&args).await;
            let stats = env.fault_stats().await;
            assert_eq!(stats["rules"][0]["matched"], 0, "{stats}");
        } else {
            assert!(
                stderr.contains("finishing 1 transfer step"),
                "the abort is waited for: {stderr}"
            );
            let stats = env.fault_stats().await;
            assert_eq!(
                stats["rules"][1]["matched"], 1,
                "the abort was sent: {stats}"
            );
        }
        assert!(
            checkpoint_files(&cp_dir).is_empty(),
            "{:?}",
            all_files(&cp_dir)
        );
        assert!(c
            .list_multipart_uploads("bkt-commit", "")
            .await
            .unwrap()
            .is_empty());
        let back = env.path("commit.back");
        env.ok(&["cp", &key, back.to_str().unwrap()]).await;
        assert_eq!(sha256_file(&back), digest, "{resumable}");
    }
}
