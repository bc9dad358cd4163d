//! Where credentials come from: static keys, the environment, or a refreshing source (STS).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use ossguard_proto::auth::Credentials;

use crate::error::{Error, ErrorKind};

/// Supplies credentials for each request (asked every attempt, so rotation is picked up).
pub trait CredentialsProvider: Send + Sync + std::fmt::Debug {
    /// The credentials to sign the next attempt with. Called before every attempt: cache inside,
    /// and refresh before expiry.
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>>;
}

/// Fixed credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Credentials);

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

/// Reads `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN` (or
/// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`).
pub fn from_env() -> Result<Credentials, Error> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    let id = var(&["OSS_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"]);
    let secret = var(&["OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"]);
    let token = var(&["OSS_SESSION_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN"]);
    match (id, secret) {
        (Some(id), Some(secret)) => {
            let c = Credentials::new(id, secret);
            Ok(match token {
                Some(t) => c.with_security_token(t),
                None => c,
            })
        }
        _ => Err(Error::new(ErrorKind::Credentials(
            "OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET are not set".into(),
        ))),
    }
}

/// A wall clock (injectable so refresh timing is tested in virtual time).
pub type Clock = std::sync::Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Fetches temporary credentials and renews them `refresh_before` their expiry.
///
/// * Single flight: one fetch at a time; callers that arrive during a refresh either use the
///   still-valid cached credentials at once or, when there are none, wait for that refresh.
/// * A failed refresh is not an error while the cached credentials have more than
///   [`RefreshingCredentials::min_validity`] left (default 30 s: enough for a request signed
///   now to reach the server before they expire); callers keep getting them, and the next
///   refresh is tried [`RefreshingCredentials::retry_after`] later (default 5 s) rather than on
///   every request. Past that margin (or with nothing cached) the fetch error is returned.
pub struct RefreshingCredentials<F> {
    fetch: F,
    refresh_before: Duration,
    min_validity: Duration,
    retry_after: Duration,
    clock: Clock,
    state: Mutex<Cache>,
    /// Held while fetching: the single flight.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    creds: Option<(Credentials, SystemTime)>,
    /// No new fetch before this (after a failed one) while the cached ones are usable.
    quiet_until: Option<SystemTime>,
}

impl<F> std::fmt::Debug for RefreshingCredentials<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshingCredentials")
            .field("refresh_before", &self.refresh_before)
            .field("min_validity", &self.min_validity)
            .finish_non_exhaustive()
    }
}

/// What the cache says for a caller at `now`.
enum Cached {
    /// Fresh: use them.
    Fresh(Credentials),
    /// Due for a refresh but still usable if the refresh fails (or is running).
    Usable(Credentials),
    /// Nothing usable: a refresh must succeed.
    Missing,
}

impl<F> RefreshingCredentials<F>
where
    F: Fn() -> BoxFuture<'static, Result<(Credentials, SystemTime), Error>> + Send + Sync,
{
    /// `fetch` returns fresh credentials and their expiry.
    pub fn new(fetch: F, refresh_before: Duration) -> Self {
        Self {
            fetch,
            refresh_before,
            min_validity: Duration::from_secs(30),
            retry_after: Duration::from_secs(5),
            clock: std::sync::Arc::new(SystemTime::now),
            state: Mutex::new(Cache::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Cached credentials are handed out until this long before their expiry, even when
    /// refreshing them fails.
    pub fn min_validity(mut self, d: Duration) -> Self {
        self.min_validity = d;
        self
    }

    /// Wait this long after a failed refresh before trying again (while cached ones are usable).
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = d;
        self
    }

    /// The wall clock expiry is judged by (default [`SystemTime::now`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn cached(&self, now: SystemTime) -> Cached {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &st.creds {
            Some((c, exp)) if now + self.refresh_before < *exp => Cached::Fresh(c.clone()),
            Some((c, exp)) if now + self.min_validity < *exp => {
                // Quiet after a failure: as good as fresh until then.
                if st.quiet_until.is_some_and(|q| now < q) {
                    Cached::Fresh(c.clone())
                } else {
                    Cached::Usable(c.clone())
                }
            }
            _ => Cached::Missing,
        }
    }

    async fn get(&self) -> Result<Credentials, Error> {
        let usable = match self.cached((self.clock)()) {
            Cached::Fresh(c) => return Ok(c),
            Cached::Usable(c) => Some(c),
            Cached::Missing => None,
        };
        let _flight = match (&usable, self.refreshing.try_lock()) {
            (_, Ok(g)) => g,
            // Someone is refreshing; usable credentials need not wait for it.
            (Some(c), Err(_)) => return Ok(c.clone()),
            (None, Err(_)) => self.refreshing.lock().await,
        };
        // The refresh we may have waited for might have done the work.
        if let Cached::Fresh(c) = self.cached((self.clock)()) {
            return Ok(c);
        }
        let fetched = (self.fetch)().await;
        let now = (self.clock)();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match fetched {
            Ok((c, exp)) => {
                st.creds = Some((c.clone(), exp));
                st.quiet_until = None;
                Ok(c)
            }
            Err(e) => match &st.creds {
                // Still valid: keep handing them out, try again a little later.
                Some((c, exp)) if now + self.min_validity < *exp => {
                    let c = c.clone();
                    st.quiet_until = Some(now + self.retry_after);
                    Ok(c)
                }
                _ => Err(e),
            },
        }
    }
}

impl<F> CredentialsProvider for RefreshingCredentials<F>
where
    F: Fn() -> BoxFuture<'static, Result<(Credentials, SystemTime), Error>> + Send + Sync,
{
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(self.get())
    }
}
