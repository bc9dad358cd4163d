//! Resident memory and open file descriptors of a process, from `/proc`, and the growth verdict.
//!
//! The verdict ignores the first fifth of the run (allocator arenas, connection pools and
//! caches fill up then) and compares the last quarter with the quarter after the warm-up:
//! - RSS grows too much when the median of the last quarter exceeds the median of the early
//!   quarter by more than 25 % **and** by more than 16 MiB (small processes jitter by a few MiB
//!   in relative terms, big ones by a few percent in absolute terms: both must be exceeded);
//! - FDs grow too much when the highest count of the last quarter exceeds the highest count of
//!   the early quarter by more than 16 (a connection pool may legitimately open a few more).
//!
//! A leak of one connection or one buffer per operation at the soak's rate (hundreds of
//! operations a second) crosses both within a minute.

use serde::Serialize;

/// One observation of one process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub at_s: f64,
    pub rss_bytes: u64,
    pub fds: u64,
}

/// Reads `VmRSS` and counts `/proc/PID/fd`; `None` when the process is gone.
pub fn sample(pid: u32, at_s: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        at_s,
        rss_bytes: kib * 1024,
        fds,
    })
}

pub const RSS_GROWTH_RATIO: f64 = 0.25;
pub const RSS_GROWTH_BYTES: u64 = 16 << 20;
pub const FD_GROWTH: u64 = 16;

/// What the samples of one process say.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    pub rss_start: u64,
    pub rss_end: u64,
    pub rss_max: u64,
    pub fds_start: u64,
    pub fds_end: u64,
    pub fds_max: u64,
    /// Median RSS of the early and the late quarter, and the highest FD counts there.
    pub rss_early_median: u64,
    pub rss_late_median: u64,
    pub fds_early_max: u64,
    pub fds_late_max: u64,
    /// Empty when within the thresholds.
    pub problems: Vec<String>,
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Judges a series (in time order). Fewer than 8 samples cannot tell growth from noise and
/// are reported as a problem of their own.
pub fn judge(samples: &[Sample]) -> Growth {
    let n = samples.len();
    let first = samples.first().copied();
    let last = samples.last().copied();
    let mut g = Growth {
        rss_start: first.map_or(0, |s| s.rss_bytes),
        rss_end: last.map_or(0, |s| s.rss_bytes),
        rss_max: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        fds_start: first.map_or(0, |s| s.fds),
        fds_end: last.map_or(0, |s| s.fds),
        fds_max: samples.iter().map(|s| s.fds).max().unwrap_or(0),
        rss_early_median: 0,
        rss_late_median: 0,
        fds_early_max: 0,
        fds_late_max: 0,
        problems: Vec::new(),
    };
    if n < 8 {
        g.problems
            .push(format!("only {n} samples: too few to judge growth"));
        return g;
    }
    let warm = n / 5;
    let quarter = ((n - warm) / 4).max(1);
    let early = &samples[warm..warm + quarter];
    let late = &samples[n - quarter..];
    g.rss_early_median = median(early.iter().map(|s| s.rss_bytes).collect());
    g.rss_late_median = median(late.iter().map(|s| s.rss_bytes).collect());
    g.fds_early_max = early.iter().map(|s| s.fds).max().unwrap_or(0);
    g.fds_late_max = late.iter().map(|s| s.fds).max().unwrap_or(0);
    let grew = g.rss_late_median.saturating_sub(g.rss_early_median);
    if grew > RSS_GROWTH_BYTES && grew as f64 > g.rss_early_median as f64 * RSS_GROWTH_RATIO {
        g.problems.push(format!(
            "RSS grew from {:.1} MiB to {:.1} MiB (median of the early vs the last quarter; \
             limit +25 % and +16 MiB)",
            mib(g.rss_early_median),
            mib(g.rss_late_median)
        ));
    }
    if g.fds_late_max > g.fds_early_max + FD_GROWTH {
        g.problems.push(format!(
            "open file descriptors grew from {} to {} (limit +{FD_GROWTH})",
            g.fds_early_max, g.fds_late_max
        ));
    }
    g
}

pub fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(f: impl Fn(usize) -> (u64, u64)) -> Vec<Sample> {
        (0..40)
            .map(|i| {
                let (rss, fds) = f(i);
                Sample {
                    at_s: i as f64 * 2.0,
                    rss_bytes: rss,
                    fds,
                }
            })
            .collect()
    }

    #[test]
    fn a_flat_noisy_series_passes() {
        let s = series(|i| ((40 << 20) + (i as u64 % 3) * (3 << 20), 20 + i as u64 % 4));
        assert!(judge(&s).problems.is_empty(), "{:?}", judge(&s));
    }

    #[test]
    fn warm_up_growth_is_ignored() {
        // Fills up in the first fifth, then flat.
        let s = series(|i| {
            (
                if i < 8 {
                    (10 + 10 * i as u64) << 20
                } else {
                    90 << 20
                },
                30,
            )
        });
        assert!(judge(&s).problems.is_empty(), "{:?}", judge(&s));
    }

    #[test]
    fn steady_memory_growth_fails() {
        let s = series(|i| ((50 + 2 * i as u64) << 20, 20));
        let g = judge(&s);
        assert_eq!(g.problems.len(), 1, "{g:?}");
        assert!(g.problems[0].contains("RSS grew"));
    }

    #[test]
    fn growth_below_either_threshold_passes() {
        // +40 % but only 8 MiB: small process noise.
        let s = series(|i| (if i < 24 { 20 << 20 } else { 28 << 20 }, 10));
        assert!(judge(&s).problems.is_empty());
        // +20 MiB but only 10 %: a big process.
        let s = series(|i| (if i < 24 { 200 << 20 } else { 220 << 20 }, 10));
        assert!(judge(&s).problems.is_empty());
    }

    #[test]
    fn a_descriptor_leak_fails() {
        let s = series(|i| (30 << 20, 10 + i as u64));
        let g = judge(&s);
        assert!(
            g.problems.iter().any(|p| p.contains("file descriptors")),
            "{g:?}"
        );
    }

    #[test]
    fn too_few_samples_is_a_problem() {
        let s = series(|_| (1, 1));
        assert!(!judge(&s[..5]).problems.is_empty());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id(), 0.0).expect("own /proc entry");
        assert!(s.rss_bytes > 0 && s.fds > 0);
    }
}
