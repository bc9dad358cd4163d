//! Service and bucket operations: buckets, bucket ACL, CORS, logging.

use http::Method;
use ossguard_proto::xml::{
    self, AccessControlPolicy, BucketInfo, BucketLoggingStatus, CorsConfiguration,
    CreateBucketConfiguration, ListAllMyBucketsResult, LocationConstraint, LoggingEnabled,
};
use ossguard_proto::{Operation, Request};

use super::object::content_md5;
use crate::body::Body;
use crate::client::Client;
use crate::error::Error;

/// One bucket of ListBuckets.
#[derive(Debug, Clone)]
pub struct BucketSummary {
    /// The bucket's name.
    pub name: String,
    /// Its location (`oss-cn-hangzhou`).
    pub location: String,
    /// Its region id (`cn-hangzhou`).
    pub region: String,
    /// When it was created (ISO 8601, as OSS sends it).
    pub creation_date: String,
    /// Its default storage class (`Standard`, `IA`, `Archive` …).
    pub storage_class: String,
}

/// Options of [`Client::create_bucket`].
#[derive(Debug, Clone, Default)]
pub struct CreateBucketOptions {
    /// `private` (default), `public-read`, `public-read-write`.
    pub acl: Option<String>,
    /// Default storage class of its objects (`Standard` when `None`).
    pub storage_class: Option<String>,
}

fn set(req: &mut Request, n: &str, v: &str) -> Result<(), Error> {
    req.set_header(n, v)
        .map_err(|e| Error::invalid_input(e.to_string()))
}

fn xml_body(req: &mut Request, body: String) -> Result<Body, Error> {
    set(req, "content-md5", &content_md5(body.as_bytes()))?;
    set(req, "content-type", "application/xml")?;
    Ok(body.into())
}

impl Client {
    /// All buckets of the account (follows pagination).
    pub async fn list_buckets(&self) -> Result<Vec<BucketSummary>, Error> {
        let mut out = Vec::new();
        let mut marker = String::new();
        // Bounded: OSS accounts hold at most a few thousand buckets.
        for _ in 0..1000 {
            let mut req = Request::new(Method::GET, None, None).with_query("max-keys", "1000");
            if !marker.is_empty() {
                req.query.push(("marker".into(), marker.clone()));
            }
            let (_, _, bytes) = self
                .execute_read(Operation::ListBuckets, req, Body::empty())
                .await?;
            let res: ListAllMyBucketsResult = xml::from_xml(&bytes)?;
            out.extend(res.buckets.bucket.into_iter().map(|b| BucketSummary {
                name: b.name,
                location: b.location,
                region: b.region,
                creation_date: b.creation_date,
                storage_class: b.storage_class,
            }));
            match (res.is_truncated, res.next_marker) {
                (Some(true), Some(m)) if !m.is_empty() => marker = m,
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Creates `bucket` in the endpoint's region.
    pub async fn create_bucket(
        &self,
        bucket: &str,
        opts: CreateBucketOptions,
    ) -> Result<(), Error> {
        let mut req = Request::new(Method::PUT, Some(bucket), None);
        if let Some(acl) = &opts.acl {
            set(&mut req, "x-oss-acl", acl)?;
        }
        let body = match &opts.storage_class {
            Some(sc) => xml_body(
                &mut req,
                xml::to_xml(&CreateBucketConfiguration {
                    storage_class: Some(sc.clone()),
                    ..Default::default()
                }),
            )?,
            None => Body::empty(),
        };
        self.execute(Operation::PutBucket, req, body).await?;
        Ok(())
    }

    /// Deletes `bucket`, which must be empty (else `BucketNotEmpty`).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), Error> {
        self.execute(
            Operation::DeleteBucket,
            Request::new(Method::DELETE, Some(bucket), None),
            Body::empty(),
        )
        .await?;
        Ok(())
    }

    /// The bucket's details (GetBucketInfo): owner, ACL, location, storage class, creation date …
    pub async fn get_bucket_info(&self, bucket: &str) -> Result<BucketInfo, Error> {
        let req = Operation::GetBucketInfo.request(Some(bucket), None);
        let (_, _, b) = self
            .execute_read(Operation::GetBucketInfo, req, Body::empty())
            .await?;
        Ok(xml::from_xml(&b)?)
    }

    /// The bucket's location (`oss-cn-hangzhou`).
    pub async fn get_bucket_location(&self, bucket: &str) -> Result<String, Error> {
        let req = Operation::GetBucketLocation.request(Some(bucket), None);
        let (_, _, b) = self
            .execute_read(Operation::GetBucketLocation, req, Body::empty())
            .await?;
        Ok(xml::from_xml::<LocationConstraint>(&b)?.location)
    }

    /// Sets the bucket's ACL: `private`, `public-read` or `public-read-write`.
    pub async fn put_bucket_acl(&self, bucket: &str, acl: &str) -> Result<(), Error> {
        let mut req = Operation::PutBucketAcl.request(Some(bucket), None);
        set(&mut req, "x-oss-acl", acl)?;
        self.execute(Operation::PutBucketAcl, req, Body::empty())
            .await?;
        Ok(())
    }

    /// The bucket's ACL: `private`, `public-read` or `public-read-write`.
    pub async fn get_bucket_acl(&self, bucket: &str) -> Result<String, Error> {
        let req = Operation::GetBucketAcl.request(Some(bucket), None);
        let (_, _, b) = self
            .execute_read(Operation::GetBucketAcl, req, Body::empty())
            .await?;
        Ok(xml::from_xml::<AccessControlPolicy>(&b)?
            .access_control_list
            .grant)
    }

    /// Replaces the bucket's CORS rules.
    pub async fn put_bucket_cors(
        &self,
        bucket: &str,
        cors: &CorsConfiguration,
    ) -> Result<(), Error> {
        let mut req = Operation::PutBucketCors.request(Some(bucket), None);
        let body = xml_body(&mut req, xml::to_xml(cors))?;
        self.execute(Operation::PutBucketCors, req, body).await?;
        Ok(())
    }

    /// `None` when the bucket has no CORS rules.
    pub async fn get_bucket_cors(&self, bucket: &str) -> Result<Option<CorsConfiguration>, Error> {
        let req = Operation::GetBucketCors.request(Some(bucket), None);
        match self
            .execute_read(Operation::GetBucketCors, req, Body::empty())
            .await
        {
            Ok((_, _, b)) => Ok(Some(xml::from_xml(&b)?)),
            Err(e) if e.code() == Some("NoSuchCORSConfiguration") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the bucket's CORS rules.
    pub async fn delete_bucket_cors(&self, bucket: &str) -> Result<(), Error> {
        let req = Operation::DeleteBucketCors.request(Some(bucket), None);
        self.execute(Operation::DeleteBucketCors, req, Body::empty())
            .await?;
        Ok(())
    }

    /// Turns access logging on: the logs of `bucket` are written to `target_bucket` under
    /// `target_prefix`.
    pub async fn put_bucket_logging(
        &self,
        bucket: &str,
        target_bucket: &str,
        target_prefix: &str,
    ) -> Result<(), Error> {
        let mut req = Operation::PutBucketLogging.request(Some(bucket), None);
        let cfg = BucketLoggingStatus {
            logging_enabled: Some(LoggingEnabled {
                target_bucket: target_bucket.into(),
                target_prefix: target_prefix.into(),
            }),
        };
        let body = xml_body(&mut req, xml::to_xml(&cfg))?;
        self.execute(Operation::PutBucketLogging, req, body).await?;
        Ok(())
    }

    /// `None` when logging is off.
    pub async fn get_bucket_logging(&self, bucket: &str) -> Result<Option<LoggingEnabled>, Error> {
        let req = Operation::GetBucketLogging.request(Some(bucket), None);
        let (_, _, b) = self
            .execute_read(Operation::GetBucketLogging, req, Body::empty())
            .await?;
        Ok(xml::from_xml::<BucketLoggingStatus>(&b)?.logging_enabled)
    }

    /// Turns access logging off.
    pub async fn delete_bucket_logging(&self, bucket: &str) -> Result<(), Error> {
        let req = Operation::DeleteBucketLogging.request(Some(bucket), None);
        self.execute(Operation::DeleteBucketLogging, req, Body::empty())
            .await?;
        Ok(())
    }
}
