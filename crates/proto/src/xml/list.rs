//! ListObjects (v1) and ListObjectsV2 response.

use serde::{Deserialize, Serialize};

use super::bucket::Owner;
use super::present_string;

/// `<ListBucketResult>` for both listing versions: v1 sets `marker` (and `next_marker` when
/// truncated), v2 sets `key_count` and the token / start-after fields. Absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "ListBucketResult", default)]
pub struct ListBucketResult {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(
        rename = "Marker",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub marker: Option<String>,
    #[serde(
        rename = "StartAfter",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_after: Option<String>,
    #[serde(
        rename = "ContinuationToken",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub continuation_token: Option<String>,
    #[serde(rename = "MaxKeys")]
    pub max_keys: u32,
    #[serde(rename = "Delimiter")]
    pub delimiter: String,
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(
        rename = "NextMarker",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_marker: Option<String>,
    #[serde(
        rename = "NextContinuationToken",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_continuation_token: Option<String>,
    #[serde(rename = "KeyCount", skip_serializing_if = "Option::is_none")]
    pub key_count: Option<u32>,
    #[serde(rename = "Contents")]
    pub contents: Vec<ObjectSummary>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One `<Contents>` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectSummary {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// `Normal`, `Multipart`, `Appendable` or `Symlink`.
    #[serde(rename = "Type")]
    pub object_type: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "StorageClass")]
    pub storage_class: String,
    #[serde(rename = "Owner", skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// `<CommonPrefixes><Prefix>…</Prefix></CommonPrefixes>`, one per rolled-up prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonPrefix {
    #[serde(rename = "Prefix")]
    pub prefix: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{from_xml, to_xml, url_decode_key, url_encode_key};

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn v1_with_owner_and_prefixes() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>examplebucket</Name>
  <Prefix>fun/</Prefix>
  <Marker></Marker>
  <MaxKeys>100</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <NextMarker>fun/test.jpg</NextMarker>
  <Contents>
    <Key>fun/test.jpg</Key>
    <LastModified>2022-12-28T10:27:41.000Z</LastModified>
    <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE"</ETag>
    <Type>Normal</Type>
    <Size>344606</Size>
    <StorageClass>Standard</StorageClass>
    <Owner><ID>0022012****</ID><DisplayName>user-example</DisplayName></Owner>
    <RestoreInfo>ongoing-request="true"</RestoreInfo>
  </Contents>
  <CommonPrefixes><Prefix>fun/movie/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let r: ListBucketResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.name, "examplebucket");
        assert_eq!(r.marker.as_deref(), Some(""));
        assert_eq!(r.next_marker.as_deref(), Some("fun/test.jpg"));
        assert_eq!(r.key_count, None);
        assert_eq!(r.continuation_token, None);
        assert!(r.is_truncated);
        let c = &r.contents[0];
        assert_eq!(c.etag, "\"5B3C1A2E053D763E1B002CC607C5A0FE\"");
        assert_eq!(c.object_type, "Normal");
        assert_eq!(c.size, 344_606);
        assert_eq!(c.owner.as_ref().unwrap().display_name, "user-example");
        assert_eq!(r.common_prefixes[0].prefix, "fun/movie/");

        let xml = to_xml(&r);
        assert!(xml.contains("<Prefix>fun/</Prefix><Marker></Marker><MaxKeys>100</MaxKeys>"));
        assert!(!xml.contains("KeyCount") && !xml.contains("ContinuationToken"));
        assert_eq!(from_xml::<ListBucketResult>(xml.as_bytes()).unwrap(), r);
    }

    #[test]
    fn v2_serializes_its_own_elements() {
        let key = "dir/hello world+~.txt";
        let r = ListBucketResult {
            name: "examplebucket".into(),
            prefix: url_encode_key("dir/"),
            start_after: Some(url_encode_key("dir/a b")),
            max_keys: 100,
            encoding_type: Some("url".into()),
            is_truncated: true,
            next_continuation_token: Some("CgJiYw--".into()),
            key_count: Some(2),
            contents: vec![ObjectSummary {
                key: url_encode_key(key),
                last_modified: "2022-12-28T10:27:41.000Z".into(),
                etag: "\"F4B1F4C52B8FEC8DF0E7D1AF5E1B2C4D\"".into(),
                object_type: "Normal".into(),
                size: 9,
                storage_class: "Standard".into(),
                owner: None,
            }],
            common_prefixes: vec![CommonPrefix {
                prefix: url_encode_key("dir/sub dir/"),
            }],
            ..ListBucketResult::default()
        };
        let xml = format!(
            "{DECL}<ListBucketResult><Name>examplebucket</Name><Prefix>dir/</Prefix>\
             <StartAfter>dir/a%20b</StartAfter><MaxKeys>100</MaxKeys><Delimiter></Delimiter>\
             <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
             <NextContinuationToken>CgJiYw--</NextContinuationToken><KeyCount>2</KeyCount>\
             <Contents><Key>dir/hello%20world%2B~.txt</Key>\
             <LastModified>2022-12-28T10:27:41.000Z</LastModified>\
             <ETag>\"F4B1F4C52B8FEC8DF0E7D1AF5E1B2C4D\"</ETag><Type>Normal</Type><Size>9</Size>\
             <StorageClass>Standard</StorageClass></Contents>\
             <CommonPrefixes><Prefix>dir/sub%20dir/</Prefix></CommonPrefixes></ListBucketResult>"
        );
        assert_eq!(to_xml(&r), xml);
        let back: ListBucketResult = from_xml(xml.as_bytes()).unwrap();
        assert_eq!(back, r);
        assert_eq!(url_decode_key(&back.contents[0].key).unwrap(), key);
    }

    #[test]
    fn empty_listing() {
        let body = "<ListBucketResult><Name>b</Name><Prefix></Prefix><MaxKeys>100</MaxKeys>\
                    <Delimiter></Delimiter><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>\
                    </ListBucketResult>";
        let r: ListBucketResult = from_xml(body.as_bytes()).unwrap();
        assert!(r.contents.is_empty() && r.common_prefixes.is_empty());
        assert_eq!(r.key_count, Some(0));
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));
    }
}
