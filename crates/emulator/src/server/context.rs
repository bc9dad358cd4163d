//! One request on its way through a handler, and the authorization every handler relies on.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use futures_util::TryStreamExt;
use ossguard_proto::auth::verify::Principal;
use ossguard_proto::{Operation, Request};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::StreamReader;

use super::error::ApiError;
use super::keys::resource_name;
use super::ram_policy::{RequestContext, Verdict};
use super::AppState;
use crate::store::{BucketAcl, ObjectAcl, StoreError};

/// Largest XML request body accepted (OSS documents far smaller ones).
pub const MAX_XML_REQUEST: usize = 1 << 20;

/// The request body, shared by the handler that reads it and the router, which drains what
/// the handler left unread when it answers with an error: an answer sent before the body is
/// read makes hyper close the keep-alive connection, and SDKs that reuse it fail their next
/// request (seen with oss2 and the Go SDK after a wrong-position AppendObject).
#[derive(Clone)]
pub struct BodySlot(Arc<tokio::sync::Mutex<Option<axum::body::BodyDataStream>>>);

impl BodySlot {
    pub fn new(body: Body) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(Some(
            body.into_data_stream(),
        ))))
    }

    /// The body's chunks; whatever is not read stays in the slot.
    pub fn stream(
        &self,
    ) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Send + 'static
    {
        futures_util::stream::unfold(self.0.clone(), |slot| async move {
            let next = match slot.lock().await.as_mut() {
                Some(s) => futures_util::StreamExt::next(s).await,
                None => None,
            };
            next.map(|item| (item, slot))
        })
    }

    /// Reads and discards up to `limit` more bytes within `within`; beyond that the connection
    /// is closed, as any server must.
    pub async fn drain(&self, limit: usize, within: std::time::Duration) {
        let drain = async {
            let mut left = limit;
            let mut s = std::pin::pin!(self.stream());
            while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut s).await {
                if chunk.len() >= left {
                    break;
                }
                left -= chunk.len();
            }
        };
        let _ = tokio::time::timeout(within, drain).await;
    }
}

pub struct Ctx {
    pub st: Arc<AppState>,
    pub op: Operation,
    pub req: Request,
    pub principal: Principal,
    /// Read by the handler; what it leaves unread is drained by the router after an error.
    pub body: BodySlot,
}

impl Ctx {
    pub fn bucket(&self) -> Result<&str, ApiError> {
        self.req
            .bucket
            .as_deref()
            .ok_or_else(|| ApiError::invalid_argument("this operation needs a bucket"))
    }

    pub fn key(&self) -> Result<&str, ApiError> {
        self.req
            .key
            .as_deref()
            .ok_or_else(|| ApiError::invalid_argument("this operation needs an object key"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.req.header(name)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.req.query_param(name).filter(|v| !v.is_empty())
    }

    /// The request body as a stream of bytes for the store (never buffered whole).
    fn take_body(&self) -> Body {
        Body::from_stream(self.body.stream())
    }

    pub fn body_reader(&mut self) -> impl AsyncRead + Unpin + Send + 'static {
        let body = self.take_body();
        StreamReader::new(body.into_data_stream().map_err(std::io::Error::other))
    }

    /// [`Ctx::body_reader`] that fails at the end of the body if it does not match `expected`
    /// (a `Content-MD5`), for store calls that take no digest: the read error keeps the
    /// store from committing, and the returned flag tells `digest_or` to say InvalidDigest.
    pub fn body_reader_md5(
        &mut self,
        expected: Option<[u8; 16]>,
    ) -> (impl AsyncRead + Unpin + Send + 'static, Arc<AtomicBool>) {
        use md5::Digest;
        let failed = Arc::new(AtomicBool::new(false));
        let reader = Md5Checked {
            inner: self.body_reader(),
            want: expected,
            md5: md5::Md5::new(),
            failed: failed.clone(),
        };
        (reader, failed)
    }

    /// A small XML body, capped at `MAX_XML_REQUEST`; `Content-MD5` checked when sent.
    pub async fn xml_body(&mut self) -> Result<Vec<u8>, ApiError> {
        let body = self.take_body();
        let bytes = axum::body::to_bytes(body, MAX_XML_REQUEST + 1)
            .await
            .map_err(|_| {
                ApiError::new(
                    400,
                    "MalformedXML",
                    "The XML body is too large or was cut off.",
                )
            })?;
        check_md5(self, &bytes)?;
        Ok(bytes.to_vec())
    }
}

/// The store's error, or InvalidDigest if the body failed [`Ctx::body_reader_md5`]'s check.
pub fn digest_or(failed: &AtomicBool, e: StoreError) -> ApiError {
    if failed.load(Ordering::Relaxed) {
        StoreError::InvalidDigest.into()
    } else {
        e.into()
    }
}

struct Md5Checked<R> {
    inner: R,
    /// Taken when the end of the body is reached.
    want: Option<[u8; 16]>,
    md5: md5::Md5,
    failed: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Md5Checked<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        use md5::Digest;
        let (before, room) = (buf.filled().len(), buf.remaining());
        let this = &mut *self;
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        // Without a Content-MD5 (or once checked) nothing is hashed here: a second MD5 pass
        // next to the store's was half the server's CPU in uploads.
        if this.want.is_some() && !new.is_empty() {
            this.md5.update(new);
        } else if new.is_empty() && room > 0 {
            if let Some(want) = this.want.take() {
                if this.md5.finalize_reset().as_slice() != want {
                    this.failed.store(true, Ordering::Relaxed);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the body does not match its Content-MD5",
                    )));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The decoded `Content-MD5` header, if sent (400 InvalidDigest when it is not 16 bytes of
/// base64). The one place this header is parsed.
pub fn content_md5(ctx: &Ctx) -> Result<Option<[u8; 16]>, ApiError> {
    use base64::Engine;
    let Some(v) = ctx.header("content-md5") else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidDigest",
                "Content-MD5 must be the base64 of 16 bytes.",
            )
        })
}

/// Checks a buffered body against its `Content-MD5` header, when one was sent.
fn check_md5(ctx: &Ctx, body: &[u8]) -> Result<(), ApiError> {
    use md5::Digest;
    match content_md5(ctx)? {
        Some(want) if want.as_slice() != md5::Md5::digest(body).as_slice() => Err(ApiError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
        )),
        _ => Ok(()),
    }
}

fn acl_allows_anonymous(acl: BucketAcl, write: bool) -> bool {
    match acl {
        BucketAcl::PublicReadWrite => true,
        BucketAcl::PublicRead => !write,
        BucketAcl::Private => false,
    }
}

/// What a public ACL can open an operation to: `Some(false)` a read (public-read),
/// `Some(true)` a write (public-read-write), `None` nothing — ACLs and tags are the owner's
/// whatever the ACL (a list, so that an operation added later starts closed).
fn public_access(op: Operation) -> Option<bool> {
    use Operation::*;
    match op {
        GetObject | HeadObject | GetObjectMeta | ListParts | ListObjects | ListObjectsV2 => {
            Some(false)
        }
        PutObject
        | DeleteObject
        | CopyObject
        | AppendObject
        | InitiateMultipartUpload
        | UploadPart
        | UploadPartCopy
        | CompleteMultipartUpload
        | AbortMultipartUpload => Some(true),
        _ => None,
    }
}

/// A permission a request needs besides its operation's own.
struct Extra {
    action: &'static str,
    bucket: String,
    key: Option<String>,
}

/// What else the request touches: a copy reads its source (`oss:GetObject`), a write that
/// carries tags sets them (`oss:PutObjectTagging`).
fn extras(ctx: &Ctx) -> Result<Vec<Extra>, ApiError> {
    use Operation::*;
    let mut v = Vec::new();
    if matches!(ctx.op, CopyObject | UploadPartCopy) {
        if let Some(src) = ctx.header("x-oss-copy-source") {
            let (bucket, key) = super::object_ops::parse_copy_source(&src)?;
            v.push(Extra {
                action: "oss:GetObject",
                bucket,
                key: Some(key),
            });
        }
    }
    let sets_tags = match ctx.op {
        PutObject | InitiateMultipartUpload | AppendObject => ctx.header("x-oss-tagging").is_some(),
        CopyObject => ctx
            .header("x-oss-tagging-directive")
            .is_some_and(|d| d.eq_ignore_ascii_case("replace")),
        _ => false,
    };
    if let (true, Some(bucket)) = (sets_tags, ctx.req.bucket.clone()) {
        v.push(Extra {
            action: "oss:PutObjectTagging",
            bucket,
            key: ctx.req.key.clone(),
        });
    }
    Ok(v)
}

/// Who may do what: STS keys only what their policy allows; anonymous requests only what the
/// bucket or object ACL makes public (object reads and writes, never bucket configuration,
/// ACLs or tags). A copy's source must be readable by the same caller.
pub async fn authorize(ctx: &Ctx) -> Result<(), ApiError> {
    let op = ctx.op;
    let extras = extras(ctx)?;
    match &ctx.principal {
        Principal::Key { access_key_id, .. } => {
            let policies = ctx.st.keys.policies(access_key_id);
            if policies.is_empty() {
                return Ok(());
            }
            let listing = matches!(op, Operation::ListObjects | Operation::ListObjectsV2);
            let own = RequestContext {
                action: op.action(),
                bucket: ctx.req.bucket.as_deref(),
                key: ctx.req.key.as_deref(),
                region: &ctx.st.region,
                prefix: listing.then(|| ctx.req.query_param("prefix").unwrap_or("")),
                delimiter: listing.then(|| ctx.req.query_param("delimiter")).flatten(),
            };
            let more = extras.iter().map(|x| RequestContext {
                action: x.action,
                bucket: Some(&x.bucket),
                key: x.key.as_deref(),
                region: &ctx.st.region,
                prefix: None,
                delimiter: None,
            });
            for request in std::iter::once(own).chain(more) {
                // Every document (the key's own and its issuer's) must allow; a Deny anywhere
                // wins.
                let verdicts: Vec<Verdict> =
                    policies.iter().map(|p| p.evaluate(&request)).collect();
                let resource = resource_name(request.bucket, request.key);
                if verdicts.contains(&Verdict::ExplicitlyDenied) {
                    return Err(ApiError::access_denied(format!(
                        "A Deny statement in the STS policy of this key forbids {} on {resource}.",
                        request.action
                    )));
                }
                if verdicts.iter().any(|v| *v != Verdict::Allowed) {
                    return Err(ApiError::access_denied(format!(
                        "The STS policy of this key does not allow {} on {resource}.",
                        request.action
                    )));
                }
            }
            Ok(())
        }
        Principal::Anonymous => {
            if op == Operation::Options {
                return Ok(());
            }
            let denied = || {
                ApiError::access_denied(
                    "You have no right to access this object because of bucket acl; sign the request.",
                )
            };
            let (Some(bucket), Some(write)) = (ctx.req.bucket.as_deref(), public_access(op)) else {
                return Err(denied());
            };
            // An ACL or tags sent with a public write are the owner's to set.
            if ctx.header("x-oss-object-acl").is_some() {
                return Err(denied());
            }
            if !public(ctx, bucket, ctx.req.key.as_deref(), write).await? {
                return Err(denied());
            }
            for x in &extras {
                let read = x.action == "oss:GetObject";
                if !read || !public(ctx, &x.bucket, x.key.as_deref(), false).await? {
                    return Err(denied());
                }
            }
            Ok(())
        }
    }
}

/// Whether the bucket's ACL (and, for a read of an existing object, the object's) opens this
/// access to anyone.
async fn public(ctx: &Ctx, bucket: &str, key: Option<&str>, write: bool) -> Result<bool, ApiError> {
    let info = ctx
        .st
        .store
        .bucket_info(bucket)
        .await
        .map_err(ApiError::from)?;
    let mut allowed = acl_allows_anonymous(info.acl, write);
    if let (Some(key), false) = (key, write) {
        if let Ok(obj) = ctx.st.store.head_object(bucket, key).await {
            allowed = match obj.headers.acl {
                ObjectAcl::Default => allowed,
                ObjectAcl::Private => false,
                ObjectAcl::PublicRead | ObjectAcl::PublicReadWrite => true,
            };
        }
    }
    Ok(allowed)
}
