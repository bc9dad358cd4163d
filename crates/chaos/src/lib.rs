//! `ossguard-chaos`: a TCP fault-injecting proxy with toxiproxy's HTTP API.
//!
//! Put a proxy between a client and a server, then add *toxics* that delay, throttle, slice,
//! stall, cut or reset the traffic. The HTTP API is Shopify/toxiproxy's (v2), so its clients
//! (Go, Ruby, Python, Node, ...) drive it unchanged; tests and drills can also use [`Chaos`]
//! in-process.
//!
//! # Running it
//! ```text
//! $ ossguard chaos --api 127.0.0.1:8474 --config proxies.json   # config: like POST /populate
//! api listening on http://127.0.0.1:8474
//! proxy oss listening on 127.0.0.1:9001 -> 127.0.0.1:9000
//! $ curl -s -XPOST localhost:8474/proxies/oss/toxics \
//!     -d '{"type":"latency","attributes":{"latency":200,"jitter":20}}'
//! ```
//! In-process: [`Chaos::create_proxy`] returns the bound address (listen on port 0),
//! [`Chaos::add_toxic`] and friends change toxics, [`Chaos::serve_api`] serves the HTTP API.
//!
//! # Toxics
//! | type | attributes | effect (per direction: `upstream` = client→server, `downstream` = server→client) |
//! |---|---|---|
//! | `latency` | `latency`, `jitter` (ms) | each chunk is released `latency ± jitter` ms after it was read (order kept) |
//! | `bandwidth` | `rate` (KB/s, 1 KB = 1000 B) | throughput capped at `rate`; 0 = unlimited |
//! | `slow_close` | `delay` (ms) | the close (FIN) is passed on `delay` ms late |
//! | `timeout` | `timeout` (ms) | nothing is forwarded; after `timeout` ms the connection is closed; 0 = hold until the toxic is removed, then the held data flows |
//! | `reset_peer` | `timeout` (ms) | the first chunk (or close) is dropped, `timeout` ms later both sides get a TCP RST (`SO_LINGER` 0) |
//! | `slicer` | `average_size`, `size_variation` (bytes), `delay` (µs) | each chunk is cut into slices sent `delay` µs apart |
//! | `limit_data` | `bytes` | after `bytes` bytes the connection is closed |
//! | `noop` | — | nothing |
//! | `loss` (ours) | `probability` (0–1), `rto` (ms, default 200) | a fraction `probability` of chunks, and everything behind them, is delayed by `rto` ms |
//!
//! Every toxic has a `toxicity` (default 1.0): the probability that it acts on a given
//! connection, drawn once per connection and direction, as in toxiproxy.
//!
//! **Why `loss` delays instead of dropping.** TCP never loses bytes: a lost segment is
//! retransmitted after a retransmission timeout, and everything sent after it waits behind it
//! (head-of-line blocking). Seen from above the socket, packet loss is a stall of about one RTO
//! (200 ms minimum on Linux) at random points of the stream. Dropping bytes in a proxy would
//! instead corrupt the stream, which no real network does to a TCP connection. A chunk is one
//! read from the socket (up to 64 KiB), so `probability` is per chunk, not per MSS-sized
//! segment; a small request or response is one chunk. Real kernel-level loss needs `tc netem`
//! in a network namespace.
//!
//! # Differences from toxiproxy
//! - Half-close is honoured: a FIN from one side becomes a FIN to the other, and the
//!   connection ends when both directions have ended (toxiproxy closes both on the first FIN).
//! - `timeout` with 0 *holds* the data (as toxiproxy's documentation says) rather than
//!   discarding it (as its code does), so removing the toxic resumes an intact stream; its
//!   clock runs from when it started acting on the connection, not from the last chunk.
//! - An empty `listen` means `127.0.0.1:0`, not every interface.
//! - `reset_peer` resets both sides also when it is added to a live connection.
//! - Toxics of one direction are applied in sequence to each chunk, with absolute release
//!   times (so rates and delays do not drift), instead of a goroutine per toxic.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod link;
pub mod metrics;
mod model;
mod server;
mod toxics;

pub use api::{router, ApiServer, VERSION};
pub use model::{
    ApiError, NewToxic, ProxyConfig, ProxyInfo, ProxyUpdate, Stream, Toxic, ToxicKind,
    DEFAULT_LOSS_RTO_MS, TOXIC_TYPES,
};
pub use server::Chaos;
