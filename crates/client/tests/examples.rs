//! Runs every example in `crates/client/examples` against the emulator it starts: an example
//! asserts what it demonstrates, so exit status 0 means it still works as its comments say.
//!
//! The binaries come from a `cargo build --workspace --examples` run here with this test's
//! profile and target directory. Under `cargo test --workspace --all-targets` (CI,
//! `scripts/test-all`) the same command just built them with the same features, so this is a
//! quick no-op; run alone (`cargo test -p ossguard --test examples`) it builds them first, so a
//! stale example binary is never what runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest an example may take (they take a few seconds each).
const TIMEOUT: Duration = Duration::from_secs(180);

/// Variables cargo sets for the process it tests. A nested cargo must not inherit them: build
/// scripts track some (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR` …), so their crates
/// would be rebuilt here and then again by the next ordinary cargo command.
fn set_by_cargo(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
        || [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&name)
}

/// `cargo build --workspace --examples` with this test's profile and target directory (the
/// workspace, not just this package, so that features resolve as under `cargo test
/// --workspace`); returns (name, executable) of every example of this package.
fn build_examples() -> Vec<(String, PathBuf)> {
    let exe = std::env::current_exe().unwrap();
    // <target dir>/<profile dir>/deps/examples-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--workspace", "--examples"])
        .args([
            "--offline",
            "--locked",
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo) {
            cmd.env_remove(name);
        }
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => panic!("unexpected test binary path {}", exe.display()),
    }
    let out = cmd.output().expect("running cargo");
    assert!(out.status.success(), "cargo build --examples failed");
    let mut examples: Vec<(String, PathBuf)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["kind"][0] == "example")
        .filter(|m| m["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect();
    examples.sort();
    examples
}

#[test]
fn every_example_runs_and_shows_what_it_claims() {
    let examples = build_examples();
    let names: Vec<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "download",
            "fallback",
            "metrics",
            "presign",
            "resilience",
            "upload"
        ],
        "the examples the crate docs and README point to"
    );

    // All at once (each has its own emulator on its own port), output to files.
    let logs = tempfile::tempdir().unwrap();
    let mut running: Vec<_> = examples
        .iter()
        .map(|(name, exe)| {
            let log = logs.path().join(name);
            let child = Command::new(exe)
                // Hermetic: never the real OSS a developer's shell may point at.
                .env_remove("OSS_ENDPOINT")
                .env("RUST_BACKTRACE", "1")
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
                .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
            (name, log, child, Instant::now())
        })
        .collect();

    let mut failures = Vec::new();
    while !running.is_empty() {
        std::thread::sleep(Duration::from_millis(50));
        running.retain_mut(|(name, log, child, started)| {
            let failure = match child.try_wait().unwrap() {
                Some(status) if status.success() => None,
                Some(status) => Some(status.to_string()),
                None if started.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Some(format!("killed after {TIMEOUT:?}"))
                }
                None => return true,
            };
            match failure {
                None => println!("example {name}: ok in {:?}", started.elapsed()),
                Some(why) => {
                    let read = |ext| std::fs::read_to_string(log.with_extension(ext));
                    let (out, err) = (
                        read("out").unwrap_or_default(),
                        read("err").unwrap_or_default(),
                    );
                    failures.push(format!(
                        "example {name}: {why}\n--- stdout\n{out}--- stderr\n{err}"
                    ));
                }
            }
            false
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
