//! Acceptance of issue #5 in virtual time: discrete simulations drive the sans-IO policies with
//! a seeded RNG and a simulated clock; nothing sleeps. Each test prints its figures.

use std::time::Duration;

use ossguard_resilience::breaker::{Admission, Breaker, BreakerConfig, BreakerState};
use ossguard_resilience::budget::{BudgetConfig, RetryBudget};
use ossguard_resilience::deadline::Deadline;
use ossguard_resilience::hedge::{HedgeConfig, HedgePolicy};
use ossguard_resilience::latency::{AdaptiveTimeout, LatencyTracker};
use ossguard_resilience::op::{Endpoint, EndpointConfig, Next, Op, OpClass, OpSpec, Step};
use ossguard_resilience::retry::{AttemptInfo, Decision, RetryConfig};
use ossguard_resilience::rng::{Rng, SplitMix64};
use ossguard_resilience::Outcome;

const MS: Duration = Duration::from_millis(1);
const TRANSIENT: Outcome = Outcome::Transient {
    timeout: false,
    never_sent: false,
};

#[test]
fn backoff_stays_in_its_jitter_window_and_deadlines_hold() {
    let cfg = RetryConfig {
        max_attempts: 10,
        ..RetryConfig::default()
    };
    let mut rng = SplitMix64::new(1);
    let mut worst_overrun = Duration::ZERO;
    let (mut ops, mut retries) = (0u32, 0u32);
    for op in 0..20_000u32 {
        ops += 1;
        let mut budget = RetryBudget::new(BudgetConfig::default());
        let start = Duration::from_secs(op as u64);
        let deadline = Deadline::after(start, Duration::from_millis(50 + (op % 5000) as u64));
        let mut now = start;
        let mut attempts = 0;
        loop {
            // Each attempt is bounded by what is left of the deadline (the client enforces this).
            let attempt_time = (MS * (rng.next_u64() % 300) as u32).min(deadline.remaining(now));
            now += attempt_time;
            attempts += 1;
            let outcome = if rng.unit() < 0.5 {
                TRANSIENT
            } else {
                Outcome::Throttled {
                    hint: Some(MS * 700),
                }
            };
            let info = AttemptInfo {
                attempts,
                idempotent: true,
                skew_retried: false,
            };
            match cfg.decide(info, outcome, now, deadline, &mut budget, &mut rng) {
                Decision::Retry { after, .. } => {
                    let backoff = if matches!(outcome, Outcome::Throttled { .. }) {
                        cfg.throttled
                    } else {
                        cfg.transient
                    };
                    let ceiling = backoff.ceiling(attempts - 1).max(
                        if matches!(outcome, Outcome::Throttled { .. }) {
                            MS * 700
                        } else {
                            Duration::ZERO
                        },
                    );
                    assert!(
                        after <= ceiling,
                        "delay {after:?} above its window {ceiling:?}"
                    );
                    now += after;
                    retries += 1;
                }
                Decision::Stop(_) => break,
            }
        }
        worst_overrun = worst_overrun.max(now.saturating_sub(deadline.at()));
    }
    println!("backoff/deadline: {ops} operations, {retries} retries, worst deadline overrun {worst_overrun:?}");
    assert_eq!(worst_overrun, Duration::ZERO);
}

#[test]
fn budget_drains_on_a_dead_endpoint_and_refills_after() {
    let cfg = RetryConfig::default();
    let mut budget = RetryBudget::new(BudgetConfig::default());
    let mut rng = SplitMix64::new(2);
    // 1,000 req/s against a dead endpoint for 10 s.
    let (mut offered_after_drain, mut sent_after_drain, mut drained_at) = (0u64, 0u64, None);
    for i in 0..10_000u64 {
        let now = MS * i as u32;
        let deadline = Deadline::after(now, Duration::from_secs(30));
        let mut attempts = 0;
        let drained = budget.tokens() < budget.config().retry_cost;
        if drained && drained_at.is_none() {
            drained_at = Some(i);
        }
        loop {
            attempts += 1;
            if drained {
                sent_after_drain += 1;
            }
            let info = AttemptInfo {
                attempts,
                idempotent: true,
                skew_retried: false,
            };
            match cfg.decide(info, TRANSIENT, now, deadline, &mut budget, &mut rng) {
                Decision::Retry { .. } => continue,
                Decision::Stop(_) => break,
            }
        }
        if drained {
            offered_after_drain += 1;
        }
    }
    let ratio = sent_after_drain as f64 / offered_after_drain as f64;
    println!(
        "budget: drained after {} requests ({} tokens left); afterwards {sent_after_drain} attempts for {offered_after_drain} requests = {ratio:.4}x offered",
        drained_at.unwrap(),
        budget.tokens()
    );
    assert!(
        drained_at.unwrap() <= 100,
        "500 tokens / 5 per retry = 100 retries"
    );
    assert!(ratio <= 1.01);
    // Refill: first-try successes earn 1 token each.
    for _ in 0..500 {
        budget.on_success(0);
    }
    assert_eq!(budget.tokens(), 500, "refills to capacity and no further");
    let spent = budget.try_acquire(true).unwrap();
    assert_eq!(spent, 10, "a retry after a timeout costs 10");
    budget.on_success(spent);
    assert_eq!(
        budget.tokens(),
        500,
        "a success after retries refunds their cost"
    );
}

/// The default policies at the drill's F1-10: a third each of 500s, throttling 503s and
/// resets, 10 % of attempts in all, 60 operations per second. An operation fails only when
/// every attempt does — with four attempts one in ~10⁴, so a run of a few thousand operations
/// showed a failure more often than not (a drill's 99.9 % bar over 720 operations allows none).
#[test]
fn ten_percent_random_failures_fail_about_one_operation_in_a_hundred_thousand() {
    const GET: OpSpec = OpSpec {
        idempotent: true,
        class: OpClass::ObjectRead,
        hedgeable: false,
    };
    let mut ep = Endpoint::new(
        EndpointConfig {
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            breaker: Some(BreakerConfig::default()),
            hedge: None,
            first_byte: AdaptiveTimeout {
                floor: Duration::from_secs(1),
                initial: Duration::from_secs(10),
                margin: 2.0,
                min_samples: 1000,
            },
        },
        11,
    );
    let mut faults = SplitMix64::new(12);
    let ops = 300_000u32;
    let (mut failed, mut attempts, mut refused) = (0u32, 0u64, 0u32);
    let mut clock = Duration::ZERO;
    for i in 0..ops {
        // One operation at a time: the next arrives on schedule or after this one's retries.
        let mut now = clock.max(MS * (i * 50 / 3));
        let mut op = Op::new(GET, Deadline::after(now, Duration::from_secs(30)));
        loop {
            if let Step::Refused(_) = op.start(&mut ep, now) {
                refused += 1;
                failed += 1;
                break;
            }
            attempts += 1;
            now += 5 * MS;
            let draw = faults.unit();
            // 500s and resets are both transient to the policies.
            let outcome = if draw < 0.1 / 3.0 {
                Outcome::Throttled { hint: None }
            } else if draw < 0.1 {
                TRANSIENT
            } else {
                Outcome::Success
            };
            match op.finish(&mut ep, now, outcome, Some(5 * MS), true) {
                Next::Done => break,
                Next::Retry { after } => now += after,
                Next::Stop(_) => {
                    failed += 1;
                    break;
                }
            }
        }
        clock = now;
    }
    let per_op = attempts as f64 / ops as f64;
    println!("F1-10: {failed} of {ops} operations failed ({refused} refused by the breaker), {per_op:.4} attempts/op");
    // Expected 0.1⁵ · 300,000 = 3 with five attempts (30 with four).
    assert!(failed <= 10, "{failed} failed");
    assert_eq!(refused, 0, "the breaker stays closed at 10 % failures");
    assert!(per_op <= 1.12, "{per_op}");
}

/// 1,000 req/s; the endpoint is healthy, dead (instant connection refusal) from `down` to `up`.
#[test]
fn breaker_sheds_a_dead_endpoint_and_recovers_fast() {
    let mut b = Breaker::new(BreakerConfig::default());
    let mut rng = SplitMix64::new(3);
    let (down, up, end) = (5_000u64, 15_000u64, 20_000u64);
    // per 100 ms slice: (offered, shed, succeeded)
    let mut slices = vec![(0u32, 0u32, 0u32); (end / 100) as usize];
    let (mut open_offered, mut open_sent) = (0u64, 0u64);
    for t in 0..end {
        let now = MS * t as u32;
        let alive = t < down || t >= up;
        let s = &mut slices[(t / 100) as usize];
        s.0 += 1;
        let was_open = b.state() == BreakerState::Open;
        let adm = b.admit(now, &mut rng);
        if was_open {
            open_offered += 1;
        }
        match adm {
            Admission::Rejected => s.1 += 1,
            a => {
                if was_open {
                    open_sent += 1;
                }
                let outcome = if alive {
                    Outcome::Success
                } else {
                    Outcome::Transient {
                        timeout: false,
                        never_sent: true,
                    }
                };
                if alive {
                    s.2 += 1;
                }
                b.record(now, outcome, a == Admission::Probe);
            }
        }
    }
    let slice_of = |ms: u64| (ms / 100) as usize;
    let detect = (slice_of(down)..slice_of(up))
        .find(|&i| slices[i].1 as f64 >= 0.9 * slices[i].0 as f64)
        .map(|i| (i - slice_of(down) + 1) * 100);
    let recover = (slice_of(up)..slices.len())
        .find(|&i| slices[i].2 as f64 >= 0.99 * slices[i].0 as f64)
        .map(|i| (i - slice_of(up) + 1) * 100);
    let shed_2s: u32 = (slice_of(down)..slice_of(down + 2000))
        .map(|i| slices[i].1)
        .sum();
    let offered_2s: u32 = (slice_of(down)..slice_of(down + 2000))
        .map(|i| slices[i].0)
        .sum();
    let through_open = open_sent as f64 / open_offered as f64;
    let ok_after: u32 = (slice_of(up + 2000)..slices.len())
        .map(|i| slices[i].2)
        .sum();
    let offered_after: u32 = (slice_of(up + 2000)..slices.len())
        .map(|i| slices[i].0)
        .sum();
    println!(
        "breaker: outage detected (≥90% shed per 100 ms) within {detect:?} ms; {:.1}% shed over the first 2 s; {:.3}% let through while open; \
         ≥99% success per 100 ms {recover:?} ms after recovery; {:.2}% success from 2 s after recovery; {} transitions",
        100.0 * shed_2s as f64 / offered_2s as f64,
        100.0 * through_open,
        100.0 * ok_after as f64 / offered_after as f64,
        b.transitions()
    );
    assert!(detect.unwrap() <= 2000);
    assert!(shed_2s as f64 >= 0.9 * offered_2s as f64);
    assert!(through_open <= 0.01);
    assert!(recover.unwrap() <= 2000);
    assert!(ok_after as f64 >= 0.99 * offered_after as f64);
}

/// Offered 1,000 req/s; the service serves 300/s and answers the excess with 503 (throttled).
/// Retries run under the default policy and budget; every attempt passes the breaker.
#[test]
fn breaker_under_overload_keeps_goodput_near_capacity() {
    let mut b = Breaker::new(BreakerConfig::default());
    let cfg = RetryConfig::default();
    let mut budget = RetryBudget::new(BudgetConfig::default());
    let mut rng = SplitMix64::new(4);
    let capacity_per_100ms = 30u32;
    let duration_ms = 60_000u64;
    let warmup_ms = 10_000u64;
    // Retries scheduled for later: (time ms, attempts so far, spent)
    let mut pending: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32, u32)>> =
        Default::default();
    let (mut sent, mut good, mut served_in_slice, mut slice) = (0u64, 0u64, 0u32, 0u64);
    let mut attempt =
        |now_ms: u64,
         attempts: u32,
         spent: u32,
         b: &mut Breaker,
         budget: &mut RetryBudget,
         rng: &mut SplitMix64,
         pending: &mut std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32, u32)>>,
         sent: &mut u64,
         good: &mut u64| {
            let now = MS * now_ms as u32;
            if now_ms / 100 != slice {
                slice = now_ms / 100;
                served_in_slice = 0;
            }
            let adm = b.admit(now, rng);
            let outcome = if adm == Admission::Rejected {
                Outcome::Throttled { hint: None }
            } else {
                if now_ms >= warmup_ms {
                    *sent += 1;
                }
                if served_in_slice < capacity_per_100ms {
                    served_in_slice += 1;
                    Outcome::Success
                } else {
                    Outcome::Throttled { hint: None }
                }
            };
            if adm != Admission::Rejected {
                b.record(now, outcome, adm == Admission::Probe);
            }
            if outcome == Outcome::Success {
                if now_ms >= warmup_ms {
                    *good += 1;
                }
                budget.on_success(spent);
                return;
            }
            let info = AttemptInfo {
                attempts,
                idempotent: true,
                skew_retried: false,
            };
            let deadline = Deadline::after(now, Duration::from_secs(30));
            if let Decision::Retry { after, cost } =
                cfg.decide(info, outcome, now, deadline, budget, rng)
            {
                pending.push(std::cmp::Reverse((
                    now_ms + after.as_millis() as u64,
                    attempts + 1,
                    spent + cost,
                )));
            }
        };
    for t in 0..duration_ms {
        while let Some(std::cmp::Reverse((due, _, _))) = pending.peek() {
            if *due > t {
                break;
            }
            let std::cmp::Reverse((_, attempts, spent)) = pending.pop().unwrap();
            attempt(
                t,
                attempts,
                spent,
                &mut b,
                &mut budget,
                &mut rng,
                &mut pending,
                &mut sent,
                &mut good,
            );
        }
        attempt(
            t,
            1,
            0,
            &mut b,
            &mut budget,
            &mut rng,
            &mut pending,
            &mut sent,
            &mut good,
        );
    }
    let secs = (duration_ms - warmup_ms) as f64 / 1000.0;
    let capacity = capacity_per_100ms as f64 * 10.0 * secs;
    println!(
        "overload: goodput {:.1}% of capacity, sent {:.2}x capacity (offered 3.33x)",
        100.0 * good as f64 / capacity,
        sent as f64 / capacity
    );
    assert!(good as f64 >= 0.95 * capacity);
    assert!((sent as f64) <= 1.5 * capacity);
}

fn lognormal(rng: &mut SplitMix64, median: Duration, sigma: f64) -> Duration {
    let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median.mul_f64((sigma * z).exp())
}

fn service_time(rng: &mut SplitMix64) -> Duration {
    if rng.unit() < 0.005 {
        Duration::from_secs(2) + Duration::from_millis(rng.next_u64() % 13_000)
    } else {
        lognormal(rng, MS * 30, 0.5)
    }
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((q * sorted.len() as f64).ceil() as usize).min(sorted.len()) - 1]
}

#[test]
fn hedging_cuts_the_tail_for_few_extra_requests() {
    let n = 200_000usize;
    let mut rng = SplitMix64::new(5);
    let mut plain: Vec<Duration> = (0..n).map(|_| service_time(&mut rng)).collect();

    let mut rng = SplitMix64::new(6);
    let mut hedge = HedgePolicy::new(HedgeConfig::default());
    let mut tracker = LatencyTracker::new(10_000, &hedge.quantiles());
    let mut budget = RetryBudget::new(BudgetConfig::default());
    let mut hedged = Vec::with_capacity(n);
    let mut extra = 0usize;
    for _ in 0..n {
        hedge.on_request();
        let first = service_time(&mut rng);
        let delay = hedge.delay(&tracker);
        let (latency, winner) =
            if first > delay && hedge.try_hedge(BreakerState::Closed, &mut budget) {
                extra += 1;
                let second = service_time(&mut rng);
                if delay + second < first {
                    (delay + second, second)
                } else {
                    (first, first)
                }
            } else {
                (first, first)
            };
        budget.on_success(0);
        tracker.record(winner);
        hedged.push(latency);
    }
    plain.sort();
    hedged.sort();
    let (a, b) = (p(&plain, 0.999), p(&hedged, 0.999));
    let share = extra as f64 / n as f64;
    println!(
        "hedging: p50 {:?} -> {:?}, p99 {:?} -> {:?}, p99.9 {a:?} -> {b:?} ({:.1}x better), extra requests {:.2}%",
        p(&plain, 0.5), p(&hedged, 0.5), p(&plain, 0.99), p(&hedged, 0.99),
        a.as_secs_f64() / b.as_secs_f64(),
        100.0 * share
    );
    assert!(a.as_secs_f64() >= 10.0 * b.as_secs_f64());
    assert!(share <= 0.05);
}

/// An endpoint with the client's default policies (`Policy::default()`'s first-byte timeout)
/// and the given hedge rules.
fn client_endpoint(hedge: HedgeConfig) -> Endpoint {
    Endpoint::new(
        EndpointConfig {
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            breaker: Some(BreakerConfig::default()),
            hedge: Some(hedge),
            first_byte: AdaptiveTimeout {
                floor: Duration::from_secs(1),
                initial: Duration::from_secs(10),
                margin: 2.0,
                min_samples: 1000,
            },
        },
        7,
    )
}

/// One GET through the whole sans-IO driver ([`Op`] on an [`Endpoint`]), as the client runs
/// it: a first-byte timeout, one hedge after the hedge delay when a token allows, retries after
/// timeouts. `draw` gives one attempt's time to first byte. Returns the operation's latency
/// and the hedges it sent.
fn get_through_driver(
    ep: &mut Endpoint,
    now: Duration,
    draw: &mut impl FnMut() -> Duration,
) -> (Duration, u32) {
    const GET: OpSpec = OpSpec {
        idempotent: true,
        class: OpClass::ObjectRead,
        hedgeable: true,
    };
    let mut op = Op::new(GET, Deadline::after(now, Duration::from_secs(30)));
    let (mut t, mut hedges) = (now, 0);
    loop {
        let Step::Send {
            first_byte,
            hedge_after,
        } = op.start(ep, t)
        else {
            return (t - now, hedges);
        };
        let bound = first_byte.unwrap_or(Duration::MAX);
        let primary = draw();
        // The winner: (end of the attempt relative to its start, its own time to first byte).
        let mut best = (primary <= bound).then_some((primary, primary));
        if let Some(h) = hedge_after.filter(|h| primary > *h) {
            if op.may_hedge(ep) {
                hedges += 1;
                let second = draw();
                let end = h + second;
                let won = end <= bound && best.is_none_or(|(e, _)| end < e);
                if won {
                    best = Some((end, second));
                }
                op.hedge_result(ep, won);
            }
        }
        match best {
            Some((end, own)) => {
                t += end;
                op.finish(ep, t, Outcome::Success, Some(own), true);
                return (t - now, hedges);
            }
            None => {
                t += bound;
                let timeout = Outcome::Transient {
                    timeout: true,
                    never_sent: false,
                };
                match op.finish(ep, t, timeout, None, true) {
                    Next::Retry { after } => t += after,
                    _ => return (t - now, hedges),
                }
            }
        }
    }
}

/// A cold endpoint through `phases` of (GETs, share of them that stall 3 s), sequentially;
/// returns the p99, the share of GETs that took ≥ 1 s and hedges per GET, of the last
/// `measured` GETs.
fn stalls_through_driver(
    hedge: HedgeConfig,
    phases: &[(usize, f64)],
    measured: usize,
) -> (Duration, f64, f64) {
    let mut ep = client_endpoint(hedge);
    let mut rng = SplitMix64::new(8);
    let mut now = Duration::ZERO;
    let (mut latencies, mut hedged) = (Vec::new(), Vec::new());
    for &(n, stall_share) in phases {
        let mut draw = || {
            if rng.unit() < stall_share {
                Duration::from_secs(3)
            } else {
                lognormal(&mut rng, MS * 2, 0.4)
            }
        };
        for _ in 0..n {
            let (l, h) = get_through_driver(&mut ep, now, &mut draw);
            latencies.push(l);
            hedged.push(h);
            now += l;
        }
    }
    let from = latencies.len() - measured;
    let mut tail = latencies.split_off(from);
    tail.sort();
    let slow = tail
        .iter()
        .filter(|l| **l >= Duration::from_secs(1))
        .count();
    let hedges: u32 = hedged[from..].iter().sum();
    (
        p(&tail, 0.99),
        slow as f64 / measured as f64,
        f64::from(hedges) / measured as f64,
    )
}

/// The peers benchmark's F4 (a fresh client, 2,000 GETs, 5 % of them stall 3 s before their
/// headers) left ossguard's p99 at 3 s. This test takes the hedge rules apart:
/// - A delay at the p99 alone is dragged up by the stalls themselves: after a burst of stalls
///   the share cap cannot cover, the stall time is the p99, the hedge fires too late to help,
///   and every stall then records 3 s again — a state that keeps itself going. Capping the
///   delay at 3 × the p90 keeps it where the healthy requests are.
/// - A 5 % share cap against 5 % stalls leaves some of them unhedged; 10 % covers them all, so
///   what stays slow is a hedge that stalls too (5 % of 5 %).
/// - 64 samples suffice to start (was 200 at a 2 s initial delay, ~0.5 % of a cold run).
#[test]
fn hedge_delay_is_not_dragged_up_by_the_stalls_it_hedges() {
    let p99_only = HedgeConfig {
        ceiling_multiple: f64::INFINITY,
        ..HedgeConfig::default()
    };
    let cap_5 = HedgeConfig {
        max_share: 0.05,
        ..HedgeConfig::default()
    };
    let defaults = HedgeConfig::default();
    // A burst of 30 % stalls, then the benchmark's 5 %: the last 10,000 GETs.
    let burst = [(1_000, 0.3), (20_000, 0.05)];
    let dragged = stalls_through_driver(p99_only, &burst, 10_000);
    let short = stalls_through_driver(cap_5, &burst, 10_000);
    let fixed = stalls_through_driver(defaults, &burst, 10_000);
    // The benchmark's run: a cold client, 2,000 GETs, all measured.
    let cold = stalls_through_driver(defaults, &[(2_000, 0.05)], 2_000);
    println!(
        "(p99, share of GETs >= 1 s, hedges per GET) after a burst: p99 delay {dragged:?}, \
         5 % cap {short:?}, defaults {fixed:?}; cold 2,000 GETs {cold:?}"
    );
    assert!(dragged.0 >= Duration::from_secs(1), "{dragged:?}");
    assert!(short.1 >= 1.5 * fixed.1, "{short:?} vs {fixed:?}");
    assert!(fixed.0 <= MS * 50 && fixed.1 <= 0.004, "{fixed:?}");
    assert!(cold.0 <= MS * 50 && cold.1 <= 0.01, "{cold:?}");
    for hedges in [fixed.2, cold.2] {
        assert!(hedges <= 0.07, "{hedges}");
    }
}

/// DESIGN F5: a brownout (+200 ms on every request) must not flood the service with hedges.
/// Every read is slow, so every read outlasts a delay learned before it, and the earlier-sent
/// primary answers first: each hedge is pure cost. Once most recent hedges lose, the share
/// drops from 10 % to 1 % until hedges win again — and stalls, where hedges win, keep theirs.
#[test]
fn losing_hedges_back_off_in_a_brownout() {
    let run = |hedge: HedgeConfig| {
        let mut ep = client_endpoint(hedge);
        let mut rng = SplitMix64::new(9);
        let mut now = Duration::ZERO;
        let mut brownout_hedges = 0;
        // A long-lived client (a full latency window) meets a brownout: until more than 10 %
        // of its window is slow (over 1,000 reads here), its p90 still says "fast".
        for i in 0..22_000 {
            let slow = if i >= 20_000 {
                MS * 200
            } else {
                Duration::ZERO
            };
            let mut draw = || slow + lognormal(&mut rng, MS * 2, 0.4);
            let (l, h) = get_through_driver(&mut ep, now, &mut draw);
            if i >= 20_000 {
                brownout_hedges += h;
            }
            now += l;
        }
        f64::from(brownout_hedges) / 2_000.0
    };
    let always = run(HedgeConfig {
        losing_share: 0.1,
        ..HedgeConfig::default()
    });
    let backs_off = run(HedgeConfig::default());
    println!(
        "hedges per GET in a brownout: {always:.3} without the back-off, {backs_off:.3} with it"
    );
    assert!(always >= 0.05, "{always}");
    assert!(backs_off <= 0.02, "{backs_off}");
}
