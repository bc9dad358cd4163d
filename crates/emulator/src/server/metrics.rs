//! What `ossguard serve` exposes on `GET /-/metrics` (open, like `/-/health`: counts only, no
//! keys, paths or request ids). Labels are bounded by construction: the operation is one of
//! OSS's operations (or `Admin`/`Unknown`), the status an HTTP status code.
//!
//! Requests are counted as the server answered them, before fault rules that cut the
//! connection afterwards (a `reset` after processing still counts its 200); those faults are
//! counted apart in `ossguard_server_faults_injected_total{kind}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::faults::InjectedTotals;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: String,
}

/// The emulator's metrics and their registry.
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<OperationLabel, Histogram>,
    received: Family<OperationLabel, Counter>,
    sent: Family<OperationLabel, Counter>,
    in_flight: Gauge,
}

impl ServerMetrics {
    pub fn new(faults: InjectedTotals) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ossguard_server_requests",
            "OSS API requests answered, by operation and HTTP status",
            requests.clone(),
        );
        // 0.5 ms .. ~16 s: loopback answers up to fault-injected stalls.
        let duration = Family::<OperationLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register_with_unit(
            "ossguard_server_request_duration",
            "Time from request to response head, by operation",
            Unit::Seconds,
            duration.clone(),
        );
        let received = Family::<OperationLabel, Counter>::default();
        registry.register_with_unit(
            "ossguard_server_received",
            "Request body bytes announced by Content-Length, by operation",
            Unit::Bytes,
            received.clone(),
        );
        let sent = Family::<OperationLabel, Counter>::default();
        registry.register_with_unit(
            "ossguard_server_sent",
            "Response body bytes, by operation",
            Unit::Bytes,
            sent.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "ossguard_server_in_flight_requests",
            "Requests being handled now",
            in_flight.clone(),
        );
        registry.register(
            "ossguard_server_faults_injected",
            "Faults injected by the fault rules, by kind (never reset by an install)",
            faults,
        );
        Self {
            registry,
            requests,
            duration,
            received,
            sent,
            in_flight,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one request in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn record(&self, operation: &str, status: u16, secs: f64, received: u64, sent: u64) {
        let op = OperationLabel {
            operation: operation.to_owned(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                operation: op.operation.clone(),
                status: status.to_string(),
            })
            .inc();
        self.duration.get_or_create(&op).observe(secs);
        self.received.get_or_create(&op).inc_by(received);
        self.sent.get_or_create(&op).inc_by(sent);
    }
}

pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
