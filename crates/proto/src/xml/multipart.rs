//! Multipart upload bodies.

use serde::{Deserialize, Serialize};

use super::list::CommonPrefix;
use super::present_string;

/// InitiateMultipartUpload response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "InitiateMultipartUploadResult", default)]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "Bucket")]
    pub bucket: String,
    /// URL-encoded when `encoding_type` is `url`.
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
}

/// UploadPartCopy response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CopyPartResult", default)]
pub struct CopyPartResult {
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// CompleteMultipartUpload request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUpload", default)]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part")]
    pub parts: Vec<CompletePart>,
}

/// One `<Part>` of a [`CompleteMultipartUpload`] request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletePart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    /// With its quotes, as UploadPart returned it.
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// CompleteMultipartUpload response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUploadResult", default)]
pub struct CompleteMultipartUploadResult {
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(rename = "Location")]
    pub location: String,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// ListMultipartUploads response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "ListMultipartUploadsResult", default)]
pub struct ListMultipartUploadsResult {
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "KeyMarker")]
    pub key_marker: String,
    #[serde(rename = "UploadIdMarker")]
    pub upload_id_marker: String,
    #[serde(rename = "NextKeyMarker")]
    pub next_key_marker: String,
    #[serde(rename = "NextUploadIdMarker")]
    pub next_upload_id_marker: String,
    #[serde(rename = "Delimiter")]
    pub delimiter: String,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "MaxUploads")]
    pub max_uploads: u32,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(rename = "Upload")]
    pub uploads: Vec<UploadSummary>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One `<Upload>` of a [`ListMultipartUploadsResult`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadSummary {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
    #[serde(rename = "Initiated")]
    pub initiated: String,
}

/// ListParts response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "ListPartsResult", default)]
pub struct ListPartsResult {
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
    #[serde(rename = "PartNumberMarker")]
    pub part_number_marker: u32,
    #[serde(rename = "NextPartNumberMarker")]
    pub next_part_number_marker: u32,
    #[serde(rename = "MaxParts")]
    pub max_parts: u32,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(
        rename = "EncodingType",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub encoding_type: Option<String>,
    #[serde(
        rename = "StorageClass",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_class: Option<String>,
    #[serde(rename = "Part")]
    pub parts: Vec<PartSummary>,
}

/// One `<Part>` of a [`ListPartsResult`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PartSummary {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// Decimal CRC-64/XZ of the part.
    #[serde(
        rename = "HashCrc64ecma",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_crc64ecma: Option<String>,
    #[serde(rename = "Size")]
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{from_xml, to_xml, url_decode_key};

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    const ETAG1: &str = "\"302D3A0C8E319EAA95B059B346DE1D1D\"";
    const ETAG2: &str = "\"82136B4240D6CE4EA7D03E51469A393B\"";

    fn two_parts() -> CompleteMultipartUpload {
        CompleteMultipartUpload {
            parts: vec![
                CompletePart {
                    part_number: 1,
                    etag: ETAG1.into(),
                },
                CompletePart {
                    part_number: 2,
                    etag: ETAG2.into(),
                },
            ],
        }
    }

    #[test]
    fn complete_body_as_each_sdk_sends_it() {
        // Go v3.0.2 capture: quotes as `&#34;`, no declaration.
        let go = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#34;302D3A0C8E319EAA95B059B346DE1D1D&#34;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&#34;82136B4240D6CE4EA7D03E51469A393B&#34;</ETag></Part></CompleteMultipartUpload>";
        // ali-oss capture: declaration, newlines, literal quotes.
        let ali = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n<Part>\n\
                   <PartNumber>1</PartNumber>\n<ETag>\"302D3A0C8E319EAA95B059B346DE1D1D\"</ETag>\n</Part>\n\
                   <Part>\n<PartNumber>2</PartNumber>\n<ETag>\"82136B4240D6CE4EA7D03E51469A393B\"</ETag>\n\
                   </Part>\n</CompleteMultipartUpload>\n";
        for body in [go, ali] {
            assert_eq!(
                from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap(),
                two_parts()
            );
        }
    }

    #[test]
    fn complete_body_serializes() {
        assert_eq!(
            to_xml(&two_parts()),
            format!(
                "{DECL}<CompleteMultipartUpload>\
                 <Part><PartNumber>1</PartNumber><ETag>{ETAG1}</ETag></Part>\
                 <Part><PartNumber>2</PartNumber><ETag>{ETAG2}</ETag></Part>\
                 </CompleteMultipartUpload>"
            )
        );
        assert_eq!(
            to_xml(&CompleteMultipartUpload::default()),
            format!("{DECL}<CompleteMultipartUpload></CompleteMultipartUpload>")
        );
    }

    #[test]
    fn complete_rejects_non_numeric_part_number() {
        let body = b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>";
        let err = from_xml::<CompleteMultipartUpload>(body).unwrap_err();
        assert_eq!(err.code(), "MalformedXML");
    }

    #[test]
    fn initiate_result_with_url_encoding() {
        let body = "<InitiateMultipartUploadResult><Bucket>examplebucket</Bucket>\
                    <Key>dir%2Fhello%20world%2B~.txt</Key>\
                    <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>\
                    <EncodingType>url</EncodingType></InitiateMultipartUploadResult>";
        let r: InitiateMultipartUploadResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        assert_eq!(url_decode_key(&r.key).unwrap(), "dir/hello world+~.txt");
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));
        let plain = InitiateMultipartUploadResult {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "id".into(),
            encoding_type: None,
        };
        assert_eq!(
            to_xml(&plain),
            format!(
                "{DECL}<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                 <UploadId>id</UploadId></InitiateMultipartUploadResult>"
            )
        );
    }

    #[test]
    fn copy_part_and_complete_results() {
        let body = r#"<CopyPartResult><LastModified>2014-07-17T06:27:54.000Z</LastModified><ETag>"5B3C1A2E053D763E1B002CC607C5****"</ETag></CopyPartResult>"#;
        let r: CopyPartResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.etag, "\"5B3C1A2E053D763E1B002CC607C5****\"");
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));

        let body = r#"<CompleteMultipartUploadResult><Location>http://examplebucket.oss-cn-hangzhou.aliyuncs.com/multi.bin</Location><Bucket>examplebucket</Bucket><Key>multi.bin</Key><ETag>"097DE458AD02B5F89F9D0530231876****-2"</ETag></CompleteMultipartUploadResult>"#;
        let r: CompleteMultipartUploadResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.key, "multi.bin");
        assert!(r.etag.ends_with("-2\""));
        assert_eq!(r.encoding_type, None);
        assert_eq!(to_xml(&r), format!("{DECL}{body}"));
    }

    #[test]
    fn list_multipart_uploads() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult>
    <Bucket>oss-example</Bucket>
    <KeyMarker></KeyMarker>
    <UploadIdMarker></UploadIdMarker>
    <NextKeyMarker>oss.avi</NextKeyMarker>
    <NextUploadIdMarker>0004B99B8E707874FC2D692FA5D77D3F</NextUploadIdMarker>
    <Delimiter>/</Delimiter>
    <Prefix></Prefix>
    <MaxUploads>1000</MaxUploads>
    <IsTruncated>false</IsTruncated>
    <Upload>
        <Key>multipart.data</Key>
        <UploadId>0004B999EF518A1FE585B0C9360DC4C8</UploadId>
        <Initiated>2012-02-23T04:18:23.000Z</Initiated>
    </Upload>
    <Upload>
        <Key>oss.avi</Key>
        <UploadId>0004B99B8E707874FC2D692FA5D77D3F</UploadId>
        <Initiated>2012-02-23T06:14:27.000Z</Initiated>
    </Upload>
    <CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>
</ListMultipartUploadsResult>"#;
        let r: ListMultipartUploadsResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.next_key_marker, "oss.avi");
        assert_eq!(r.max_uploads, 1000);
        assert!(!r.is_truncated);
        assert_eq!(r.uploads.len(), 2);
        assert_eq!(r.uploads[1].initiated, "2012-02-23T06:14:27.000Z");
        assert_eq!(r.common_prefixes[0].prefix, "dir/");
        assert_eq!(
            from_xml::<ListMultipartUploadsResult>(to_xml(&r).as_bytes()).unwrap(),
            r
        );
    }

    #[test]
    fn list_parts() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult>
    <Bucket>multipart_upload</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B999EF5A239BB9138C6227D69F95</UploadId>
    <PartNumberMarker>0</PartNumberMarker>
    <NextPartNumberMarker>2</NextPartNumberMarker>
    <MaxParts>1000</MaxParts>
    <IsTruncated>false</IsTruncated>
    <StorageClass>Standard</StorageClass>
    <Part>
        <PartNumber>1</PartNumber>
        <LastModified>2012-02-23T07:01:34.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <HashCrc64ecma>11051210869376104954</HashCrc64ecma>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>2</PartNumber>
        <LastModified>2012-02-23T07:01:12.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <Size>1024</Size>
    </Part>
</ListPartsResult>"#;
        let r: ListPartsResult = from_xml(body.as_bytes()).unwrap();
        assert_eq!(r.next_part_number_marker, 2);
        assert_eq!(r.storage_class.as_deref(), Some("Standard"));
        assert_eq!(r.parts.len(), 2);
        assert_eq!(r.parts[0].size, 6_291_456);
        assert_eq!(
            r.parts[0].hash_crc64ecma.as_deref(),
            Some("11051210869376104954")
        );
        assert_eq!(r.parts[1].hash_crc64ecma, None);
        let xml = to_xml(&r);
        assert!(xml.contains("<ETag>\"3349DC700140D7F86A0784842780****\"</ETag><HashCrc64ecma>"));
        assert_eq!(from_xml::<ListPartsResult>(xml.as_bytes()).unwrap(), r);
    }
}
