//! Property tests: every body survives `from_xml(to_xml(v))`, and `from_xml` never panics.

use std::fmt::Debug;

use ossguard_proto::xml::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Text XML 1.0 can carry (no C0 controls but tab and line ends), with markup-significant
/// characters, CR, XML 1.1 line breaks and surrounding whitespace made likely.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,40}",
        2 => vec(
            prop_oneof![
                Just("<"), Just("&"), Just("\""), Just("'"), Just(">"), Just("]]>"), Just(" "),
                Just("\t"), Just("&amp;"), Just("&#xD;"), Just("<![CDATA["), Just("\u{85}"),
                Just("\u{2028}"), Just("é"), Just("😀"), Just("\u{feff}"), Just("dir/"), Just("%2F"),
                Just("\r"), Just("\n"), Just("\r\n"),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(text())
}

fn owner() -> impl Strategy<Value = Owner> {
    (text(), text()).prop_map(|(id, display_name)| Owner { id, display_name })
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (
        (text(), text(), text(), text(), text()),
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
        (opt_text(), opt_text(), opt_text(), opt_text()),
    )
        .prop_map(|(a, b, c)| ErrorBody {
            code: a.0,
            message: a.1,
            request_id: a.2,
            host_id: a.3,
            ec: a.4,
            bucket_name: b.0,
            key: b.1,
            condition: b.2,
            oss_access_key_id: b.3,
            signature_provided: b.4,
            string_to_sign: c.0,
            string_to_sign_bytes: c.1,
            canonical_request: c.2,
            recommend_doc: c.3,
        })
}

fn bucket_summary() -> impl Strategy<Value = BucketSummary> {
    (text(), text(), text(), text(), text(), text(), text()).prop_map(|t| BucketSummary {
        creation_date: t.0,
        extranet_endpoint: t.1,
        intranet_endpoint: t.2,
        location: t.3,
        name: t.4,
        region: t.5,
        storage_class: t.6,
    })
}

fn list_all_my_buckets() -> impl Strategy<Value = ListAllMyBucketsResult> {
    (
        opt_text(),
        opt_text(),
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        opt_text(),
        owner(),
        vec(bucket_summary(), 0..5),
    )
        .prop_map(|t| ListAllMyBucketsResult {
            prefix: t.0,
            marker: t.1,
            max_keys: t.2,
            is_truncated: t.3,
            next_marker: t.4,
            owner: t.5,
            buckets: Buckets { bucket: t.6 },
        })
}

fn bucket_info() -> impl Strategy<Value = BucketInfo> {
    (
        (text(), text(), text(), text(), text(), text(), text()),
        owner(),
        (text(), text(), text(), text()),
    )
        .prop_map(|(t, owner, u)| BucketInfo {
            bucket: BucketDetail {
                creation_date: t.0,
                extranet_endpoint: t.1,
                intranet_endpoint: t.2,
                location: t.3,
                storage_class: t.4,
                data_redundancy_type: t.5,
                name: t.6,
                owner,
                access_control_list: AccessControlList { grant: u.0 },
                server_side_encryption_rule: ServerSideEncryptionRule { sse_algorithm: u.1 },
                bucket_policy: BucketPolicy {
                    log_bucket: u.2,
                    log_prefix: u.3,
                },
            },
        })
}

fn cors() -> impl Strategy<Value = CorsConfiguration> {
    let rule = (
        vec(text(), 0..5),
        vec(text(), 0..5),
        vec(text(), 0..5),
        vec(text(), 0..5),
        option::of(any::<u64>()),
    )
        .prop_map(|t| CorsRule {
            allowed_origins: t.0,
            allowed_methods: t.1,
            allowed_headers: t.2,
            expose_headers: t.3,
            max_age_seconds: t.4,
        });
    (vec(rule, 0..5), option::of(any::<bool>())).prop_map(|(rules, response_vary)| {
        CorsConfiguration {
            rules,
            response_vary,
        }
    })
}

fn delete() -> impl Strategy<Value = Delete> {
    let object =
        (text(), opt_text()).prop_map(|(key, version_id)| ObjectIdentifier { key, version_id });
    (any::<bool>(), vec(object, 0..5)).prop_map(|(quiet, objects)| Delete { quiet, objects })
}

fn delete_result() -> impl Strategy<Value = DeleteResult> {
    let deleted =
        (text(), opt_text(), option::of(any::<bool>()), opt_text()).prop_map(|t| DeletedObject {
            key: t.0,
            version_id: t.1,
            delete_marker: t.2,
            delete_marker_version_id: t.3,
        });
    (opt_text(), vec(deleted, 0..5)).prop_map(|(encoding_type, deleted)| DeleteResult {
        encoding_type,
        deleted,
    })
}

fn complete() -> impl Strategy<Value = CompleteMultipartUpload> {
    let part =
        (any::<u32>(), text()).prop_map(|(part_number, etag)| CompletePart { part_number, etag });
    vec(part, 0..5).prop_map(|parts| CompleteMultipartUpload { parts })
}

fn complete_result() -> impl Strategy<Value = CompleteMultipartUploadResult> {
    (opt_text(), text(), text(), text(), text()).prop_map(|t| CompleteMultipartUploadResult {
        encoding_type: t.0,
        location: t.1,
        bucket: t.2,
        key: t.3,
        etag: t.4,
    })
}

fn initiate() -> impl Strategy<Value = InitiateMultipartUploadResult> {
    (text(), text(), text(), opt_text()).prop_map(|t| InitiateMultipartUploadResult {
        bucket: t.0,
        key: t.1,
        upload_id: t.2,
        encoding_type: t.3,
    })
}

fn prefixes() -> impl Strategy<Value = Vec<CommonPrefix>> {
    vec(text().prop_map(|prefix| CommonPrefix { prefix }), 0..5)
}

fn list_uploads() -> impl Strategy<Value = ListMultipartUploadsResult> {
    let upload = (text(), text(), text()).prop_map(|t| UploadSummary {
        key: t.0,
        upload_id: t.1,
        initiated: t.2,
    });
    (
        (text(), text(), text(), text(), text(), text(), text()),
        (any::<u32>(), any::<bool>(), opt_text()),
        vec(upload, 0..5),
        prefixes(),
    )
        .prop_map(
            |(s, m, uploads, common_prefixes)| ListMultipartUploadsResult {
                bucket: s.0,
                key_marker: s.1,
                upload_id_marker: s.2,
                next_key_marker: s.3,
                next_upload_id_marker: s.4,
                delimiter: s.5,
                prefix: s.6,
                max_uploads: m.0,
                is_truncated: m.1,
                encoding_type: m.2,
                uploads,
                common_prefixes,
            },
        )
}

fn list_parts() -> impl Strategy<Value = ListPartsResult> {
    let part = (any::<u32>(), text(), text(), opt_text(), any::<u64>()).prop_map(|t| PartSummary {
        part_number: t.0,
        last_modified: t.1,
        etag: t.2,
        hash_crc64ecma: t.3,
        size: t.4,
    });
    (
        (text(), text(), text()),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()),
        (opt_text(), opt_text()),
        vec(part, 0..5),
    )
        .prop_map(|(s, n, o, parts)| ListPartsResult {
            bucket: s.0,
            key: s.1,
            upload_id: s.2,
            part_number_marker: n.0,
            next_part_number_marker: n.1,
            max_parts: n.2,
            is_truncated: n.3,
            encoding_type: o.0,
            storage_class: o.1,
            parts,
        })
}

fn object_summary() -> impl Strategy<Value = ObjectSummary> {
    (
        text(),
        text(),
        text(),
        text(),
        any::<u64>(),
        text(),
        option::of(owner()),
    )
        .prop_map(|t| ObjectSummary {
            key: t.0,
            last_modified: t.1,
            etag: t.2,
            object_type: t.3,
            size: t.4,
            storage_class: t.5,
            owner: t.6,
        })
}

/// v1 and v2 shapes alike: which optionals are set is arbitrary.
fn list_bucket() -> impl Strategy<Value = ListBucketResult> {
    (
        (text(), text(), text(), any::<u32>(), any::<bool>()),
        (
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
        ),
        option::of(any::<u32>()),
        vec(object_summary(), 0..5),
        prefixes(),
    )
        .prop_map(
            |(s, o, key_count, contents, common_prefixes)| ListBucketResult {
                name: s.0,
                prefix: s.1,
                delimiter: s.2,
                max_keys: s.3,
                is_truncated: s.4,
                marker: o.0,
                start_after: o.1,
                continuation_token: o.2,
                encoding_type: o.3,
                next_marker: o.4,
                next_continuation_token: o.5,
                key_count,
                contents,
                common_prefixes,
            },
        )
}

fn logging() -> impl Strategy<Value = BucketLoggingStatus> {
    option::of((text(), text())).prop_map(|l| BucketLoggingStatus {
        logging_enabled: l.map(|(target_bucket, target_prefix)| LoggingEnabled {
            target_bucket,
            target_prefix,
        }),
    })
}

fn assert_roundtrip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let xml = to_xml(v);
    let back = from_xml::<T>(xml.as_bytes());
    prop_assert_eq!(back.as_ref(), Ok(v), "xml: {}", xml);
    Ok(())
}

proptest! {
    #[test]
    fn error_body_roundtrip(v in error_body()) { assert_roundtrip(&v)?; }

    #[test]
    fn list_all_my_buckets_roundtrip(v in list_all_my_buckets()) { assert_roundtrip(&v)?; }

    #[test]
    fn create_bucket_configuration_roundtrip(a in opt_text(), b in opt_text()) {
        assert_roundtrip(&CreateBucketConfiguration { storage_class: a, data_redundancy_type: b })?;
    }

    #[test]
    fn bucket_info_roundtrip(v in bucket_info()) { assert_roundtrip(&v)?; }

    #[test]
    fn location_constraint_roundtrip(location in text()) {
        assert_roundtrip(&LocationConstraint { location })?;
    }

    #[test]
    fn access_control_policy_roundtrip(owner in owner(), grant in text()) {
        assert_roundtrip(&AccessControlPolicy { owner, access_control_list: AccessControlList { grant } })?;
    }

    #[test]
    fn cors_roundtrip(v in cors()) { assert_roundtrip(&v)?; }

    #[test]
    fn logging_roundtrip(v in logging()) { assert_roundtrip(&v)?; }

    #[test]
    fn delete_roundtrip(v in delete()) { assert_roundtrip(&v)?; }

    #[test]
    fn delete_result_roundtrip(v in delete_result()) { assert_roundtrip(&v)?; }

    #[test]
    fn copy_results_roundtrip(a in text(), b in text()) {
        assert_roundtrip(&CopyObjectResult { last_modified: a.clone(), etag: b.clone() })?;
        assert_roundtrip(&CopyPartResult { last_modified: a, etag: b })?;
    }

    #[test]
    fn initiate_roundtrip(v in initiate()) { assert_roundtrip(&v)?; }

    #[test]
    fn complete_roundtrip(v in complete()) { assert_roundtrip(&v)?; }

    #[test]
    fn complete_result_roundtrip(v in complete_result()) { assert_roundtrip(&v)?; }

    #[test]
    fn list_uploads_roundtrip(v in list_uploads()) { assert_roundtrip(&v)?; }

    #[test]
    fn list_parts_roundtrip(v in list_parts()) { assert_roundtrip(&v)?; }

    #[test]
    fn list_bucket_roundtrip(v in list_bucket()) { assert_roundtrip(&v)?; }

    /// Any string, through `encoding-type=url`, comes back unchanged and in the safe alphabet.
    #[test]
    fn url_key_roundtrip(s in any::<String>()) {
        let enc = url_encode_key(&s);
        prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~/%".contains(&b)));
        prop_assert_eq!(url_decode_key(&enc), Ok(s));
    }

    #[test]
    fn url_decode_never_panics(s in "[%0-9a-fA-FgG+/ ]{0,12}|\\PC{0,12}") {
        let _ = url_decode_key(&s);
    }
}

/// Runs `from_xml` for every body type; the point is that it returns at all.
fn parse_all(body: &[u8]) {
    let _ = from_xml::<ErrorBody>(body);
    let _ = from_xml::<ListAllMyBucketsResult>(body);
    let _ = from_xml::<CreateBucketConfiguration>(body);
    let _ = from_xml::<BucketInfo>(body);
    let _ = from_xml::<LocationConstraint>(body);
    let _ = from_xml::<AccessControlPolicy>(body);
    let _ = from_xml::<CorsConfiguration>(body);
    let _ = from_xml::<BucketLoggingStatus>(body);
    let _ = from_xml::<Delete>(body);
    let _ = from_xml::<DeleteResult>(body);
    let _ = from_xml::<CopyObjectResult>(body);
    let _ = from_xml::<InitiateMultipartUploadResult>(body);
    let _ = from_xml::<CopyPartResult>(body);
    let _ = from_xml::<CompleteMultipartUpload>(body);
    let _ = from_xml::<CompleteMultipartUploadResult>(body);
    let _ = from_xml::<ListMultipartUploadsResult>(body);
    let _ = from_xml::<ListPartsResult>(body);
    let _ = from_xml::<ListBucketResult>(body);
}

/// Valid documents of every type, the seeds for mutation.
fn seed_documents() -> impl Strategy<Value = String> {
    prop_oneof![
        error_body().prop_map(|v| to_xml(&v)),
        list_all_my_buckets().prop_map(|v| to_xml(&v)),
        bucket_info().prop_map(|v| to_xml(&v)),
        cors().prop_map(|v| to_xml(&v)),
        logging().prop_map(|v| to_xml(&v)),
        delete().prop_map(|v| to_xml(&v)),
        delete_result().prop_map(|v| to_xml(&v)),
        complete().prop_map(|v| to_xml(&v)),
        list_uploads().prop_map(|v| to_xml(&v)),
        list_parts().prop_map(|v| to_xml(&v)),
        list_bucket().prop_map(|v| to_xml(&v)),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just(b"<".to_vec()),
        Just(b">".to_vec()),
        Just(b"</".to_vec()),
        Just(b"/>".to_vec()),
        Just(b"&".to_vec()),
        Just(b"&#0;".to_vec()),
        Just(b"&#x110000;".to_vec()),
        Just(b"<![CDATA[".to_vec()),
        Just(b"<!DOCTYPE x>".to_vec()),
        Just(b"<Contents>".to_vec()),
        Just(b"<Part><PartNumber>".to_vec()),
        Just(b"</Part>".to_vec()),
        Just(b"<Key/>".to_vec()),
        Just(b"<Owner><ID>x</ID></Owner>".to_vec()),
        Just(b"<?pi?>".to_vec()),
        Just(b"<!-- -->".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"=\"".to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    prop_oneof![
        (
            any::<usize>(),
            prop_oneof![3 => 0x20..0x7fu8, 1 => any::<u8>()]
        )
            .prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 0..16usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), snippet).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 0..64usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    let len = doc.len();
    let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
    match m {
        Mutation::Flip(i, b) if len > 0 => doc[i % len] = *b,
        Mutation::Flip(..) => {}
        Mutation::Delete(i, n) => {
            let start = at(*i);
            doc.drain(start..(start + n).min(len));
        }
        Mutation::Insert(i, s) => {
            let start = at(*i);
            doc.splice(start..start, s.iter().copied());
        }
        Mutation::Duplicate(i, n) => {
            let start = at(*i);
            let chunk = doc[start..(start + n).min(len)].to_vec();
            doc.splice(start..start, chunk);
        }
        Mutation::Truncate(i) => doc.truncate(at(*i)),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..512)) {
        parse_all(&body);
    }

    #[test]
    fn arbitrary_markup_never_panics(body in "(<[/?!]?[A-Za-z]{0,3}( [a-z]=\"[^\"]{0,3}\")?/?>|&[a-z#0-9]{0,4};?|[^<&]{0,4}){0,24}") {
        parse_all(body.as_bytes());
    }

    #[test]
    fn mutated_documents_never_panic(
        doc in seed_documents(),
        muts in vec(mutation(), 1..6),
        repair in proptest::bool::weighted(0.8),
    ) {
        let mut body = doc.into_bytes();
        for m in &muts {
            apply(&mut body, m);
        }
        // Mostly keep the result UTF-8 so that it gets past the first check.
        if repair {
            body = String::from_utf8_lossy(&body).into_owned().into_bytes();
        }
        parse_all(&body);
    }
}

const ROOTS: [&str; 18] = [
    "Error",
    "ListAllMyBucketsResult",
    "CreateBucketConfiguration",
    "BucketInfo",
    "LocationConstraint",
    "AccessControlPolicy",
    "CORSConfiguration",
    "BucketLoggingStatus",
    "Delete",
    "DeleteResult",
    "CopyObjectResult",
    "InitiateMultipartUploadResult",
    "CopyPartResult",
    "CompleteMultipartUpload",
    "CompleteMultipartUploadResult",
    "ListMultipartUploadsResult",
    "ListPartsResult",
    "ListBucketResult",
];

/// Element names the bodies use, so that random trees hit real fields in the wrong places.
const NAMES: [&str; 24] = [
    "Code",
    "Key",
    "Owner",
    "ID",
    "Buckets",
    "Bucket",
    "Grant",
    "AccessControlList",
    "CORSRule",
    "AllowedOrigin",
    "MaxAgeSeconds",
    "LoggingEnabled",
    "Quiet",
    "Object",
    "Deleted",
    "DeleteMarker",
    "Part",
    "PartNumber",
    "Size",
    "Upload",
    "Contents",
    "CommonPrefixes",
    "Prefix",
    "$text",
];

/// Well-formed documents of arbitrary shape over the body vocabulary.
fn random_tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        text().prop_map(|t| t.replace('&', "&amp;").replace('<', "&lt;")),
        prop::sample::select(&NAMES[..]).prop_map(|n| format!("<{n}/>")),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("<![CDATA[x]]>".to_string()),
    ];
    let tree = leaf.prop_recursive(4, 48, 6, |inner| {
        (prop::sample::select(&NAMES[..]), vec(inner, 0..6))
            .prop_map(|(n, kids)| format!("<{n}>{}</{n}>", kids.concat()))
    });
    (prop::sample::select(&ROOTS[..]), vec(tree, 0..6))
        .prop_map(|(root, kids)| format!("<{root}>{}</{root}>", kids.concat()))
}

proptest! {
    #[test]
    fn random_trees_never_panic(doc in random_tree()) {
        parse_all(doc.as_bytes());
    }
}

/// Every root element name paired with the body type's parser, on hand-written edge cases.
#[test]
fn edge_case_documents_never_panic() {
    let inner = [
        "",
        "text",
        "<X/>",
        "<X>t</X>",
        "<X><Y/></X>",
        "t<X/>t",
        "<![CDATA[c]]>",
        "&amp;",
        "&#65;",
        "<Part/>",
        "<Part>t</Part>",
        "<Part><Part/></Part>",
        "<Contents><Owner>t</Owner></Contents>",
        "<Contents/><X/><Contents/>",
        "<Buckets><Bucket>t</Bucket></Buckets>",
        "<Bucket/>",
        "<CORSRule><AllowedOrigin><a/></AllowedOrigin></CORSRule>",
        "<Quiet>maybe</Quiet>",
        "<MaxKeys>-1</MaxKeys>",
        "<MaxKeys>99999999999999999999</MaxKeys>",
        "<Size/>",
        "<LoggingEnabled>t</LoggingEnabled>",
        "<Object><Key><Key/></Key></Object>",
        "<Code/><Code/>",
        "<$text>x</$text>",
        "<$value/>",
        "<_/>",
        "<a:Key xmlns:a='u'>k</a:Key>",
    ];
    for root in ROOTS {
        for body in inner {
            let doc = format!("<{root}>{body}</{root}>");
            parse_all(doc.as_bytes());
            let doc = format!("<{root} a=\"1\" xmlns=\"x\">{body}{body}</{root}>");
            parse_all(doc.as_bytes());
        }
    }
}
