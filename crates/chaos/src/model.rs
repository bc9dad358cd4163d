//! The toxiproxy data model: proxies, toxics, errors and their JSON shapes.
//!
//! The shapes follow Shopify/toxiproxy 2.x field for field (and in the same order), so its
//! clients work unchanged: a proxy is `{name, listen, upstream, enabled, toxics}`, a toxic is
//! `{attributes, name, type, stream, toxicity}`, an error is `{error, status}`.

use std::fmt;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Which way a toxic acts on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client → upstream (requests).
    Upstream,
    /// Upstream → client (responses). The default, as in toxiproxy.
    Downstream,
}

impl Stream {
    /// `"upstream"` or `"downstream"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }

    /// Parses a stream name case-insensitively, as toxiproxy does.
    pub fn parse(s: &str) -> Option<Stream> {
        match s.to_ascii_lowercase().as_str() {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Default retransmission timeout of the `loss` toxic: Linux's `TCP_RTO_MIN` (200 ms).
pub const DEFAULT_LOSS_RTO_MS: i64 = 200;

/// A toxic's type and attributes. Times are milliseconds unless noted; integer attributes keep
/// toxiproxy's `int64` range and a negative value behaves like zero.
#[derive(Clone, Debug, PartialEq)]
pub enum ToxicKind {
    /// Delays every chunk by `latency` ± `jitter` ms (uniform in `[latency-jitter, latency+jitter)`).
    Latency {
        /// Added delay, ms.
        latency: i64,
        /// Random variation, ± ms.
        jitter: i64,
    },
    /// Limits throughput to `rate` KB/s (1 KB = 1000 bytes); 0 = unlimited.
    Bandwidth {
        /// KB/s.
        rate: i64,
    },
    /// Delays the close (FIN) by `delay` ms after the source closed.
    SlowClose {
        /// ms.
        delay: i64,
    },
    /// Stops forwarding; closes the connection after `timeout` ms (0 = hold until removed).
    Timeout {
        /// ms; 0 = never close.
        timeout: i64,
    },
    /// On the first data (or close) in its direction, waits `timeout` ms and then resets both
    /// sides of the connection (RST via `SO_LINGER` 0).
    ResetPeer {
        /// ms after the first data.
        timeout: i64,
    },
    /// Splits each chunk into slices of about `average_size` ± `size_variation` bytes, `delay`
    /// µs apart.
    Slicer {
        /// Bytes.
        average_size: i64,
        /// ± bytes.
        size_variation: i64,
        /// Microseconds between slices.
        delay: i64,
    },
    /// Forwards `bytes` bytes, then closes the connection.
    LimitData {
        /// Bytes to let through.
        bytes: i64,
    },
    /// ossguard's own: delays a fraction `probability` of chunks by a retransmission timeout
    /// `rto` ms, and everything behind them (head-of-line blocking). This is what packet loss
    /// looks like from above TCP: TCP never loses bytes, it retransmits them late.
    Loss {
        /// Fraction of chunks hit, 0.0–1.0.
        probability: f64,
        /// Retransmission timeout, ms (default 200, Linux's minimum RTO).
        rto: i64,
    },
    /// Does nothing (toxiproxy's `noop`).
    Noop,
}

/// The toxic types this proxy accepts (toxiproxy's TCP toxics, plus `loss`).
pub const TOXIC_TYPES: &[&str] = &[
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    "loss",
];

impl ToxicKind {
    /// The toxiproxy type name (`"latency"`, `"reset_peer"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Loss { .. } => "loss",
            ToxicKind::Noop => "noop",
        }
    }

    /// A toxic of the named type with toxiproxy's defaults (all attributes zero; `loss` has
    /// `rto` = 200 ms). `None` for an unknown type.
    pub fn from_type(type_name: &str) -> Option<ToxicKind> {
        Some(match type_name {
            "latency" => ToxicKind::Latency {
                latency: 0,
                jitter: 0,
            },
            "bandwidth" => ToxicKind::Bandwidth { rate: 0 },
            "slow_close" => ToxicKind::SlowClose { delay: 0 },
            "timeout" => ToxicKind::Timeout { timeout: 0 },
            "reset_peer" => ToxicKind::ResetPeer { timeout: 0 },
            "slicer" => ToxicKind::Slicer {
                average_size: 0,
                size_variation: 0,
                delay: 0,
            },
            "limit_data" => ToxicKind::LimitData { bytes: 0 },
            "loss" => ToxicKind::Loss {
                probability: 0.0,
                rto: DEFAULT_LOSS_RTO_MS,
            },
            "noop" => ToxicKind::Noop,
            _ => return None,
        })
    }

    /// Merges a JSON `attributes` object into this toxic, like toxiproxy's decoder: keys that
    /// are present overwrite, others keep their value, unknown keys are ignored, `null` is
    /// ignored. A wrongly typed value is an error (the message names the field).
    pub fn apply_attributes(&mut self, attrs: &Value) -> Result<(), String> {
        let obj = match attrs {
            Value::Null => return Ok(()),
            Value::Object(o) => o,
            other => {
                return Err(format!(
                    "attributes must be an object, not {}",
                    json_type(other)
                ))
            }
        };
        match self {
            ToxicKind::Latency { latency, jitter } => {
                int_field(obj, "latency", latency)?;
                int_field(obj, "jitter", jitter)?;
            }
            ToxicKind::Bandwidth { rate } => int_field(obj, "rate", rate)?,
            ToxicKind::SlowClose { delay } => int_field(obj, "delay", delay)?,
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                int_field(obj, "timeout", timeout)?
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                int_field(obj, "average_size", average_size)?;
                int_field(obj, "size_variation", size_variation)?;
                int_field(obj, "delay", delay)?;
            }
            ToxicKind::LimitData { bytes } => int_field(obj, "bytes", bytes)?,
            ToxicKind::Loss { probability, rto } => {
                if let Some(v) = obj.get("probability").filter(|v| !v.is_null()) {
                    let p = v.as_f64().ok_or_else(|| {
                        format!("probability must be a number, not {}", json_type(v))
                    })?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!("probability must be between 0 and 1, not {p}"));
                    }
                    *probability = p;
                }
                int_field(obj, "rto", rto)?;
            }
            ToxicKind::Noop => {}
        }
        Ok(())
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads an integer attribute. Like Go's decoder into an `int64`, a fractional number or a
/// string is rejected; an integral float (`200.0`) is accepted.
fn int_field(obj: &Map<String, Value>, key: &str, out: &mut i64) -> Result<(), String> {
    let Some(v) = obj.get(key) else {
        return Ok(());
    };
    if v.is_null() {
        return Ok(());
    }
    if let Some(i) = v.as_i64() {
        *out = i;
        return Ok(());
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            *out = f as i64;
            Ok(())
        }
        Some(f) => Err(format!("{key} must be an integer, not {f}")),
        None => Err(format!("{key} must be an integer, not {}", json_type(v))),
    }
}

impl Serialize for ToxicKind {
    /// The `attributes` object, keys in toxiproxy's order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            ToxicKind::Latency { latency, jitter } => {
                m.serialize_entry("latency", latency)?;
                m.serialize_entry("jitter", jitter)?;
            }
            ToxicKind::Bandwidth { rate } => m.serialize_entry("rate", rate)?,
            ToxicKind::SlowClose { delay } => m.serialize_entry("delay", delay)?,
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                m.serialize_entry("timeout", timeout)?
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                m.serialize_entry("average_size", average_size)?;
                m.serialize_entry("size_variation", size_variation)?;
                m.serialize_entry("delay", delay)?;
            }
            ToxicKind::LimitData { bytes } => m.serialize_entry("bytes", bytes)?,
            ToxicKind::Loss { probability, rto } => {
                m.serialize_entry("probability", &GoFloat(*probability))?;
                m.serialize_entry("rto", rto)?;
            }
            ToxicKind::Noop => {}
        }
        m.end()
    }
}

/// A float written the way Go's encoder writes it: integral values without a fraction
/// (`1`, not `1.0`).
struct GoFloat(f64);

impl Serialize for GoFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() && self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// A toxic as stored on a proxy and shown by the API.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    /// Unique within its proxy (across both streams). Default `<type>_<stream>`.
    pub name: String,
    /// The direction it acts on.
    pub stream: Stream,
    /// Probability that a connection is affected, drawn once per connection (0.0–1.0).
    pub toxicity: f32,
    /// Type and attributes.
    pub kind: ToxicKind,
}

impl Serialize for Toxic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Toxic", 5)?;
        st.serialize_field("attributes", &self.kind)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("type", self.kind.type_name())?;
        st.serialize_field("stream", self.stream.as_str())?;
        // Go encodes the float32 with 32-bit precision: 0.1 stays 0.1.
        let t: f64 = format!("{}", self.toxicity).parse().unwrap_or(1.0);
        st.serialize_field("toxicity", &GoFloat(t))?;
        st.end()
    }
}

/// A toxic to add: the typed counterpart of `POST /proxies/{proxy}/toxics`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewToxic {
    /// `None` → `<type>_<stream>`.
    pub name: Option<String>,
    /// Default downstream.
    pub stream: Stream,
    /// Default 1.0.
    pub toxicity: f32,
    /// Type and attributes.
    pub kind: ToxicKind,
}

impl NewToxic {
    /// A downstream toxic with toxicity 1.0 and the default name.
    pub fn new(kind: ToxicKind) -> NewToxic {
        NewToxic {
            name: None,
            stream: Stream::Downstream,
            toxicity: 1.0,
            kind,
        }
    }
    /// Sets the name.
    pub fn named(mut self, name: impl Into<String>) -> NewToxic {
        self.name = Some(name.into());
        self
    }
    /// Sets the stream.
    pub fn stream(mut self, stream: Stream) -> NewToxic {
        self.stream = stream;
        self
    }
    /// Sets the toxicity.
    pub fn toxicity(mut self, toxicity: f32) -> NewToxic {
        self.toxicity = toxicity;
        self
    }
}

/// A proxy to create: the body of `POST /proxies` and one element of `POST /populate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Unique name.
    pub name: String,
    /// `host:port` to listen on; port 0 picks a free port. Empty → `127.0.0.1:0` (toxiproxy
    /// would listen on every interface; a fault proxy should not).
    pub listen: String,
    /// `host:port` to forward to, resolved on every new connection.
    pub upstream: String,
    /// Listen right away (default true).
    pub enabled: bool,
}

impl ProxyConfig {
    /// An enabled proxy on `127.0.0.1:0`.
    pub fn new(name: impl Into<String>, upstream: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            name: name.into(),
            listen: "127.0.0.1:0".into(),
            upstream: upstream.into(),
            enabled: true,
        }
    }
    /// Sets the listen address.
    pub fn listen(mut self, listen: impl Into<String>) -> ProxyConfig {
        self.listen = listen.into();
        self
    }
    /// Sets whether the proxy starts enabled.
    pub fn enabled(mut self, enabled: bool) -> ProxyConfig {
        self.enabled = enabled;
        self
    }
}

/// Changes to a proxy (`POST`/`PATCH /proxies/{proxy}`): absent fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    /// New listen address (restarts the listener, closing connections).
    pub listen: Option<String>,
    /// New upstream (restarts the listener, closing connections).
    pub upstream: Option<String>,
    /// `false` = down: stop listening and close every connection; `true` = listen again.
    pub enabled: Option<bool>,
}

/// A proxy as shown by the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyInfo {
    /// Name.
    pub name: String,
    /// The address it listens on; once started, the real bound address (port 0 resolved).
    pub listen: String,
    /// Where connections go.
    pub upstream: String,
    /// Listening or down.
    pub enabled: bool,
    /// Upstream toxics first, then downstream, each in the order they were added.
    pub toxics: Vec<Toxic>,
}

impl ProxyInfo {
    /// The listen address as a socket address (`None` while it is not an IP literal).
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.parse().ok()
    }
}

/// An API error: HTTP status plus toxiproxy's message, encoded as `{"error": ..., "status": N}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Human-readable message (toxiproxy's wording where it has one).
    pub message: String,
    /// HTTP status code.
    pub status: u16,
}

impl ApiError {
    fn new(message: impl Into<String>, status: u16) -> ApiError {
        ApiError {
            message: message.into(),
            status,
        }
    }
    /// 400 `bad request body: <detail>`.
    pub fn bad_request_body(detail: impl fmt::Display) -> ApiError {
        ApiError::new(format!("bad request body: {detail}"), 400)
    }
    /// 400 `missing required field: <field>`.
    pub fn missing_field(field: impl fmt::Display) -> ApiError {
        ApiError::new(format!("missing required field: {field}"), 400)
    }
    /// 404 `proxy not found`.
    pub fn proxy_not_found() -> ApiError {
        ApiError::new("proxy not found", 404)
    }
    /// 409 `proxy already exists`.
    pub fn proxy_exists() -> ApiError {
        ApiError::new("proxy already exists", 409)
    }
    /// 400 `stream was invalid, can be either upstream or downstream`.
    pub fn invalid_stream() -> ApiError {
        ApiError::new(
            "stream was invalid, can be either upstream or downstream",
            400,
        )
    }
    /// 400 `invalid toxic type`.
    pub fn invalid_toxic_type() -> ApiError {
        ApiError::new("invalid toxic type", 400)
    }
    /// 409 `toxic already exists`.
    pub fn toxic_exists() -> ApiError {
        ApiError::new("toxic already exists", 409)
    }
    /// 404 `toxic not found`.
    pub fn toxic_not_found() -> ApiError {
        ApiError::new("toxic not found", 404)
    }
    /// 500 with the message (e.g. a listen address already in use).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(message, 500)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ApiError", 2)?;
        st.serialize_field("error", &self.message)?;
        st.serialize_field("status", &self.status)?;
        st.end()
    }
}

// ---------------------------------------------------------------- JSON input parsing

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad_request_body(format!(
            "{key} must be a string, not {}",
            json_type(v)
        ))),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ApiError::bad_request_body(format!(
            "{key} must be a boolean, not {}",
            json_type(v)
        ))),
    }
}

fn as_object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        ApiError::bad_request_body(format!(
            "{what} must be a JSON object, not {}",
            json_type(v)
        ))
    })
}

/// Parses a request body as JSON (an empty body is an error, as with Go's decoder: EOF).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request_body("EOF"));
    }
    serde_json::from_slice(body).map_err(ApiError::bad_request_body)
}

/// Proxy fields as given (absent = `None`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyInput {
    pub name: Option<String>,
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

pub(crate) fn parse_proxy_input(v: &Value) -> Result<ProxyInput, ApiError> {
    let obj = as_object(v, "a proxy")?;
    Ok(ProxyInput {
        name: opt_string(obj, "name")?,
        listen: opt_string(obj, "listen")?,
        upstream: opt_string(obj, "upstream")?,
        enabled: opt_bool(obj, "enabled")?,
    })
}

/// The toxic fields other than attributes, validated in toxiproxy's order: body, stream, type.
pub(crate) struct ToxicHeader {
    pub name: String,
    pub stream: Stream,
    pub toxicity: f32,
    pub kind: ToxicKind,
}

pub(crate) fn parse_toxic_header(obj: &Map<String, Value>) -> Result<ToxicHeader, ApiError> {
    let name = opt_string(obj, "name")?.unwrap_or_default();
    let type_name = opt_string(obj, "type")?.unwrap_or_default();
    let stream_s = opt_string(obj, "stream")?.unwrap_or_else(|| "downstream".into());
    let toxicity = match obj.get("toxicity") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v.as_f64().ok_or_else(|| {
            ApiError::bad_request_body(format!("toxicity must be a number, not {}", json_type(v)))
        })? as f32,
    };
    let stream = Stream::parse(&stream_s).ok_or_else(ApiError::invalid_stream)?;
    let name = if name.is_empty() {
        format!("{type_name}_{}", stream_s)
    } else {
        name
    };
    let kind = ToxicKind::from_type(&type_name).ok_or_else(ApiError::invalid_toxic_type)?;
    Ok(ToxicHeader {
        name,
        stream,
        toxicity,
        kind,
    })
}

pub(crate) fn toxic_object(v: &Value) -> Result<&Map<String, Value>, ApiError> {
    as_object(v, "a toxic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxic_json_shape_matches_toxiproxy() {
        let t = Toxic {
            name: "latency_downstream".into(),
            stream: Stream::Downstream,
            toxicity: 1.0,
            kind: ToxicKind::Latency {
                latency: 200,
                jitter: 10,
            },
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"attributes":{"latency":200,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
        );
        let t = Toxic { toxicity: 0.1, ..t };
        assert!(serde_json::to_string(&t)
            .unwrap()
            .ends_with(r#""toxicity":0.1}"#));
    }

    #[test]
    fn error_json_shape() {
        assert_eq!(
            serde_json::to_string(&ApiError::proxy_not_found()).unwrap(),
            r#"{"error":"proxy not found","status":404}"#
        );
    }

    #[test]
    fn attributes_merge_and_reject_bad_types() {
        let mut k = ToxicKind::from_type("slicer").unwrap();
        k.apply_attributes(&serde_json::json!({"average_size": 100, "delay": 10.0, "x": "y"}))
            .unwrap();
        assert_eq!(
            k,
            ToxicKind::Slicer {
                average_size: 100,
                size_variation: 0,
                delay: 10
            }
        );
        assert!(k
            .apply_attributes(&serde_json::json!({"delay": "10"}))
            .is_err());
        assert!(k
            .apply_attributes(&serde_json::json!({"delay": 1.5}))
            .is_err());
        let mut l = ToxicKind::from_type("loss").unwrap();
        assert!(l
            .apply_attributes(&serde_json::json!({"probability": 1.5}))
            .is_err());
        l.apply_attributes(&serde_json::json!({"probability": 0.25}))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"probability":0.25,"rto":200}"#
        );
    }

    #[test]
    fn toxic_header_defaults() {
        let v = serde_json::json!({"type": "latency"});
        let h = parse_toxic_header(v.as_object().unwrap()).unwrap();
        assert_eq!(h.name, "latency_downstream");
        assert_eq!(h.stream, Stream::Downstream);
        assert_eq!(h.toxicity, 1.0);
        let v = serde_json::json!({"type": "latency", "stream": "sideways"});
        assert_eq!(
            parse_toxic_header(v.as_object().unwrap())
                .err()
                .unwrap()
                .status,
            400
        );
        let v = serde_json::json!({"type": "nope"});
        assert_eq!(
            parse_toxic_header(v.as_object().unwrap()).err().unwrap(),
            ApiError::invalid_toxic_type()
        );
    }
}
