//! The HTTP face of the emulator: OSS's REST API over the durable [`Store`], with signature
//! checks, STS least-privilege policies, ACLs, CORS and access logging.
//!
//! One fallback handler routes every request: OSS operations are told apart by method and
//! sub-resource, not by path, so [`Operation::identify`] does the routing.

mod access_log;
mod admin;
mod bucket_ops;
mod context;
pub mod cors;
pub mod error;
pub mod keys;
pub mod metrics;
mod multipart_ops;
mod object_ops;
pub mod ram_policy;
mod response;
mod tagging;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use http::{HeaderValue, Method};
use ossguard_proto::addressing::resolve;
use ossguard_proto::auth::verify::{verify, Principal, VerifyOptions};
use ossguard_proto::encoding::parse_query;
use ossguard_proto::{Operation, Request};
use tokio::net::TcpListener;

use crate::store::{Clock, Store, StoreConfig, SystemClock};
pub use context::Ctx;
use error::ApiError;
pub use keys::{IssuedCredentials, KeyTable};
pub use ram_policy::PolicyDocument;

/// The largest source CopyObject copies (1 GiB, 1,073,741,824 bytes): OSS documents CopyObject
/// for objects up to 1 GB and UploadPartCopy for larger ones. A larger source is refused with
/// 400 `EntityTooLarge` — the error code is **inferred** (OSS documents the limit, not the code;
/// `EntityTooLarge` is OSS's code for its other size limits, and the only message seen from OSS
/// for an oversized copy source, "Source object Length exceeds the maximum allowed size", reads
/// like one).
pub const MAX_COPY_OBJECT_SIZE: u64 = 1 << 30;

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// `127.0.0.1:0` picks a free port.
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Region id (`cn-hangzhou`); buckets report `oss-<region>` as their location.
    pub region: String,
    /// Permanent access keys `(id, secret)`.
    pub credentials: Vec<(String, String)>,
    /// Host names that mean path-style addressing (besides IP literals and `localhost`).
    pub host_names: Vec<String>,
    /// fsync writes (turn off only for throw-away data, e.g. benchmarks).
    pub sync: bool,
    /// Serve the admin API (`/-/sts`, `/-/faults`) without signatures. Refused unless `addr`
    /// is a loopback address: anyone who reaches the port could mint credentials.
    pub admin_open: bool,
    /// CopyObject refuses sources larger than this with 400 `EntityTooLarge` (inferred code,
    /// see [`MAX_COPY_OBJECT_SIZE`], the default). Tests lower it to exercise the limit
    /// without gigabytes of data; UploadPartCopy is not limited by it.
    pub max_copy_object_size: u64,
}

impl EmulatorConfig {
    /// Loopback, ephemeral port, one key pair.
    pub fn local(data_dir: impl Into<PathBuf>, access_key_id: &str, secret: &str) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            region: "cn-hangzhou".into(),
            credentials: vec![(access_key_id.into(), secret.into())],
            host_names: Vec::new(),
            sync: true,
            admin_open: false,
            max_copy_object_size: MAX_COPY_OBJECT_SIZE,
        }
    }
}

/// Shared state of one running emulator.
pub struct AppState {
    pub store: Store,
    pub keys: KeyTable,
    pub region: String,
    host_names: Vec<String>,
    clock: Arc<dyn Clock>,
    faults: Arc<crate::faults::Faults>,
    request_counter: AtomicU64,
    request_id_salt: u32,
    access_log: access_log::AccessLog,
    admin_open: bool,
    metrics: metrics::ServerMetrics,
    max_copy_object_size: u64,
}

impl AppState {
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The fault rules (see [`crate::faults`]).
    pub fn faults(&self) -> &Arc<crate::faults::Faults> {
        &self.faults
    }

    /// Request and fault counters (`GET /-/metrics`).
    pub fn metrics(&self) -> &metrics::ServerMetrics {
        &self.metrics
    }

    /// The admin API takes unsigned requests (see [`EmulatorConfig::admin_open`]).
    pub fn admin_open(&self) -> bool {
        self.admin_open
    }

    /// The largest source CopyObject copies (see [`EmulatorConfig::max_copy_object_size`]).
    pub fn max_copy_object_size(&self) -> u64 {
        self.max_copy_object_size
    }

    pub(crate) fn host_names(&self) -> &[String] {
        &self.host_names
    }

    /// 24 uppercase hex characters, unique per process run.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        let secs = ossguard_proto::time::unix_seconds(self.now()) as u32;
        format!("{secs:08X}{:08X}{:08X}", self.request_id_salt, n as u32)
    }
}

/// A running emulator; dropping it does not stop it, call [`Emulator::shutdown`].
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Emulator {
    /// Opens the store and starts serving on `config.addr`.
    pub async fn start(config: EmulatorConfig) -> Result<Self, crate::store::StoreError> {
        if config.admin_open && !config.addr.ip().is_loopback() {
            return Err(crate::store::StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "--admin-open is allowed only on a loopback address, not {}: anyone who \
                     reaches the port could mint credentials and change fault rules",
                    config.addr
                ),
            )));
        }
        // The server clock is off by the active `clock_skew` fault, if any.
        let faults = Arc::new(crate::faults::Faults::new());
        let clock: Arc<dyn Clock> =
            Arc::new(crate::faults::SkewedClock::new(SystemClock, faults.clone()));
        let store = Store::open_with(
            &config.data_dir,
            StoreConfig {
                clock: clock.clone(),
                default_location: format!("oss-{}", config.region),
                sync: config.sync,
            },
        )
        .await?;
        let keys = KeyTable::new();
        for (ak, sk) in &config.credentials {
            keys.add_permanent(ak, sk);
        }
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).expect("the OS random source works");
        let state = Arc::new(AppState {
            access_log: access_log::AccessLog::new(store.clone()),
            store,
            keys,
            region: config.region.clone(),
            host_names: config.host_names.clone(),
            clock,
            faults: faults.clone(),
            request_counter: AtomicU64::new(0),
            request_id_salt: u32::from_be_bytes(salt),
            admin_open: config.admin_open,
            metrics: metrics::ServerMetrics::new(faults.injected_totals()),
            max_copy_object_size: config.max_copy_object_size,
        });
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(metered).with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let log = state.access_log.clone();
        let task = tokio::spawn(async move {
            let flusher = tokio::spawn(log.clone().run_flusher());
            let r = axum::serve(
                crate::faults::FaultListener::new(listener),
                app.into_make_service_with_connect_info::<crate::faults::ConnInfo>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
            flusher.abort();
            log.flush().await;
            r
        });
        Ok(Self {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The fault rules: `emulator.faults().install(cfg)` (see [`crate::faults`]).
    pub fn faults(&self) -> &Arc<crate::faults::Faults> {
        &self.state.faults
    }

    /// Stops accepting, finishes in-flight requests, flushes access logs.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        // Let go of requests held by faults (blackholes, stalls) so in-flight work can finish.
        self.state.faults.clear();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Serves until the process is stopped.
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Outermost layer: counts every request ([`metrics`]) around the fault layer and the server.
async fn metered(State(st): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let path = req.uri().path();
    let op = if path == "/-" || path.starts_with("/-/") {
        "Admin"
    } else {
        crate::faults::operation_of(&req, &st.host_names).unwrap_or("Unknown")
    };
    let received = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let response = {
        let _in_flight = st.metrics.start();
        crate::faults::handle(State(st.clone()), req).await
    };
    let (status, sent) = log_facts(&response);
    st.metrics
        .record(op, status, started.elapsed().as_secs_f64(), received, sent);
    response
}

/// Serves one request (wrapped by [`crate::faults::handle`]).
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
) -> Response {
    // Its own task: a client that disconnects (or is killed) mid-answer must not cancel work
    // the server has already done — an UploadPart committed but never logged made the access
    // log disagree with the store. The request finishes and is logged, as on a real server.
    match tokio::spawn(serve_one(st, req)).await {
        Ok(response) => response,
        Err(_) => {
            let mut r = Response::new(Body::from("handler failed"));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

async fn serve_one(st: Arc<AppState>, req: axum::extract::Request) -> Response {
    let remote = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let request_id = st.next_request_id();
    let started = std::time::Instant::now();
    let is_head = req.method() == Method::HEAD;
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let (mut response, logged) = match route(&st, req).await {
        Ok((resp, logged)) => (resp, logged),
        Err((e, logged)) => {
            let (headers, body) = e.render(&request_id, &host, is_head);
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = http::StatusCode::from_u16(e.status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            response::set_headers(&mut resp, &headers);
            if let Some(l) = logged.as_ref() {
                let mut l = l.clone();
                l.error_code = e.code.to_owned();
                let (status, sent) = log_facts(&resp);
                st.access_log
                    .record(&st, l, status, sent, started, &remote, &request_id)
                    .await;
            }
            (resp, None)
        }
    };
    if let Some(l) = logged {
        let (status, sent) = log_facts(&response);
        st.access_log
            .record(&st, l, status, sent, started, &remote, &request_id)
            .await;
    }
    let h = response.headers_mut();
    let now = st.now();
    let put = |h: &mut http::HeaderMap, n: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(n, v);
        }
    };
    put(h, "x-oss-request-id", request_id);
    put(h, "date", ossguard_proto::time::rfc1123(now));
    put(
        h,
        "x-oss-server-time",
        now.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            .to_string(),
    );
    h.insert("server", HeaderValue::from_static("AliyunOSS"));
    response
}

/// Status and body length of a response, for its access log line.
fn log_facts(resp: &Response) -> (u16, u64) {
    use axum::body::HttpBody;
    // XML and error bodies carry no Content-Length header yet (hyper adds it later).
    let sent = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or_else(|| resp.body().size_hint().exact())
        .unwrap_or(0);
    (resp.status().as_u16(), sent)
}

type Routed = Result<(Response, Option<access_log::Entry>), (ApiError, Option<access_log::Entry>)>;

/// Largest unread request body drained before an error answer (beyond it the connection is
/// closed, as any server must).
const DRAIN_LIMIT: usize = 16 << 20;

async fn route(st: &Arc<AppState>, req: axum::extract::Request) -> Routed {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/-" || path.starts_with("/-/") {
        return admin::handle(st, &parts, body, &path)
            .await
            .map(|r| (r, None))
            .map_err(|e| (e, None));
    }
    let slot = context::BodySlot::new(body);
    let routed = route_api(st, parts, slot.clone()).await;
    if routed.is_err() {
        // An error answered before the body was read (bad signature, wrong append position…)
        // would make hyper close the keep-alive connection, and SDKs that reuse it fail their
        // next request. Read and discard what is left, within limits — also when the handler
        // had started reading it.
        slot.drain(DRAIN_LIMIT, std::time::Duration::from_secs(5))
            .await;
    }
    routed
}

async fn route_api(
    st: &Arc<AppState>,
    parts: http::request::Parts,
    body: context::BodySlot,
) -> Routed {
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""))
        .map_err(|e| (ApiError::invalid_argument(e.to_string()), None))?;
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
        .to_owned();
    let own: Vec<&str> = st.host_names.iter().map(String::as_str).collect();
    let targets = resolve(&host, &path, &own)
        .map_err(|e| (ApiError::new(400, "InvalidURI", e.to_string()), None))?;
    let requests: Vec<Request> = targets
        .into_iter()
        .map(|t| Request {
            method: parts.method.clone(),
            bucket: t.bucket,
            key: t.key,
            query: query.clone(),
            headers: parts.headers.clone(),
        })
        .collect();

    // Authenticate: the first addressing reading whose signature holds wins (ali-oss sends an
    // ambiguous Host + path pair with sldEnable and an IP endpoint).
    let first = &requests[0];
    let op0 = Operation::identify(
        &first.method,
        first.bucket.as_deref(),
        first.key.as_deref(),
        &first.query,
        &first.headers,
    );
    let (req, principal) = if op0 == Some(Operation::Options) {
        (requests[0].clone(), Principal::Anonymous)
    } else {
        let now = st.now();
        let opts = VerifyOptions::default();
        let mut first_err = None;
        let mut found = None;
        for r in &requests {
            match verify(r, &st.keys, now, &opts) {
                Ok(p) => {
                    found = Some((r.clone(), p));
                    break;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match found {
            Some(f) => f,
            None => {
                // Refused requests are logged too (OSS logs them; an operator needs to see a
                // flood of bad signatures), under the first addressing reading.
                let logged = op0
                    .filter(|_| first.bucket.is_some())
                    .map(|op| access_log::Entry::new(first, op));
                return Err((first_err.expect("at least one target").into(), logged));
            }
        }
    };
    let Some(op) = Operation::identify(
        &req.method,
        req.bucket.as_deref(),
        req.key.as_deref(),
        &req.query,
        &req.headers,
    ) else {
        let e = match Operation::unknown_subresource(&req.query) {
            Some(p) => ApiError::unsupported_parameter(p),
            None => ApiError::method_not_allowed(),
        };
        return Err((e, None));
    };
    // `PUT /key?symlink` routes as PutObject by its method: run as that, it would overwrite the
    // object with an empty one and answer 200.
    if let Some(p) = op.unhandled_parameter(&req.query) {
        return Err((ApiError::unsupported_parameter(p), None));
    }
    let logged = access_log::Entry::new(&req, op);
    let logged = if req.bucket.is_some() {
        Some(logged)
    } else {
        None
    };
    let ctx = Ctx {
        st: st.clone(),
        op,
        req,
        principal,
        body,
    };
    let origin = ctx.req.header("origin");
    let bucket = ctx.req.bucket.clone();
    match context::authorize(&ctx).await {
        Ok(()) => {}
        Err(e) => return Err((e, logged)),
    }
    let result = dispatch(ctx).await;
    match result {
        Ok(mut resp) => {
            if let (Some(origin), Some(bucket)) = (origin, bucket) {
                cors::apply_to_response(st, &bucket, &origin, op, &mut resp).await;
            }
            Ok((resp, logged))
        }
        Err(e) => Err((e, logged)),
    }
}

async fn dispatch(ctx: Ctx) -> Result<Response, ApiError> {
    use Operation::*;
    match ctx.op {
        ListBuckets
        | PutBucket
        | DeleteBucket
        | GetBucketInfo
        | GetBucketLocation
        | GetBucketStat
        | PutBucketAcl
        | GetBucketAcl
        | PutBucketCors
        | GetBucketCors
        | DeleteBucketCors
        | PutBucketLogging
        | GetBucketLogging
        | DeleteBucketLogging
        | PutBucketLifecycle
        | GetBucketLifecycle
        | DeleteBucketLifecycle
        | GetBucketVersioning
        | ListObjects
        | ListObjectsV2
        | Options => bucket_ops::handle(ctx).await,
        InitiateMultipartUpload
        | UploadPart
        | UploadPartCopy
        | CompleteMultipartUpload
        | AbortMultipartUpload
        | ListMultipartUploads
        | ListParts => multipart_ops::handle(ctx).await,
        PutObject
        | GetObject
        | HeadObject
        | GetObjectMeta
        | DeleteObject
        | CopyObject
        | AppendObject
        | PutObjectAcl
        | GetObjectAcl
        | DeleteMultipleObjects => object_ops::handle(ctx).await,
        PutObjectTagging | GetObjectTagging | DeleteObjectTagging | PutBucketTags
        | GetBucketTags | DeleteBucketTags => tagging::handle(ctx).await,
    }
}
