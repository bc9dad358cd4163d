//! The proxy collection: create, update, enable/disable and delete proxies and their toxics.
//! This is what the HTTP API drives, and what tests and drills use in-process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::model::{
    parse_json, parse_proxy_input, parse_toxic_header, toxic_object, ApiError, NewToxic,
    ProxyConfig, ProxyInfo, ProxyUpdate, Stream, Toxic, ToxicKind,
};

/// The toxics of one proxy, per direction in the order they were added. Entries are immutable:
/// an update replaces the `Arc`, which is how live connections notice it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToxicSet {
    upstream: Vec<Arc<Toxic>>,
    downstream: Vec<Arc<Toxic>>,
}

impl ToxicSet {
    pub(crate) fn get(&self, s: Stream) -> &Vec<Arc<Toxic>> {
        match s {
            Stream::Upstream => &self.upstream,
            Stream::Downstream => &self.downstream,
        }
    }
    fn get_mut(&mut self, s: Stream) -> &mut Vec<Arc<Toxic>> {
        match s {
            Stream::Upstream => &mut self.upstream,
            Stream::Downstream => &mut self.downstream,
        }
    }
    fn find(&self, name: &str) -> Option<(Stream, usize)> {
        for s in [Stream::Upstream, Stream::Downstream] {
            if let Some(i) = self.get(s).iter().position(|t| t.name == name) {
                return Some((s, i));
            }
        }
        None
    }
    fn list(&self) -> Vec<Toxic> {
        self.upstream
            .iter()
            .chain(self.downstream.iter())
            .map(|t| (**t).clone())
            .collect()
    }
    fn is_empty(&self) -> bool {
        self.upstream.is_empty() && self.downstream.is_empty()
    }
}

/// A running listener: its accept loop and the token that closes it and its connections.
struct Running {
    token: CancellationToken,
    accept: JoinHandle<()>,
}

struct ProxyState {
    listen: String,
    upstream: String,
    enabled: bool,
    running: Option<Running>,
}

struct Proxy {
    name: String,
    state: tokio::sync::Mutex<ProxyState>,
    toxics: watch::Sender<Arc<ToxicSet>>,
}

impl Proxy {
    async fn info(&self) -> ProxyInfo {
        let st = self.state.lock().await;
        self.info_locked(&st)
    }

    fn info_locked(&self, st: &ProxyState) -> ProxyInfo {
        ProxyInfo {
            name: self.name.clone(),
            listen: st.listen.clone(),
            upstream: st.upstream.clone(),
            enabled: st.enabled,
            toxics: self.toxics.borrow().list(),
        }
    }
}

struct Inner {
    /// The collection; its lock serializes changes, like toxiproxy's collection lock.
    proxies: tokio::sync::Mutex<BTreeMap<String, Arc<Proxy>>>,
    /// Seeds each connection's random source.
    rng: Mutex<fastrand::Rng>,
    metrics: crate::metrics::ChaosMetrics,
}

/// A set of fault proxies: the in-process equivalent of a toxiproxy server.
///
/// Cheap to clone (shared). Dropping it does not stop the proxies: call
/// [`Chaos::shutdown`] (or let the runtime end).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, ToxicKind};
/// let chaos = Chaos::new();
/// let p = chaos.create_proxy(ProxyConfig::new("oss", "127.0.0.1:9000")).await?;
/// let addr = p.listen_addr().unwrap(); // point the client here
/// chaos.add_toxic("oss", NewToxic::new(ToxicKind::Latency { latency: 200, jitter: 20 })).await?;
/// let api = chaos.serve_api("127.0.0.1:0").await?; // toxiproxy clients can drive it too
/// # let _ = (addr, api); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chaos {
    inner: Arc<Inner>,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos::new()
    }
}

impl Chaos {
    /// An empty collection; connections draw toxicity and jitter from OS-seeded randomness.
    pub fn new() -> Chaos {
        Chaos::with_rng(fastrand::Rng::new())
    }

    /// An empty collection whose random draws (toxicity, jitter, slicing, loss) follow `seed`
    /// (per connection, in accept order), like toxiproxy's `-seed`.
    pub fn with_seed(seed: u64) -> Chaos {
        Chaos::with_rng(fastrand::Rng::with_seed(seed))
    }

    fn with_rng(rng: fastrand::Rng) -> Chaos {
        Chaos {
            inner: Arc::new(Inner {
                proxies: tokio::sync::Mutex::new(BTreeMap::new()),
                rng: Mutex::new(rng),
                metrics: crate::metrics::ChaosMetrics::default(),
            }),
        }
    }

    /// Connections, bytes and toxics applied, per proxy (served on `GET /metrics`).
    pub fn metrics(&self) -> &crate::metrics::ChaosMetrics {
        &self.inner.metrics
    }

    async fn get(&self, name: &str) -> Result<Arc<Proxy>, ApiError> {
        self.inner
            .proxies
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(ApiError::proxy_not_found)
    }

    /// All proxies by name (`GET /proxies`).
    pub async fn proxies(&self) -> BTreeMap<String, ProxyInfo> {
        let proxies: Vec<Arc<Proxy>> = self.inner.proxies.lock().await.values().cloned().collect();
        let mut out = BTreeMap::new();
        for p in proxies {
            out.insert(p.name.clone(), p.info().await);
        }
        out
    }

    /// One proxy (`GET /proxies/{proxy}`).
    pub async fn proxy(&self, name: &str) -> Result<ProxyInfo, ApiError> {
        Ok(self.get(name).await?.info().await)
    }

    /// Creates a proxy (`POST /proxies`); when enabled it listens before this returns, and the
    /// result's `listen` is the bound address. 409 if the name is taken, 500 if it cannot
    /// listen.
    pub async fn create_proxy(&self, config: ProxyConfig) -> Result<ProxyInfo, ApiError> {
        if config.name.is_empty() {
            return Err(ApiError::missing_field("name"));
        }
        if config.upstream.is_empty() {
            return Err(ApiError::missing_field("upstream"));
        }
        let mut proxies = self.inner.proxies.lock().await;
        if proxies.contains_key(&config.name) {
            return Err(ApiError::proxy_exists());
        }
        let proxy = self.new_proxy(&config).await?;
        let info = proxy.info().await;
        proxies.insert(config.name.clone(), proxy);
        Ok(info)
    }

    async fn new_proxy(&self, config: &ProxyConfig) -> Result<Arc<Proxy>, ApiError> {
        let listen = if config.listen.is_empty() {
            "127.0.0.1:0".to_string()
        } else {
            config.listen.clone()
        };
        let proxy = Arc::new(Proxy {
            name: config.name.clone(),
            state: tokio::sync::Mutex::new(ProxyState {
                listen,
                upstream: config.upstream.clone(),
                enabled: false,
                running: None,
            }),
            toxics: watch::Sender::new(Arc::new(ToxicSet::default())),
        });
        if config.enabled {
            let mut st = proxy.state.lock().await;
            self.start(&proxy, &mut st).await?;
        }
        Ok(proxy)
    }

    /// Starts listening (no-op when already listening).
    async fn start(&self, proxy: &Proxy, st: &mut ProxyState) -> Result<(), ApiError> {
        if st.running.is_some() {
            st.enabled = true;
            return Ok(());
        }
        let listener = TcpListener::bind(st.listen.as_str())
            .await
            .map_err(|e| ApiError::internal(format!("listen tcp {}: {e}", st.listen)))?;
        let local = listener
            .local_addr()
            .map_err(|e| ApiError::internal(format!("listen tcp {}: {e}", st.listen)))?;
        st.listen = local.to_string();
        let token = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(
            Arc::from(proxy.name.as_str()),
            listener,
            Arc::from(st.upstream.as_str()),
            proxy.toxics.subscribe(),
            token.clone(),
            self.inner.clone(),
        ));
        st.running = Some(Running { token, accept });
        st.enabled = true;
        Ok(())
    }

    /// Stops listening and closes every connection. When this returns the port refuses
    /// connections.
    async fn stop(st: &mut ProxyState) {
        if let Some(r) = st.running.take() {
            r.token.cancel();
            r.accept.abort();
            let _ = r.accept.await; // the listener is closed once the task is gone
        }
        st.enabled = false;
    }

    /// Updates a proxy (`POST`/`PATCH /proxies/{proxy}`), as toxiproxy does: a new listen
    /// address or upstream restarts it (closing connections); `enabled` starts or stops it.
    pub async fn update_proxy(
        &self,
        name: &str,
        update: ProxyUpdate,
    ) -> Result<ProxyInfo, ApiError> {
        let _guard = self.inner.proxies.lock().await;
        let proxy = _guard
            .get(name)
            .cloned()
            .ok_or_else(ApiError::proxy_not_found)?;
        let mut st = proxy.state.lock().await;
        let listen = update.listen.unwrap_or_else(|| st.listen.clone());
        let upstream = update.upstream.unwrap_or_else(|| st.upstream.clone());
        let enabled = update.enabled.unwrap_or(st.enabled);
        if listen != st.listen || upstream != st.upstream {
            Self::stop(&mut st).await;
            st.listen = listen;
            st.upstream = upstream;
        }
        if enabled != st.enabled {
            if enabled {
                self.start(&proxy, &mut st).await?;
            } else {
                Self::stop(&mut st).await;
            }
        }
        Ok(proxy.info_locked(&st))
    }

    /// Enables (listen) or disables ("down": close the listener and every connection) a proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyInfo, ApiError> {
        self.update_proxy(
            name,
            ProxyUpdate {
                enabled: Some(enabled),
                ..ProxyUpdate::default()
            },
        )
        .await
    }

    /// Deletes a proxy (`DELETE /proxies/{proxy}`), closing its listener and connections.
    pub async fn delete_proxy(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.inner.proxies.lock().await;
        let proxy = proxies.remove(name).ok_or_else(ApiError::proxy_not_found)?;
        let mut st = proxy.state.lock().await;
        Self::stop(&mut st).await;
        Ok(())
    }

    /// Creates or replaces several proxies (`POST /populate`). A proxy whose name exists with
    /// the same listen address and upstream is kept as is; otherwise the old one is stopped
    /// and replaced. All entries are validated first. On an error the proxies handled so far
    /// are returned along with it.
    pub async fn populate(&self, configs: Vec<ProxyConfig>) -> (Vec<ProxyInfo>, Option<ApiError>) {
        for (i, c) in configs.iter().enumerate() {
            if c.name.is_empty() {
                return (
                    Vec::new(),
                    Some(ApiError::missing_field(format!("name at proxy {}", i + 1))),
                );
            }
            if c.upstream.is_empty() {
                return (
                    Vec::new(),
                    Some(ApiError::missing_field(format!(
                        "upstream at proxy {}",
                        i + 1
                    ))),
                );
            }
        }
        let mut proxies = self.inner.proxies.lock().await;
        let mut out = Vec::new();
        for c in configs {
            if let Some(existing) = proxies.get(&c.name).cloned() {
                let mut st = existing.state.lock().await;
                if st.listen == c.listen && st.upstream == c.upstream {
                    out.push(existing.info_locked(&st));
                    continue;
                }
                Self::stop(&mut st).await;
                drop(st);
                proxies.remove(&c.name);
            }
            match self.new_proxy(&c).await {
                Ok(p) => {
                    out.push(p.info().await);
                    proxies.insert(c.name.clone(), p);
                }
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// `POST /populate` with a JSON body (an array of proxies; `enabled` defaults to true).
    pub async fn populate_json(&self, body: &[u8]) -> (Vec<ProxyInfo>, Option<ApiError>) {
        let parsed = parse_json(body).and_then(|v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    let p = parse_proxy_input(i)?;
                    Ok(ProxyConfig {
                        name: p.name.unwrap_or_default(),
                        listen: p.listen.unwrap_or_default(),
                        upstream: p.upstream.unwrap_or_default(),
                        enabled: p.enabled.unwrap_or(true),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>(),
            other => Err(ApiError::bad_request_body(format!(
                "expected an array of proxies, got {}",
                if other.is_object() {
                    "an object"
                } else {
                    "something else"
                }
            ))),
        });
        match parsed {
            Ok(configs) => self.populate(configs).await,
            Err(e) => (Vec::new(), Some(e)),
        }
    }

    /// Enables every proxy and removes every toxic (`POST /reset`).
    pub async fn reset(&self) -> Result<(), ApiError> {
        let proxies = self.inner.proxies.lock().await;
        for p in proxies.values() {
            let mut st = p.state.lock().await;
            self.start(p, &mut st).await?;
            p.toxics.send_if_modified(|set| {
                let had = !set.is_empty();
                *set = Arc::new(ToxicSet::default());
                had
            });
        }
        Ok(())
    }

    /// Stops every proxy (listeners and connections) and forgets them.
    pub async fn shutdown(&self) {
        let mut proxies = self.inner.proxies.lock().await;
        for (_, p) in std::mem::take(&mut *proxies) {
            let mut st = p.state.lock().await;
            Self::stop(&mut st).await;
        }
    }

    // ------------------------------------------------------------ toxics

    /// The toxics of a proxy (`GET /proxies/{proxy}/toxics`).
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ApiError> {
        Ok(self.get(proxy).await?.toxics.borrow().list())
    }

    /// One toxic (`GET /proxies/{proxy}/toxics/{toxic}`).
    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, ApiError> {
        let p = self.get(proxy).await?;
        let set = p.toxics.borrow();
        let (s, i) = set.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        Ok((*set.get(s)[i]).clone())
    }

    /// Adds a toxic; it acts on existing connections too. 409 if the name is taken.
    pub async fn add_toxic(&self, proxy: &str, toxic: NewToxic) -> Result<Toxic, ApiError> {
        let p = self.get(proxy).await?;
        let name = toxic
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{}_{}", toxic.kind.type_name(), toxic.stream));
        let t = Toxic {
            name,
            stream: toxic.stream,
            toxicity: toxic.toxicity,
            kind: toxic.kind,
        };
        Self::insert_toxic(&p, t, || Ok(()))
    }

    fn insert_toxic(
        p: &Proxy,
        t: Toxic,
        late_check: impl FnOnce() -> Result<(), ApiError>,
    ) -> Result<Toxic, ApiError> {
        let mut result = Err(ApiError::toxic_exists());
        p.toxics.send_if_modified(|set| {
            if set.find(&t.name).is_some() {
                return false;
            }
            if let Err(e) = late_check() {
                result = Err(e);
                return false;
            }
            let mut new = (**set).clone();
            new.get_mut(t.stream).push(Arc::new(t.clone()));
            *set = Arc::new(new);
            result = Ok(t.clone());
            true
        });
        result
    }

    /// `POST /proxies/{proxy}/toxics` with a JSON body: `{name?, type, stream?, toxicity?,
    /// attributes?}`. Errors in toxiproxy's order: body 400, stream 400, type 400, duplicate
    /// name 409, attributes 400.
    pub async fn add_toxic_json(&self, proxy: &str, body: &[u8]) -> Result<Toxic, ApiError> {
        let p = self.get(proxy).await?;
        let v = parse_json(body)?;
        let obj = toxic_object(&v)?;
        let h = parse_toxic_header(obj)?;
        let mut kind = h.kind;
        let attr_result = kind
            .apply_attributes(obj.get("attributes").unwrap_or(&Value::Null))
            .map_err(ApiError::bad_request_body);
        let t = Toxic {
            name: h.name,
            stream: h.stream,
            toxicity: h.toxicity,
            kind,
        };
        Self::insert_toxic(&p, t, || attr_result)
    }

    /// Changes a toxic's attributes and/or toxicity (name, type and stream stay). Live
    /// connections pick it up, drawing the toxicity anew, as toxiproxy does.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        kind: Option<ToxicKind>,
        toxicity: Option<f32>,
    ) -> Result<Toxic, ApiError> {
        let p = self.get(proxy).await?;
        Self::modify_toxic(&p, toxic, |t| {
            if let Some(k) = kind {
                if k.type_name() != t.kind.type_name() {
                    return Err(ApiError::bad_request_body(format!(
                        "toxic {} is a {}, not a {}",
                        t.name,
                        t.kind.type_name(),
                        k.type_name()
                    )));
                }
                t.kind = k;
            }
            if let Some(x) = toxicity {
                t.toxicity = x;
            }
            Ok(())
        })
    }

    /// `POST`/`PATCH /proxies/{proxy}/toxics/{toxic}` with `{attributes?, toxicity?}`: given
    /// attributes are merged into the current ones.
    pub async fn update_toxic_json(
        &self,
        proxy: &str,
        toxic: &str,
        body: &[u8],
    ) -> Result<Toxic, ApiError> {
        let p = self.get(proxy).await?;
        // toxiproxy looks the toxic up before decoding the body
        if p.toxics.borrow().find(toxic).is_none() {
            return Err(ApiError::toxic_not_found());
        }
        let v = parse_json(body)?;
        let obj = toxic_object(&v)?.clone();
        Self::modify_toxic(&p, toxic, move |t| {
            t.kind
                .apply_attributes(obj.get("attributes").unwrap_or(&Value::Null))
                .map_err(ApiError::bad_request_body)?;
            match obj.get("toxicity") {
                None | Some(Value::Null) => {}
                Some(x) => {
                    t.toxicity = x
                        .as_f64()
                        .ok_or_else(|| ApiError::bad_request_body("toxicity must be a number"))?
                        as f32
                }
            }
            Ok(())
        })
    }

    fn modify_toxic(
        p: &Proxy,
        name: &str,
        f: impl FnOnce(&mut Toxic) -> Result<(), ApiError>,
    ) -> Result<Toxic, ApiError> {
        let mut result = Err(ApiError::toxic_not_found());
        let mut f = Some(f);
        p.toxics.send_if_modified(|set| {
            let Some((s, i)) = set.find(name) else {
                return false;
            };
            let mut t = (*set.get(s)[i]).clone();
            if let Err(e) = (f.take().expect("called once"))(&mut t) {
                result = Err(e);
                return false;
            }
            let mut new = (**set).clone();
            new.get_mut(s)[i] = Arc::new(t.clone());
            *set = Arc::new(new);
            result = Ok(t);
            true
        });
        result
    }

    /// Removes a toxic (`DELETE /proxies/{proxy}/toxics/{toxic}`); live connections stop
    /// applying it (data held by a `timeout` toxic flows again).
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ApiError> {
        let p = self.get(proxy).await?;
        let mut found = false;
        p.toxics.send_if_modified(|set| {
            let Some((s, i)) = set.find(toxic) else {
                return false;
            };
            let mut new = (**set).clone();
            new.get_mut(s).remove(i);
            *set = Arc::new(new);
            found = true;
            true
        });
        if found {
            Ok(())
        } else {
            Err(ApiError::toxic_not_found())
        }
    }
}

async fn accept_loop(
    name: Arc<str>,
    listener: TcpListener,
    upstream: Arc<str>,
    toxics: watch::Receiver<Arc<ToxicSet>>,
    token: CancellationToken,
    inner: Arc<Inner>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = token.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((client, _)) => {
                let seed = inner.rng.lock().map(|mut r| r.u64(..)).unwrap_or(0);
                tokio::spawn(crate::link::serve(
                    client,
                    upstream.clone(),
                    toxics.clone(),
                    token.child_token(),
                    seed,
                    inner.metrics.connection(&name),
                ));
            }
            // e.g. out of file descriptors: back off instead of spinning
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}
