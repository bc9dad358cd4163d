//! Object operations.

use std::collections::BTreeMap;
use std::time::SystemTime;

use http::header::{CONTENT_RANGE, ETAG};
use http::Method;
use ossguard_proto::ops::copy_source;
use ossguard_proto::range::{parse_content_range, ByteRange};
use ossguard_proto::xml::{
    self, AccessControlPolicy, CopyObjectResult, Delete, DeleteResult, ObjectIdentifier,
};
use ossguard_proto::{Operation, Request};

use super::{check_crc, header, names, server_crc, validate_key, validate_key_name};
use crate::body::{Body, ByteStream};
use crate::client::Client;
use crate::error::Error;

/// Metadata sent with an upload (PutObject, initiate, REPLACE copies).
#[derive(Debug, Clone, Default)]
pub struct PutObjectOptions {
    /// `Content-Type`, what GETs will answer with.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition` (e.g. `attachment; filename="report.pdf"`).
    pub content_disposition: Option<String>,
    /// `Content-Encoding` (e.g. `gzip`).
    pub content_encoding: Option<String>,
    /// `x-oss-meta-*` (names without the prefix).
    pub metadata: BTreeMap<String, String>,
    /// `x-oss-object-acl`: `default`, `private`, `public-read`, `public-read-write`.
    pub acl: Option<String>,
    /// `Standard`, `IA`, `Archive` … (default: the bucket's).
    pub storage_class: Option<String>,
    /// Fail with `FileAlreadyExists` instead of overwriting.
    pub forbid_overwrite: bool,
}

impl PutObjectOptions {
    pub(crate) fn apply(&self, req: &mut Request) -> Result<(), Error> {
        let mut set = |n: &str, v: &str| {
            req.set_header(n, v)
                .map_err(|e| Error::invalid_input(e.to_string()))
        };
        for (n, v) in [
            ("content-type", &self.content_type),
            ("cache-control", &self.cache_control),
            ("content-disposition", &self.content_disposition),
            ("content-encoding", &self.content_encoding),
            ("x-oss-object-acl", &self.acl),
            ("x-oss-storage-class", &self.storage_class),
        ] {
            if let Some(v) = v {
                set(n, v)?;
            }
        }
        for (k, v) in &self.metadata {
            set(&format!("x-oss-meta-{}", k.to_ascii_lowercase()), v)?;
        }
        if self.forbid_overwrite {
            set("x-oss-forbid-overwrite", "true")?;
        }
        Ok(())
    }
}

/// What an upload returned.
#[derive(Debug, Clone)]
pub struct PutObjectOutput {
    /// The new object's ETag.
    pub etag: String,
    /// The server's CRC-64 (already checked against what we sent).
    pub crc64: Option<u64>,
    /// `x-oss-request-id` of the answer.
    pub request_id: Option<String>,
}

impl PutObjectOutput {
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Self {
        Self {
            etag: header(h, ETAG).unwrap_or_default(),
            crc64: server_crc(h),
            request_id: header(h, names::REQUEST_ID),
        }
    }
}

/// Conditions and range of a download.
#[derive(Debug, Clone, Default)]
pub struct GetObjectOptions {
    /// Only these bytes (answered 206, see [`GetObjectOutput::content_range`]).
    pub range: Option<ByteRange>,
    /// Only while the object's ETag is this (else 412 `PreconditionFailed`).
    pub if_match: Option<String>,
    /// Only if the object's ETag is not this (else an error with status 304 Not Modified).
    pub if_none_match: Option<String>,
    /// Only if modified after this (else an error with status 304 Not Modified).
    pub if_modified_since: Option<SystemTime>,
    /// Only if not modified after this (else 412 `PreconditionFailed`).
    pub if_unmodified_since: Option<SystemTime>,
    /// `response-content-type` & co: `("content-type", "text/html")`.
    pub response_overrides: Vec<(String, String)>,
}

/// What HEAD (or a GET's headers) says about an object.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
    /// When it was last written.
    pub last_modified: Option<SystemTime>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Its CRC-64 (`x-oss-hash-crc64ecma`), when the server sent it.
    pub crc64: Option<u64>,
    /// `Normal`, `Multipart`, `Appendable`.
    pub object_type: Option<String>,
    /// `Standard`, `IA`, `Archive` …
    pub storage_class: Option<String>,
    /// User metadata: the `x-oss-meta-*` headers, names without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// Appendable objects: the position the next AppendObject must start at.
    pub next_append_position: Option<u64>,
    /// `x-oss-request-id` of the answer.
    pub request_id: Option<String>,
}

impl ObjectMeta {
    /// One pass over the headers (a GET's answer carries ~13): nine lookups by name cost a
    /// small GET ~4 % of its client instructions (callgrind, session 17). A header's first
    /// value counts, as with a lookup; user metadata keeps the last value of a repeated name,
    /// untrimmed.
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Self {
        let mut m = Self::default();
        let (mut size, mut etag, mut crc, mut modified) = (None, None, None, None);
        let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).trim().to_owned();
        for (name, v) in h {
            match name.as_str() {
                "content-length" => {
                    size.get_or_insert(v);
                }
                "etag" => {
                    etag.get_or_insert(v);
                }
                "last-modified" => {
                    modified.get_or_insert(v);
                }
                ossguard_proto::crc64::HEADER => {
                    crc.get_or_insert(v);
                }
                "content-type" if m.content_type.is_none() => m.content_type = Some(text(v)),
                "x-oss-object-type" if m.object_type.is_none() => m.object_type = Some(text(v)),
                "x-oss-storage-class" if m.storage_class.is_none() => {
                    m.storage_class = Some(text(v))
                }
                "x-oss-request-id" if m.request_id.is_none() => m.request_id = Some(text(v)),
                "x-oss-next-append-position" if m.next_append_position.is_none() => {
                    m.next_append_position = text(v).parse().ok()
                }
                other => {
                    if let Some(k) = other.strip_prefix("x-oss-meta-") {
                        // As stored: user values are not trimmed.
                        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        m.metadata.insert(k.to_owned(), value);
                    }
                }
            }
        }
        m.size = size.and_then(|v| text(v).parse().ok()).unwrap_or(0);
        m.etag = etag.map(text).unwrap_or_default();
        m.last_modified = modified.and_then(|v| ossguard_proto::time::parse_http_date(&text(v)));
        m.crc64 = crc
            .and_then(|v| v.to_str().ok())
            .and_then(ossguard_proto::crc64::parse_header);
        m
    }
}

/// A download in progress.
#[derive(Debug)]
pub struct GetObjectOutput {
    /// The object's metadata, from the response headers.
    pub meta: ObjectMeta,
    /// `(first, last, total)` for a 206 answer.
    pub content_range: Option<(u64, u64, Option<u64>)>,
    /// The body: a stream of chunks, or all of it with [`bytes`](Self::bytes).
    pub body: ByteStream,
}

impl GetObjectOutput {
    /// Reads the whole body; its CRC-64 is checked at the end.
    pub async fn bytes(self) -> Result<bytes::Bytes, Error> {
        self.body.bytes().await
    }
}

/// Options of a server-side copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `Some`: REPLACE the metadata with these; `None`: COPY the source's.
    pub replace_metadata: Option<PutObjectOptions>,
    /// Copy only while the source's ETag is this (`x-oss-copy-source-if-match`; else 412
    /// `PreconditionFailed`).
    pub if_match: Option<String>,
}

fn set(req: &mut Request, n: &str, v: &str) -> Result<(), Error> {
    req.set_header(n, v)
        .map_err(|e| Error::invalid_input(e.to_string()))
}

/// How a broken body continues: `Range: bytes=N-<end>` pinned with `If-Match: <etag>` to the
/// version being read (a changed object fails with 412 instead of mixing versions). Whether it
/// may is the operation's state machine's decision (attempts, budget, deadline).
fn body_resume(
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    opts: &GetObjectOptions,
    content_range: Option<(u64, u64, Option<u64>)>,
) -> Option<crate::body::Resume> {
    if meta.etag.is_empty() || !opts.response_overrides.is_empty() {
        return None;
    }
    let (next_offset, last) = match content_range {
        Some((first, last, _)) => (first, Some(last)),
        None => (0, None),
    };
    Some(crate::body::Resume {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag: meta.etag.clone(),
        next_offset,
        last,
    })
}

impl Client {
    /// Uploads `body` as `bucket/key`; the server's CRC-64 is checked against the bytes sent.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Body,
        opts: PutObjectOptions,
    ) -> Result<PutObjectOutput, Error> {
        validate_key(key)?;
        let mut req = Request::new(Method::PUT, Some(bucket), Some(key));
        opts.apply(&mut req)?;
        // A forbid-overwrite PUT is retried like any other; a retry whose first attempt landed
        // meets `FileAlreadyExists`, so keep what is needed to recognise our own write.
        let own = match opts.forbid_overwrite {
            true => body.try_clone().map(|b| (b, std::time::Instant::now())),
            false => None,
        };
        let sent = match self.execute(Operation::PutObject, req, body).await {
            Ok(sent) => sent,
            Err(e) if e.code() == Some("FileAlreadyExists") => {
                return match own {
                    // Boxed: a rare path, kept out of every PUT's future.
                    Some((b, started)) => {
                        Box::pin(self.own_write(bucket, key, b, started, e)).await
                    }
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let mut sent = sent;
        let out = PutObjectOutput::from_headers(sent.response.headers());
        check_crc(out.crc64, sent.sent_crc, "PutObject").map_err(|e| sent.run.failed(self, e))?;
        Ok(out)
    }

    /// After `FileAlreadyExists` on a forbid-overwrite PUT: the object is our own write (an
    /// earlier attempt of this operation whose answer was lost) when it has our size and CRC-64
    /// and was last modified no earlier than this operation started, by the server's clock
    /// (the error's `Date` minus the real time elapsed here). Both clocks have 1-s resolution, so an
    /// identical object written by someone else within ~2 s before we started is taken as ours;
    /// any other object returns `original`.
    async fn own_write(
        &self,
        bucket: &str,
        key: &str,
        // Owned: a `&Body` held across an await would make `put_object` `!Send` (Body is not
        // `Sync`), and users spawn it.
        body: Body,
        started: std::time::Instant,
        original: Error,
    ) -> Result<PutObjectOutput, Error> {
        let Some(server_now) = original.server_date() else {
            return Err(original);
        };
        let Some(server_start) = server_now.checked_sub(started.elapsed()) else {
            return Err(original);
        };
        let checksum = body.checksum();
        let Some(Ok((crc, size))) = (match checksum {
            Some(f) => Some(f.await),
            None => None,
        }) else {
            return Err(original);
        };
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        match self.head_object(bucket, key).await {
            Ok(m)
                if m.crc64 == Some(crc)
                    && m.size == size
                    && m.last_modified
                        .is_some_and(|lm| secs(lm) >= secs(server_start)) =>
            {
                Ok(PutObjectOutput {
                    etag: m.etag,
                    crc64: m.crc64,
                    request_id: m.request_id,
                })
            }
            _ => Err(original),
        }
    }

    /// Starts a download. A full-object body is CRC-checked as it ends.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        opts: GetObjectOptions,
    ) -> Result<GetObjectOutput, Error> {
        validate_key(key)?;
        let mut req = Request::new(Method::GET, Some(bucket), Some(key));
        for (k, v) in &opts.response_overrides {
            req.query.push((format!("response-{k}"), v.clone()));
        }
        if let Some(r) = opts.range {
            set(&mut req, "range", &r.to_header())?;
        }
        if let Some(v) = &opts.if_match {
            set(&mut req, "if-match", v)?;
        }
        if let Some(v) = &opts.if_none_match {
            set(&mut req, "if-none-match", v)?;
        }
        if let Some(t) = opts.if_modified_since {
            set(
                &mut req,
                "if-modified-since",
                &ossguard_proto::time::rfc1123(t),
            )?;
        }
        if let Some(t) = opts.if_unmodified_since {
            set(
                &mut req,
                "if-unmodified-since",
                &ossguard_proto::time::rfc1123(t),
            )?;
        }
        let sent = self
            .execute(Operation::GetObject, req, Body::empty())
            .await?;
        let h = sent.response.headers();
        let meta = ObjectMeta::from_headers(h);
        let content_range = if sent.response.status().as_u16() == 206 {
            header(h, CONTENT_RANGE).and_then(|v| parse_content_range(&v))
        } else {
            None
        };
        // A 206 carries the whole object's CRC: only full bodies can be checked on the fly.
        let expected = if content_range.is_none() {
            meta.crc64
        } else {
            None
        };
        let resume = body_resume(bucket, key, &meta, &opts, content_range);
        Ok(GetObjectOutput {
            meta,
            content_range,
            body: ByteStream::new(self, sent, expected, resume),
        })
    }

    /// The object's metadata (HeadObject).
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        validate_key(key)?;
        let req = Request::new(Method::HEAD, Some(bucket), Some(key));
        let sent = self
            .execute(Operation::HeadObject, req, Body::empty())
            .await?;
        Ok(ObjectMeta::from_headers(sent.response.headers()))
    }

    /// The light-weight metadata (size, ETag, CRC, Last-Modified).
    pub async fn get_object_meta(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        validate_key(key)?;
        let req = Operation::GetObjectMeta.request(Some(bucket), Some(key));
        let sent = self
            .execute(Operation::GetObjectMeta, req, Body::empty())
            .await?;
        Ok(ObjectMeta::from_headers(sent.response.headers()))
    }

    /// Deletes an object (success also when it did not exist).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        validate_key(key)?;
        let req = Request::new(Method::DELETE, Some(bucket), Some(key));
        self.execute(Operation::DeleteObject, req, Body::empty())
            .await?;
        Ok(())
    }

    /// Deletes up to 1000 objects in one request; returns the keys reported deleted (empty when
    /// `quiet`).
    pub async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        quiet: bool,
    ) -> Result<Vec<String>, Error> {
        if keys.len() > 1000 {
            return Err(Error::invalid_input(
                "DeleteMultipleObjects takes at most 1000 keys",
            ));
        }
        let body = xml::to_xml(&Delete {
            quiet,
            objects: keys
                .iter()
                .map(|k| ObjectIdentifier {
                    key: k.clone(),
                    ..Default::default()
                })
                .collect(),
        });
        let mut req = Operation::DeleteMultipleObjects
            .request(Some(bucket), None)
            .with_query("encoding-type", "url");
        set(&mut req, "content-md5", &content_md5(body.as_bytes()))?;
        set(&mut req, "content-type", "application/xml")?;
        let (_, _, bytes) = self
            .execute_read(Operation::DeleteMultipleObjects, req, body.into())
            .await?;
        let res: DeleteResult = xml::from_xml(&bytes)?;
        let url = res.encoding_type.as_deref() == Some("url");
        res.deleted
            .into_iter()
            .map(|d| {
                if url {
                    xml::url_decode_key(&d.key).map_err(Error::from)
                } else {
                    Ok(d.key)
                }
            })
            .collect()
    }

    /// Server-side copy of `src_bucket/src_key` to `bucket/key`.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        key: &str,
        opts: CopyOptions,
    ) -> Result<PutObjectOutput, Error> {
        validate_key_name(src_key)?;
        validate_key(key)?;
        let mut req = Request::new(Method::PUT, Some(bucket), Some(key));
        set(
            &mut req,
            "x-oss-copy-source",
            &copy_source(src_bucket, src_key),
        )?;
        match &opts.replace_metadata {
            Some(m) => {
                set(&mut req, "x-oss-metadata-directive", "REPLACE")?;
                m.apply(&mut req)?;
            }
            None => set(&mut req, "x-oss-metadata-directive", "COPY")?,
        }
        if let Some(m) = &opts.if_match {
            set(&mut req, "x-oss-copy-source-if-match", m)?;
        }
        let (h, _, bytes) = self
            .execute_read(Operation::CopyObject, req, Body::empty())
            .await?;
        let res: CopyObjectResult = xml::from_xml(&bytes)?;
        Ok(PutObjectOutput {
            etag: res.etag,
            crc64: server_crc(&h),
            request_id: header(&h, names::REQUEST_ID),
        })
    }

    /// Appends `body` at `position`. With `previous_crc` (the object's CRC-64 so far) the new
    /// whole-object CRC is checked. Returns `(next_position, crc64)`.
    pub async fn append_object(
        &self,
        bucket: &str,
        key: &str,
        position: u64,
        body: Body,
        previous_crc: Option<u64>,
    ) -> Result<(u64, Option<u64>), Error> {
        validate_key(key)?;
        let len = body.len();
        let req = ossguard_proto::ops::append_object(bucket, key, position);
        let sent = self.execute(Operation::AppendObject, req, body).await?;
        let h = sent.response.headers();
        let next = header(h, names::NEXT_APPEND_POSITION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(position);
        let crc = server_crc(h);
        if let (Some(prev), Some(n)) = (previous_crc, len) {
            check_crc(
                crc,
                ossguard_proto::crc64::combine(prev, sent.sent_crc, n),
                "AppendObject",
            )?;
        }
        Ok((next, crc))
    }

    /// Sets the object's ACL: `default` (the bucket's), `private`, `public-read` or
    /// `public-read-write`.
    pub async fn put_object_acl(&self, bucket: &str, key: &str, acl: &str) -> Result<(), Error> {
        let mut req = Operation::PutObjectAcl.request(Some(bucket), Some(key));
        set(&mut req, "x-oss-object-acl", acl)?;
        self.execute(Operation::PutObjectAcl, req, Body::empty())
            .await?;
        Ok(())
    }

    /// The object's ACL: `default` (the bucket's), `private`, `public-read` or `public-read-write`.
    pub async fn get_object_acl(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let req = Operation::GetObjectAcl.request(Some(bucket), Some(key));
        let (_, _, bytes) = self
            .execute_read(Operation::GetObjectAcl, req, Body::empty())
            .await?;
        let p: AccessControlPolicy = xml::from_xml(&bytes)?;
        Ok(p.access_control_list.grant)
    }
}

pub(crate) fn content_md5(body: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

#[cfg(test)]
mod meta_tests {
    use super::ObjectMeta;

    fn map(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    /// The one-pass reader sees what lookups by name saw: each header's first value, trimmed;
    /// every `x-oss-meta-*` header as sent; nothing for absent or unparsable values.
    #[test]
    fn headers_are_read_in_one_pass_like_lookups() {
        let h = map(&[
            ("Content-Length", "4096"),
            ("ETag", " \"abc\" "),
            ("ETag", "\"second\""),
            ("Last-Modified", "Mon, 07 Dec 2026 16:45:03 GMT"),
            ("Content-Type", "text/plain"),
            ("x-oss-hash-crc64ecma", "18446744073709551615"),
            ("x-oss-hash-crc64ecma", "1"),
            ("x-oss-object-type", "Appendable"),
            ("x-oss-storage-class", "IA"),
            ("x-oss-next-append-position", "4096"),
            ("x-oss-request-id", "r1"),
            ("x-oss-meta-Color", "blue"),
            ("x-oss-meta-size", " big "),
            ("x-oss-server-time", "3"),
        ]);
        let m = ObjectMeta::from_headers(&h);
        assert_eq!(m.size, 4096);
        assert_eq!(m.etag, "\"abc\"");
        let t = m.last_modified.expect("parsed");
        assert_eq!(
            ossguard_proto::time::rfc1123(t),
            "Mon, 07 Dec 2026 16:45:03 GMT"
        );
        assert_eq!(m.content_type.as_deref(), Some("text/plain"));
        assert_eq!(m.crc64, Some(u64::MAX));
        assert_eq!(m.object_type.as_deref(), Some("Appendable"));
        assert_eq!(m.storage_class.as_deref(), Some("IA"));
        assert_eq!(m.next_append_position, Some(4096));
        assert_eq!(m.request_id.as_deref(), Some("r1"));
        let meta: Vec<_> = m
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(meta, [("color", "blue"), ("size", " big ")]);

        let none = ObjectMeta::from_headers(&map(&[
            ("Content-Length", "lots"),
            ("x-oss-hash-crc64ecma", "-1"),
            ("Last-Modified", "yesterday"),
        ]));
        assert_eq!((none.size, none.crc64, none.last_modified), (0, None, None));
        assert!(none.etag.is_empty() && none.metadata.is_empty() && none.request_id.is_none());
    }
}
