//! Conformance: the four official Alibaba OSS SDKs (peers/) drive the emulator, each with every
//! signature version it supports, and the result is printed as an SDK × operation matrix.
//!
//! Peers are installed by `peers/install` (scripts/test-all runs it). A missing peer fails the
//! test under `CI=true` and is reported (not silently skipped) otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ossguard_emulator::server::{Emulator, EmulatorConfig};
use serde_json::Value;
use tokio::io::AsyncReadExt;

const AK: &str = "LTAIconformance";
const SK: &str = "conformance-secret";
/// One driver run may take this long at most (it bounds its own requests too).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

struct Peer {
    sdk: &'static str,
    sigs: &'static [&'static str],
    program: PathBuf,
    args: Vec<PathBuf>,
    env: Vec<(&'static str, PathBuf)>,
}

fn peers(root: &Path) -> Vec<Peer> {
    let tools = root.join(".tools");
    let py = tools.join("venv/bin/python");
    vec![
        Peer {
            sdk: "oss2",
            sigs: &["v1", "v4"],
            program: py.clone(),
            args: vec![root.join("peers/oss2_driver.py")],
            env: vec![],
        },
        Peer {
            sdk: "pyv2",
            sigs: &["v4", "v1"],
            program: py,
            args: vec![root.join("peers/pyv2_driver.py")],
            env: vec![],
        },
        Peer {
            sdk: "ali-oss",
            sigs: &["v1", "v4"],
            program: PathBuf::from("node"),
            args: vec![root.join("peers/alioss_driver.js")],
            env: vec![("NODE_PATH", tools.join("node/node_modules"))],
        },
        Peer {
            sdk: "go",
            sigs: &["v1"],
            program: tools.join("bin/oss-go-driver"),
            args: vec![],
            env: vec![],
        },
    ]
}

fn installed(p: &Peer) -> bool {
    let exists = |x: &Path| x.is_file();
    let prog_ok = p.program.is_absolute() && exists(&p.program) || p.program.as_os_str() == "node";
    prog_ok && p.args.iter().all(|a| exists(a)) && p.env.iter().all(|(_, d)| d.exists())
}

struct Outcome {
    lines: Vec<Value>,
    stderr: String,
    status: Option<i32>,
}

async fn run_driver(p: &Peer, sig: &str, endpoint: &str, bucket: &str, workdir: &Path) -> Outcome {
    let mut cmd = tokio::process::Command::new(&p.program);
    cmd.args(&p.args)
        .env("OSS_ENDPOINT", endpoint)
        .env("OSS_REGION", "cn-hangzhou")
        .env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK)
        .env("OSSGUARD_SIG", sig)
        .env("OSSGUARD_BUCKET", bucket)
        .env("OSSGUARD_ADMIN", endpoint)
        .env("OSSGUARD_WORKDIR", workdir)
        .env("OSSGUARD_BIG_MB", "20")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in &p.env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {} driver: {e}", p.sdk));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let run = async {
        let (a, b) = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
        a.and(b).ok();
        child.wait().await.ok().and_then(|s| s.code())
    };
    let status = match tokio::time::timeout(DRIVER_TIMEOUT, run).await {
        Ok(s) => s,
        Err(_) => panic!(
            "the {} {sig} driver did not finish within {DRIVER_TIMEOUT:?}",
            p.sdk
        ),
    };
    let lines = String::from_utf8_lossy(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    Outcome {
        lines,
        stderr: String::from_utf8_lossy(&e).into_owned(),
        status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_against_the_emulator() {
    let root = repo_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let endpoint = emu.endpoint();

    // column (sdk sig) -> op -> (ok, detail)
    let mut matrix: BTreeMap<String, BTreeMap<String, (Option<bool>, String)>> = BTreeMap::new();
    let mut op_order: Vec<String> = Vec::new();
    let mut missing = Vec::new();
    let mut failures = Vec::new();
    for (i, p) in peers(&root).iter().enumerate() {
        if !installed(p) {
            missing.push(p.sdk);
            continue;
        }
        for sig in p.sigs {
            let bucket = format!("conf-{i}-{sig}-{}", p.sdk.replace('-', ""));
            let work = dir.path().join(format!("work-{}-{sig}", p.sdk));
            std::fs::create_dir_all(&work).unwrap();
            let out = run_driver(p, sig, &endpoint, &bucket, &work).await;
            let col = format!("{} {sig}", p.sdk);
            if out.status != Some(0) || out.lines.is_empty() {
                failures.push(format!(
                    "{col}: driver exited {:?} with {} result lines; stderr:\n{}",
                    out.status,
                    out.lines.len(),
                    out.stderr
                ));
            }
            let cells = matrix.entry(col.clone()).or_default();
            for l in &out.lines {
                let op = l["op"].as_str().unwrap_or("?").to_owned();
                if !op_order.contains(&op) {
                    op_order.push(op.clone());
                }
                let ok = l["ok"].as_bool();
                let detail = l["detail"].as_str().unwrap_or("").to_owned();
                if ok == Some(false) {
                    failures.push(format!("{col} {op}: {detail}"));
                }
                cells.insert(op, (ok, detail));
            }
        }
    }
    emu.shutdown().await.unwrap();

    print_matrix(&matrix, &op_order);
    let passed: usize = matrix
        .values()
        .flat_map(|c| c.values())
        .filter(|(ok, _)| *ok == Some(true))
        .count();
    let failed: usize = matrix
        .values()
        .flat_map(|c| c.values())
        .filter(|(ok, _)| *ok == Some(false))
        .count();
    let na: usize = matrix
        .values()
        .flat_map(|c| c.values())
        .filter(|(ok, _)| ok.is_none())
        .count();
    println!("conformance: {passed} passed, {failed} failed, {na} not offered or known SDK bugs; peers missing: {missing:?}");
    if !missing.is_empty() {
        let msg = format!("conformance peers missing: {missing:?} (run peers/install)");
        assert!(!ci, "{msg}");
        eprintln!("WARNING: {msg}; their columns are absent from the matrix");
    }
    assert!(
        !matrix.is_empty(),
        "no SDK driver ran at all (run peers/install)"
    );
    assert!(
        failures.is_empty(),
        "{} conformance failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn print_matrix(
    matrix: &BTreeMap<String, BTreeMap<String, (Option<bool>, String)>>,
    ops: &[String],
) {
    let cols: Vec<&String> = matrix.keys().collect();
    let w = ops
        .iter()
        .map(|o| o.chars().count())
        .max()
        .unwrap_or(10)
        .max(9);
    let mut header = format!("{:w$}", "operation");
    for c in &cols {
        header.push_str(&format!(" | {c:^8}"));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.chars().count()));
    let mut notes = BTreeSet::new();
    for op in ops {
        let mut row = format!("{op:w$}");
        for c in &cols {
            let cell = match matrix[*c].get(op) {
                Some((Some(true), _)) => "ok",
                Some((Some(false), _)) => "FAIL",
                Some((None, d)) => {
                    notes.insert(d.clone());
                    "-"
                }
                None => "",
            };
            row.push_str(&format!(" | {cell:^8}"));
        }
        println!("{row}");
    }
    println!(
        "('-' = not offered by the SDK or a known SDK bug: {})",
        notes.into_iter().collect::<Vec<_>>().join("; ")
    );
}
