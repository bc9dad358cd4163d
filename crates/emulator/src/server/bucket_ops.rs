//! Service and bucket operations: buckets, bucket ACL, CORS (incl. preflight), logging, and
//! ListObjects v1/v2.

use std::str::FromStr;

use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ossguard_proto::xml::{
    self, AccessControlList, BucketDetail, BucketInfo as XmlBucketInfo, BucketLoggingStatus,
    BucketPolicy, BucketSummary, Buckets, CommonPrefix, CorsConfiguration,
    CreateBucketConfiguration, ListAllMyBucketsResult, ListBucketResult, LocationConstraint,
    ObjectSummary, ServerSideEncryptionRule,
};
use ossguard_proto::Operation;

use super::context::Ctx;
use super::cors;
use super::error::ApiError;
use super::object_ops::{acl_policy, owner};
use super::response::{self, iso_ms};
use crate::store::{
    BucketAcl, BucketInfo, CreateBucketOptions, ListObjectsParams, StorageClass, StoreError,
};

pub async fn handle(mut ctx: Ctx) -> Result<Response, ApiError> {
    use Operation::*;
    let store = ctx.st.store.clone();
    match ctx.op {
        ListBuckets => list_buckets(&ctx).await,
        PutBucket => {
            let body = ctx.xml_body().await?;
            let mut opts = CreateBucketOptions::default();
            if !body.is_empty() {
                let cfg: CreateBucketConfiguration = xml::from_xml(&body)?;
                if let Some(sc) = cfg.storage_class {
                    opts.storage_class = StorageClass::from_str(&sc)?;
                }
            }
            if let Some(acl) = ctx.header("x-oss-acl") {
                opts.acl = BucketAcl::from_str(&acl)?;
            }
            let acl = opts.acl;
            match store.create_bucket(ctx.bucket()?, opts).await {
                // OSS answers PutBucket on a bucket you own with 200 and applies `x-oss-acl`
                // (the Debian Go SDK's SetBucketACL relies on it); one owner here.
                Err(StoreError::BucketAlreadyExists(_)) => {
                    if ctx.header("x-oss-acl").is_some() {
                        store.set_bucket_acl(ctx.bucket()?, acl).await?;
                    }
                }
                r => {
                    r?;
                }
            }
            Ok(response::status(200))
        }
        DeleteBucket => {
            store.delete_bucket(ctx.bucket()?).await?;
            Ok(response::status(204))
        }
        GetBucketInfo => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            Ok(response::xml(&bucket_info_xml(&ctx, &b)))
        }
        GetBucketLocation => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            Ok(response::xml(&LocationConstraint {
                location: b.location,
            }))
        }
        PutBucketLifecycle => {
            let body = ctx.xml_body().await?;
            let cfg: xml::LifecycleConfiguration = xml::from_xml(&body)?;
            check_lifecycle(&cfg)?;
            let document = String::from_utf8(body)
                .map_err(|_| ApiError::new(400, "MalformedXML", "The XML is not UTF-8."))?;
            store
                .set_bucket_lifecycle(ctx.bucket()?, Some(document))
                .await?;
            Ok(response::status(200))
        }
        GetBucketLifecycle => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            let document = b.lifecycle.ok_or_else(|| {
                ApiError::new(
                    404,
                    "NoSuchLifecycle",
                    "No lifecycle configuration is set on this bucket.",
                )
            })?;
            Ok(response::raw_xml(document))
        }
        DeleteBucketLifecycle => {
            store.set_bucket_lifecycle(ctx.bucket()?, None).await?;
            Ok(response::status(204))
        }
        // Versioning is never enabled here (PutBucketVersioning is not implemented): the
        // answer of a bucket that never had it.
        GetBucketVersioning => {
            store.bucket_info(ctx.bucket()?).await?;
            Ok(response::xml(&xml::VersioningConfiguration::default()))
        }
        GetBucketStat => {
            let t = store.bucket_totals(ctx.bucket()?).await?;
            Ok(response::xml(&bucket_stat(&t)))
        }
        PutBucketAcl => {
            let acl = ctx.header("x-oss-acl").ok_or_else(|| {
                ApiError::invalid_argument("PutBucketAcl needs the x-oss-acl header")
            })?;
            store
                .set_bucket_acl(ctx.bucket()?, BucketAcl::from_str(&acl)?)
                .await?;
            Ok(response::status(200))
        }
        GetBucketAcl => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            Ok(response::xml(&acl_policy(b.acl.as_str())))
        }
        PutBucketCors => {
            let body = ctx.xml_body().await?;
            let cfg: CorsConfiguration = xml::from_xml(&body)?;
            if cfg.rules.is_empty() || cfg.rules.len() > 10 {
                return Err(ApiError::new(
                    400,
                    "InvalidArgument",
                    "A CORS configuration has 1 to 10 rules.",
                ));
            }
            if cfg
                .rules
                .iter()
                .any(|r| r.allowed_origins.is_empty() || r.allowed_methods.is_empty())
            {
                return Err(ApiError::new(
                    400,
                    "InvalidArgument",
                    "Each CORS rule needs AllowedOrigin and AllowedMethod.",
                ));
            }
            store
                .set_bucket_cors(ctx.bucket()?, Some(xml::to_xml(&cfg)))
                .await?;
            Ok(response::status(200))
        }
        GetBucketCors => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            let cfg = cors::config_of(&b).ok_or_else(no_cors)?;
            Ok(response::xml(&cfg))
        }
        DeleteBucketCors => {
            store.set_bucket_cors(ctx.bucket()?, None).await?;
            Ok(response::status(204))
        }
        PutBucketLogging => {
            let body = ctx.xml_body().await?;
            let cfg: BucketLoggingStatus = xml::from_xml(&body)?;
            if let Some(le) = &cfg.logging_enabled {
                if store.bucket_info(&le.target_bucket).await.is_err() {
                    return Err(ApiError::new(
                        400,
                        "InvalidTargetBucketForLogging",
                        "The target bucket for logging does not exist.",
                    ));
                }
            }
            let stored = cfg.logging_enabled.is_some().then(|| xml::to_xml(&cfg));
            store.set_bucket_logging(ctx.bucket()?, stored).await?;
            Ok(response::status(200))
        }
        GetBucketLogging => {
            let b = store.bucket_info(ctx.bucket()?).await?;
            let cfg = logging_of(&b).unwrap_or_default();
            Ok(response::xml(&cfg))
        }
        DeleteBucketLogging => {
            store.set_bucket_logging(ctx.bucket()?, None).await?;
            Ok(response::status(204))
        }
        ListObjects | ListObjectsV2 => list_objects(&ctx, ctx.op == ListObjectsV2).await,
        Options => cors::preflight(&ctx).await,
        _ => Err(ApiError::not_implemented()),
    }
}

fn no_cors() -> ApiError {
    ApiError::new(
        404,
        "NoSuchCORSConfiguration",
        "The CORS configuration does not exist.",
    )
}

pub fn logging_of(b: &BucketInfo) -> Option<BucketLoggingStatus> {
    b.logging
        .as_deref()
        .and_then(|x| xml::from_xml(x.as_bytes()).ok())
}

fn endpoint(ctx: &Ctx) -> String {
    format!("oss-{}.aliyuncs.com", ctx.st.region)
}

fn bucket_info_xml(ctx: &Ctx, b: &BucketInfo) -> XmlBucketInfo {
    let logging = logging_of(b).and_then(|l| l.logging_enabled);
    XmlBucketInfo {
        bucket: BucketDetail {
            creation_date: iso_ms(b.created_ms),
            extranet_endpoint: endpoint(ctx),
            intranet_endpoint: format!("oss-{}-internal.aliyuncs.com", ctx.st.region),
            location: b.location.clone(),
            storage_class: b.storage_class.as_str().into(),
            data_redundancy_type: "LRS".into(),
            name: b.name.clone(),
            owner: owner(),
            access_control_list: AccessControlList {
                grant: b.acl.as_str().into(),
            },
            server_side_encryption_rule: ServerSideEncryptionRule {
                sse_algorithm: "None".into(),
            },
            bucket_policy: BucketPolicy {
                log_bucket: logging
                    .as_ref()
                    .map(|l| l.target_bucket.clone())
                    .unwrap_or_default(),
                log_prefix: logging.map(|l| l.target_prefix).unwrap_or_default(),
            },
        },
    }
}

async fn list_buckets(ctx: &Ctx) -> Result<Response, ApiError> {
    let prefix = ctx.query("prefix").unwrap_or("").to_owned();
    let marker = ctx.query("marker").unwrap_or("").to_owned();
    let max: usize = ctx
        .query("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let all: Vec<BucketInfo> = ctx
        .st
        .store
        .list_buckets()
        .await
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix) && b.name.as_str() > marker.as_str())
        .collect();
    let truncated = all.len() > max;
    let page: Vec<&BucketInfo> = all.iter().take(max).collect();
    let paged = ctx.query("prefix").is_some()
        || ctx.query("marker").is_some()
        || ctx.query("max-keys").is_some();
    Ok(response::xml(&ListAllMyBucketsResult {
        prefix: paged.then(|| prefix.clone()),
        marker: paged.then(|| marker.clone()),
        max_keys: paged.then_some(max as u32),
        is_truncated: paged.then_some(truncated),
        next_marker: truncated.then(|| page.last().map(|b| b.name.clone()).unwrap_or_default()),
        owner: owner(),
        buckets: Buckets {
            bucket: page
                .into_iter()
                .map(|b| BucketSummary {
                    creation_date: iso_ms(b.created_ms),
                    extranet_endpoint: endpoint(ctx),
                    intranet_endpoint: format!("oss-{}-internal.aliyuncs.com", ctx.st.region),
                    location: b.location.clone(),
                    name: b.name.clone(),
                    region: b.location.trim_start_matches("oss-").into(),
                    storage_class: b.storage_class.as_str().into(),
                })
                .collect(),
        },
    }))
}

async fn list_objects(ctx: &Ctx, v2: bool) -> Result<Response, ApiError> {
    let bucket = ctx.bucket()?;
    let url = ctx.query("encoding-type") == Some("url");
    let prefix = ctx.query("prefix").unwrap_or("").to_owned();
    let delimiter = ctx.query("delimiter").unwrap_or("").to_owned();
    let max_keys: usize = match ctx.query("max-keys") {
        None => 100,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=1000).contains(m))
            .ok_or_else(|| ApiError::invalid_argument("max-keys must be 1 to 1000"))?,
    };
    let token = ctx.query("continuation-token");
    let start_after = ctx.query("start-after").unwrap_or("");
    let marker = if v2 {
        match token {
            Some(t) => B64
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::invalid_argument(
                        "The continuation token is not one this server issued.",
                    )
                })?,
            None => start_after.to_owned(),
        }
    } else {
        ctx.query("marker").unwrap_or("").to_owned()
    };
    let listing = ctx
        .st
        .store
        .list_objects(
            bucket,
            &ListObjectsParams {
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                marker: marker.clone(),
                max_keys,
            },
        )
        .await?;
    let enc = |s: &str| {
        if url {
            xml::url_encode_key(s)
        } else {
            s.to_owned()
        }
    };
    let fetch_owner = !v2 || ctx.query("fetch-owner") == Some("true");
    let contents: Vec<ObjectSummary> = listing
        .objects
        .iter()
        .map(|o| ObjectSummary {
            key: enc(&o.key),
            last_modified: iso_ms(o.last_modified_ms),
            etag: o.etag.clone(),
            object_type: o.object_type.as_str().into(),
            size: o.size,
            storage_class: o.headers.storage_class.as_str().into(),
            owner: fetch_owner.then(owner),
        })
        .collect();
    let common: Vec<CommonPrefix> = listing
        .common_prefixes
        .iter()
        .map(|p| CommonPrefix { prefix: enc(p) })
        .collect();
    let key_count = (contents.len() + common.len()) as u32;
    let next = listing.next_marker.clone().filter(|_| listing.is_truncated);
    let result = if v2 {
        ListBucketResult {
            name: bucket.to_owned(),
            prefix: enc(&prefix),
            start_after: ctx.query("start-after").map(enc),
            continuation_token: token.map(str::to_owned),
            max_keys: max_keys as u32,
            delimiter: enc(&delimiter),
            encoding_type: url.then(|| "url".into()),
            is_truncated: listing.is_truncated,
            next_continuation_token: next.map(|n| B64.encode(n.as_bytes())),
            key_count: Some(key_count),
            contents,
            common_prefixes: common,
            ..Default::default()
        }
    } else {
        ListBucketResult {
            name: bucket.to_owned(),
            prefix: enc(&prefix),
            marker: Some(enc(&marker)),
            max_keys: max_keys as u32,
            delimiter: enc(&delimiter),
            encoding_type: url.then(|| "url".into()),
            is_truncated: listing.is_truncated,
            next_marker: next.map(|n| enc(&n)),
            contents,
            common_prefixes: common,
            ..Default::default()
        }
    };
    Ok(response::xml(&result))
}

/// GetBucketStat's answer; no live channels or delete markers here (no live streaming, no
/// versioning). Per class, "Storage" is billed bytes and "RealStorage" the bytes held.
fn bucket_stat(t: &crate::store::BucketTotals) -> xml::BucketStat {
    let billed = |i: usize| t.billed_by_class[i];
    let (real, count) = (|i: usize| t.by_class[i].0, |i: usize| t.by_class[i].1);
    xml::BucketStat {
        storage: t.bytes,
        object_count: t.objects,
        multipart_upload_count: t.uploads,
        live_channel_count: 0,
        last_modified_time: t.last_modified_ms / 1000,
        standard_storage: real(0),
        standard_object_count: count(0),
        infrequent_access_storage: billed(1),
        infrequent_access_real_storage: real(1),
        infrequent_access_object_count: count(1),
        archive_storage: billed(2),
        archive_real_storage: real(2),
        archive_object_count: count(2),
        cold_archive_storage: billed(3),
        cold_archive_real_storage: real(3),
        cold_archive_object_count: count(3),
        deep_cold_archive_storage: billed(4),
        deep_cold_archive_real_storage: real(4),
        deep_cold_archive_object_count: count(4),
        multipart_part_count: t.parts,
        delete_marker_count: 0,
    }
}

/// OSS's checks of a lifecycle configuration, as far as the emulator reads it: 1 to 1,000 rules,
/// each Enabled or Disabled, IDs unique. The rules themselves are stored, not applied.
fn check_lifecycle(cfg: &xml::LifecycleConfiguration) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(400, "InvalidArgument", m);
    if cfg.rules.is_empty() || cfg.rules.len() > 1000 {
        return Err(bad(format!(
            "A lifecycle configuration has 1 to 1000 rules; got {}.",
            cfg.rules.len()
        )));
    }
    let mut ids = std::collections::BTreeSet::new();
    for r in &cfg.rules {
        if !matches!(r.status.as_str(), "Enabled" | "Disabled") {
            return Err(bad(format!(
                "A rule's Status is Enabled or Disabled, not '{}'.",
                r.status
            )));
        }
        if let Some(id) = r.id.as_deref().filter(|id| !id.is_empty()) {
            if !ids.insert(id) {
                return Err(bad(format!("The rule ID '{id}' appears twice.")));
            }
        }
    }
    Ok(())
}
