//! ListObjectsV2 as single pages and as a paginating stream.

use std::time::SystemTime;

use futures_util::Stream;
use ossguard_proto::xml::{self, ListBucketResult};
use ossguard_proto::Operation;

use crate::body::Body;
use crate::client::Client;
use crate::error::Error;

/// What [`Client::list_objects`] and [`Client::list_objects_page`] list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only keys starting with this (default: every key).
    pub prefix: String,
    /// `/` to roll keys up into common prefixes ("directories").
    pub delimiter: String,
    /// Only keys after this one.
    pub start_after: Option<String>,
    /// Per page, 1 to 1000 (default 1000).
    pub max_keys: Option<u32>,
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct ObjectEntry {
    /// Its key (decoded).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, as OSS sends it.
    pub etag: String,
    /// When it was last written.
    pub last_modified: Option<SystemTime>,
    /// `Standard`, `IA`, `Archive` …
    pub storage_class: String,
    /// `Normal`, `Multipart` or `Appendable`.
    pub object_type: String,
}

/// One page of ListObjectsV2.
#[derive(Debug, Clone, Default)]
pub struct ListObjectsPage {
    /// The objects of this page, in key order.
    pub objects: Vec<ObjectEntry>,
    /// With a delimiter: the "directories" the keys of this page roll up into.
    pub common_prefixes: Vec<String>,
    /// Pass to the next call; `None` on the last page.
    pub next_continuation_token: Option<String>,
}

fn decode(url: bool, s: String) -> Result<String, Error> {
    if url {
        Ok(xml::url_decode_key(&s)?)
    } else {
        Ok(s)
    }
}

impl Client {
    /// One page of ListObjectsV2 (keys come `encoding-type=url` and are decoded here).
    pub async fn list_objects_page(
        &self,
        bucket: &str,
        opts: &ListOptions,
        token: Option<&str>,
    ) -> Result<ListObjectsPage, Error> {
        let mut req = Operation::ListObjectsV2
            .request(Some(bucket), None)
            .with_query("encoding-type", "url")
            .with_query(
                "max-keys",
                &opts.max_keys.unwrap_or(1000).clamp(1, 1000).to_string(),
            );
        if !opts.prefix.is_empty() {
            req.query.push(("prefix".into(), opts.prefix.clone()));
        }
        if !opts.delimiter.is_empty() {
            req.query.push(("delimiter".into(), opts.delimiter.clone()));
        }
        if let Some(s) = &opts.start_after {
            req.query.push(("start-after".into(), s.clone()));
        }
        if let Some(t) = token {
            req.query.push(("continuation-token".into(), t.to_owned()));
        }
        let (_, _, bytes) = self
            .execute_read(Operation::ListObjectsV2, req, Body::empty())
            .await?;
        let res: ListBucketResult = xml::from_xml(&bytes)?;
        let url = res.encoding_type.as_deref() == Some("url");
        let objects = res
            .contents
            .into_iter()
            .map(|o| {
                Ok(ObjectEntry {
                    key: decode(url, o.key)?,
                    size: o.size,
                    etag: o.etag,
                    last_modified: ossguard_proto::time::parse_iso8601_millis(&o.last_modified),
                    storage_class: o.storage_class,
                    object_type: o.object_type,
                })
            })
            .collect::<Result<_, Error>>()?;
        let common_prefixes = res
            .common_prefixes
            .into_iter()
            .map(|p| decode(url, p.prefix))
            .collect::<Result<_, _>>()?;
        let next = if res.is_truncated {
            res.next_continuation_token.filter(|t| !t.is_empty())
        } else {
            None
        };
        if res.is_truncated && next.is_none() {
            return Err(Error::invalid_input(
                "the server said the listing is truncated but sent no continuation token",
            ));
        }
        Ok(ListObjectsPage {
            objects,
            common_prefixes,
            next_continuation_token: next,
        })
    }

    /// Every page of a listing, fetched as the stream is polled.
    pub fn list_objects(
        &self,
        bucket: &str,
        opts: ListOptions,
    ) -> impl Stream<Item = Result<ListObjectsPage, Error>> + Send + 'static {
        let client = self.clone();
        let bucket = bucket.to_owned();
        // State: None = finished; Some(token) = next page to fetch (Some(None) = first page).
        futures_util::stream::try_unfold(Some(None::<String>), move |state| {
            let client = client.clone();
            let bucket = bucket.clone();
            let opts = opts.clone();
            async move {
                let Some(token) = state else {
                    return Ok(None);
                };
                let page = client
                    .list_objects_page(&bucket, &opts, token.as_deref())
                    .await?;
                let next = page.next_continuation_token.clone().map(Some);
                Ok(Some((page, next)))
            }
        })
    }
}
