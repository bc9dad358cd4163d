//! What `ossguard chaos` exposes on `GET /metrics` (next to the toxiproxy API): connections,
//! bytes forwarded and toxics applied, per proxy. Labels are bounded by the proxies and toxic
//! types configured; no addresses.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::model::Stream;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProxyLabel {
    pub(crate) proxy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FlowLabel {
    pub(crate) proxy: String,
    /// `upstream` (client → server) or `downstream`.
    pub(crate) direction: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ToxicLabel {
    pub(crate) proxy: String,
    /// The toxiproxy type (`latency`, `reset_peer`, …).
    pub(crate) r#type: String,
}

/// The proxy collection's metrics.
pub struct ChaosMetrics {
    registry: Registry,
    connections: Family<ProxyLabel, Counter>,
    active: Family<ProxyLabel, Gauge>,
    bytes: Family<FlowLabel, Counter>,
    toxics: Family<ToxicLabel, Counter>,
}

impl Default for ChaosMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let connections = Family::<ProxyLabel, Counter>::default();
        registry.register(
            "ossguard_chaos_connections",
            "Client connections accepted, by proxy",
            connections.clone(),
        );
        let active = Family::<ProxyLabel, Gauge>::default();
        registry.register(
            "ossguard_chaos_active_connections",
            "Client connections open now, by proxy",
            active.clone(),
        );
        let bytes = Family::<FlowLabel, Counter>::default();
        registry.register_with_unit(
            "ossguard_chaos_forwarded",
            "Bytes written to the other side, by proxy and direction",
            Unit::Bytes,
            bytes.clone(),
        );
        let toxics = Family::<ToxicLabel, Counter>::default();
        registry.register(
            "ossguard_chaos_toxics_applied",
            "Toxics that acted on a connection direction (their toxicity draw said yes), by proxy and type",
            toxics.clone(),
        );
        Self {
            registry,
            connections,
            active,
            bytes,
            toxics,
        }
    }
}

impl ChaosMetrics {
    /// The registry to encode (or to register into a larger one).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts an accepted connection; it stays active until the returned meter drops.
    pub(crate) fn connection(&self, proxy: &str) -> LinkMeter {
        let label = ProxyLabel {
            proxy: proxy.to_owned(),
        };
        self.connections.get_or_create(&label).inc();
        let active = self.active.get_or_create(&label).clone();
        active.inc();
        let flow = |d: &str| {
            self.bytes
                .get_or_create(&FlowLabel {
                    proxy: proxy.to_owned(),
                    direction: d.to_owned(),
                })
                .clone()
        };
        LinkMeter {
            proxy: Arc::from(proxy),
            active,
            upstream: flow("upstream"),
            downstream: flow("downstream"),
            toxics: self.toxics.clone(),
        }
    }
}

/// One connection's handles on the counters.
pub(crate) struct LinkMeter {
    proxy: Arc<str>,
    active: Gauge,
    upstream: Counter,
    downstream: Counter,
    toxics: Family<ToxicLabel, Counter>,
}

impl LinkMeter {
    pub(crate) fn bytes(&self, dir: Stream) -> Counter {
        match dir {
            Stream::Upstream => self.upstream.clone(),
            Stream::Downstream => self.downstream.clone(),
        }
    }

    pub(crate) fn toxic_counter(&self) -> ToxicCounter {
        ToxicCounter {
            proxy: self.proxy.clone(),
            family: self.toxics.clone(),
        }
    }
}

impl Drop for LinkMeter {
    fn drop(&mut self) {
        self.active.dec();
    }
}

/// Counts toxics applied on one connection direction.
#[derive(Clone)]
pub(crate) struct ToxicCounter {
    proxy: Arc<str>,
    family: Family<ToxicLabel, Counter>,
}

impl ToxicCounter {
    pub(crate) fn applied(&self, toxic_type: &str) {
        self.family
            .get_or_create(&ToxicLabel {
                proxy: self.proxy.to_string(),
                r#type: toxic_type.to_owned(),
            })
            .inc();
    }
}
