//! Where credentials come from: static keys, the environment, or a refreshing source (STS).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use ossguard_proto::auth::Credentials;

use crate::error::{Error, ErrorKind};

/// Supplies credentials for each request (asked every attempt, so rotation is picked up).
pub trait CredentialsProvider: Send + Sync + std::fmt::Debug {
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

/// Fetches temporary credentials and renews them `refresh_before` their expiry.
pub struct RefreshingCredentials<F> {
    fetch: F,
    refresh_before: Duration,
    cached: Mutex<Option<(Credentials, SystemTime)>>,
}

impl<F> std::fmt::Debug for RefreshingCredentials<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshingCredentials")
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
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
            cached: Mutex::new(None),
        }
    }
}

impl<F> CredentialsProvider for RefreshingCredentials<F>
where
    F: Fn() -> BoxFuture<'static, Result<(Credentials, SystemTime), Error>> + Send + Sync,
{
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let now = SystemTime::now();
            if let Some((c, exp)) = self
                .cached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                if now + self.refresh_before < *exp {
                    return Ok(c.clone());
                }
            }
            let (c, exp) = (self.fetch)().await?;
            *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((c.clone(), exp));
            Ok(c)
        })
    }
}
