//! Issue 14 item 6: no secret value in any log, error, `Debug`, metric, audit line, checkpoint
//! or report. One test drives the real `ossguard` binary through the client's code paths with a
//! permanent key, an STS triple and a wrong secret (every run with `RUST_LOG=trace` and
//! `--audit-log`), runs a drill, collects every artefact those credentials could reach, and
//! greps all of it for every secret value (raw, percent-encoded, as hex bytes).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{output, write_random_file, Env, Out, AK, SK};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Used once, for a `403 SignatureDoesNotMatch`: the error must not echo it.
const WRONG_SK: &str = "WRONG-s3cret-never-echo-4d1e9b";
/// The keys of `ossguard drill`'s embedded emulators (`crates/drill`: arms and set-up).
const DRILL_SECRETS: [&str; 4] = [
    "drill-naive-sk",
    "drill-seed-sk",
    "drill-ossguard-sk",
    "drill-setup-sk",
];

struct Creds {
    label: &'static str,
    id: String,
    secret: String,
    token: Option<String>,
}

/// Every byte an artefact holds, by a name that says where it came from.
#[derive(Default)]
struct Artefacts {
    items: Vec<(String, Vec<u8>)>,
}

impl Artefacts {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.items.push((name.into(), bytes.into()));
    }

    /// Every file under `root` (recursively, bounded); returns how many.
    fn walk(&mut self, label: &str, root: &Path) -> usize {
        let mut stack = vec![root.to_owned()];
        let mut files = 0;
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            seen += 1;
            assert!(seen < 10_000, "runaway walk under {}", root.display());
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    let bytes = std::fs::read(&p).unwrap_or_default();
                    let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                    self.add(format!("{label}/{rel}"), bytes);
                    files += 1;
                }
            }
        }
        files
    }

    fn bytes(&self) -> usize {
        self.items.iter().map(|(_, b)| b.len()).sum()
    }
}

/// A secret and the spellings it could leak in (raw, percent-encoded, hex bytes).
fn needles(secrets: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (what, s) in secrets {
        assert!(s.len() >= 12, "{what} is too short to grep for");
        out.push((what.clone(), s.clone()));
        let enc: String = s
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        if enc != *s {
            out.push((format!("{what} (percent-encoded)"), enc));
        }
        // As OSS's `StringToSignBytes` spells bytes: hex pairs separated by spaces.
        let hex: Vec<String> = s.bytes().map(|b| format!("{b:02x}")).collect();
        let hex = hex.join(" ");
        out.push((format!("{what} (hex bytes)"), hex.clone()));
        out.push((format!("{what} (HEX bytes)"), hex.to_uppercase()));
    }
    out
}

/// `artefact: secret … context` for every occurrence of every needle.
fn scan(art: &Artefacts, needles: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, bytes) in &art.items {
        // Secrets are ASCII: lossy decoding keeps every occurrence intact (and std's `find`
        // is fast even in the test profile).
        let text = String::from_utf8_lossy(bytes);
        for (what, n) in needles {
            if let Some(i) = text.find(n.as_str()) {
                let b = text.as_bytes();
                let ctx = &b[i.saturating_sub(60)..(i + n.len() + 60).min(b.len())];
                found.push(format!(
                    "{name}: {what} … {:?}",
                    String::from_utf8_lossy(ctx)
                ));
            }
        }
    }
    found
}

/// The one legitimate occurrence: the token as the value of the `x-oss-security-token` (V4)
/// or `security-token` (V1) query parameter of a presigned URL. Returns the text with those
/// values replaced, and how many there were; the token anywhere else stays, to be caught.
fn strip_presign_token(text: &str, token: &str) -> (String, usize) {
    let param = format!("security-token={token}");
    let n = text.matches(&param).count();
    (
        text.replace(&param, "security-token=<legitimate-sts-token>"),
        n,
    )
}

/// Runs the binary with one set of credentials: `RUST_LOG=trace`, `--audit-log`, every
/// stdout and stderr kept as an artefact.
struct Runner<'a> {
    env: &'a Env,
    creds: &'a Creds,
    audit: PathBuf,
    art: &'a mut Artefacts,
    runs: usize,
}

impl Runner<'_> {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = self.env.cmd();
        c.env("RUST_LOG", "trace")
            .env("OSS_ACCESS_KEY_ID", &self.creds.id)
            .env("OSS_ACCESS_KEY_SECRET", &self.creds.secret);
        match &self.creds.token {
            Some(t) => c.env("OSS_SESSION_TOKEN", t),
            None => c.env_remove("OSS_SESSION_TOKEN"),
        };
        c.arg("--audit-log").arg(&self.audit).args(args);
        c
    }

    async fn run(&mut self, what: &str, args: &[&str]) -> Out {
        let o = output(self.command(args)).await;
        self.runs += 1;
        let l = self.creds.label;
        self.art.add(format!("[{l}] {what}: stdout"), o.raw.clone());
        self.art
            .add(format!("[{l}] {what}: stderr"), o.stderr.clone());
        o
    }

    /// Runs and expects exit 0 (for commands that may not ask OSS).
    async fn done(&mut self, what: &str, args: &[&str]) -> Out {
        let o = self.run(what, args).await;
        assert_eq!(o.code, 0, "{what}: {args:?}\n{}\n{}", o.stderr, o.stdout);
        o
    }

    /// Runs, expects exit 0 and (for commands that talk to OSS) trace lines of the
    /// operation span: if logging silently stopped, the scan would prove nothing.
    async fn ok(&mut self, what: &str, args: &[&str]) -> Out {
        let o = self.run(what, args).await;
        assert_eq!(o.code, 0, "{what}: {args:?}\n{}\n{}", o.stderr, o.stdout);
        assert!(
            o.stderr.contains("ossguard.op") && o.stderr.contains("TRACE"),
            "{what}: no trace lines of the ossguard.op span on stderr:\n{}",
            o.stderr
        );
        o
    }

    /// `presign` with the STS triple. A presigned URL made with STS keys legitimately
    /// carries the token (`x-oss-security-token`, V1 `security-token`): that is how OSS
    /// presigning works with STS. Only that parameter's value is cut out of this stdout;
    /// the rest of it is scanned like everything else.
    async fn presign(&mut self, what: &str, args: &[&str]) -> Out {
        let o = output(self.command(args)).await;
        self.runs += 1;
        assert_eq!(o.code, 0, "{what}: {args:?}\n{}\n{}", o.stderr, o.stdout);
        let l = self.creds.label;
        let mut stdout = o.stdout.clone();
        if let Some(t) = &self.creds.token {
            let (cut, n) = strip_presign_token(&stdout, t);
            assert!(
                n >= 1,
                "{what}: an STS presigned URL carries the token: {stdout}"
            );
            stdout = cut;
        }
        self.art.add(format!("[{l}] {what}: stdout"), stdout);
        self.art
            .add(format!("[{l}] {what}: stderr"), o.stderr.clone());
        o
    }
}

/// The client's code paths with one set of credentials, in bucket `sec-<label>`.
async fn client_paths(r: &mut Runner<'_>, files: &Path, ckpt: &Path, home: &Path) {
    let env = r.env;
    let b = format!("sec-{}", r.creds.label);
    let o = |k: &str| format!("oss://{b}/{k}");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let small = files.join("small.txt");
    std::fs::write(&small, b"small object body").unwrap();
    let big = files.join("big.bin");
    write_random_file(&big, 640 * 1024, 14);
    let ckpt = s(ckpt);
    let cache = s(&home.join("cache"));
    let spool = s(&home.join("spool"));

    r.ok("mb", &["mb", &format!("oss://{b}")]).await;
    r.ok("cp up small", &["cp", &s(&small), &o("small.txt")])
        .await;
    r.ok(
        "cp up multipart",
        &[
            "cp",
            "--part-size",
            "128K",
            "--parallel",
            "2",
            "--checkpoint-dir",
            &ckpt,
            &s(&big),
            &o("big.bin"),
        ],
    )
    .await;
    r.ok(
        "cp up --json",
        &["--json", "cp", &s(&small), &o("json.txt")],
    )
    .await;
    // Without --checkpoint-dir: checkpoints under $HOME/.ossguard (walked too).
    r.ok(
        "cp down multipart",
        &[
            "cp",
            "--part-size",
            "128K",
            &o("big.bin"),
            &s(&files.join("big.back")),
        ],
    )
    .await;
    r.ok(
        "cp down small --json",
        &[
            "--json",
            "cp",
            &o("small.txt"),
            &s(&files.join("small.back")),
        ],
    )
    .await;
    r.ok("ls buckets", &["ls"]).await;
    r.ok("ls", &["ls", &format!("oss://{b}")]).await;
    r.ok("ls --json", &["--json", "ls", &format!("oss://{b}")])
        .await;
    r.ok("stat", &["stat", &o("small.txt")]).await;
    r.ok("stat --json", &["--json", "stat", &o("big.bin")])
        .await;
    let cat = r.ok("cat", &["cat", &o("small.txt")]).await;
    assert_eq!(cat.stdout, "small object body");
    r.ok(
        "cat --cache-dir (fill)",
        &["--cache-dir", &cache, "cat", &o("small.txt")],
    )
    .await;
    let hit = r
        .done(
            "cat --cache-dir (hit)",
            &["--cache-dir", &cache, "cat", &o("small.txt")],
        )
        .await;
    assert_eq!(hit.stdout, "small object body");
    r.done(
        "cache stats --json",
        &["--json", "--cache-dir", &cache, "cache", "stats"],
    )
    .await;

    let v1 = r
        .presign(
            "presign v1",
            &["presign", "--signature-version", "v1", &o("small.txt")],
        )
        .await;
    let v4 = r.presign("presign v4", &["presign", &o("small.txt")]).await;
    r.presign(
        "presign --json put",
        &[
            "--json",
            "presign",
            "--method",
            "PUT",
            "--expires",
            "60",
            &o("put.txt"),
        ],
    )
    .await;
    // The URLs work: the presign paths were real.
    for url in [v1.stdout.trim(), v4.stdout.trim()] {
        let got = reqwest::get(url).await.unwrap();
        assert_eq!(got.status(), 200, "{url}");
    }

    let rules = files.join("cors.json");
    std::fs::write(
        &rules,
        r#"{"CORSRule":[{"AllowedOrigin":["*"],"AllowedMethod":["GET"]}]}"#,
    )
    .unwrap();
    let bucket = format!("oss://{b}");
    r.ok("cors set", &["cors", "set", &bucket, &s(&rules)])
        .await;
    r.ok("cors get --json", &["--json", "cors", "get", &bucket])
        .await;
    r.ok("cors rm", &["cors", "rm", &bucket]).await;
    r.ok(
        "logging set",
        &[
            "logging",
            "set",
            &bucket,
            "--target-bucket",
            &b,
            "--target-prefix",
            "logs/",
        ],
    )
    .await;
    r.ok("logging get --json", &["--json", "logging", "get", &bucket])
        .await;
    r.ok("logging rm", &["logging", "rm", &bucket]).await;

    r.ok("acl set", &["acl", "set", &o("small.txt"), "private"])
        .await;
    r.ok("acl get --json", &["--json", "acl", "get", &bucket])
        .await;
    r.ok("rm", &["rm", &o("json.txt")]).await;
    r.ok("rm --json", &["--json", "rm", &o("small.back.none")])
        .await;

    // A multipart upload cut by a fault (no retries): its checkpoint stays in --checkpoint-dir.
    env.install_faults(
        serde_json::json!({"seed": 1, "rules": [{"every_nth": 3,
            "match": {"operations": ["UploadPart"], "key_prefix": "interrupted/"},
            "fault": {"kind": "status", "status": 500}}]})
        .to_string(),
    )
    .await;
    let cut = r
        .run(
            "cp up multipart cut by a fault",
            &[
                "cp",
                "--part-size",
                "128K",
                "--parallel",
                "1",
                "--retries",
                "0",
                "--checkpoint-dir",
                &ckpt,
                &s(&big),
                &o("interrupted/big.bin"),
            ],
        )
        .await;
    assert_ne!(cut.code, 0, "the fault cut the upload: {}", cut.stderr);
    let c = r
        .run(
            "cp up multipart cut by a fault --json",
            &[
                "--json",
                "cp",
                "--part-size",
                "128K",
                "--parallel",
                "1",
                "--retries",
                "0",
                "--checkpoint-dir",
                &ckpt,
                &s(&big),
                &o("interrupted/big2.bin"),
            ],
        )
        .await;
    assert_ne!(c.code, 0, "the fault cut the upload: {}", c.stderr);

    // A multipart download cut the same way: its checkpoint stays in $HOME/.ossguard.
    env.install_faults(
        serde_json::json!({"seed": 1, "rules": [{"every_nth": 3,
            "match": {"operations": ["GetObject"], "key_prefix": "big.bin"},
            "fault": {"kind": "status", "status": 500}}]})
        .to_string(),
    )
    .await;
    let cut = r
        .run(
            "cp down multipart cut by a fault",
            &[
                "cp",
                "--part-size",
                "128K",
                "--parallel",
                "1",
                "--retries",
                "0",
                "--no-hedge",
                &o("big.bin"),
                &s(&files.join("big.cut")),
            ],
        )
        .await;
    assert_ne!(cut.code, 0, "the fault cut the download: {}", cut.stderr);
    let home_ckpt = home.join(".ossguard").join("checkpoints");
    let left = std::fs::read_dir(&home_ckpt).map_or(0, |d| d.count());
    assert!(
        left >= 1,
        "a cut download leaves its checkpoint in {}",
        home_ckpt.display()
    );

    // Degraded mode: OSS unavailable for one key, the upload is journaled in the spool.
    env.install_faults(
        serde_json::json!({"seed": 1, "rules": [{
            "match": {"operations": ["PutObject"], "key_prefix": "spooled/"},
            "fault": {"kind": "status", "status": 503}}]})
        .to_string(),
    )
    .await;
    let sp = r
        .run(
            "cp up spooled",
            &[
                "--spool-dir",
                &spool,
                "--retries",
                "0",
                "cp",
                &s(&small),
                &o("spooled/s.txt"),
            ],
        )
        .await;
    assert_eq!(sp.code, 6, "spooled: {}\n{}", sp.stderr, sp.stdout);
    // `spool replay` empties the journal: keep what it held now.
    let label = format!("[{}] spool before replay", r.creds.label);
    let before = r.art.items.len();
    r.art.walk(&label, &home.join("spool"));
    assert!(
        r.art.items[before..].iter().any(|(_, b)| b.len() > 100),
        "the spool journaled the upload"
    );
    let cleared = env
        .admin(http::Method::DELETE, "/-/faults", String::new())
        .await;
    assert!(cleared.status().is_success());
    r.done(
        "spool list --json",
        &["--json", "--spool-dir", &spool, "spool", "list"],
    )
    .await;
    r.ok("spool replay", &["--spool-dir", &spool, "spool", "replay"])
        .await;
}

/// Requests signed with the wrong secret, V1 and V4, read and write, plain and `--json`.
async fn wrong_secret_paths(r: &mut Runner<'_>, files: &Path) {
    let small = files.join("wrong.txt");
    std::fs::write(&small, b"never stored").unwrap();
    let small = small.to_str().unwrap();
    for v in ["v1", "v4"] {
        let sv = ["--signature-version", v];
        for (what, args) in [
            ("ls", &["ls", "oss://sec-perm"][..]),
            ("ls --json", &["--json", "ls", "oss://sec-perm"]),
            ("cat", &["cat", "oss://sec-perm/big.bin"]),
            (
                "cp up --json",
                &["--json", "cp", small, "oss://sec-perm/wrong.txt"],
            ),
        ] {
            let what = format!("{what} {v} (wrong secret)");
            let args: Vec<&str> = sv.iter().chain(args).copied().collect();
            let o = r.run(&what, &args).await;
            assert_eq!(o.code, 2, "{what}: {}", o.stderr);
            assert!(
                o.stderr.contains("SignatureDoesNotMatch"),
                "{what}: {}",
                o.stderr
            );
        }
    }
}

/// Runs the drill (one scenario, one arm) and scrapes its `/metrics` while it runs.
async fn drill(env: &Env, report: &Path, art: &mut Artefacts) -> usize {
    let mut c = env.bare();
    c.env("RUST_LOG", "trace").args([
        "drill",
        "--quick",
        "--scenario",
        "F1-10",
        "--arm",
        "ossguard",
        "--report",
        report.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let mut child = c.spawn().expect("ossguard drill starts");
    let mut stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let err_task = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut all = String::new();
        let mut url_tx = Some(url_tx);
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(u) = l.strip_prefix("metrics: ") {
                if let Some(tx) = url_tx.take() {
                    let _ = tx.send(u.trim().to_owned());
                }
            }
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let out_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b).await;
        b
    });
    let url = tokio::time::timeout(Duration::from_secs(30), url_rx)
        .await
        .expect("the drill prints its metrics address within 30 s")
        .expect("the drill prints its metrics address");
    // Scrape until the drill ends (bounded: 120 × 250 ms).
    let mut scrapes = Vec::new();
    for _ in 0..120 {
        if let Ok(r) = reqwest::get(&url).await {
            if let Ok(t) = r.text().await {
                scrapes.push(t);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the drill ends within 60 s")
        .unwrap();
    let stderr = err_task.await.unwrap();
    let stdout = out_task.await.unwrap();
    assert!(
        status.code().is_some_and(|c| c == 0 || c == 4),
        "drill: {status}\n{}",
        String::from_utf8_lossy(&stdout)
    );
    assert!(
        stderr.contains("ossguard.op") && stderr.contains("TRACE"),
        "drill: no trace lines"
    );
    let last = scrapes
        .iter()
        .rev()
        .find(|t| t.contains("arm=\"ossguard\""));
    assert!(
        last.is_some(),
        "the drill's /metrics showed the arm's metrics: {scrapes:?}"
    );
    let n = scrapes.len();
    for (i, t) in scrapes.into_iter().enumerate() {
        art.add(format!("drill /metrics scrape {i}"), t);
    }
    art.add("drill: stdout", stdout);
    art.add("drill: stderr", stderr);
    n
}

/// The STS triple, minted by a signed `POST /-/sts` (crates/emulator/ADMIN.md).
async fn sts(env: &Env) -> Creds {
    let r = env
        .admin(
            http::Method::POST,
            "/-/sts",
            r#"{"DurationSeconds": 900}"#.into(),
        )
        .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "POST /-/sts: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let field = |k: &str| v[k].as_str().expect(k).to_owned();
    Creds {
        label: "sts",
        id: field("access_key_id"),
        secret: field("access_key_secret"),
        token: Some(field("security_token")),
    }
}

/// The raw body of a V1 request signed with the STS id and token but a wrong secret.
async fn wrong_v1_error_body(env: &Env, sts: &Creds) -> String {
    let mut req = ossguard_proto::Request::new(http::Method::GET, Some("sec-perm"), None);
    let creds = ossguard_proto::Credentials::new(sts.id.clone(), WRONG_SK)
        .with_security_token(sts.token.clone().unwrap());
    ossguard_proto::auth::v1::sign(
        &mut req,
        &creds,
        std::time::SystemTime::now(),
        ossguard_proto::auth::v1::DateHeader::Date,
    )
    .unwrap();
    let mut rb = reqwest::Client::new().get(format!("{}/sec-perm/", env.endpoint()));
    for (n, v) in &req.headers {
        if n != "host" && n != "content-length" {
            rb = rb.header(n, v);
        }
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 403);
    r.text().await.unwrap()
}

/// The audit records of `path`, each checked to name `principal`; returns how many.
fn audit_lines(path: &Path, principal: &str) -> usize {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("audit log {}: {e}", path.display()));
    let mut n = 0;
    for l in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}"));
        assert_eq!(v["principal"], principal, "{l}");
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_artefact() {
    let started = Instant::now();
    let env = Env::start().await;
    let (home, ckpt, report, audit, files) = (
        env.path("home"),
        env.path("checkpoints"),
        env.path("report"),
        env.path("audit"),
        env.path("files"),
    );
    for d in [&ckpt, &audit, &files] {
        std::fs::create_dir_all(d).unwrap();
    }
    let perm = Creds {
        label: "perm",
        id: AK.into(),
        secret: SK.into(),
        token: None,
    };
    let sts = sts(&env).await;
    let wrong = Creds {
        label: "wrong",
        id: AK.into(),
        secret: WRONG_SK.into(),
        token: None,
    };
    let mut secrets = vec![
        ("the permanent secret".to_owned(), SK.to_owned()),
        ("the STS secret".to_owned(), sts.secret.clone()),
        ("the STS token".to_owned(), sts.token.clone().unwrap()),
        ("the wrong secret".to_owned(), WRONG_SK.to_owned()),
    ];
    secrets.extend(DRILL_SECRETS.map(|s| (format!("drill secret {s}"), s.to_owned())));

    let mut art = Artefacts::default();
    let mut runs = 0;
    for creds in [&perm, &sts] {
        let mut r = Runner {
            env: &env,
            creds,
            audit: audit.join(format!("{}.jsonl", creds.label)),
            art: &mut art,
            runs: 0,
        };
        let dir = files.join(creds.label);
        std::fs::create_dir_all(&dir).unwrap();
        client_paths(&mut r, &dir, &ckpt, &home).await;
        runs += r.runs;
    }
    // A wrong secret, alone and with a valid STS id and token: `403 SignatureDoesNotMatch`,
    // whose OSS error body carries the server's StringToSign (with V1 and STS, the token is
    // in it: `x-oss-security-token:…`).
    let sts_wrong = Creds {
        label: "sts-wrong",
        id: sts.id.clone(),
        secret: WRONG_SK.into(),
        token: sts.token.clone(),
    };
    for creds in [&wrong, &sts_wrong] {
        let mut r = Runner {
            env: &env,
            creds,
            audit: audit.join(format!("{}.jsonl", creds.label)),
            art: &mut art,
            runs: 0,
        };
        wrong_secret_paths(&mut r, &files).await;
        runs += r.runs;
    }
    // Keys given as flags (argv) rather than the environment, and a usage error among them.
    let flags = Creds {
        label: "flags",
        id: AK.into(),
        secret: SK.into(),
        token: None,
    };
    let mut r = Runner {
        env: &env,
        creds: &flags,
        audit: audit.join("flags.jsonl"),
        art: &mut art,
        runs: 0,
    };
    let id_flag = [
        "--access-key-id",
        &sts.id,
        "--access-key-secret",
        &sts.secret,
    ];
    let token = sts.token.clone().unwrap();
    let mut args = id_flag.to_vec();
    args.extend(["--sts-token", &token, "stat", "oss://sec-sts/big.bin"]);
    r.ok("stat with the STS triple as flags", &args).await;
    let mut args = id_flag.to_vec();
    args.extend(["--sts-token", &token, "--part-size", "8X", "ls"]);
    let bad = r.run("usage error with keys as flags", &args).await;
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    let half = r
        .run(
            "--access-key-secret without --access-key-id",
            &["--access-key-secret", SK, "ls"],
        )
        .await;
    assert_eq!(half.code, 1, "{}", half.stderr);
    runs += r.runs;

    let scrapes = drill(&env, &report, &mut art).await;
    runs += 1;

    // The library's `Debug`, and the errors a wrong secret gets (V1 and V4).
    let triple = |secret: &str| {
        ossguard::Credentials::new(sts.id.clone(), secret.to_owned())
            .with_security_token(sts.token.clone().unwrap())
    };
    for (name, c) in [
        ("permanent", ossguard::Credentials::new(AK, SK)),
        ("sts", triple(&sts.secret)),
        ("wrong", ossguard::Credentials::new(AK, WRONG_SK)),
        ("sts-wrong", triple(WRONG_SK)),
    ] {
        art.add(format!("Debug of Credentials ({name})"), format!("{c:?}"));
        for v in [
            ossguard::SignatureVersion::V1,
            ossguard::SignatureVersion::V4,
        ] {
            let b = ossguard::Client::builder()
                .endpoint(env.endpoint())
                .credentials(c.clone())
                .signature_version(v);
            art.add(
                format!("Debug of ClientBuilder ({name} {v:?})"),
                format!("{b:?}"),
            );
            let client = b.build().unwrap();
            art.add(
                format!("Debug of Client ({name} {v:?})"),
                format!("{client:?}"),
            );
            if name.ends_with("wrong") {
                let e = client.head_object("sec-perm", "big.bin").await.unwrap_err();
                art.add(
                    format!("HeadObject error ({name} {v:?})"),
                    format!("{e:?}\n{e}"),
                );
                let e = client
                    .list_objects_page("sec-perm", &ossguard::ListOptions::default(), None)
                    .await
                    .unwrap_err();
                let text = format!("{e:?}\n{e}");
                assert!(text.contains("SignatureDoesNotMatch"), "{text}");
                art.add(format!("ListObjects error ({name} {v:?})"), text);
            }
        }
    }

    // Control: the channel is real. The emulator, like OSS, answers a wrong V1 signature with
    // its StringToSign, which holds the STS token; the client must not pass that on.
    let body = wrong_v1_error_body(&env, &sts).await;
    let mut control = Artefacts::default();
    control.add("raw 403 body", body.clone());
    let token = sts.token.clone().unwrap();
    assert!(
        !scan(&control, &needles(&[("the STS token".into(), token)])).is_empty(),
        "the server's SignatureDoesNotMatch body carries the token: {body}"
    );

    let metrics = reqwest::get(format!("{}/-/metrics", env.endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ossguard_server_requests"), "{metrics}");
    art.add("emulator GET /-/metrics", metrics);

    // The emulator's data directory (its own keys, its access log) is the server's, not an
    // artefact of the client: not walked.
    let mut walked = 0;
    for (label, dir) in [
        ("home", &home),
        ("checkpoints", &ckpt),
        ("report", &report),
        ("audit", &audit),
    ] {
        walked += art.walk(label, dir);
    }

    // The artefacts are real: logging did not silently stop.
    let ck = art
        .items
        .iter()
        .filter(|(n, _)| n.starts_with("checkpoints/"))
        .count();
    assert!(ck >= 1, "a cut multipart upload leaves its checkpoint");
    for f in [
        "report/summary.json",
        "report/requests.jsonl",
        "report/index.html",
    ] {
        assert!(art.items.iter().any(|(n, _)| n == f), "{f} written");
    }
    let audited = [
        audit_lines(&audit.join("perm.jsonl"), AK),
        audit_lines(&audit.join("sts.jsonl"), &sts.id),
        audit_lines(&audit.join("wrong.jsonl"), AK),
        audit_lines(&audit.join("sts-wrong.jsonl"), &sts.id),
        audit_lines(&audit.join("flags.jsonl"), &sts.id),
    ];
    assert!(
        audited[0] >= 20
            && audited[1] >= 20
            && audited[2] >= 8
            && audited[3] >= 8
            && audited[4] >= 1,
        "audit lines: {audited:?}"
    );

    let found = scan(&art, &needles(&secrets));
    println!(
        "secrets: {} artefacts scanned ({walked} files, {runs} runs, {scrapes} metrics scrapes), \
         {} bytes, {} secrets; audit lines {audited:?}; {:?}",
        art.items.len(),
        art.bytes(),
        secrets.len(),
        started.elapsed()
    );
    assert!(
        found.is_empty(),
        "{} secret occurrence(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The scanner itself can fail: planted secrets are found raw, percent-encoded, as hex bytes,
/// in a walked file, and an STS token outside the presign parameter is still caught.
#[test]
fn scanner_finds_planted_secrets() {
    let secret = "pl4nted/secret+value=";
    let token = "CAIS0123456789abcdef";
    let n = needles(&[
        ("planted".into(), secret.into()),
        ("token".into(), token.into()),
    ]);
    let mut art = Artefacts::default();
    art.add("clean", "nothing to see here");
    art.add("raw", format!("error: bad key {secret} (stderr)"));
    art.add(
        "encoded",
        "GET /b/k?sig=pl4nted%2Fsecret%2Bvalue%3D HTTP/1.1",
    );
    let hex: Vec<String> = secret.bytes().map(|b| format!("{b:02X}")).collect();
    art.add(
        "hex",
        format!("<StringToSignBytes>{}</StringToSignBytes>", hex.join(" ")),
    );
    let (url, cut) = strip_presign_token(
        &format!("http://h/b/k?x-oss-security-token={token}&Signature=x\nagain: {token}\n"),
        token,
    );
    assert_eq!(cut, 1);
    art.add("presign stdout", url);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(
        dir.path().join("a/b/checkpoint.json"),
        format!("{{\"k\":\"{secret}\"}}"),
    )
    .unwrap();
    assert_eq!(art.walk("walked", dir.path()), 1);

    let found = scan(&art, &n);
    let names: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "raw",
            "encoded",
            "hex",
            "presign stdout",
            "walked/a/b/checkpoint.json"
        ],
        "{found:#?}"
    );
    assert!(
        found[3].contains("token") && found[3].contains("again"),
        "{}",
        found[3]
    );
}
