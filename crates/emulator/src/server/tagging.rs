//! Tags: PutObjectTagging / GetObjectTagging / DeleteObjectTagging, the `x-oss-tagging` header
//! of writes and `x-oss-tagging-count` on reads; PutBucketTags / GetBucketTags /
//! DeleteBucketTags.

use std::collections::BTreeMap;

use axum::response::Response;
use ossguard_proto::encoding::parse_query;
use ossguard_proto::xml::{self, Tagging};
use ossguard_proto::Operation;

use super::context::Ctx;
use super::error::ApiError;
use super::response;
use crate::store::{
    MAX_BUCKET_TAGS, MAX_BUCKET_TAG_KEY, MAX_BUCKET_TAG_VALUE, MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE,
};

/// How many tags, and how long, a resource may have.
#[derive(Clone, Copy)]
struct Limits {
    count: usize,
    key: usize,
    value: usize,
}

const OBJECT: Limits = Limits {
    count: MAX_TAGS,
    key: MAX_TAG_KEY,
    value: MAX_TAG_VALUE,
};
const BUCKET: Limits = Limits {
    count: MAX_BUCKET_TAGS,
    key: MAX_BUCKET_TAG_KEY,
    value: MAX_BUCKET_TAG_VALUE,
};

pub async fn handle(mut ctx: Ctx) -> Result<Response, ApiError> {
    match ctx.op {
        Operation::PutObjectTagging => {
            let body = ctx.xml_body().await?;
            let doc: Tagging = xml::from_xml(&body)?;
            let tags = checked(doc.into_pairs(), OBJECT)?;
            ctx.st
                .store
                .set_object_tags(ctx.bucket()?, ctx.key()?, tags)
                .await?;
            Ok(response::status(200))
        }
        Operation::PutBucketTags => {
            let body = ctx.xml_body().await?;
            let doc: Tagging = xml::from_xml(&body)?;
            let tags = checked(doc.into_pairs(), BUCKET)?;
            ctx.st.store.set_bucket_tags(ctx.bucket()?, tags).await?;
            Ok(response::status(200))
        }
        Operation::GetBucketTags => {
            let info = ctx.st.store.bucket_info(ctx.bucket()?).await?;
            Ok(response::xml(&Tagging::from_pairs(info.tags)))
        }
        Operation::DeleteBucketTags => {
            ctx.st
                .store
                .set_bucket_tags(ctx.bucket()?, BTreeMap::new())
                .await?;
            Ok(response::status(204))
        }
        Operation::GetObjectTagging => {
            let info = ctx.st.store.head_object(ctx.bucket()?, ctx.key()?).await?;
            Ok(response::xml(&Tagging::from_pairs(info.headers.tags)))
        }
        Operation::DeleteObjectTagging => {
            ctx.st
                .store
                .set_object_tags(ctx.bucket()?, ctx.key()?, BTreeMap::new())
                .await?;
            Ok(response::status(204))
        }
        _ => Err(ApiError::not_implemented()),
    }
}

/// The tags of an `x-oss-tagging` header (`k1=v1&k2=v2`, URL-encoded; `k` alone: empty value).
pub fn from_header(value: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let pairs = parse_query(value).map_err(|e| {
        ApiError::invalid_argument(format!("x-oss-tagging is not URL-encoded pairs: {e}"))
    })?;
    checked(pairs, OBJECT)
}

/// What a tag key or value may contain (OSS's rule, which ali-oss also checks before sending).
fn allowed(c: char) -> bool {
    c.is_alphanumeric() || " +-=._:/".contains(c)
}

/// OSS's rules: at most `limits.count` tags (objects 10, buckets 20), keys of 1 to
/// `limits.key` characters (128, 64) and values of at most `limits.value` (256, 128), made of
/// letters, digits, spaces and `+ - = . _ : /`, each key once.
fn checked(
    tags: impl IntoIterator<Item = (String, String)>,
    limits: Limits,
) -> Result<BTreeMap<String, String>, ApiError> {
    let Limits {
        count: max_count,
        key: max_key,
        value: max_value,
    } = limits;
    let invalid = |m: String| ApiError::new(400, "InvalidTag", m);
    let mut out = BTreeMap::new();
    for (k, v) in tags {
        let (kn, vn) = (k.chars().count(), v.chars().count());
        if kn == 0 || kn > max_key {
            return Err(invalid(format!(
                "A tag key has 1 to {max_key} characters; got {kn}."
            )));
        }
        if vn > max_value {
            return Err(invalid(format!(
                "A tag value has at most {max_value} characters; got {vn}."
            )));
        }
        if let Some(c) = k.chars().chain(v.chars()).find(|c| !allowed(*c)) {
            return Err(invalid(format!(
                "Tags may contain letters, digits, spaces and + - = . _ : / only, not {c:?}."
            )));
        }
        if out.insert(k, v).is_some() {
            return Err(invalid("A tag key appears twice.".into()));
        }
    }
    if out.len() > max_count {
        return Err(invalid(format!(
            "At most {max_count} tags; got {}.",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_url_encoded_pairs() {
        let t = from_header("a=1&b%20c=x%2By%3Dz&flag&k%C3%BC=%E5%80%BC").unwrap();
        let want: BTreeMap<String, String> =
            [("a", "1"), ("b c", "x+y=z"), ("flag", ""), ("kü", "值")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
        assert_eq!(t, want);
        assert!(from_header("").unwrap().is_empty());
    }

    #[test]
    fn oss_limits_are_enforced() {
        let code = |r: Result<BTreeMap<String, String>, ApiError>| r.unwrap_err().code;
        assert_eq!(code(from_header("a=1&a=2")), "InvalidTag");
        assert_eq!(code(from_header("=1")), "InvalidTag");
        let long_key = "k".repeat(MAX_TAG_KEY + 1);
        assert_eq!(code(from_header(&format!("{long_key}=1"))), "InvalidTag");
        let long_value = "v".repeat(MAX_TAG_VALUE + 1);
        assert_eq!(code(from_header(&format!("k={long_value}"))), "InvalidTag");
        let eleven: Vec<String> = (0..=MAX_TAGS).map(|i| format!("k{i}=v")).collect();
        assert_eq!(code(from_header(&eleven.join("&"))), "InvalidTag");
        let ten: Vec<String> = (0..MAX_TAGS).map(|i| format!("k{i}=v")).collect();
        assert_eq!(from_header(&ten.join("&")).unwrap().len(), MAX_TAGS);
        let edge = format!("{}={}", "k".repeat(MAX_TAG_KEY), "v".repeat(MAX_TAG_VALUE));
        assert!(from_header(&edge).is_ok());
        // Characters, not bytes: 128 CJK characters are 384 bytes.
        let wide: String = std::iter::repeat_n("键", MAX_TAG_KEY).collect();
        let t = checked([(wide.clone(), "值".into())], OBJECT).unwrap();
        assert_eq!(t[&wide], "值");
        let long = checked([(format!("{wide}键"), String::new())], OBJECT);
        assert_eq!(code(long), "InvalidTag");
        // Buckets: 20 tags, keys of 64 characters.
        let twenty: Vec<(String, String)> =
            (0..20).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(checked(twenty.clone(), BUCKET).unwrap().len(), 20);
        assert_eq!(code(checked(twenty, OBJECT)), "InvalidTag");
        let key65 = ("k".repeat(65), String::new());
        assert_eq!(code(checked([key65.clone()], BUCKET)), "InvalidTag");
        assert!(checked([key65], OBJECT).is_ok());
        assert_eq!(code(from_header("a=%ZZ")), "InvalidArgument");
        for bad in ["a=x%26y", "a%3Fb=1", "a=%3Cb%3E", "a=b%0A"] {
            assert_eq!(code(from_header(bad)), "InvalidTag", "{bad}");
        }
    }
}
