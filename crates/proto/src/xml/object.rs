//! Object operation bodies: DeleteMultipleObjects, CopyObject and object tagging.

use serde::{Deserialize, Serialize};

use super::present_string;

/// DeleteMultipleObjects request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "Delete", default)]
pub struct Delete {
    #[serde(rename = "Quiet")]
    pub quiet: bool,
    #[serde(rename = "Object")]
    pub objects: Vec<ObjectIdentifier>,
}

/// One `<Object>` of a [`Delete`] request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectIdentifier {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(
        rename = "VersionId",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
}

/// DeleteMultipleObjects response; no `<Deleted>` entries in quiet mode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "DeleteResult", default)]
pub struct DeleteResult {
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(rename = "Deleted")]
    pub deleted: Vec<DeletedObject>,
}

/// One `<Deleted>` entry of a [`DeleteResult`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeletedObject {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(
        rename = "VersionId",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
    #[serde(rename = "DeleteMarker", skip_serializing_if = "Option::is_none")]
    pub delete_marker: Option<bool>,
    #[serde(
        rename = "DeleteMarkerVersionId",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub delete_marker_version_id: Option<String>,
}

/// CopyObject response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CopyObjectResult", default)]
pub struct CopyObjectResult {
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    /// With its quotes: `"5B3C…"`.
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{from_xml, to_xml};

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn delete_request() {
        let body = "<Delete><Quiet>false</Quiet><Object><Key>multipart.data</Key></Object>\
                    <Object><Key>test.jpg</Key><VersionId>CAEQNRiBgIDyz.6C0BYiIGQ2NWEwNmVhNTA3ZTQ3MzM5ODliYjM1ZTdjYjA4****</VersionId></Object>\
                    </Delete>";
        let d: Delete = from_xml(body.as_bytes()).unwrap();
        assert!(!d.quiet);
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].key, "multipart.data");
        assert_eq!(d.objects[0].version_id, None);
        assert!(d.objects[1]
            .version_id
            .as_deref()
            .unwrap()
            .starts_with("CAEQ"));
        assert_eq!(to_xml(&d), format!("{DECL}{body}"));

        let quiet: Delete =
            from_xml(b"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>").unwrap();
        assert!(quiet.quiet);
    }

    #[test]
    fn delete_result() {
        let body = "<DeleteResult><EncodingType>url</EncodingType>\
                    <Deleted><Key>dir%2Fa%20b</Key></Deleted>\
                    <Deleted><Key>test.jpg</Key><VersionId>v1</VersionId><DeleteMarker>true</DeleteMarker>\
                    <DeleteMarkerVersionId>v2</DeleteMarkerVersionId></Deleted></DeleteResult>";
        let r: DeleteResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        assert_eq!(r.deleted[0].key, "dir%2Fa%20b");
        assert_eq!(r.deleted[1].delete_marker, Some(true));
        assert_eq!(r.deleted[1].delete_marker_version_id.as_deref(), Some("v2"));
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));
        // Quiet mode: nothing deleted is listed.
        let quiet = DeleteResult::default();
        assert_eq!(
            to_xml(&quiet),
            format!("{DECL}<DeleteResult></DeleteResult>")
        );
    }

    #[test]
    fn copy_object_result_keeps_etag_quotes() {
        let body = r#"<CopyObjectResult><LastModified>2022-12-28T10:27:41.000Z</LastModified><ETag>"5B3C1A2E053D763E1B002CC607C5A0FE"</ETag></CopyObjectResult>"#;
        let r: CopyObjectResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.last_modified, "2022-12-28T10:27:41.000Z");
        assert_eq!(r.etag, "\"5B3C1A2E053D763E1B002CC607C5A0FE\"");
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));
        let escaped = "<CopyObjectResult><ETag>&quot;AB&quot;</ETag></CopyObjectResult>";
        assert_eq!(
            from_xml::<CopyObjectResult>(escaped.as_bytes())
                .unwrap()
                .etag,
            "\"AB\""
        );
    }
}

/// PutObjectTagging request / GetObjectTagging response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "Tagging", default)]
pub struct Tagging {
    #[serde(rename = "TagSet")]
    pub tag_set: TagSet,
}

impl Tagging {
    /// A document of these (key, value) pairs, in their order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Tagging {
            tag_set: TagSet {
                tags: pairs
                    .into_iter()
                    .map(|(key, value)| Tag { key, value })
                    .collect(),
            },
        }
    }

    /// The (key, value) pairs, in document order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.tag_set
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect()
    }
}

/// `<TagSet>` of a [`Tagging`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TagSet {
    #[serde(rename = "Tag")]
    pub tags: Vec<Tag>,
}

/// One `<Tag>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}
