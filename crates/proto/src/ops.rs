//! The operations ossguard speaks: how to recognise one on the server, how to build one on the
//! client, and the facts policies need (idempotency, hedgeability, policy action names).

use http::{HeaderMap, Method};

use crate::request::Request;

/// Every OSS operation the client, emulator and CLI support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ListBuckets,
    PutBucket,
    DeleteBucket,
    GetBucketInfo,
    GetBucketLocation,
    GetBucketStat,
    PutBucketAcl,
    GetBucketAcl,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketLogging,
    GetBucketLogging,
    DeleteBucketLogging,
    PutBucketTags,
    GetBucketTags,
    DeleteBucketTags,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    DeleteMultipleObjects,
    PutObject,
    GetObject,
    HeadObject,
    GetObjectMeta,
    DeleteObject,
    CopyObject,
    AppendObject,
    PutObjectAcl,
    GetObjectAcl,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    InitiateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    ListParts,
    /// CORS preflight (`OPTIONS`), unauthenticated by design.
    Options,
}

use Operation::*;

impl Operation {
    /// The OSS API name, also the metrics label.
    pub fn name(self) -> &'static str {
        match self {
            ListBuckets => "ListBuckets",
            PutBucket => "PutBucket",
            DeleteBucket => "DeleteBucket",
            GetBucketInfo => "GetBucketInfo",
            GetBucketLocation => "GetBucketLocation",
            GetBucketStat => "GetBucketStat",
            PutBucketAcl => "PutBucketAcl",
            GetBucketAcl => "GetBucketAcl",
            PutBucketCors => "PutBucketCors",
            GetBucketCors => "GetBucketCors",
            DeleteBucketCors => "DeleteBucketCors",
            PutBucketLogging => "PutBucketLogging",
            GetBucketLogging => "GetBucketLogging",
            DeleteBucketLogging => "DeleteBucketLogging",
            PutBucketTags => "PutBucketTags",
            GetBucketTags => "GetBucketTags",
            DeleteBucketTags => "DeleteBucketTags",
            PutBucketLifecycle => "PutBucketLifecycle",
            GetBucketLifecycle => "GetBucketLifecycle",
            DeleteBucketLifecycle => "DeleteBucketLifecycle",
            GetBucketVersioning => "GetBucketVersioning",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            DeleteMultipleObjects => "DeleteMultipleObjects",
            PutObject => "PutObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            GetObjectMeta => "GetObjectMeta",
            DeleteObject => "DeleteObject",
            CopyObject => "CopyObject",
            AppendObject => "AppendObject",
            PutObjectAcl => "PutObjectAcl",
            GetObjectAcl => "GetObjectAcl",
            PutObjectTagging => "PutObjectTagging",
            GetObjectTagging => "GetObjectTagging",
            DeleteObjectTagging => "DeleteObjectTagging",
            InitiateMultipartUpload => "InitiateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListMultipartUploads => "ListMultipartUploads",
            ListParts => "ListParts",
            Options => "Options",
        }
    }

    /// The RAM/STS policy action, e.g. `oss:GetObject` (RAM names ACL and multipart-part
    /// actions after the permission they need, as below).
    pub fn action(self) -> &'static str {
        match self {
            HeadObject | GetObjectMeta => "oss:GetObject",
            UploadPart
            | UploadPartCopy
            | InitiateMultipartUpload
            | CompleteMultipartUpload
            | AppendObject => "oss:PutObject",
            AbortMultipartUpload => "oss:AbortMultipartUpload",
            DeleteMultipleObjects => "oss:DeleteObject",
            ListObjectsV2 => "oss:ListObjects",
            Options => "oss:GetObject",
            ListBuckets => "oss:ListBuckets",
            PutBucket => "oss:PutBucket",
            DeleteBucket => "oss:DeleteBucket",
            GetBucketInfo => "oss:GetBucketInfo",
            GetBucketLocation => "oss:GetBucketLocation",
            GetBucketStat => "oss:GetBucketStat",
            PutBucketAcl => "oss:PutBucketAcl",
            GetBucketAcl => "oss:GetBucketAcl",
            PutBucketCors => "oss:PutBucketCors",
            GetBucketCors => "oss:GetBucketCors",
            DeleteBucketCors => "oss:DeleteBucketCors",
            PutBucketLogging => "oss:PutBucketLogging",
            GetBucketLogging => "oss:GetBucketLogging",
            DeleteBucketLogging => "oss:DeleteBucketLogging",
            PutBucketTags => "oss:PutBucketTagging",
            GetBucketTags => "oss:GetBucketTagging",
            DeleteBucketTags => "oss:DeleteBucketTagging",
            PutBucketLifecycle => "oss:PutBucketLifecycle",
            GetBucketLifecycle => "oss:GetBucketLifecycle",
            DeleteBucketLifecycle => "oss:DeleteBucketLifecycle",
            GetBucketVersioning => "oss:GetBucketVersioning",
            ListObjects => "oss:ListObjects",
            PutObject => "oss:PutObject",
            GetObject => "oss:GetObject",
            DeleteObject => "oss:DeleteObject",
            CopyObject => "oss:PutObject",
            PutObjectAcl => "oss:PutObjectAcl",
            GetObjectAcl => "oss:GetObjectAcl",
            PutObjectTagging => "oss:PutObjectTagging",
            GetObjectTagging => "oss:GetObjectTagging",
            DeleteObjectTagging => "oss:DeleteObjectTagging",
            ListMultipartUploads => "oss:ListMultipartUploads",
            ListParts => "oss:ListParts",
        }
    }

    /// Safe to send twice with the same outcome. AppendObject is idempotent only thanks to its
    /// position precondition, which the caller must check (a retried append gets
    /// PositionNotEqualToLength if the first one landed).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, AppendObject | InitiateMultipartUpload)
    }

    /// May be sent again after a transient or throttled failure whose effect is unknown.
    ///
    /// Every idempotent operation, plus InitiateMultipartUpload: a second Initiate creates a
    /// second, empty upload, and the only cost of a lost answer is that orphan. Orphans are
    /// deliberately **left for the bucket's lifecycle rule** (`AbortMultipartUpload` after N
    /// days), neither adopted nor aborted: an upload is known only by key and initiation time,
    /// so another writer's concurrent upload of the same key cannot be told from ours — adopting
    /// it would mix two uploads' parts, aborting it would destroy the other writer's work. An
    /// orphan holds no parts, so it stores nothing; `ossguard` lists it under
    /// `ListMultipartUploads` like any other.
    ///
    /// PutObject with `x-oss-forbid-overwrite` is retried too: the client checks a
    /// `FileAlreadyExists` answer against its own write (size, CRC-64, time) before failing.
    pub fn is_retry_safe(self) -> bool {
        self.is_idempotent() || self == InitiateMultipartUpload
    }

    /// A read that may be hedged (a duplicate costs only bandwidth).
    pub fn is_hedgeable_read(self) -> bool {
        matches!(self, GetObject | HeadObject | GetObjectMeta)
    }

    /// Moves object bytes (data bulkhead) rather than metadata.
    pub fn is_data(self) -> bool {
        matches!(
            self,
            PutObject | GetObject | AppendObject | UploadPart | UploadPartCopy | CopyObject
        )
    }

    /// Server-side work with a silent response (body-idle timeouts must be longer).
    pub fn is_silent_server_work(self) -> bool {
        matches!(self, CopyObject | CompleteMultipartUpload | UploadPartCopy)
    }

    /// Recognises the operation of a parsed request (server side). `None`: not an OSS API call
    /// this project implements.
    pub fn identify(
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Option<Operation> {
        let has = |n: &str| query.iter().any(|(k, _)| k == n);
        let copy = headers.contains_key("x-oss-copy-source");
        if *method == Method::OPTIONS {
            return bucket.map(|_| Options);
        }
        let Some(_) = bucket else {
            return (*method == Method::GET).then_some(ListBuckets);
        };
        if key.is_none() {
            return Some(match *method {
                Method::PUT if has("acl") => PutBucketAcl,
                Method::PUT if has("cors") => PutBucketCors,
                Method::PUT if has("logging") => PutBucketLogging,
                Method::PUT if has("tagging") => PutBucketTags,
                Method::PUT if has("lifecycle") => PutBucketLifecycle,
                Method::PUT => PutBucket,
                Method::GET if has("acl") => GetBucketAcl,
                Method::GET if has("cors") => GetBucketCors,
                Method::GET if has("logging") => GetBucketLogging,
                Method::GET if has("tagging") => GetBucketTags,
                Method::GET if has("lifecycle") => GetBucketLifecycle,
                Method::GET if has("versioning") => GetBucketVersioning,
                Method::GET if has("bucketInfo") => GetBucketInfo,
                Method::GET if has("location") => GetBucketLocation,
                Method::GET if has("stat") => GetBucketStat,
                Method::GET if has("uploads") => ListMultipartUploads,
                Method::GET if query.iter().any(|(k, v)| k == "list-type" && v == "2") => {
                    ListObjectsV2
                }
                Method::GET => ListObjects,
                Method::DELETE if has("cors") => DeleteBucketCors,
                Method::DELETE if has("logging") => DeleteBucketLogging,
                Method::DELETE if has("tagging") => DeleteBucketTags,
                Method::DELETE if has("lifecycle") => DeleteBucketLifecycle,
                Method::DELETE => DeleteBucket,
                Method::POST if has("delete") => DeleteMultipleObjects,
                _ => return None,
            });
        }
        Some(match *method {
            Method::PUT if has("acl") => PutObjectAcl,
            Method::PUT if has("tagging") => PutObjectTagging,
            Method::PUT if has("partNumber") && has("uploadId") && copy => UploadPartCopy,
            Method::PUT if has("partNumber") && has("uploadId") => UploadPart,
            Method::PUT if copy => CopyObject,
            Method::PUT => PutObject,
            Method::GET if has("acl") => GetObjectAcl,
            Method::GET if has("tagging") => GetObjectTagging,
            Method::GET if has("uploadId") => ListParts,
            Method::GET => GetObject,
            Method::HEAD if has("objectMeta") => GetObjectMeta,
            Method::HEAD => HeadObject,
            Method::DELETE if has("tagging") => DeleteObjectTagging,
            Method::DELETE if has("uploadId") => AbortMultipartUpload,
            Method::DELETE => DeleteObject,
            Method::POST if has("uploads") => InitiateMultipartUpload,
            Method::POST if has("uploadId") => CompleteMultipartUpload,
            Method::POST if has("append") => AppendObject,
            _ => return None,
        })
    }

    /// The first query parameter of a request routed to `self` that names an API or an option
    /// this operation does not implement, e.g. `symlink` in `PUT /key?symlink` (PutSymlink),
    /// which [`identify`](Self::identify) reads as PutObject. Answered as the plain operation it
    /// would overwrite the object with an empty one and report success (and `DELETE /?lifecycle`
    /// would delete an empty bucket); a server refuses it instead.
    ///
    /// Checked: the V1 sub-resource names (each an API or an option of one) and `regions`
    /// (DescribeRegions, `GET /?regions`). `versionId` passes only as `null` (the one version
    /// of an unversioned object).
    pub fn unhandled_parameter(self, query: &[(String, String)]) -> Option<&str> {
        if self == Options {
            return None;
        }
        let understood = self.parameters();
        query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .find_map(|(k, v)| {
                let checked = crate::auth::v1::is_subresource(k) || k == "regions";
                let fine = match k {
                    // Any request may carry these: STS in a V1 presigned URL, who pays.
                    "security-token" | "x-oss-request-payer" => true,
                    "versionId" => v == "null" && understood.contains(&k),
                    _ => understood.contains(&k),
                };
                (checked && !fine).then_some(k)
            })
    }

    /// The sub-resource named by a request no operation matched (`POST /key?restore`), for a
    /// "not implemented" answer rather than "method not allowed".
    pub fn unknown_subresource(query: &[(String, String)]) -> Option<&str> {
        query
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| crate::auth::v1::is_subresource(k) && *k != "security-token")
    }

    /// The sub-resource parameters this operation reads (or may safely ignore: a traffic
    /// limit only slows a transfer down).
    fn parameters(self) -> &'static [&'static str] {
        const LIMIT: &str = "x-oss-traffic-limit";
        match self {
            GetBucketInfo => &["bucketInfo"],
            GetBucketLocation => &["location"],
            GetBucketStat => &["stat"],
            PutBucketAcl | GetBucketAcl => &["acl"],
            PutObjectAcl | GetObjectAcl => &["acl", "versionId"],
            PutObjectTagging | GetObjectTagging | DeleteObjectTagging => &["tagging", "versionId"],
            PutBucketCors | GetBucketCors | DeleteBucketCors => &["cors"],
            PutBucketLogging | GetBucketLogging | DeleteBucketLogging => &["logging"],
            PutBucketTags | GetBucketTags | DeleteBucketTags => &["tagging"],
            PutBucketLifecycle | GetBucketLifecycle | DeleteBucketLifecycle => &["lifecycle"],
            GetBucketVersioning => &["versioning"],
            ListObjectsV2 => &["continuation-token"],
            DeleteMultipleObjects => &["delete"],
            PutObject | CopyObject => &[LIMIT],
            // `objectMeta`: the Go SDK (1.5) sends GetObjectMeta as `GET ?objectMeta`, answered
            // as a GetObject (the headers it reads are the same).
            GetObject => &[
                "response-content-type",
                "response-content-language",
                "response-expires",
                "response-cache-control",
                "response-content-disposition",
                "response-content-encoding",
                "versionId",
                "objectMeta",
                LIMIT,
            ],
            HeadObject | DeleteObject => &["versionId"],
            GetObjectMeta => &["objectMeta", "versionId"],
            AppendObject => &["append", "position", LIMIT],
            InitiateMultipartUpload => &["uploads", "sequential"],
            UploadPart | UploadPartCopy => &["partNumber", "uploadId", LIMIT],
            CompleteMultipartUpload | AbortMultipartUpload | ListParts => &["uploadId"],
            ListMultipartUploads => &["uploads"],
            ListBuckets | PutBucket | DeleteBucket | ListObjects | Options => &[],
        }
    }

    /// The HTTP method the operation is sent with.
    pub fn method(self) -> Method {
        self.wire().0
    }

    /// The bare request for this operation (method + marker sub-resource); callers add the
    /// parameters, headers and body the operation needs.
    pub fn request(self, bucket: Option<&str>, key: Option<&str>) -> Request {
        let (method, sub) = self.wire();
        let mut r = Request::new(method, bucket, key);
        if let Some(s) = sub {
            r.query.push((s.to_owned(), String::new()));
        }
        if self == ListObjectsV2 {
            r.query.push(("list-type".into(), "2".into()));
        }
        r
    }

    /// Method and marker sub-resource.
    fn wire(self) -> (Method, Option<&'static str>) {
        match self {
            ListBuckets => (Method::GET, None),
            PutBucket => (Method::PUT, None),
            DeleteBucket => (Method::DELETE, None),
            GetBucketInfo => (Method::GET, Some("bucketInfo")),
            GetBucketLocation => (Method::GET, Some("location")),
            GetBucketStat => (Method::GET, Some("stat")),
            PutBucketAcl | PutObjectAcl => (Method::PUT, Some("acl")),
            GetBucketAcl | GetObjectAcl => (Method::GET, Some("acl")),
            PutObjectTagging => (Method::PUT, Some("tagging")),
            GetObjectTagging => (Method::GET, Some("tagging")),
            DeleteObjectTagging => (Method::DELETE, Some("tagging")),
            PutBucketCors => (Method::PUT, Some("cors")),
            GetBucketCors => (Method::GET, Some("cors")),
            DeleteBucketCors => (Method::DELETE, Some("cors")),
            PutBucketLogging => (Method::PUT, Some("logging")),
            GetBucketLogging => (Method::GET, Some("logging")),
            DeleteBucketLogging => (Method::DELETE, Some("logging")),
            PutBucketTags => (Method::PUT, Some("tagging")),
            GetBucketTags => (Method::GET, Some("tagging")),
            DeleteBucketTags => (Method::DELETE, Some("tagging")),
            PutBucketLifecycle => (Method::PUT, Some("lifecycle")),
            GetBucketLifecycle => (Method::GET, Some("lifecycle")),
            DeleteBucketLifecycle => (Method::DELETE, Some("lifecycle")),
            GetBucketVersioning => (Method::GET, Some("versioning")),
            ListObjects => (Method::GET, None),
            ListObjectsV2 => (Method::GET, None),
            DeleteMultipleObjects => (Method::POST, Some("delete")),
            PutObject | CopyObject | UploadPart | UploadPartCopy => (Method::PUT, None),
            GetObject | ListParts => (Method::GET, None),
            HeadObject => (Method::HEAD, None),
            GetObjectMeta => (Method::HEAD, Some("objectMeta")),
            DeleteObject | AbortMultipartUpload => (Method::DELETE, None),
            AppendObject => (Method::POST, Some("append")),
            InitiateMultipartUpload => (Method::POST, Some("uploads")),
            CompleteMultipartUpload => (Method::POST, None),
            ListMultipartUploads => (Method::GET, Some("uploads")),
            Options => (Method::OPTIONS, None),
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every operation, for exhaustive tests and metric pre-registration.
pub const ALL: &[Operation] = &[
    ListBuckets,
    PutBucket,
    DeleteBucket,
    GetBucketInfo,
    GetBucketLocation,
    GetBucketStat,
    PutBucketAcl,
    GetBucketAcl,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketLogging,
    GetBucketLogging,
    DeleteBucketLogging,
    PutBucketTags,
    GetBucketTags,
    DeleteBucketTags,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    DeleteMultipleObjects,
    PutObject,
    GetObject,
    HeadObject,
    GetObjectMeta,
    DeleteObject,
    CopyObject,
    AppendObject,
    PutObjectAcl,
    GetObjectAcl,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    InitiateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    ListParts,
    Options,
];

/// `UploadPart`: `PUT /key?partNumber=N&uploadId=ID`.
pub fn upload_part(bucket: &str, key: &str, upload_id: &str, part_number: u32) -> Request {
    Request::new(Method::PUT, Some(bucket), Some(key))
        .with_query("partNumber", &part_number.to_string())
        .with_query("uploadId", upload_id)
}

/// `UploadPartCopy`: `PUT /key?partNumber=N&uploadId=ID` with `x-oss-copy-source:
/// /src_bucket/<encoded src_key>` and, to copy part of the source, `x-oss-copy-source-range:
/// bytes=first-last` (inclusive byte positions). Copy-source conditions
/// (`x-oss-copy-source-if-match` & co) are the caller's to add.
pub fn upload_part_copy(
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    src_bucket: &str,
    src_key: &str,
    range: Option<(u64, u64)>,
) -> Result<Request, crate::request::InvalidHeader> {
    let mut req = upload_part(bucket, key, upload_id, part_number);
    req.set_header("x-oss-copy-source", &copy_source(src_bucket, src_key))?;
    if let Some((first, last)) = range {
        req.set_header(
            "x-oss-copy-source-range",
            &crate::range::ByteRange::Closed { first, last }.to_header(),
        )?;
    }
    Ok(req)
}

/// `AppendObject`: `POST /key?append&position=N`.
pub fn append_object(bucket: &str, key: &str, position: u64) -> Request {
    AppendObject
        .request(Some(bucket), Some(key))
        .with_query("position", &position.to_string())
}

/// `CompleteMultipartUpload`: `POST /key?uploadId=ID` with its XML body.
pub fn complete_multipart_upload(
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[(u32, String)],
) -> (Request, Vec<u8>) {
    let body = crate::xml::CompleteMultipartUpload {
        parts: parts
            .iter()
            .map(|(n, etag)| crate::xml::CompletePart {
                part_number: *n,
                etag: etag.clone(),
            })
            .collect(),
    };
    let req = Request::new(Method::POST, Some(bucket), Some(key)).with_query("uploadId", upload_id);
    (req, crate::xml::to_xml(&body).into_bytes())
}

/// `x-oss-copy-source` value: `/bucket/` + the key percent-encoded (`/` kept).
pub fn copy_source(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", crate::encoding::uri_encode_path(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_builds_a_request_it_recognises() {
        for &op in ALL {
            let (b, k) = match op {
                ListBuckets => (None, None),
                PutBucket
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
                | PutBucketTags
                | GetBucketTags
                | DeleteBucketTags
                | PutBucketLifecycle
                | GetBucketLifecycle
                | DeleteBucketLifecycle
                | GetBucketVersioning
                | ListObjects
                | ListObjectsV2
                | DeleteMultipleObjects
                | ListMultipartUploads => (Some("b"), None),
                _ => (Some("b"), Some("k")),
            };
            let mut r = op.request(b, k);
            match op {
                UploadPart => r = upload_part("b", "k", "U", 1),
                UploadPartCopy => {
                    r = upload_part_copy("b", "k", "U", 1, "b", "src", Some((0, 9))).unwrap()
                }
                CompleteMultipartUpload | ListParts | AbortMultipartUpload => {
                    r.query.push(("uploadId".into(), "U".into()))
                }
                _ => {}
            }
            if matches!(op, CopyObject | UploadPartCopy) {
                r.set_header("x-oss-copy-source", "/b/src").unwrap();
            }
            let got = Operation::identify(&r.method, b, k, &r.query, &r.headers);
            assert_eq!(got, Some(op), "{op}");
            assert_eq!(op.unhandled_parameter(&r.query), None, "{op}");
        }
    }

    fn routed(method: Method, key: Option<&str>, query: &str) -> (Operation, Option<String>) {
        let q: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (p.to_owned(), String::new()),
            })
            .collect();
        let op = Operation::identify(&method, Some("b"), key, &q, &HeaderMap::new()).unwrap();
        (op, op.unhandled_parameter(&q).map(str::to_owned))
    }

    /// APIs this project does not implement are routed to a plain operation by method alone;
    /// the parameter that names them must make the request fail, not run as that operation.
    #[test]
    fn unimplemented_apis_are_named_not_run_as_the_plain_operation() {
        let k = Some("k");
        for (method, key, query, plain, named) in [
            (Method::PUT, k, "symlink", PutObject, "symlink"),
            (Method::GET, k, "symlink", GetObject, "symlink"),
            (
                Method::GET,
                k,
                "x-oss-process=image/resize,w_10",
                GetObject,
                "x-oss-process",
            ),
            (Method::GET, k, "versionId=CAEQ", GetObject, "versionId"),
            (
                Method::DELETE,
                k,
                "versionId=CAEQ",
                DeleteObject,
                "versionId",
            ),
            (Method::PUT, k, "uploadId=U", PutObject, "uploadId"),
            (Method::DELETE, None, "website", DeleteBucket, "website"),
            (Method::GET, None, "versions", ListObjects, "versions"),
            (Method::GET, None, "policy", ListObjects, "policy"),
            (
                Method::GET,
                None,
                "continuation-token=x",
                ListObjects,
                "continuation-token",
            ),
            (Method::PUT, None, "versioning", PutBucket, "versioning"),
        ] {
            assert_eq!(
                routed(method.clone(), key, query),
                (plain, Some(named.to_owned())),
                "{method} {query}"
            );
        }
        let q = vec![("regions".to_owned(), String::new())];
        let op = Operation::identify(&Method::GET, None, None, &q, &HeaderMap::new()).unwrap();
        assert_eq!(op.unhandled_parameter(&q), Some("regions"));
        // No operation matches `POST /k?restore`: the sub-resource is still named.
        let q = |pairs: &[&str]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|k| ((*k).to_owned(), String::new()))
                .collect()
        };
        let restore = q(&["security-token", "restore"]);
        let none = Operation::identify(
            &Method::POST,
            Some("b"),
            Some("k"),
            &restore,
            &HeaderMap::new(),
        );
        assert_eq!(none, None);
        assert_eq!(Operation::unknown_subresource(&restore), Some("restore"));
        assert_eq!(
            Operation::unknown_subresource(&q(&["security-token", "foo"])),
            None
        );
    }

    /// What the SDKs send with the operations that are implemented passes.
    #[test]
    fn parameters_of_implemented_operations_pass() {
        let k = Some("k");
        for (method, key, query, op) in [
            (
                Method::GET,
                k,
                "response-content-type=a/b&response-expires=x",
                GetObject,
            ),
            (Method::GET, k, "versionId=null", GetObject),
            (Method::GET, k, "objectMeta", GetObject),
            (Method::HEAD, k, "objectMeta", GetObjectMeta),
            (Method::GET, k, "x-oss-traffic-limit=819200", GetObject),
            (
                Method::PUT,
                k,
                "partNumber=1&uploadId=U&x-oss-traffic-limit=819200",
                UploadPart,
            ),
            (Method::POST, k, "append&position=0", AppendObject),
            (
                Method::POST,
                k,
                "uploads&sequential",
                InitiateMultipartUpload,
            ),
            (
                Method::GET,
                k,
                "security-token=t&OSSAccessKeyId=a&Expires=1&Signature=s",
                GetObject,
            ),
            (
                Method::GET,
                None,
                "list-type=2&continuation-token=x&prefix=p",
                ListObjectsV2,
            ),
            (
                Method::GET,
                None,
                "prefix=p&marker=m&max-keys=5&encoding-type=url",
                ListObjects,
            ),
            (
                Method::GET,
                None,
                "uploads&key-marker=a",
                ListMultipartUploads,
            ),
            (Method::POST, None, "delete", DeleteMultipleObjects),
            (Method::PUT, k, "tagging", PutObjectTagging),
            (Method::GET, k, "tagging&versionId=null", GetObjectTagging),
            (Method::DELETE, k, "tagging", DeleteObjectTagging),
        ] {
            assert_eq!(
                routed(method.clone(), key, query),
                (op, None),
                "{method} {query}"
            );
        }
    }

    #[test]
    fn initiate_is_retried_append_is_not() {
        assert!(InitiateMultipartUpload.is_retry_safe());
        assert!(!InitiateMultipartUpload.is_idempotent());
        assert!(!AppendObject.is_retry_safe());
        for &op in ALL {
            assert!(!op.is_idempotent() || op.is_retry_safe(), "{op}");
        }
    }

    #[test]
    fn copy_source_encodes_key() {
        assert_eq!(copy_source("b", "dir/a b+c"), "/b/dir/a%20b%2Bc");
    }

    #[test]
    fn upload_part_copy_names_source_and_range() {
        let r = upload_part_copy("dst", "d k", "U1", 7, "src", "a b+c", Some((100, 199))).unwrap();
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.query_param("partNumber"), Some("7"));
        assert_eq!(r.query_param("uploadId"), Some("U1"));
        assert_eq!(
            r.header("x-oss-copy-source").as_deref(),
            Some("/src/a%20b%2Bc")
        );
        assert_eq!(
            r.header("x-oss-copy-source-range").as_deref(),
            Some("bytes=100-199")
        );
        let whole = upload_part_copy("dst", "k", "U1", 1, "src", "s", None).unwrap();
        assert_eq!(whole.header("x-oss-copy-source-range"), None);
        assert_eq!(
            Operation::identify(
                &whole.method,
                Some("dst"),
                Some("k"),
                &whole.query,
                &whole.headers
            ),
            Some(UploadPartCopy)
        );
    }
}
