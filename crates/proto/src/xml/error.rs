//! The `<Error>` body of failed responses (and, base64-encoded, of the `x-oss-err` header).

use serde::{Deserialize, Serialize};

use super::present_string;

/// `<Error>`: the five elements every SDK reads, plus the per-code extras OSS adds.
/// Children not listed here are skipped when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "Error", default)]
pub struct ErrorBody {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "RequestId")]
    pub request_id: String,
    #[serde(rename = "HostId")]
    pub host_id: String,
    #[serde(
        rename = "BucketName",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bucket_name: Option<String>,
    #[serde(
        rename = "Key",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub key: Option<String>,
    #[serde(
        rename = "Condition",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub condition: Option<String>,
    #[serde(
        rename = "OSSAccessKeyId",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub oss_access_key_id: Option<String>,
    #[serde(
        rename = "SignatureProvided",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature_provided: Option<String>,
    #[serde(
        rename = "StringToSign",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub string_to_sign: Option<String>,
    #[serde(
        rename = "StringToSignBytes",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub string_to_sign_bytes: Option<String>,
    #[serde(
        rename = "CanonicalRequest",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub canonical_request: Option<String>,
    #[serde(rename = "EC")]
    pub ec: String,
    #[serde(
        rename = "RecommendDoc",
        deserialize_with = "present_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recommend_doc: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{from_xml, to_xml};

    // Section 8.1 of the protocol notes, verbatim.
    const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchKey</Code>
  <Message>The specified key does not exist.</Message>
  <RequestId>5C3D9175B6FC201293AD4890</RequestId>
  <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>
  <Key>exampleobject.txt</Key>
  <EC>0026-00000001</EC>
  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0026-00000001</RecommendDoc>
</Error>
"#;

    fn no_such_key() -> ErrorBody {
        ErrorBody {
            code: "NoSuchKey".into(),
            message: "The specified key does not exist.".into(),
            request_id: "5C3D9175B6FC201293AD4890".into(),
            host_id: "examplebucket.oss-cn-hangzhou.aliyuncs.com".into(),
            key: Some("exampleobject.txt".into()),
            ec: "0026-00000001".into(),
            recommend_doc: Some("https://api.aliyun.com/troubleshoot?q=0026-00000001".into()),
            ..ErrorBody::default()
        }
    }

    #[test]
    fn parses_protocol_notes_example() {
        assert_eq!(
            from_xml::<ErrorBody>(NO_SUCH_KEY.as_bytes()).unwrap(),
            no_such_key()
        );
    }

    #[test]
    fn serializes_in_oss_order() {
        assert_eq!(
            to_xml(&no_such_key()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\
             <Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <RequestId>5C3D9175B6FC201293AD4890</RequestId>\
             <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>\
             <Key>exampleobject.txt</Key>\
             <EC>0026-00000001</EC>\
             <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0026-00000001</RecommendDoc>\
             </Error>"
        );
    }

    #[test]
    fn signature_mismatch_extras_and_unknown_children() {
        let body = "<Error><Code>SignatureDoesNotMatch</Code>\
            <Message>The request signature we calculated does not match.</Message>\
            <RequestId>5C3D9175B6FC201293AD4890</RequestId><HostId>h</HostId>\
            <OSSAccessKeyId>LTAI</OSSAccessKeyId>\
            <SignatureProvided>abc=</SignatureProvided>\
            <StringToSign>GET\n\n\nDate\n/b/k</StringToSign>\
            <StringToSignBytes>47 45 54</StringToSignBytes>\
            <Endpoint>oss-cn-hangzhou.aliyuncs.com</Endpoint>\
            <Nested><Deeper a=\"1\">x</Deeper></Nested>\
            <EC>0002-00000040</EC></Error>";
        let e: ErrorBody = from_xml(body.as_bytes()).unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.oss_access_key_id.as_deref(), Some("LTAI"));
        assert_eq!(e.signature_provided.as_deref(), Some("abc="));
        assert_eq!(e.string_to_sign.as_deref(), Some("GET\n\n\nDate\n/b/k"));
        assert_eq!(e.string_to_sign_bytes.as_deref(), Some("47 45 54"));
        assert_eq!(e.ec, "0002-00000040");
        assert_eq!(e.key, None);
    }

    #[test]
    fn missing_children_default() {
        let e: ErrorBody = from_xml(b"<Error><Code>AccessDenied</Code></Error>").unwrap();
        assert_eq!(e.code, "AccessDenied");
        assert_eq!(e.message, "");
        assert_eq!(e.condition, None);
        assert_eq!(
            from_xml::<ErrorBody>(b"<Error/>").unwrap(),
            ErrorBody::default()
        );
    }

    #[test]
    fn special_characters_are_escaped_and_survive() {
        let e = ErrorBody {
            code: "PreconditionFailed".into(),
            message: "a<b & \"c\" ]]> 'd'".into(),
            condition: Some("If-Match".into()),
            ..ErrorBody::default()
        };
        let xml = to_xml(&e);
        assert!(
            xml.contains("<Message>a&lt;b &amp; \"c\" ]]&gt; 'd'</Message>"),
            "{xml}"
        );
        assert_eq!(from_xml::<ErrorBody>(xml.as_bytes()).unwrap(), e);
    }
}
