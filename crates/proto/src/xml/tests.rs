use super::*;

#[test]
fn declaration_then_root() {
    let xml = to_xml(&CopyPartResult::default());
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <CopyPartResult><LastModified></LastModified><ETag></ETag></CopyPartResult>"
    );
}

#[test]
fn body_size_cap() {
    let pad = " ".repeat(MAX_XML_BODY);
    let at_cap = format!("<Error/>{}", &pad[..MAX_XML_BODY - 8]);
    assert_eq!(at_cap.len(), MAX_XML_BODY);
    assert!(from_xml::<ErrorBody>(at_cap.as_bytes()).is_ok());
    let over = format!("<Error/>{}", &pad[..MAX_XML_BODY - 7]);
    assert_eq!(
        from_xml::<ErrorBody>(over.as_bytes()),
        Err(XmlError::TooLarge(MAX_XML_BODY + 1))
    );
}

#[test]
fn rejects_broken_documents() {
    let cases: &[&[u8]] = &[
        b"",
        b"   ",
        b"not xml",
        b"<Error>",
        b"<Error></Code>",
        b"<Error><Code></Error>",
        b"</Error>",
        b"<Error/><Error/>",
        b"<Error/>trailing",
        b"<Error/><![CDATA[x]]>",
        b"text<Error/>",
        b"<Error><Code>&bogus;</Code></Error>",
        b"<Error><Code>&#0;</Code></Error>",
        b"<Error a=1/>",
        b"<!DOCTYPE Error [<!ENTITY x \"y\">]><Error><Code>&x;</Code></Error>",
        b"<Error><Code>\xff</Code></Error>",
    ];
    for body in cases {
        let err = from_xml::<ErrorBody>(body).unwrap_err();
        assert_eq!(
            err.code(),
            "MalformedXML",
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        from_xml::<ErrorBody>(b"<Error><Code>\xff</Code></Error>"),
        Err(XmlError::InvalidUtf8)
    );
}

#[test]
fn checks_root_element_name() {
    let err = from_xml::<Delete>(b"<CompleteMultipartUpload/>").unwrap_err();
    assert_eq!(
        err,
        XmlError::UnexpectedRoot {
            expected: "Delete",
            found: "CompleteMultipartUpload".into(),
        }
    );
    // Namespace prefixes and attributes (e.g. xmlns) are tolerated.
    let d: Delete = from_xml(
        b"<oss:Delete xmlns:oss=\"http://doc.oss-cn-hangzhou.aliyuncs.com\"><Quiet>true</Quiet></oss:Delete>",
    )
    .unwrap();
    assert!(d.quiet);
}

#[test]
fn tolerates_prolog_comments_bom_and_unknown_elements() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n\
                <CopyObjectResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\
                <New><Deep><Deeper>x</Deeper></Deep></New>\
                <LastModified>2022-12-28T10:27:41.000Z</LastModified>\
                <!-- c --><ETag><![CDATA[\"AB\"]]></ETag><Extra/></CopyObjectResult>\n";
    let r: CopyObjectResult = from_xml(body.as_bytes()).unwrap();
    assert_eq!(r.last_modified, "2022-12-28T10:27:41.000Z");
    assert_eq!(r.etag, "\"AB\"");
}

#[test]
fn text_is_not_trimmed() {
    let body = "<ListBucketResult><Name>b</Name><Contents><Key>  spaced key\t</Key></Contents>\
                <CommonPrefixes><Prefix> </Prefix></CommonPrefixes></ListBucketResult>";
    let r: ListBucketResult = from_xml(body.as_bytes()).unwrap();
    assert_eq!(r.contents[0].key, "  spaced key\t");
    assert_eq!(r.common_prefixes[0].prefix, " ");
}

#[test]
fn empty_optional_element_is_some_empty() {
    let r: ListBucketResult =
        from_xml(b"<ListBucketResult><NextMarker/><StartAfter></StartAfter></ListBucketResult>")
            .unwrap();
    assert_eq!(r.next_marker.as_deref(), Some(""));
    assert_eq!(r.start_after.as_deref(), Some(""));
    assert_eq!(r.marker, None);
}

#[test]
fn deep_nesting_is_rejected() {
    let nest = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let ok = format!("<Error><Junk>{}</Junk></Error>", nest(62));
    assert!(from_xml::<ErrorBody>(ok.as_bytes()).is_ok());
    let too_deep = format!("<Error><Junk>{}</Junk></Error>", nest(63));
    assert!(from_xml::<ErrorBody>(too_deep.as_bytes()).is_err());
    // Skipping inside a list goes through quick-xml's namespace resolver, whose u16 depth
    // counter overflowed here before the depth cap.
    let in_list = format!(
        "<ListBucketResult><Contents/>{}<Contents/></ListBucketResult>",
        nest(70_000)
    );
    assert!(in_list.len() <= MAX_XML_BODY);
    assert!(from_xml::<ListBucketResult>(in_list.as_bytes()).is_err());
}

#[test]
fn url_encoding_of_keys() {
    assert_eq!(
        url_encode_key("dir/hello world+~.txt"),
        "dir/hello%20world%2B~.txt"
    );
    assert_eq!(url_encode_key("AZaz09-_.~/"), "AZaz09-_.~/");
    assert_eq!(
        url_encode_key("100%?&=#*'()!:@"),
        "100%25%3F%26%3D%23%2A%27%28%29%21%3A%40"
    );
    assert_eq!(url_encode_key("é\u{1F600}"), "%C3%A9%F0%9F%98%80");
    assert_eq!(url_encode_key("\n\t"), "%0A%09");
}

#[test]
fn url_decoding_of_keys() {
    assert_eq!(
        url_decode_key("dir/hello%20world%2B~.txt").unwrap(),
        "dir/hello world+~.txt"
    );
    assert_eq!(url_decode_key("a+b").unwrap(), "a+b");
    assert_eq!(url_decode_key("%c3%a9").unwrap(), "é");
    assert_eq!(url_decode_key("").unwrap(), "");
    for bad in ["%", "%4", "%G0", "a%2", "%%20"] {
        assert_eq!(url_decode_key(bad), Err(XmlError::BadEscape), "{bad}");
    }
    assert_eq!(url_decode_key("%FF"), Err(XmlError::InvalidUtf8));
    assert_eq!(url_decode_key("%C3"), Err(XmlError::InvalidUtf8));
}
