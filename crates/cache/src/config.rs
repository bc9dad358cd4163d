//! Cache limits and the freshness policy (pure: no I/O, no clock).

use std::time::Duration;

/// Limits and time windows of a [`crate::Cache`]. `CacheConfig::default()` then the setters:
///
/// ```
/// use std::time::Duration;
/// let config = ossguard_cache::CacheConfig::default()
///     .max_bytes(256 << 20)
///     .max_age(Duration::from_secs(30));
/// assert_eq!(config.max_entry_bytes, 64 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Total body bytes kept; least recently used entries are evicted beyond it. Default 1 GiB.
    pub max_bytes: u64,
    /// Largest body cached; bigger objects are not filled. Default 64 MiB (capped at `max_bytes`).
    pub max_entry_bytes: u64,
    /// Fresh window: an entry younger than this may be served without asking OSS. Default 60 s.
    pub max_age: Duration,
    /// How long *after* `max_age` a stale entry may still be served when OSS fails
    /// (RFC 5861 `stale-if-error`). Default 1 day.
    pub stale_if_error: Duration,
    /// Age at which [`crate::Cache::clean_expired`] deletes an entry. Default 7 days (the seed's).
    pub ttl: Duration,
    /// fsync bodies, metadata and directories on commit. Default true. Turn off only for
    /// throwaway caches (tests, benches): a power loss may then lose entries — reads still verify,
    /// so a wrong byte is never served either way.
    pub durable: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_entry_bytes: 64 << 20,
            max_age: Duration::from_secs(60),
            stale_if_error: Duration::from_secs(24 * 3600),
            ttl: Duration::from_secs(7 * 24 * 3600),
            durable: true,
        }
    }
}

impl CacheConfig {
    /// Sets [`CacheConfig::max_bytes`].
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Sets [`CacheConfig::max_entry_bytes`].
    pub fn max_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// Sets [`CacheConfig::max_age`].
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Sets [`CacheConfig::stale_if_error`].
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Sets [`CacheConfig::ttl`].
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`CacheConfig::durable`].
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The effective per-entry limit: one entry can never exceed the whole cache.
    pub fn entry_limit(&self) -> u64 {
        self.max_entry_bytes.min(self.max_bytes)
    }

    /// Classifies an entry of age `age` (RFC 5861: the stale-if-error window starts where the
    /// fresh window ends).
    pub fn freshness(&self, age: Duration) -> Freshness {
        if age < self.max_age {
            Freshness::Fresh
        } else if age < self.max_age.saturating_add(self.stale_if_error) {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }
}

/// How a cached entry may be used at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Younger than `max_age`: serve without asking OSS.
    Fresh,
    /// Past `max_age` but within `stale_if_error`: revalidate; serve (flagged stale) if OSS fails.
    Stale,
    /// Beyond `max_age + stale_if_error`: never served; refetch or fall through.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open_and_consecutive() {
        let c = CacheConfig::default()
            .max_age(Duration::from_secs(60))
            .stale_if_error(Duration::from_secs(100));
        assert_eq!(c.freshness(Duration::ZERO), Freshness::Fresh);
        assert_eq!(c.freshness(Duration::from_millis(59_999)), Freshness::Fresh);
        assert_eq!(c.freshness(Duration::from_secs(60)), Freshness::Stale);
        assert_eq!(
            c.freshness(Duration::from_millis(159_999)),
            Freshness::Stale
        );
        assert_eq!(c.freshness(Duration::from_secs(160)), Freshness::Expired);
        assert_eq!(c.freshness(Duration::MAX), Freshness::Expired);
    }

    #[test]
    fn entry_limit_never_exceeds_the_cache() {
        let c = CacheConfig::default().max_bytes(1000);
        assert_eq!(c.entry_limit(), 1000);
        assert_eq!(CacheConfig::default().entry_limit(), 64 << 20);
    }
}
