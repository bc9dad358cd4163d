//! XML request and response bodies of the OSS REST API.
//!
//! Every body is a plain struct whose serde names are the OSS element names; [`to_xml`] and
//! [`from_xml`] are the only entry points. Parsing tolerates unknown and missing elements
//! (real OSS keeps adding fields) and never panics. quick-xml is used with care for XML 1.0
//! semantics: text is never trimmed, and CR, NEL and U+2028 in values survive a round trip.

mod bucket;
mod error;
mod list;
mod multipart;
mod object;

pub use bucket::{
    AccessControlList, AccessControlPolicy, BucketDetail, BucketInfo, BucketLoggingStatus,
    BucketPolicy, BucketStat, BucketSummary, Buckets, CorsConfiguration, CorsRule,
    CreateBucketConfiguration, LifecycleConfiguration, LifecycleRule, ListAllMyBucketsResult,
    LocationConstraint, LoggingEnabled, Owner, ServerSideEncryptionRule, VersioningConfiguration,
};
pub use error::ErrorBody;
pub use list::{CommonPrefix, ListBucketResult, ObjectSummary};
pub use multipart::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart, CopyPartResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, PartSummary,
    UploadSummary,
};
pub use object::{
    CopyObjectResult, Delete, DeleteResult, DeletedObject, ObjectIdentifier, Tag, TagSet, Tagging,
};

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use quick_xml::events::Event;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Largest body [`from_xml`] accepts; OSS bodies are far smaller (≤ 1000 list entries).
pub const MAX_XML_BODY: usize = 1 << 20;

/// OSS bodies nest at most four levels; quick-xml's namespace resolver counts levels in a
/// `u16` and overflows (a panic in debug builds) past 65535.
const MAX_DEPTH: usize = 64;

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Why an XML body (or an URL-encoded name inside one) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML body is {0} bytes, more than the {MAX_XML_BODY} byte limit")]
    TooLarge(usize),
    #[error("XML body or URL-decoded value is not valid UTF-8")]
    InvalidUtf8,
    #[error("root element is <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        expected: &'static str,
        found: String,
    },
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("URL-encoded value contains a malformed percent escape")]
    BadEscape,
}

impl XmlError {
    /// The OSS error code a server answers with for this error.
    pub const fn code(&self) -> &'static str {
        "MalformedXML"
    }
}

/// Serializes `value` as an XML document: declaration, then the root element named by the type.
///
/// # Panics
///
/// If `T` has no XML form (e.g. a bare map or number); never for the body types of this module.
pub fn to_xml<T: Serialize>(value: &T) -> String {
    let mut out = String::from(XML_DECLARATION);
    let mut ser = quick_xml::se::Serializer::new(&mut out);
    // `<Tag></Tag>` rather than `<Tag/>`: what OSS itself sends, and kinder to naive parsers.
    ser.expand_empty_elements(true);
    if let Err(e) = value.serialize(ser) {
        panic!("type cannot be serialized as XML: {e}");
    }
    // Our output has these only in text. Parsers turn a literal CR (and, XML 1.1 style like
    // quick-xml, NEL and LINE SEPARATOR) into `\n`; character references survive.
    if out.contains(['\r', '\u{85}', '\u{2028}']) {
        out = out
            .replace('\r', "&#xD;")
            .replace('\u{85}', "&#x85;")
            .replace('\u{2028}', "&#x2028;");
    }
    out
}

/// Parses an XML body into `T`, checking size, UTF-8, well-formedness and the root element name.
pub fn from_xml<T: DeserializeOwned>(body: &[u8]) -> Result<T, XmlError> {
    if body.len() > MAX_XML_BODY {
        return Err(XmlError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::InvalidUtf8)?;
    // The reader skips a BOM without counting it in its positions; keep offsets aligned.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = check_well_formed(text)?;
    if let Some(expected) = root_name::<T>() {
        let local = doc.root.rsplit(':').next().unwrap_or(&doc.root);
        if local != expected {
            return Err(XmlError::UnexpectedRoot {
                expected,
                found: doc.root,
            });
        }
    }
    quick_xml::de::from_str(&doc.element).map_err(|e| XmlError::Malformed(e.to_string()))
}

/// A document that passed [`check_well_formed`].
struct Checked<'a> {
    /// Qualified name of the root element.
    root: String,
    /// The root element alone, without prolog or trailing comments: the deserializer would
    /// otherwise read prolog whitespace as the content of a text-only root.
    element: Cow<'a, str>,
}

/// Full pass over the document before serde sees it: the deserializer trusts the reader to have
/// rejected mismatched tags and trailing garbage, so make sure it did.
fn check_well_formed(text: &str) -> Result<Checked<'_>, XmlError> {
    let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed(e.to_string());
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut root: Option<(String, usize)> = None;
    let mut end = None;
    let mut protected = text
        .contains(['\u{85}', '\u{2028}'])
        .then(|| String::with_capacity(text.len() + 64));
    loop {
        let start = position(&reader);
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        let raw = text.get(start..position(&reader)).unwrap_or_default();
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if depth == 0 {
                    if root.is_some() {
                        return Err(malformed(&"more than one root element"));
                    }
                    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
                    root = Some((name, start));
                }
                for attr in s.attributes() {
                    attr.map_err(|e| malformed(&e))?;
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(malformed(&"elements nested too deeply"));
                    }
                } else if depth == 0 {
                    end = Some(position(&reader));
                }
            }
            Event::End(_) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| malformed(&"unmatched end tag"))?;
                if depth == 0 {
                    end = Some(position(&reader));
                }
            }
            Event::Text(ref t) if depth == 0 => {
                let content = t.xml_content().map_err(|e| malformed(&e))?;
                if !content.trim_matches(is_xml_space).is_empty() {
                    return Err(malformed(&"text outside the root element"));
                }
            }
            Event::CData(_) | Event::GeneralRef(_) if depth == 0 => {
                return Err(malformed(&"text outside the root element"));
            }
            Event::DocType(_) => return Err(malformed(&"DOCTYPE is not allowed")),
            Event::Eof => break,
            _ => {}
        }
        let inside_root = root.is_some() && (depth > 0 || end == Some(position(&reader)));
        if let (Some(out), true) = (protected.as_mut(), inside_root) {
            match event {
                Event::Text(_) => protect_xml11_eols(out, raw, "", ""),
                Event::CData(_) => protect_xml11_eols(out, raw, "]]>", "<![CDATA["),
                _ => out.push_str(raw),
            }
        }
    }
    if depth != 0 {
        return Err(malformed(&"unclosed element"));
    }
    let (Some((root, start)), Some(end)) = (root, end) else {
        return Err(malformed(&"no root element"));
    };
    let element = match protected {
        Some(out) => Cow::Owned(out),
        None => Cow::Borrowed(text.get(start..end).unwrap_or_default()),
    };
    Ok(Checked { root, element })
}

fn position(reader: &quick_xml::Reader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

/// quick-xml's deserializer normalizes line ends by XML 1.1 rules, turning NEL (U+0085) and
/// LINE SEPARATOR (U+2028) into `\n`; OSS documents are XML 1.0, where both are ordinary
/// characters (and legal in keys). Character references are not normalized, so rewrite them
/// as such. Inside CDATA the section is closed around the reference (`close`/`reopen`).
fn protect_xml11_eols(out: &mut String, raw: &str, close: &str, reopen: &str) {
    for c in raw.chars() {
        match c {
            '\u{85}' => out.push_str(&format!("{close}&#x85;{reopen}")),
            '\u{2028}' => out.push_str(&format!("{close}&#x2028;{reopen}")),
            c => out.push(c),
        }
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The serde name `T` deserializes as (the root element name), found by letting its
/// `Deserialize` impl announce itself to a deserializer that answers nothing.
fn root_name<T: DeserializeOwned>() -> Option<&'static str> {
    let mut name = None;
    let _ = T::deserialize(NameProbe(&mut name));
    name
}

struct NameProbe<'a>(&'a mut Option<&'static str>);

#[derive(Debug)]
struct ProbeDone;

impl std::fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("name probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for NameProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = Some(name);
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = Some(name);
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Everything but RFC 3986 unreserved characters and `/`.
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Encodes a key, prefix or marker as OSS does for `encoding-type=url` (uppercase `%XX`).
pub fn url_encode_key(s: &str) -> String {
    utf8_percent_encode(s, KEY_ENCODE_SET).to_string()
}

/// Reverses [`url_encode_key`]: plain percent-decoding, `+` stays `+`.
pub fn url_decode_key(s: &str) -> Result<String, XmlError> {
    let bytes = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return Err(XmlError::BadEscape);
        }
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| XmlError::InvalidUtf8)
}

/// For `Option<String>` elements: present (even empty, `<X></X>`) means `Some`, absent means
/// `None` (via `#[serde(default)]`), so `Some("")` survives a round trip.
fn present_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests;
