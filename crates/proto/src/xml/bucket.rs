//! Service and bucket configuration bodies.

use serde::{Deserialize, Serialize};

use super::present_string;

/// `<Owner>` in bucket listings, ACLs and object listings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
}

/// ListBuckets (GetService) response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "ListAllMyBucketsResult", default)]
pub struct ListAllMyBucketsResult {
    #[serde(
        rename = "Prefix",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix: Option<String>,
    #[serde(
        rename = "Marker",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub marker: Option<String>,
    #[serde(rename = "MaxKeys", skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    #[serde(rename = "IsTruncated", skip_serializing_if = "Option::is_none")]
    pub is_truncated: Option<bool>,
    #[serde(
        rename = "NextMarker",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_marker: Option<String>,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "Buckets")]
    pub buckets: Buckets,
}

/// `<Buckets>` wrapper of [`ListAllMyBucketsResult`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Buckets {
    #[serde(rename = "Bucket")]
    pub bucket: Vec<BucketSummary>,
}

/// One `<Bucket>` of a bucket listing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketSummary {
    #[serde(rename = "CreationDate")]
    pub creation_date: String,
    #[serde(rename = "ExtranetEndpoint")]
    pub extranet_endpoint: String,
    #[serde(rename = "IntranetEndpoint")]
    pub intranet_endpoint: String,
    #[serde(rename = "Location")]
    pub location: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "StorageClass")]
    pub storage_class: String,
}

/// Optional PutBucket request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CreateBucketConfiguration", default)]
pub struct CreateBucketConfiguration {
    #[serde(
        rename = "StorageClass",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_class: Option<String>,
    #[serde(
        rename = "DataRedundancyType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_redundancy_type: Option<String>,
}

/// GetBucketInfo response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "BucketInfo", default)]
pub struct BucketInfo {
    #[serde(rename = "Bucket")]
    pub bucket: BucketDetail,
}

/// The `<Bucket>` inside [`BucketInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketDetail {
    #[serde(rename = "CreationDate")]
    pub creation_date: String,
    #[serde(rename = "ExtranetEndpoint")]
    pub extranet_endpoint: String,
    #[serde(rename = "IntranetEndpoint")]
    pub intranet_endpoint: String,
    #[serde(rename = "Location")]
    pub location: String,
    #[serde(rename = "StorageClass")]
    pub storage_class: String,
    #[serde(rename = "DataRedundancyType")]
    pub data_redundancy_type: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "AccessControlList")]
    pub access_control_list: AccessControlList,
    #[serde(rename = "ServerSideEncryptionRule")]
    pub server_side_encryption_rule: ServerSideEncryptionRule,
    #[serde(rename = "BucketPolicy")]
    pub bucket_policy: BucketPolicy,
}

/// `<AccessControlList>`: one canned ACL (`private`, `public-read`, `public-read-write`,
/// or `default` for objects).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessControlList {
    #[serde(rename = "Grant")]
    pub grant: String,
}

/// `<ServerSideEncryptionRule>` of [`BucketDetail`]; `None` when unencrypted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSideEncryptionRule {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: String,
}

/// `<BucketPolicy>` of [`BucketDetail`]: the logging target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketPolicy {
    #[serde(rename = "LogBucket")]
    pub log_bucket: String,
    #[serde(rename = "LogPrefix")]
    pub log_prefix: String,
}

/// GetBucketLocation response: text content only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "LocationText", into = "LocationText")]
pub struct LocationConstraint {
    pub location: String,
}

/// Wire form of [`LocationConstraint`]. A `$text` field would drop whitespace-only content;
/// a root newtype reads the element's text verbatim.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename = "LocationConstraint")]
struct LocationText(String);

impl From<LocationText> for LocationConstraint {
    fn from(t: LocationText) -> Self {
        Self { location: t.0 }
    }
}

impl From<LocationConstraint> for LocationText {
    fn from(l: LocationConstraint) -> Self {
        Self(l.location)
    }
}

/// GetBucketAcl / GetObjectAcl response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "AccessControlPolicy", default)]
pub struct AccessControlPolicy {
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "AccessControlList")]
    pub access_control_list: AccessControlList,
}

/// PutBucketCors request / GetBucketCors response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CORSConfiguration", default)]
pub struct CorsConfiguration {
    #[serde(rename = "CORSRule")]
    pub rules: Vec<CorsRule>,
    #[serde(rename = "ResponseVary", skip_serializing_if = "Option::is_none")]
    pub response_vary: Option<bool>,
}

/// One `<CORSRule>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsRule {
    #[serde(rename = "AllowedOrigin")]
    pub allowed_origins: Vec<String>,
    #[serde(rename = "AllowedMethod")]
    pub allowed_methods: Vec<String>,
    #[serde(rename = "AllowedHeader")]
    pub allowed_headers: Vec<String>,
    #[serde(rename = "ExposeHeader")]
    pub expose_headers: Vec<String>,
    #[serde(rename = "MaxAgeSeconds", skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// PutBucketLogging request / GetBucketLogging response; empty when logging is off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "BucketLoggingStatus", default)]
pub struct BucketLoggingStatus {
    #[serde(rename = "LoggingEnabled", skip_serializing_if = "Option::is_none")]
    pub logging_enabled: Option<LoggingEnabled>,
}

/// `<LoggingEnabled>` of [`BucketLoggingStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingEnabled {
    #[serde(rename = "TargetBucket")]
    pub target_bucket: String,
    #[serde(rename = "TargetPrefix")]
    pub target_prefix: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{from_xml, to_xml};

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn list_all_my_buckets() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult>
  <Prefix>my</Prefix>
  <Marker>mybucket</Marker>
  <MaxKeys>10</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextMarker>mybucket10</NextMarker>
  <Owner><ID>512**</ID><DisplayName>51264</DisplayName></Owner>
  <Buckets>
    <Bucket>
      <CreationDate>2014-02-17T18:12:43.000Z</CreationDate>
      <ExtranetEndpoint>oss-cn-shanghai.aliyuncs.com</ExtranetEndpoint>
      <IntranetEndpoint>oss-cn-shanghai-internal.aliyuncs.com</IntranetEndpoint>
      <Location>oss-cn-shanghai</Location>
      <Name>app-base-oss</Name>
      <Region>cn-shanghai</Region>
      <StorageClass>Standard</StorageClass>
      <ResourceGroupId>rg-aek27tc****</ResourceGroupId>
    </Bucket>
    <Bucket>
      <CreationDate>2014-12-25T11:21:04.000Z</CreationDate>
      <Location>oss-cn-hangzhou</Location>
      <Name>atestleo23</Name>
      <Region>cn-hangzhou</Region>
      <StorageClass>IA</StorageClass>
    </Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let r: ListAllMyBucketsResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.prefix.as_deref(), Some("my"));
        assert_eq!(r.max_keys, Some(10));
        assert_eq!(r.is_truncated, Some(true));
        assert_eq!(r.next_marker.as_deref(), Some("mybucket10"));
        assert_eq!(r.owner.id, "512**");
        assert_eq!(r.buckets.bucket.len(), 2);
        assert_eq!(r.buckets.bucket[0].region, "cn-shanghai");
        assert_eq!(r.buckets.bucket[1].storage_class, "IA");
        assert_eq!(r.buckets.bucket[1].extranet_endpoint, "");
        assert_eq!(
            from_xml::<ListAllMyBucketsResult>(to_xml(&r).as_bytes()).unwrap(),
            r
        );
    }

    #[test]
    fn list_all_my_buckets_without_paging_omits_it() {
        let r = ListAllMyBucketsResult::default();
        assert_eq!(
            to_xml(&r),
            format!(
                "{DECL}<ListAllMyBucketsResult><Owner><ID></ID><DisplayName></DisplayName></Owner>\
                 <Buckets></Buckets></ListAllMyBucketsResult>"
            )
        );
    }

    #[test]
    fn create_bucket_configuration() {
        let body = "<CreateBucketConfiguration><StorageClass>Standard</StorageClass>\
                    <DataRedundancyType>LRS</DataRedundancyType></CreateBucketConfiguration>";
        let c: CreateBucketConfiguration = from_xml(body.as_bytes()).unwrap();
        assert_eq!(c.storage_class.as_deref(), Some("Standard"));
        assert_eq!(c.data_redundancy_type.as_deref(), Some("LRS"));
        assert_eq!(to_xml(&c), format!("{DECL}{body}"));
        let only_class: CreateBucketConfiguration =
            from_xml(b"<CreateBucketConfiguration><StorageClass>IA</StorageClass></CreateBucketConfiguration>")
                .unwrap();
        assert_eq!(only_class.data_redundancy_type, None);
    }

    #[test]
    fn bucket_info() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<BucketInfo>
  <Bucket>
    <AccessMonitor>Enabled</AccessMonitor>
    <CreationDate>2013-07-31T10:56:21.000Z</CreationDate>
    <ExtranetEndpoint>oss-cn-hangzhou.aliyuncs.com</ExtranetEndpoint>
    <IntranetEndpoint>oss-cn-hangzhou-internal.aliyuncs.com</IntranetEndpoint>
    <Location>oss-cn-hangzhou</Location>
    <StorageClass>Standard</StorageClass>
    <DataRedundancyType>LRS</DataRedundancyType>
    <Name>oss-example</Name>
    <Owner><ID>27183473914****</ID><DisplayName>username</DisplayName></Owner>
    <AccessControlList><Grant>private</Grant></AccessControlList>
    <ServerSideEncryptionRule><SSEAlgorithm>None</SSEAlgorithm></ServerSideEncryptionRule>
    <BucketPolicy><LogBucket>examplebucket</LogBucket><LogPrefix>log/</LogPrefix></BucketPolicy>
    <Comment></Comment>
  </Bucket>
</BucketInfo>"#;
        let info: BucketInfo = from_xml(body.as_bytes()).unwrap();
        let b = &info.bucket;
        assert_eq!(b.name, "oss-example");
        assert_eq!(b.data_redundancy_type, "LRS");
        assert_eq!(b.owner.display_name, "username");
        assert_eq!(b.access_control_list.grant, "private");
        assert_eq!(b.server_side_encryption_rule.sse_algorithm, "None");
        assert_eq!(b.bucket_policy.log_prefix, "log/");
        assert_eq!(
            from_xml::<BucketInfo>(to_xml(&info).as_bytes()).unwrap(),
            info
        );
    }

    #[test]
    fn location_constraint_is_text_only() {
        let l = LocationConstraint {
            location: "oss-cn-hangzhou".into(),
        };
        let xml = format!("{DECL}<LocationConstraint>oss-cn-hangzhou</LocationConstraint>");
        assert_eq!(to_xml(&l), xml);
        assert_eq!(from_xml::<LocationConstraint>(xml.as_bytes()).unwrap(), l);
        assert_eq!(
            from_xml::<LocationConstraint>(b"<LocationConstraint/>").unwrap(),
            LocationConstraint::default()
        );
    }

    #[test]
    fn access_control_policy() {
        let body = "<AccessControlPolicy><Owner><ID>0022012****</ID><DisplayName>user_example</DisplayName></Owner>\
                    <AccessControlList><Grant>default</Grant></AccessControlList></AccessControlPolicy>";
        let p: AccessControlPolicy = from_xml(body.as_bytes()).unwrap();
        assert_eq!(p.owner.id, "0022012****");
        assert_eq!(p.access_control_list.grant, "default");
        assert_eq!(to_xml(&p), format!("{DECL}{body}"));
    }

    #[test]
    fn cors_configuration_serializes_repeated_elements() {
        let c = CorsConfiguration {
            rules: vec![
                CorsRule {
                    allowed_origins: vec!["*".into()],
                    allowed_methods: vec!["PUT".into(), "GET".into()],
                    allowed_headers: vec!["Authorization".into()],
                    expose_headers: vec![],
                    max_age_seconds: None,
                },
                CorsRule {
                    allowed_origins: vec!["http://example.com".into(), "http://example.net".into()],
                    allowed_methods: vec!["GET".into()],
                    allowed_headers: vec![],
                    expose_headers: vec!["x-oss-test".into(), "x-oss-test1".into()],
                    max_age_seconds: Some(100),
                },
            ],
            response_vary: Some(false),
        };
        let xml = format!(
            "{DECL}<CORSConfiguration>\
             <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
             <AllowedMethod>GET</AllowedMethod><AllowedHeader>Authorization</AllowedHeader></CORSRule>\
             <CORSRule><AllowedOrigin>http://example.com</AllowedOrigin>\
             <AllowedOrigin>http://example.net</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
             <ExposeHeader>x-oss-test</ExposeHeader><ExposeHeader>x-oss-test1</ExposeHeader>\
             <MaxAgeSeconds>100</MaxAgeSeconds></CORSRule>\
             <ResponseVary>false</ResponseVary></CORSConfiguration>"
        );
        assert_eq!(to_xml(&c), xml);
        assert_eq!(from_xml::<CorsConfiguration>(xml.as_bytes()).unwrap(), c);
    }

    #[test]
    fn cors_rule_children_in_any_order() {
        let body = "<CORSConfiguration><CORSRule><AllowedOrigin>a</AllowedOrigin>\
                    <AllowedMethod>GET</AllowedMethod><Unknown/><AllowedOrigin>b</AllowedOrigin>\
                    </CORSRule></CORSConfiguration>";
        let c: CorsConfiguration = from_xml(body.as_bytes()).unwrap();
        assert_eq!(c.rules[0].allowed_origins, ["a", "b"]);
        assert_eq!(c.rules[0].allowed_methods, ["GET"]);
        assert_eq!(c.response_vary, None);
    }

    #[test]
    fn bucket_logging_status() {
        let on = BucketLoggingStatus {
            logging_enabled: Some(LoggingEnabled {
                target_bucket: "logs".into(),
                target_prefix: "MyLog-".into(),
            }),
        };
        let xml = format!(
            "{DECL}<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket>\
             <TargetPrefix>MyLog-</TargetPrefix></LoggingEnabled></BucketLoggingStatus>"
        );
        assert_eq!(to_xml(&on), xml);
        assert_eq!(from_xml::<BucketLoggingStatus>(xml.as_bytes()).unwrap(), on);
        let off = BucketLoggingStatus::default();
        assert_eq!(
            to_xml(&off),
            format!("{DECL}<BucketLoggingStatus></BucketLoggingStatus>")
        );
        assert_eq!(
            from_xml::<BucketLoggingStatus>(b"<BucketLoggingStatus/>").unwrap(),
            off
        );
    }
}

/// GetBucketStat response (`GET /?stat`): sizes in bytes, counts, and the last change in Unix
/// seconds. "Real" storage is the bytes held before the minimum billable size is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "BucketStat", default)]
pub struct BucketStat {
    #[serde(rename = "Storage")]
    pub storage: u64,
    #[serde(rename = "ObjectCount")]
    pub object_count: u64,
    #[serde(rename = "MultipartUploadCount")]
    pub multipart_upload_count: u64,
    #[serde(rename = "LiveChannelCount")]
    pub live_channel_count: u64,
    #[serde(rename = "LastModifiedTime")]
    pub last_modified_time: u64,
    #[serde(rename = "StandardStorage")]
    pub standard_storage: u64,
    #[serde(rename = "StandardObjectCount")]
    pub standard_object_count: u64,
    #[serde(rename = "InfrequentAccessStorage")]
    pub infrequent_access_storage: u64,
    #[serde(rename = "InfrequentAccessRealStorage")]
    pub infrequent_access_real_storage: u64,
    #[serde(rename = "InfrequentAccessObjectCount")]
    pub infrequent_access_object_count: u64,
    #[serde(rename = "ArchiveStorage")]
    pub archive_storage: u64,
    #[serde(rename = "ArchiveRealStorage")]
    pub archive_real_storage: u64,
    #[serde(rename = "ArchiveObjectCount")]
    pub archive_object_count: u64,
    #[serde(rename = "ColdArchiveStorage")]
    pub cold_archive_storage: u64,
    #[serde(rename = "ColdArchiveRealStorage")]
    pub cold_archive_real_storage: u64,
    #[serde(rename = "ColdArchiveObjectCount")]
    pub cold_archive_object_count: u64,
    #[serde(rename = "DeepColdArchiveStorage")]
    pub deep_cold_archive_storage: u64,
    #[serde(rename = "DeepColdArchiveRealStorage")]
    pub deep_cold_archive_real_storage: u64,
    #[serde(rename = "DeepColdArchiveObjectCount")]
    pub deep_cold_archive_object_count: u64,
    #[serde(rename = "MultipartPartCount")]
    pub multipart_part_count: u64,
    #[serde(rename = "DeleteMarkerCount")]
    pub delete_marker_count: u64,
}

/// GetBucketVersioning response; no `<Status>` for a bucket whose versioning was never enabled.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "VersioningConfiguration", default)]
pub struct VersioningConfiguration {
    #[serde(
        rename = "Status",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
}

/// What the emulator checks of a PutBucketLifecycle body (it stores the document as sent):
/// its rules and their status. Other elements are kept, not read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "LifecycleConfiguration", default)]
pub struct LifecycleConfiguration {
    #[serde(rename = "Rule")]
    pub rules: Vec<LifecycleRule>,
}

/// One `<Rule>` of a [`LifecycleConfiguration`], as far as it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleRule {
    #[serde(
        rename = "ID",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(rename = "Status")]
    pub status: String,
}
