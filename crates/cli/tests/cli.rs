//! The real `ossguard` binary against the in-process emulator on 127.0.0.1.

mod common;

use std::path::Path;

use common::{sha256_file, write_random_file, Env, AK, SK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_objects_and_listings() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-main"]).await;
    env.ok(&["mb", "oss://bkt-other", "--acl", "public-read"])
        .await;

    let o = env.ok(&["ls"]).await;
    assert!(
        o.stdout.contains("oss://bkt-main") && o.stdout.contains("oss://bkt-other"),
        "{}",
        o.stdout
    );
    let lines = env.ok(&["--json", "ls"]).await.json_lines();
    let names: Vec<_> = lines
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["bkt-main", "bkt-other"]);

    // 0-byte, 1-byte and unicode keys, up and down.
    let files = [
        ("empty.bin", vec![]),
        ("one.bin", vec![0x42u8]),
        ("ünï cödé +%.txt", b"hello unicode\n".to_vec()),
    ];
    for (name, data) in &files {
        let p = env.path(name);
        std::fs::write(&p, data).unwrap();
        env.ok(&["cp", p.to_str().unwrap(), "oss://bkt-main/dir/"])
            .await;
    }
    env.ok(&[
        "cp",
        env.path("one.bin").to_str().unwrap(),
        "oss://bkt-main/top.bin",
    ])
    .await;
    env.ok(&[
        "cp",
        env.path("one.bin").to_str().unwrap(),
        "oss://bkt-main/dir/sub/deep.bin",
    ])
    .await;
    for (name, data) in &files {
        let url = format!("oss://bkt-main/dir/{name}");
        let dst = env.path(&format!("down-{name}"));
        env.ok(&["cp", &url, dst.to_str().unwrap()]).await;
        assert_eq!(&std::fs::read(&dst).unwrap(), data, "{name}");
        let cat = env.ok(&["cat", &url]).await;
        assert_eq!(&cat.raw, data, "cat {name}");
        // OSS → OSS, server side.
        let copy = format!("oss://bkt-other/copies/{name}");
        env.ok(&["cp", &url, &copy]).await;
        assert_eq!(&env.ok(&["cat", &copy]).await.raw, data);
    }
    // Download into a directory keeps the key's last segment.
    let into = env.path("into");
    std::fs::create_dir(&into).unwrap();
    env.ok(&[
        "cp",
        "oss://bkt-main/dir/ünï cödé +%.txt",
        into.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        std::fs::read(into.join("ünï cödé +%.txt")).unwrap(),
        b"hello unicode\n"
    );

    // One level, with "directories".
    let lines = env
        .ok(&["--json", "ls", "oss://bkt-main"])
        .await
        .json_lines();
    let prefixes: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "prefix")
        .map(|l| l["prefix"].as_str().unwrap())
        .collect();
    let keys: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "object")
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(prefixes, ["dir/"]);
    assert_eq!(keys, ["top.bin"]);
    let human = env.ok(&["ls", "oss://bkt-main/dir/"]).await.stdout;
    assert!(
        human.contains("DIR") && human.contains("oss://bkt-main/dir/sub/"),
        "{human}"
    );
    assert!(
        human.contains("oss://bkt-main/dir/ünï cödé +%.txt"),
        "{human}"
    );
    assert!(!human.contains("deep.bin"), "one level only: {human}");
    let lines = env
        .ok(&["--json", "ls", "-r", "oss://bkt-main"])
        .await
        .json_lines();
    let mut keys: Vec<_> = lines
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "dir/empty.bin",
            "dir/one.bin",
            "dir/sub/deep.bin",
            "dir/ünï cödé +%.txt",
            "top.bin"
        ]
    );
    let size_of_one = lines.iter().find(|l| l["key"] == "dir/one.bin").unwrap()["size"].as_u64();
    assert_eq!(size_of_one, Some(1));

    // stat
    let st = env
        .ok(&["--json", "stat", "oss://bkt-main/dir/ünï cödé +%.txt"])
        .await
        .json();
    assert_eq!(st["size"], 14);
    assert_eq!(st["key"], "dir/ünï cödé +%.txt");
    assert!(st["etag"].as_str().is_some_and(|e| !e.is_empty()), "{st}");
    assert!(
        st["last_modified"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{st}"
    );
    let crc: u64 = st["crc64"].as_str().unwrap().parse().unwrap();
    assert_eq!(crc, ossguard_proto::crc64::checksum(b"hello unicode\n"));
    let human = env.ok(&["stat", "oss://bkt-main/top.bin"]).await.stdout;
    assert!(human.contains("size") && human.contains('1'), "{human}");
    let b = env.ok(&["--json", "stat", "oss://bkt-other"]).await.json();
    assert_eq!(
        (b["bucket"].as_str(), b["acl"].as_str()),
        (Some("bkt-other"), Some("public-read"))
    );

    // rm one, rm -r the rest under a prefix.
    env.ok(&["rm", "oss://bkt-main/top.bin"]).await;
    assert_eq!(env.run(&["stat", "oss://bkt-main/top.bin"]).await.code, 2);
    let r = env
        .ok(&["--json", "rm", "-r", "oss://bkt-main/dir"])
        .await
        .json();
    assert_eq!(r["deleted"], 5 - 1);
    assert!(!env
        .ok(&["ls", "-r", "oss://bkt-main"])
        .await
        .stdout
        .contains("oss://"));

    // rb: non-empty → 2 with BucketNotEmpty; empty → ok.
    let o = env.run(&["rb", "oss://bkt-other"]).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("BucketNotEmpty") && o.stderr.starts_with("error: "),
        "{}",
        o.stderr
    );
    env.ok(&["rm", "-r", "oss://bkt-other"]).await;
    env.ok(&["rb", "oss://bkt-other"]).await;
    env.ok(&["rb", "oss://bkt-main"]).await;
    assert_eq!(env.ok(&["--json", "ls"]).await.stdout.trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_roundtrip() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-big"]).await;
    let src = env.path("big.bin");
    let len = 100 * 1024 * 1024 + 12345;
    let digest = write_random_file(&src, len, 7);
    let started = std::time::Instant::now();
    let up = env
        .ok(&[
            "--json",
            "cp",
            src.to_str().unwrap(),
            "oss://bkt-big/big/ファイル.bin",
        ])
        .await
        .json();
    assert_eq!(up["bytes"], len as u64);
    let dst = env.path("big.down");
    env.ok(&[
        "cp",
        "oss://bkt-big/big/ファイル.bin",
        dst.to_str().unwrap(),
    ])
    .await;
    assert_eq!(sha256_file(&dst), digest);
    // Above the 100 MiB copy threshold: UploadPartCopy parts (8 MiB), not one CopyObject.
    let copied = env
        .ok(&[
            "--json",
            "cp",
            "oss://bkt-big/big/ファイル.bin",
            "oss://bkt-big/copy.bin",
        ])
        .await
        .json();
    assert_eq!(copied["bytes"], len as u64);
    assert!(
        copied["etag"].as_str().unwrap().ends_with("-13\""),
        "{copied}"
    );
    let st = env
        .ok(&["--json", "stat", "oss://bkt-big/copy.bin"])
        .await
        .json();
    assert_eq!(st["size"], len as u64);
    let dst2 = env.path("copy.down");
    env.ok(&["cp", "oss://bkt-big/copy.bin", dst2.to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&dst2), digest);
    eprintln!("100 MiB up + down + copy + down: {:?}", started.elapsed());
    assert!(env
        .client()
        .list_multipart_uploads("bkt-big", "")
        .await
        .unwrap()
        .is_empty());
}

fn write_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("a.txt".to_owned(), b"a".to_vec()),
        ("empty".to_owned(), vec![]),
        ("d1/b.bin".to_owned(), common::random_bytes(100_000, 3)),
        ("d1/d2/d3/deep.txt".to_owned(), b"deep".to_vec()),
        ("dé jà/vü.txt".to_owned(), "ünïcödé".as_bytes().to_vec()),
    ];
    for (rel, data) in &files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_trees() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-tree"]).await;
    let root = env.path("tree");
    let files = write_tree(&root);
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();

    let up = env
        .ok(&[
            "--json",
            "cp",
            "-r",
            root.to_str().unwrap(),
            "oss://bkt-tree/up",
        ])
        .await
        .json();
    assert_eq!(up["succeeded"], files.len());
    let lines = env
        .ok(&["--json", "ls", "-r", "oss://bkt-tree/up/"])
        .await
        .json_lines();
    let mut keys: Vec<_> = lines
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    let mut want: Vec<_> = files.iter().map(|(r, _)| format!("up/{r}")).collect();
    want.sort();
    assert_eq!(keys, want);

    // prefix → local dir, nested paths rebuilt.
    let down = env.path("down");
    env.ok(&["cp", "-r", "oss://bkt-tree/up/", down.to_str().unwrap()])
        .await;
    for (rel, data) in &files {
        assert_eq!(&std::fs::read(down.join(rel)).unwrap(), data, "{rel}");
    }
    // prefix → prefix (server side), then a bucket-wide tree.
    env.ok(&["cp", "-r", "oss://bkt-tree/up", "oss://bkt-tree/copy/"])
        .await;
    let lines = env
        .ok(&["--json", "ls", "-r", "oss://bkt-tree/copy/"])
        .await
        .json_lines();
    assert_eq!(lines.len(), files.len());
    let o = env
        .run(&["cp", "-r", "oss://bkt-tree/up", "oss://bkt-tree/up/again"])
        .await;
    assert_eq!(o.code, 1, "overlapping prefixes are refused: {}", o.stderr);

    // A file name that cannot be a key fails alone: partial failure, exit 4.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = root.join(std::ffi::OsStr::from_bytes(b"bad-\xff.bin"));
        std::fs::write(&bad, b"x").unwrap();
        let o = env
            .run(&[
                "cp",
                "-r",
                root.to_str().unwrap(),
                "oss://bkt-tree/partial/",
            ])
            .await;
        assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("not UTF-8"), "{}", o.stderr);
        let lines = env
            .ok(&["--json", "ls", "-r", "oss://bkt-tree/partial/"])
            .await
            .json_lines();
        assert_eq!(lines.len(), files.len(), "the other files went up");
    }

    // rm -r of more than one batch of 1000.
    let many = env.path("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..1100 {
        std::fs::write(many.join(format!("f{i:04}")), b"").unwrap();
    }
    env.ok(&[
        "-q",
        "cp",
        "-r",
        "-j",
        "16",
        many.to_str().unwrap(),
        "oss://bkt-tree/many/",
    ])
    .await;
    let r = env
        .ok(&["--json", "rm", "-r", "oss://bkt-tree/many/"])
        .await
        .json();
    assert_eq!(r["deleted"], 1100);
    let r = env
        .ok(&["--json", "rm", "-r", "oss://bkt-tree"])
        .await
        .json();
    assert!(r["deleted"].as_u64().unwrap() >= 10);
    assert_eq!(
        env.ok(&["--json", "ls", "-r", "oss://bkt-tree"])
            .await
            .stdout,
        ""
    );
    env.ok(&["rb", "oss://bkt-tree"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presign_v1_and_v4() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-pre"]).await;
    let p = env.path("p.txt");
    std::fs::write(&p, b"presigned body").unwrap();
    env.ok(&["cp", p.to_str().unwrap(), "oss://bkt-pre/dir/ü k.txt"])
        .await;
    let http = reqwest::Client::new();
    for v in ["v1", "v4"] {
        let url = env
            .ok(&[
                "presign",
                "--signature-version",
                v,
                "oss://bkt-pre/dir/ü k.txt",
            ])
            .await
            .stdout;
        let url = url.trim();
        assert!(url.starts_with(&env.endpoint()), "{url}");
        if v == "v4" {
            assert!(
                url.contains("x-oss-signature-version=OSS4-HMAC-SHA256"),
                "{url}"
            );
        } else {
            assert!(
                url.contains("OSSAccessKeyId=") && url.contains("Signature="),
                "{url}"
            );
        }
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{v}: {}", r.text().await.unwrap());
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"presigned body");

        let put = env
            .ok(&[
                "--json",
                "presign",
                "--signature-version",
                v,
                "--method",
                "PUT",
                "--expires",
                "60",
                &format!("oss://bkt-pre/put-{v}"),
            ])
            .await
            .json();
        assert_eq!(put["method"], "PUT");
        let r = http
            .put(put["url"].as_str().unwrap())
            .body(format!("put via {v}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{v}: {}", r.text().await.unwrap());
        assert_eq!(
            env.ok(&["cat", &format!("oss://bkt-pre/put-{v}")])
                .await
                .stdout,
            format!("put via {v}")
        );
    }
    // A tampered signature is refused.
    let url = env
        .ok(&["presign", "oss://bkt-pre/dir/ü k.txt"])
        .await
        .stdout;
    let bad = url
        .trim()
        .replace("x-oss-expires=3600", "x-oss-expires=3601");
    assert_eq!(http.get(bad).send().await.unwrap().status(), 403);
    assert_eq!(
        env.run(&["presign", "--expires", "999999999", "oss://bkt-pre/k"])
            .await
            .code,
        1
    );
    assert_eq!(env.run(&["presign", "oss://bkt-pre/"]).await.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_cors_logging() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-cfg"]).await;
    env.ok(&["mb", "oss://bkt-logs"]).await;
    assert_eq!(
        env.ok(&["acl", "get", "oss://bkt-cfg"]).await.stdout.trim(),
        "private"
    );
    env.ok(&["acl", "set", "oss://bkt-cfg", "public-read"])
        .await;
    assert_eq!(
        env.ok(&["--json", "acl", "get", "oss://bkt-cfg"])
            .await
            .json()["acl"],
        "public-read"
    );
    let p = env.path("o.txt");
    std::fs::write(&p, b"o").unwrap();
    env.ok(&["cp", p.to_str().unwrap(), "oss://bkt-cfg/o.txt"])
        .await;
    assert_eq!(
        env.ok(&["acl", "get", "oss://bkt-cfg/o.txt"])
            .await
            .stdout
            .trim(),
        "default"
    );
    env.ok(&["acl", "set", "oss://bkt-cfg/o.txt", "private"])
        .await;
    assert_eq!(
        env.ok(&["acl", "get", "oss://bkt-cfg/o.txt"])
            .await
            .stdout
            .trim(),
        "private"
    );
    let o = env.run(&["acl", "set", "oss://bkt-cfg", "everyone"]).await;
    assert_eq!(o.code, 1, "{}", o.stderr);

    // CORS from XML, then JSON; get round-trips.
    assert_eq!(
        env.ok(&["--json", "cors", "get", "oss://bkt-cfg"])
            .await
            .json()["CORSConfiguration"],
        serde_json::Value::Null
    );
    let xml = env.path("cors.xml");
    std::fs::write(&xml, "<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><MaxAgeSeconds>100</MaxAgeSeconds></CORSRule></CORSConfiguration>").unwrap();
    env.ok(&["cors", "set", "oss://bkt-cfg", xml.to_str().unwrap()])
        .await;
    let got = env.ok(&["cors", "get", "oss://bkt-cfg"]).await.stdout;
    assert!(
        got.contains("<AllowedOrigin>https://a.example</AllowedOrigin>")
            && got.contains("<MaxAgeSeconds>100"),
        "{got}"
    );
    let json = env.path("cors.json");
    std::fs::write(&json, r#"{"CORSRule":[{"AllowedOrigin":["*"],"AllowedMethod":["GET"]},{"AllowedOrigin":"https://b.example","AllowedMethod":"POST","AllowedHeader":"*"}]}"#).unwrap();
    env.ok(&["cors", "set", "oss://bkt-cfg", json.to_str().unwrap()])
        .await;
    let got = env
        .ok(&["--json", "cors", "get", "oss://bkt-cfg"])
        .await
        .json();
    let rules = got["CORSConfiguration"]["CORSRule"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1]["AllowedOrigin"][0], "https://b.example");
    // The JSON of `get` is accepted by `set`.
    let again = env.path("again.json");
    std::fs::write(&again, got.to_string()).unwrap();
    env.ok(&["cors", "set", "oss://bkt-cfg", again.to_str().unwrap()])
        .await;
    std::fs::write(&json, "{not json").unwrap();
    assert_eq!(
        env.run(&["cors", "set", "oss://bkt-cfg", json.to_str().unwrap()])
            .await
            .code,
        1
    );
    env.ok(&["cors", "rm", "oss://bkt-cfg"]).await;
    assert_eq!(
        env.ok(&["cors", "get", "oss://bkt-cfg"])
            .await
            .stdout
            .trim(),
        "no CORS rules"
    );

    // Logging.
    assert_eq!(
        env.ok(&["--json", "logging", "get", "oss://bkt-cfg"])
            .await
            .json()["enabled"],
        false
    );
    env.ok(&[
        "logging",
        "set",
        "oss://bkt-cfg",
        "--target-bucket",
        "bkt-logs",
        "--target-prefix",
        "access/",
    ])
    .await;
    let l = env
        .ok(&["--json", "logging", "get", "oss://bkt-cfg"])
        .await
        .json();
    assert_eq!(
        (
            l["enabled"].as_bool(),
            l["target_bucket"].as_str(),
            l["target_prefix"].as_str()
        ),
        (Some(true), Some("bkt-logs"), Some("access/"))
    );
    assert!(env
        .ok(&["logging", "get", "oss://bkt-cfg"])
        .await
        .stdout
        .contains("oss://bkt-logs/access/"));
    assert_eq!(
        env.run(&["logging", "set", "oss://bkt-cfg"]).await.code,
        1,
        "--target-bucket is required"
    );
    env.ok(&["logging", "rm", "oss://bkt-cfg"]).await;
    assert_eq!(
        env.ok(&["logging", "get", "oss://bkt-cfg"])
            .await
            .stdout
            .trim(),
        "logging is off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_json_errors() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-exit"]).await;
    // Usage errors → 1.
    for args in [
        vec![],
        vec!["cp"],
        vec!["cp", "a", "b"],
        vec!["cp", "oss://bkt-exit/k", "s3://x/y"],
        vec!["ls", "oss://"],
        vec!["ls", "oss://Bad_Name"],
        vec!["cat", "oss://bkt-exit/"],
        vec!["rm", "oss://bkt-exit"],
        vec!["mb", "oss://bkt-exit/key"],
        vec!["frobnicate"],
        vec!["ls", "--no-such-flag"],
        vec!["--part-size", "8X", "ls"],
        vec!["cp", "oss://bkt-exit/dir/", "."],
    ] {
        let o = env.run(&args).await;
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert!(!o.stderr.is_empty(), "{args:?} says why");
    }
    let dir = env.path("somedir");
    std::fs::create_dir(&dir).unwrap();
    let o = env
        .run(&["cp", dir.to_str().unwrap(), "oss://bkt-exit/"])
        .await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("cp -r"), "{}", o.stderr);
    // --help and --version are not errors.
    assert_eq!(env.run(&["--help"]).await.code, 0);
    assert_eq!(env.run(&["cp", "--help"]).await.code, 0);
    assert_eq!(env.run(&["--version"]).await.code, 0);

    // Server errors → 2, with the OSS code on stderr (and in --json).
    let o = env.run(&["cat", "oss://bkt-exit/missing"]).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("error: ") && o.stderr.contains("NoSuchKey"),
        "{}",
        o.stderr
    );
    let o = env.run(&["--json", "stat", "oss://bkt-exit/missing"]).await;
    assert_eq!(o.code, 2);
    let j = o.json();
    assert_eq!(
        (j["code"].as_str(), j["exit_code"].as_u64()),
        (Some("NoSuchKey"), Some(2))
    );
    let o = env
        .run(&[
            "cp",
            "oss://bkt-exit/missing",
            env.path("x").to_str().unwrap(),
        ])
        .await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        !env.path("x").exists(),
        "no file left behind by a failed download"
    );
    assert_eq!(env.run(&["ls", "oss://no-such-bucket"]).await.code, 2);
    // Wrong secret → 2 (the server refuses), and the wrong secret is not printed either.
    let mut c = env.bare();
    c.args([
        "--endpoint",
        &env.endpoint(),
        "--access-key-id",
        AK,
        "--access-key-secret",
        "wrong-secret-xyz",
        "ls",
    ]);
    let o = common::output(c).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!o.stderr.contains("wrong-secret-xyz") && !o.stdout.contains("wrong-secret-xyz"));

    // Client/network errors → 3.
    let mut c = env.bare();
    c.args([
        "--endpoint",
        "http://127.0.0.1:9",
        "--access-key-id",
        AK,
        "--access-key-secret",
        SK,
        "ls",
    ]);
    let o = common::output(c).await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    let o = env
        .run(&[
            "cp",
            env.path("does-not-exist").to_str().unwrap(),
            "oss://bkt-exit/k",
        ])
        .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    let mut c = env.bare();
    c.args(["--endpoint", &env.endpoint(), "ls"]);
    let o = common::output(c).await;
    assert_eq!(o.code, 3, "no credentials: {}", o.stderr);
    assert!(o.stderr.contains("credentials"), "{}", o.stderr);
    let mut c = env.bare();
    c.args(["ls"])
        .env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK);
    let o = common::output(c).await;
    assert_eq!(o.code, 1, "no endpoint is a usage error: {}", o.stderr);

    // --json output of successful commands parses.
    let p = env.path("j.txt");
    std::fs::write(&p, b"json").unwrap();
    let j = env
        .ok(&["--json", "cp", p.to_str().unwrap(), "oss://bkt-exit/j.txt"])
        .await
        .json();
    assert_eq!(
        (j["operation"].as_str(), j["bytes"].as_u64()),
        (Some("upload"), Some(4))
    );
    env.ok(&["--json", "mb", "oss://bkt-exit2"]).await.json();
    env.ok(&["--json", "rm", "oss://bkt-exit/j.txt"])
        .await
        .json();
    env.ok(&["--json", "rb", "oss://bkt-exit2"]).await.json();
    // Flags after the command work too.
    env.ok(&["ls", "oss://bkt-exit", "--json", "-q"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_env_flag_precedence() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-conf"]).await;
    let good = env.endpoint();
    let dead = "http://127.0.0.1:9";
    let cfg = env.path("ossutilconfig");
    std::fs::write(
        &cfg,
        format!(
            "[Credentials]\nlanguage=EN\nendpoint={good}\naccessKeyID={AK}\naccessKeySecret={SK}\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let run = |setup: &dyn Fn(&mut tokio::process::Command)| {
        let mut c = env.bare();
        setup(&mut c);
        c.args(["ls", "oss://bkt-conf"]);
        common::output(c)
    };
    // The file alone is enough.
    let o = run(&|c| {
        c.args(["--config", cfg_s]);
    })
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Env overrides the file: a dead endpoint in the env wins (3); a wrong key in the env wins (2).
    let o = run(&|c| {
        c.args(["--config", cfg_s]).env("OSS_ENDPOINT", dead);
    })
    .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = run(&|c| {
        c.args(["--config", cfg_s])
            .env("OSS_ACCESS_KEY_ID", "other-ak")
            .env("OSS_ACCESS_KEY_SECRET", "other-sk");
    })
    .await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    // Flags override env.
    let o = run(&|c| {
        c.args([
            "--config",
            cfg_s,
            "--endpoint",
            &good,
            "--access-key-id",
            AK,
            "--access-key-secret",
            SK,
        ])
        .env("OSS_ENDPOINT", dead)
        .env("OSS_ACCESS_KEY_ID", "other-ak")
        .env("OSS_ACCESS_KEY_SECRET", "other-sk");
    })
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    // ~/.ossutilconfig is the default; ossutil v2's [default] profile with other key case.
    std::fs::write(
        env.path("home/.ossutilconfig"),
        format!("[default]\naccessKeyId = {AK}\naccessKeySecret = {SK}\nregion = cn-hangzhou\nendpoint = {good}\n"),
    )
    .unwrap();
    let o = run(&|_| {}).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(&|c| {
        c.env("OSS_ENDPOINT", dead);
    })
    .await;
    assert_eq!(o.code, 3, "env beats the default file: {}", o.stderr);
    // A missing --config file is a usage error.
    let o = run(&|c| {
        c.args(["--config", "/nonexistent/ossutilconfig"]);
    })
    .await;
    assert_eq!(o.code, 1, "{}", o.stderr);
    // V1 signatures from the flag work against the same server.
    let o = run(&|c| {
        c.args(["--signature-version", "v1"]);
    })
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_printed() {
    let env = Env::start().await;
    // Every path that could echo configuration: help, bad flags, failures, json errors.
    for args in [
        vec!["--access-key-secret", SK, "--help"],
        vec![
            "--access-key-secret",
            SK,
            "--access-key-id",
            AK,
            "ls",
            "--bogus",
        ],
        vec![
            "--access-key-secret",
            SK,
            "--access-key-id",
            AK,
            "--json",
            "cat",
            "oss://nope-bucket/k",
        ],
        vec!["--access-key-secret", SK, "--json", "ls"],
        vec![
            "--access-key-secret",
            SK,
            "--access-key-id",
            AK,
            "--endpoint",
            "ftp://x",
            "ls",
        ],
        vec![
            "--access-key-secret",
            SK,
            "--access-key-id",
            AK,
            "presign",
            "oss://nope-bucket/k",
        ],
    ] {
        let mut c = env.bare();
        c.args(["--endpoint", &env.endpoint()]).args(&args);
        let o = common::output(c).await; // asserts SK appears nowhere
        assert!(o.code == 0 || !o.stderr.is_empty(), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_still_works() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::start().await;
    let mut c = env.bare();
    c.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data",
        env.path("served").to_str().unwrap(),
        "--access-key-id",
        "serve-ak",
        "--access-key-secret",
        "serve-sk",
        "--region",
        "cn-shanghai",
    ]);
    let mut child = c.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let endpoint = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_owned();
    // The client commands work against it (V4 with its region).
    let mut c = env.bare();
    c.args([
        "--endpoint",
        &endpoint,
        "--region",
        "cn-shanghai",
        "mb",
        "oss://served",
    ])
    .env("OSS_ACCESS_KEY_ID", "serve-ak")
    .env("OSS_ACCESS_KEY_SECRET", "serve-sk");
    let o = common::output(c).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    child.start_kill().unwrap(); // by PID
    child.wait().await.unwrap();
}
