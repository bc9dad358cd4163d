//! A minimal signed HTTP client for driving the emulator in tests: builds a `Request`, signs it
//! with the proto signer (V1, V4 or presigned), sends it with reqwest, returns status/headers/body.

use std::time::{Duration, SystemTime};

use http::Method;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_proto::auth::{presign, v1, v4};
use ossguard_proto::{AddressingStyle, Credentials, Request};

pub const AK: &str = "test-ak";
pub const SK: &str = "test-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    V1,
    V4,
    None,
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The OSS error code from the XML body or the HEAD `x-oss-err` header.
    pub fn code(&self) -> String {
        ossguard_proto::error::ServiceError::from_response(self.status, &self.headers, &self.body)
            .code
    }
    pub fn header(&self, n: &str) -> Option<String> {
        self.headers
            .get(n)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as an OSS XML document.
    pub fn xml<T: serde::de::DeserializeOwned>(&self) -> T {
        ossguard_proto::xml::from_xml(&self.body)
            .unwrap_or_else(|e| panic!("bad XML ({e}): {}", self.text()))
    }
}

pub struct TestServer {
    pub emulator: Emulator,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    /// Starts on `dir` (its `data` folder), e.g. again after [`TestServer::stop`].
    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
        cfg.sync = false;
        let emulator = Emulator::start(cfg).await.unwrap();
        Self {
            emulator,
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// Graceful shutdown (flushes access logs); the data folder survives for a restart.
    pub async fn stop(self) -> tempfile::TempDir {
        self.emulator.shutdown().await.unwrap();
        self.dir
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.emulator.addr()
    }

    pub fn endpoint(&self) -> String {
        self.emulator.endpoint()
    }

    /// No fault rule is installed.
    pub fn emu_faults_empty(&self) -> bool {
        self.emulator.faults().config().rules.is_empty()
    }

    pub fn creds(&self) -> Credentials {
        Credentials::new(AK, SK)
    }

    /// `req` signed with the test key now (for senders other than reqwest).
    pub fn sign(&self, mut req: Request, sig: Sig) -> Request {
        let now = SystemTime::now();
        match sig {
            Sig::V1 => v1::sign(&mut req, &self.creds(), now, v1::DateHeader::Date).unwrap(),
            Sig::V4 => v4::sign(&mut req, &self.creds(), "cn-hangzhou", now, &[]).unwrap(),
            Sig::None => {}
        }
        req
    }

    /// Signs `req` with `creds` at `now` and sends it with `body`.
    pub async fn send_as(
        &self,
        mut req: Request,
        body: Vec<u8>,
        sig: Sig,
        creds: &Credentials,
        now: SystemTime,
    ) -> Reply {
        match sig {
            Sig::V1 => v1::sign(&mut req, creds, now, v1::DateHeader::Date).unwrap(),
            Sig::V4 => v4::sign(&mut req, creds, "cn-hangzhou", now, &[]).unwrap(),
            Sig::None => {}
        }
        self.send_raw(&req, body).await
    }

    pub async fn send(&self, req: Request, body: Vec<u8>, sig: Sig) -> Reply {
        let creds = self.creds();
        self.send_as(req, body, sig, &creds, SystemTime::now())
            .await
    }

    /// Sends the request exactly as it stands (already signed or deliberately broken).
    pub async fn send_raw(&self, req: &Request, body: Vec<u8>) -> Reply {
        let url = format!(
            "{}{}",
            self.endpoint(),
            req.path_and_query(AddressingStyle::Path)
        );
        self.send_url(req.method.clone(), &url, &req.headers, body)
            .await
    }

    pub async fn send_url(
        &self,
        method: Method,
        url: &str,
        headers: &http::HeaderMap,
        body: Vec<u8>,
    ) -> Reply {
        let mut rb = self.http.request(method, url).body(body);
        for (n, v) in headers {
            if n != "host" && n != "content-length" {
                rb = rb.header(n, v);
            }
        }
        let resp = rb.send().await.expect("request reached the emulator");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A V1 presigned URL for `req`.
    pub fn presign_v1(&self, mut req: Request, expires_at: SystemTime) -> String {
        presign::presign_v1(&mut req, &self.creds(), expires_at).unwrap();
        format!(
            "{}{}",
            self.endpoint(),
            req.path_and_query(AddressingStyle::Path)
        )
    }

    /// A V4 presigned URL for `req`.
    pub fn presign_v4(&self, mut req: Request, now: SystemTime, expires: Duration) -> String {
        presign::presign_v4(&mut req, &self.creds(), "cn-hangzhou", now, expires, &[]).unwrap();
        format!(
            "{}{}",
            self.endpoint(),
            req.path_and_query(AddressingStyle::Path)
        )
    }

    pub async fn create_bucket(&self, name: &str) {
        let r = self
            .send(Request::new(Method::PUT, Some(name), None), vec![], Sig::V4)
            .await;
        assert_eq!(r.status, 200, "create bucket {name}: {}", r.text());
    }

    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> Reply {
        self.send(
            Request::new(Method::PUT, Some(bucket), Some(key)),
            body.to_vec(),
            Sig::V4,
        )
        .await
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Reply {
        self.send(
            Request::new(Method::GET, Some(bucket), Some(key)),
            vec![],
            Sig::V4,
        )
        .await
    }
}

/// `req` with extra headers.
pub fn with_headers(mut req: Request, headers: &[(&str, &str)]) -> Request {
    for (n, v) in headers {
        req.set_header(n, v).unwrap();
    }
    req
}

/// Starts an upload of `bucket/key` and returns its id.
pub async fn initiate(s: &TestServer, bucket: &str, key: &str) -> String {
    let r = s
        .send(
            Request::new(Method::POST, Some(bucket), Some(key)).with_query("uploads", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.xml::<ossguard_proto::xml::InitiateMultipartUploadResult>()
        .upload_id
}

/// Uploads one part; returns its ETag.
pub async fn upload_part(
    s: &TestServer,
    bucket: &str,
    key: &str,
    id: &str,
    n: u32,
    body: &[u8],
) -> String {
    let r = s
        .send(
            Request::new(Method::PUT, Some(bucket), Some(key))
                .with_query("partNumber", &n.to_string())
                .with_query("uploadId", id),
            body.to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("etag").unwrap()
}

/// Sends CompleteMultipartUpload with `body`.
pub async fn complete(s: &TestServer, bucket: &str, key: &str, id: &str, body: &str) -> Reply {
    s.send(
        Request::new(Method::POST, Some(bucket), Some(key)).with_query("uploadId", id),
        body.as_bytes().to_vec(),
        Sig::V4,
    )
    .await
}

/// The `<CompleteMultipartUpload>` body for `(part number, etag)` pairs, in the given order.
pub fn complete_xml(parts: &[(u32, &str)]) -> String {
    let mut x = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        x.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    x + "</CompleteMultipartUpload>"
}
