//! ossutil/rclone parity (issue 15): `rm -r` aborts unfinished multipart uploads, `du`,
//! `--profile`, and the help of the non-client commands. The real binary against the
//! in-process emulator on 127.0.0.1.

mod common;

use common::{Env, AK, SK};
use ossguard::{Body, PutObjectOptions};

/// The keys of the uploads in progress under `prefix`, sorted (checked behind the CLI's back).
async fn uploads(env: &Env, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = env
        .client()
        .list_multipart_uploads(bucket, prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.key)
        .collect();
    keys.sort();
    keys
}

async fn put(env: &Env, bucket: &str, key: &str, len: usize) {
    env.client()
        .put_object(
            bucket,
            key,
            Body::from(vec![b'x'; len]),
            PutObjectOptions::default(),
        )
        .await
        .unwrap();
}

/// Starts an upload of `key` with one 10-byte part; returns its upload id.
async fn start_upload(env: &Env, bucket: &str, key: &str) -> String {
    let c = env.client();
    let id = c
        .initiate_multipart_upload(bucket, key, &PutObjectOptions::default())
        .await
        .unwrap();
    c.upload_part(bucket, key, &id, 1, Body::from(vec![7u8; 10]))
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_r_aborts_the_multipart_uploads_under_the_prefix() {
    let env = Env::start().await;
    let b = "bkt-rm-mpu";
    env.ok(&["mb", &format!("oss://{b}")]).await;
    for k in ["dir/a", "dir/sub/b", "dir/sub/c", "dirx/keep", "other/keep"] {
        put(&env, b, k, 3).await;
    }
    // Seven uploads under dir/ (pages of 2 below: four pages), two outside it, one of them
    // under the sibling prefix dirx/ that a plain string prefix "dir" would take too.
    // Keys that need URL encoding: the page markers come back encoded and must be decoded.
    for i in 0..7 {
        start_upload(&env, b, &format!("dir/up{i} ünï +%")).await;
    }
    start_upload(&env, b, "dirx/up").await;
    start_upload(&env, b, "other/up").await;
    assert_eq!(uploads(&env, b, "dir/").await.len(), 7);
    // A no-op rule that counts the ListMultipartUploads requests.
    env.install_faults(
        serde_json::json!({"rules": [{
            "name": "count-lists",
            "match": {"operations": ["ListMultipartUploads"]},
            "fault": {"kind": "latency", "delay_ms": 0},
        }]})
        .to_string(),
    )
    .await;

    let r = env
        .ok(&[
            "--json",
            "rm",
            "-r",
            &format!("oss://{b}/dir"),
            "--page-size",
            "2",
        ])
        .await
        .json();
    assert_eq!(r["deleted"], 3, "{r}");
    assert_eq!(r["aborted_uploads"], 7, "{r}");
    assert_eq!(r["failed"], serde_json::json!([]), "{r}");
    let stats = env.fault_stats().await;
    assert_eq!(
        stats["rules"][0]["matched"], 4,
        "pages of 2, 2, 2, 1: {stats}"
    );
    assert!(
        uploads(&env, b, "dir/").await.is_empty(),
        "no upload is left under the prefix"
    );
    assert_eq!(uploads(&env, b, "").await, ["dirx/up", "other/up"]);
    let left = env.ok(&["--json", "ls", "-r", &format!("oss://{b}")]).await;
    let keys: Vec<String> = left
        .json_lines()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["dirx/keep", "other/keep"]);

    // The text summary; nothing left to do is not an error.
    let o = env.ok(&["rm", "-r", &format!("oss://{b}/dir/")]).await;
    assert!(
        o.stdout.contains(&format!(
            "deleted 0 objects and aborted 0 multipart uploads under oss://{b}/dir/"
        )),
        "{}",
        o.stdout
    );

    // A failed abort is a failed item of the batch: exit 4, the others are still aborted.
    start_upload(&env, b, "other/stuck").await;
    start_upload(&env, b, "other/up2").await;
    env.install_faults(
        serde_json::json!({"rules": [{
            "name": "no-abort",
            "match": {"operations": ["AbortMultipartUpload"], "key_prefix": "other/stuck"},
            "fault": {"kind": "status", "status": 403, "code": "AccessDenied"},
        }]})
        .to_string(),
    )
    .await;
    let o = env
        .run(&["--json", "rm", "-r", &format!("oss://{b}/other")])
        .await;
    assert_eq!(o.code, 4, "{}\n{}", o.stderr, o.stdout);
    assert!(
        o.stderr.contains("other/stuck") && o.stderr.contains("AccessDenied"),
        "{}",
        o.stderr
    );
    let lines = o.json_lines();
    let summary = &lines[0];
    assert_eq!(
        (&summary["deleted"], &summary["aborted_uploads"]),
        (&serde_json::json!(1), &serde_json::json!(2)),
        "{summary}"
    );
    assert_eq!(summary["failed"][0]["code"], "AccessDenied", "{summary}");
    assert_eq!(uploads(&env, b, "other/").await, ["other/stuck"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn du_counts_objects_and_bytes_under_a_prefix() {
    let env = Env::start().await;
    let b = "bkt-du";
    env.ok(&["mb", &format!("oss://{b}")]).await;
    let sizes = [0usize, 1, 1000, 4096, 70_000];
    for (i, n) in sizes.iter().enumerate() {
        put(&env, b, &format!("logs/{i}.log"), *n).await;
    }
    put(&env, b, "logs2/x", 5).await;
    put(&env, b, "top", 7).await;
    // An unfinished upload is not counted.
    start_upload(&env, b, "logs/partial").await;
    let total: usize = sizes.iter().sum();

    // Small pages: the sum runs over several listing requests.
    let j = env
        .ok(&[
            "--json",
            "du",
            &format!("oss://{b}/logs/"),
            "--page-size",
            "2",
        ])
        .await
        .json();
    assert_eq!(
        (&j["objects"], &j["bytes"], &j["prefix"]),
        (
            &serde_json::json!(5),
            &serde_json::json!(total),
            &serde_json::json!("logs/")
        ),
        "{j}"
    );
    let classes = j["storage_classes"].as_array().unwrap();
    assert_eq!(classes.len(), 1, "{j}");
    assert_eq!(
        (&classes[0]["objects"], &classes[0]["bytes"]),
        (&serde_json::json!(5), &serde_json::json!(total))
    );
    // A string prefix, as ls and ossutil: logs matches logs2/ too; no prefix: the bucket.
    let j = env
        .ok(&["--json", "du", &format!("oss://{b}/logs")])
        .await
        .json();
    assert_eq!(
        (j["objects"].as_u64(), j["bytes"].as_u64()),
        (Some(6), Some(total as u64 + 5))
    );
    let j = env
        .ok(&["--json", "du", &format!("oss://{b}")])
        .await
        .json();
    assert_eq!(
        (j["objects"].as_u64(), j["bytes"].as_u64()),
        (Some(7), Some(total as u64 + 12))
    );
    let j = env
        .ok(&["--json", "du", &format!("oss://{b}/none/")])
        .await
        .json();
    assert_eq!(
        (j["objects"].as_u64(), j["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    // ossutil's table.
    let o = env.ok(&["du", &format!("oss://{b}/logs/")]).await;
    let out = &o.stdout;
    assert!(out.starts_with("storage class"), "{out}");
    assert!(out.contains("total object count: 5 "), "{out}");
    assert!(
        out.contains(&format!("total object sum size: {total}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("total du size(byte): {total} (")),
        "{out}"
    );

    // A missing bucket is the server's error; a missing URL a usage error.
    assert_eq!(env.run(&["du", "oss://bkt-du-missing"]).await.code, 2);
    assert_eq!(env.run(&["du"]).await.code, 1);
    let help = env.ok(&["du", "--help"]).await.stdout;
    assert!(help.contains("objects only"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_selects_a_section_of_the_config_file() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-prof"]).await;
    let good = env.endpoint();
    let dead = "http://127.0.0.1:9";
    let cfg = env.path("ossutilconfig");
    std::fs::write(
        &cfg,
        format!(
            "[default]\nendpoint={dead}\naccessKeyId=nobody\naccessKeySecret=nothing\n\
             [profile test]\nendpoint={good}\naccessKeyId={AK}\naccessKeySecret={SK}\n\
             [plain]\nendpoint={good}\naccessKeyId={AK}\naccessKeySecret={SK}\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap().to_owned();
    let run = |pre: &[&str], env_profile: Option<&str>| {
        let mut c = env.bare();
        c.args(["--config", &cfg_s]).args(pre);
        if let Some(p) = env_profile {
            c.env("OSS_PROFILE", p);
        }
        c.args(["ls", "oss://bkt-prof"]);
        common::output(c)
    };
    // The default profile points at a dead endpoint: 3.
    assert_eq!(run(&[], None).await.code, 3);
    let o = run(&["--profile", "test"], None).await;
    assert_eq!(o.code, 0, "[profile NAME]: {}", o.stderr);
    let o = run(&["--profile", "plain"], None).await;
    assert_eq!(o.code, 0, "[NAME]: {}", o.stderr);
    let o = run(&[], Some("test")).await;
    assert_eq!(o.code, 0, "OSS_PROFILE: {}", o.stderr);
    let o = run(&["--profile", "default"], Some("test")).await;
    assert_eq!(o.code, 3, "the flag beats OSS_PROFILE: {}", o.stderr);
    // After the command too.
    let mut c = env.bare();
    c.args([
        "ls",
        "oss://bkt-prof",
        "--config",
        &cfg_s,
        "--profile",
        "test",
    ]);
    assert_eq!(common::output(c).await.code, 0);

    // An absent profile: usage error naming the file and the profiles it has.
    let o = run(&["--profile", "prod"], None).await;
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("\"prod\"")
            && o.stderr.contains(&cfg_s)
            && o.stderr.contains("default, plain, test"),
        "{}",
        o.stderr
    );
    let o = run(&[], Some("prod")).await;
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("OSS_PROFILE"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_flags_stay_out_of_the_help_of_serve_chaos_and_drill() {
    let env = Env::start().await;
    let help = |args: Vec<&'static str>| {
        let mut c = env.bare();
        c.args(args);
        common::output(c)
    };
    let client_only = [
        "--sts-token",
        "--cache-dir",
        "--spool-dir",
        "--part-size",
        "--profile",
        "--signature-version",
        "--no-hedge",
    ];
    for (args, own) in [
        (
            vec!["serve", "--help"],
            &[
                "--addr",
                "--access-key-id",
                "--access-key-secret",
                "--region",
            ][..],
        ),
        (vec!["help", "serve"], &["--addr", "--access-key-id"][..]),
        (
            vec!["chaos", "--help"],
            &["--api", "--config", "--seed"][..],
        ),
        (
            vec!["drill", "--help"],
            &["--quick", "--endpoint", "--json"][..],
        ),
    ] {
        let o = help(args.clone()).await;
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        for flag in client_only {
            assert!(
                !o.stdout.contains(flag),
                "{args:?} lists the client flag {flag}:\n{}",
                o.stdout
            );
        }
        for flag in own {
            assert!(
                o.stdout.contains(flag),
                "{args:?} lost its own {flag}:\n{}",
                o.stdout
            );
        }
    }
    assert!(!help(vec!["chaos", "--help"])
        .await
        .stdout
        .contains("--endpoint"));
    assert!(!help(vec!["drill", "--help"])
        .await
        .stdout
        .contains("--access-key-id"));
    // The client commands and the top level still document them.
    for args in [vec!["--help"], vec!["ls", "--help"], vec!["cp", "--help"]] {
        let o = help(args.clone()).await;
        for flag in ["--endpoint", "--access-key-id", "--sts-token", "--profile"] {
            assert!(o.stdout.contains(flag), "{args:?} lacks {flag}");
        }
    }
}
