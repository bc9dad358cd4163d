//! `RefreshingCredentials` with a scripted provider, in virtual time (tokio's paused clock
//! drives both the provider's latency and the wall clock expiry is judged by).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use ossguard::credentials::{Clock, RefreshingCredentials};
use ossguard::{Credentials, CredentialsProvider, Error};

type Fetched = Result<(Credentials, SystemTime), Error>;

/// A wall clock that advances with tokio's (paused) clock.
fn virtual_clock() -> (Clock, SystemTime) {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let start = tokio::time::Instant::now();
    (Arc::new(move || base + start.elapsed()), base)
}

/// Answers from `script` in order, each after `latency`; counts the calls.
struct Script {
    answers: Mutex<VecDeque<Fetched>>,
    calls: AtomicU32,
    latency: Duration,
}

fn provider(
    script: Arc<Script>,
    clock: Clock,
) -> RefreshingCredentials<impl Fn() -> BoxFuture<'static, Fetched> + Send + Sync> {
    let fetch = move || {
        let s = script.clone();
        Box::pin(async move {
            s.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(s.latency).await;
            s.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(Error::invalid_input("script exhausted")))
        }) as BoxFuture<'static, Fetched>
    };
    RefreshingCredentials::new(fetch, Duration::from_secs(300)).clock(clock)
}

fn script(answers: Vec<Fetched>, latency: Duration) -> Arc<Script> {
    Arc::new(Script {
        answers: Mutex::new(answers.into()),
        calls: AtomicU32::new(0),
        latency,
    })
}

fn creds(n: u32) -> Credentials {
    Credentials::new(format!("AK{n}"), format!("SK{n}"))
}

fn id(c: &Credentials) -> String {
    c.access_key_id.clone()
}

fn failure() -> Fetched {
    Err(Error::invalid_input("STS is down"))
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_refresh() {
    let (clock, t0) = virtual_clock();
    let hour = Duration::from_secs(3600);
    let s = script(
        vec![Ok((creds(1), t0 + hour)), Ok((creds(2), t0 + 2 * hour))],
        Duration::from_secs(2),
    );
    let p = Arc::new(provider(s.clone(), clock));
    // Nothing cached: 50 callers at once, one fetch, all get its answer.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.credentials().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(id(&t.await.unwrap().unwrap()), "AK1");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    // Inside the refresh window (4 min before expiry): 50 callers, one refresh; the callers
    // that arrive during it get the still-valid cached ones without waiting.
    tokio::time::advance(hour - Duration::from_secs(240)).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.credentials().await })
        })
        .collect();
    for t in tasks {
        let got = id(&t.await.unwrap().unwrap());
        assert!(got == "AK1" || got == "AK2", "{got}");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    assert_eq!(id(&p.credentials().await.unwrap()), "AK2");
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_valid_cached_credentials() {
    let (clock, t0) = virtual_clock();
    let exp = t0 + Duration::from_secs(3600);
    let s = script(
        vec![Ok((creds(1), exp)), failure(), failure(), failure()],
        Duration::from_millis(100),
    );
    let p = provider(s.clone(), clock);
    assert_eq!(id(&p.credentials().await.unwrap()), "AK1");
    // 2 min before expiry: refresh due, it fails, the cached ones are still handed out.
    tokio::time::advance(Duration::from_secs(3600 - 120)).await;
    assert_eq!(id(&p.credentials().await.unwrap()), "AK1");
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    // Not retried on every request: quiet for 5 s after a failure.
    for _ in 0..10 {
        assert_eq!(id(&p.credentials().await.unwrap()), "AK1");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(id(&p.credentials().await.unwrap()), "AK1");
    assert_eq!(s.calls.load(Ordering::SeqCst), 3);
    // Within 30 s of expiry they are no longer handed out: the refresh error is.
    tokio::time::advance(Duration::from_secs(120 - 6 - 20)).await;
    let e = p.credentials().await.unwrap_err();
    assert!(e.to_string().contains("STS is down"), "{e}");
    assert_eq!(s.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn expired_and_refresh_failing_is_an_error() {
    let (clock, t0) = virtual_clock();
    let s = script(
        vec![
            Ok((creds(1), t0 + Duration::from_secs(600))),
            failure(),
            failure(),
        ],
        Duration::from_millis(10),
    );
    let p = provider(s.clone(), clock);
    p.credentials().await.unwrap();
    tokio::time::advance(Duration::from_secs(700)).await;
    assert!(p.credentials().await.is_err());
    // No quiet period without usable credentials: the next caller tries again.
    assert!(p.credentials().await.is_err());
    assert_eq!(s.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn nothing_cached_and_refresh_failing_is_an_error() {
    let (clock, _) = virtual_clock();
    let s = script(vec![failure()], Duration::from_millis(10));
    let p = provider(s.clone(), clock);
    assert!(p.credentials().await.is_err());
}
