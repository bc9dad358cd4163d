//! The pure planner: no I/O, no clock. Two listings sorted by relative path (byte order, as OSS
//! lists keys) are merge-joined one entry at a time, so a million keys cost two entries of
//! memory; each pair is decided by [`compare`].
//!
//! Rules (each has a unit test below):
//! * only in the source → [`Action::Copy`] (`Missing`);
//! * only in the destination → [`Action::Delete`] when deleting, else nothing;
//! * sizes differ → `Copy` (`Size`);
//! * size + mtime (default), compared in milliseconds, an unknown time copies:
//!   - [`MtimeRule::SourceNewer`] (OSS destinations: `Last-Modified` is when the object was
//!     written, in whole seconds, so the write happened within `[d, d + 1 s)`): a source changed
//!     before `d` skips, one changed at `d + 1 s` or later copies, one changed within that
//!     second is ambiguous: when both sides have ETags (OSS → OSS) equal ones skip and
//!     different ones copy; else it asks for the `x-oss-meta-mtime` the upload recorded
//!     ([`Action::Check`] by [`CheckBy::MtimeMeta`], then [`after_mtime_check`]: equal skips);
//!   - [`MtimeRule::Differ`] (local destinations, whose time a sync set from the source's
//!     `Last-Modified`): copy when they differ;
//! * `--checksum`: equal CRC-64s skip, different ones copy, an unknown one asks the I/O layer
//!   for both ([`Action::Check`], then [`after_check`]);
//! * a listing out of order or with a duplicate stops the plan with [`PlanError`] (a merge over
//!   unsorted input would delete what exists);
//! * deletions wait for every copy: [`DeleteGate`].

use std::cmp::Ordering;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{Stream, StreamExt};

use crate::model::Entry;

/// How the destination's modification time relates to the source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtimeRule {
    /// The destination's time is when it was written (OSS `Last-Modified`, at or after the
    /// source's time when it was copied): copy when the source is newer.
    SourceNewer,
    /// The destination's time was set from the source's: copy when they differ.
    Differ,
}

/// How a pair present on both sides is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Size, then modification time (the default).
    SizeMtime(MtimeRule),
    /// Size, then CRC-64 (`--checksum`).
    Checksum,
}

/// Why a file is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The destination does not have it.
    Missing,
    Size,
    Mtime,
    Checksum,
}

impl Reason {
    /// Short words for output (`new`, `size differs`, `newer`, `checksum differs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "new",
            Reason::Size => "size differs",
            Reason::Mtime => "newer",
            Reason::Checksum => "checksum differs",
        }
    }
}

/// What the I/O layer must fetch to decide a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckBy {
    /// Both CRC-64s (`--checksum`), then [`after_check`].
    Checksum,
    /// The destination's `x-oss-meta-mtime` (HEAD), then [`after_mtime_check`].
    MtimeMeta,
}

/// What to do with one relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Copy {
        src: Entry,
        reason: Reason,
    },
    /// Already in line.
    Skip(Entry),
    /// Same size, undecided from the listings: fetch what `by` names.
    Check {
        src: Entry,
        dst: Entry,
        by: CheckBy,
    },
    /// Only in the destination (emitted only when deleting).
    Delete(Entry),
}

impl Action {
    /// The relative path the action is about.
    pub fn rel(&self) -> &str {
        match self {
            Action::Copy { src: e, .. }
            | Action::Skip(e)
            | Action::Check { src: e, .. }
            | Action::Delete(e) => &e.rel,
        }
    }
}

/// The decision for a pair present on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Copy(Reason),
    Skip,
    Check(CheckBy),
}

fn millis(t: Option<SystemTime>) -> Option<i128> {
    t.map(|t| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    })
}

/// ETags compare without quotes and case.
fn same_etag(a: &str, b: &str) -> bool {
    let n = |s: &str| s.trim().trim_matches('"').to_ascii_uppercase();
    n(a) == n(b)
}

/// Decides a pair present on both sides.
pub fn compare(src: &Entry, dst: &Entry, how: Compare) -> Verdict {
    if src.size != dst.size {
        return Verdict::Copy(Reason::Size);
    }
    match how {
        Compare::Checksum => match (src.crc64, dst.crc64) {
            (Some(_), Some(_)) => after_check(src.crc64, dst.crc64),
            _ => Verdict::Check(CheckBy::Checksum),
        },
        Compare::SizeMtime(rule) => {
            let (Some(s), Some(d)) = (millis(src.mtime), millis(dst.mtime)) else {
                return Verdict::Copy(Reason::Mtime);
            };
            match rule {
                MtimeRule::SourceNewer if s < d => Verdict::Skip,
                MtimeRule::SourceNewer if s >= d + 1000 => Verdict::Copy(Reason::Mtime),
                MtimeRule::SourceNewer => match (&src.etag, &dst.etag) {
                    (Some(a), Some(b)) if same_etag(a, b) => Verdict::Skip,
                    (Some(_), Some(_)) => Verdict::Copy(Reason::Mtime),
                    _ => Verdict::Check(CheckBy::MtimeMeta),
                },
                MtimeRule::Differ if s == d => Verdict::Skip,
                MtimeRule::Differ => Verdict::Copy(Reason::Mtime),
            }
        }
    }
}

/// The decision once both CRC-64s were fetched: equal skip; different or unknown copy.
pub fn after_check(src_crc: Option<u64>, dst_crc: Option<u64>) -> Verdict {
    match (src_crc, dst_crc) {
        (Some(a), Some(b)) if a == b => Verdict::Skip,
        _ => Verdict::Copy(Reason::Checksum),
    }
}

/// The decision once the destination's recorded source time (`x-oss-meta-mtime`) was
/// fetched: the same millisecond skips; different or missing (written by another tool) copies.
pub fn after_mtime_check(src: Option<SystemTime>, recorded: Option<SystemTime>) -> Verdict {
    match (millis(src), millis(recorded)) {
        (Some(a), Some(b)) if a == b => Verdict::Skip,
        _ => Verdict::Copy(Reason::Mtime),
    }
}

/// `x-oss-meta-mtime` as rclone and this crate write it: seconds since the epoch with an
/// optional fraction (`1700000000.123456789`).
pub fn parse_mtime_meta(v: &str) -> Option<SystemTime> {
    let (secs, frac) = v.trim().split_once('.').unwrap_or((v.trim(), ""));
    let secs: u64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
}

/// Which listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// A listing that is not strictly sorted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {side} listing is out of order ({next:?} came after {prev:?}); stopped before \
     deleting anything — this is a bug or a server that does not sort keys: please report it"
)]
pub struct PlanError {
    pub side: Side,
    pub prev: String,
    pub next: String,
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    pub compare: Compare,
    /// Emit [`Action::Delete`] for destination-only entries.
    pub delete: bool,
}

struct Cursor<S> {
    stream: S,
    side: Side,
    head: Option<Entry>,
    last: Option<String>,
    done: bool,
}

impl<S> Cursor<S> {
    fn new(stream: S, side: Side) -> Self {
        Self {
            stream,
            side,
            head: None,
            last: None,
            done: false,
        }
    }
}

impl<S, E> Cursor<S>
where
    S: Stream<Item = Result<Entry, E>> + Unpin,
    E: From<PlanError>,
{
    /// Fills `head` unless the stream is finished; checks the order.
    async fn fill(&mut self) -> Result<(), E> {
        if self.head.is_some() || self.done {
            return Ok(());
        }
        match self.stream.next().await {
            None => self.done = true,
            Some(Err(e)) => return Err(e),
            Some(Ok(e)) => {
                if let Some(prev) = &self.last {
                    if e.rel.as_str() <= prev.as_str() {
                        return Err(PlanError {
                            side: self.side,
                            prev: prev.clone(),
                            next: e.rel,
                        }
                        .into());
                    }
                }
                // Keeps one extra string per side: the order check needs the previous key.
                self.last = Some(e.rel.clone());
                self.head = Some(e);
            }
        }
        Ok(())
    }
}

struct Merge<S, D> {
    src: Cursor<S>,
    dst: Cursor<D>,
    opts: PlanOptions,
    failed: bool,
}

impl<S, D, E> Merge<S, D>
where
    S: Stream<Item = Result<Entry, E>> + Unpin,
    D: Stream<Item = Result<Entry, E>> + Unpin,
    E: From<PlanError>,
{
    async fn step(&mut self) -> Option<Result<Action, E>> {
        if self.failed {
            return None;
        }
        let r = self.step_inner().await;
        if matches!(r, Some(Err(_))) {
            self.failed = true;
        }
        r
    }

    async fn step_inner(&mut self) -> Option<Result<Action, E>> {
        loop {
            if let Err(e) = self.src.fill().await {
                return Some(Err(e));
            }
            if let Err(e) = self.dst.fill().await {
                return Some(Err(e));
            }
            let order = match (&self.src.head, &self.dst.head) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(s), Some(d)) => s.rel.cmp(&d.rel),
            };
            match order {
                Ordering::Less => {
                    let src = self.src.head.take()?;
                    return Some(Ok(Action::Copy {
                        src,
                        reason: Reason::Missing,
                    }));
                }
                Ordering::Greater => {
                    let dst = self.dst.head.take()?;
                    if self.opts.delete {
                        return Some(Ok(Action::Delete(dst)));
                    }
                }
                Ordering::Equal => {
                    let src = self.src.head.take()?;
                    let dst = self.dst.head.take()?;
                    return Some(Ok(match compare(&src, &dst, self.opts.compare) {
                        Verdict::Copy(reason) => Action::Copy { src, reason },
                        Verdict::Skip => Action::Skip(src),
                        Verdict::Check(by) => Action::Check { src, dst, by },
                    }));
                }
            }
        }
    }
}

/// The actions that bring `dst` in line with `src`, in path order, decided as the listings are
/// read. Both listings must be strictly sorted by `rel` (byte order); the first error of either
/// (or a [`PlanError`]) ends the stream.
pub fn plan<S, D, E>(src: S, dst: D, opts: PlanOptions) -> impl Stream<Item = Result<Action, E>>
where
    S: Stream<Item = Result<Entry, E>> + Unpin,
    D: Stream<Item = Result<Entry, E>> + Unpin,
    E: From<PlanError>,
{
    let merge = Merge {
        src: Cursor::new(src, Side::Source),
        dst: Cursor::new(dst, Side::Destination),
        opts,
        failed: false,
    };
    futures_util::stream::unfold(merge, |mut m| async move {
        let item = m.step().await?;
        Some((item, m))
    })
}

/// Whether deletions may run: only once the plan is complete, every copy finished and none
/// failed (a failed copy, or a source entry that could not be read, withholds them all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteGate {
    started: u64,
    finished: u64,
    failed: u64,
    plan_complete: bool,
}

/// What the [`DeleteGate`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Delete now.
    Open,
    /// Copies are running or the plan is not complete.
    Wait,
    /// Never in this run: this many items failed.
    Withheld { failed: u64 },
}

impl DeleteGate {
    /// A copy (or a check that may copy) began.
    pub fn copy_started(&mut self) {
        self.started += 1;
    }

    /// A copy (or check) ended, well or not.
    pub fn copy_finished(&mut self, ok: bool) {
        self.finished += 1;
        if !ok {
            self.failed += 1;
        }
    }

    /// Something on the source side failed outside a copy (an unreadable entry).
    pub fn source_failed(&mut self) {
        self.failed += 1;
    }

    /// Every action of the plan was seen.
    pub fn plan_complete(&mut self) {
        self.plan_complete = true;
    }

    /// What may happen to the deletions now.
    pub fn state(&self) -> Gate {
        if self.failed > 0 {
            Gate::Withheld {
                failed: self.failed,
            }
        } else if !self.plan_complete || self.finished < self.started {
            Gate::Wait
        } else {
            Gate::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn at(ms: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_millis(ms))
    }

    fn e(rel: &str, size: u64, mtime_ms: u64) -> Entry {
        Entry {
            rel: rel.into(),
            size,
            mtime: at(mtime_ms),
            crc64: None,
            etag: None,
        }
    }

    fn crc(mut x: Entry, c: u64) -> Entry {
        x.crc64 = Some(c);
        x
    }

    const NEWER: Compare = Compare::SizeMtime(MtimeRule::SourceNewer);
    const DIFFER: Compare = Compare::SizeMtime(MtimeRule::Differ);

    fn run(src: Vec<Entry>, dst: Vec<Entry>, compare: Compare, delete: bool) -> Vec<Action> {
        let s = futures_util::stream::iter(src.into_iter().map(Ok::<_, PlanError>));
        let d = futures_util::stream::iter(dst.into_iter().map(Ok::<_, PlanError>));
        plan(s, d, PlanOptions { compare, delete })
            .map(|a| a.unwrap())
            .collect::<Vec<_>>()
            .now_or_never()
            .expect("iterators are always ready")
    }

    fn short(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Copy { src, reason } => format!("copy {} {}", src.rel, reason.as_str()),
                Action::Skip(x) => format!("skip {}", x.rel),
                Action::Check { src, .. } => format!("check {}", src.rel),
                Action::Delete(x) => format!("delete {}", x.rel),
            })
            .collect()
    }

    #[test]
    fn source_only_copies_destination_only_deletes_when_asked() {
        let src = vec![e("a", 1, 0), e("c", 1, 0)];
        let dst = vec![e("b", 1, 0), e("c", 1, 0), e("d", 1, 0)];
        assert_eq!(
            short(&run(src.clone(), dst.clone(), DIFFER, true)),
            ["copy a new", "delete b", "skip c", "delete d"]
        );
        assert_eq!(
            short(&run(src, dst, DIFFER, false)),
            ["copy a new", "skip c"],
            "without --delete, destination-only entries are left alone"
        );
    }

    #[test]
    fn empty_sides() {
        assert!(run(vec![], vec![], NEWER, true).is_empty());
        assert_eq!(
            short(&run(vec![], vec![e("x", 0, 0)], NEWER, true)),
            ["delete x"]
        );
        assert_eq!(
            short(&run(vec![e("x", 0, 0)], vec![], NEWER, true)),
            ["copy x new"]
        );
    }

    #[test]
    fn size_differs_copies_whatever_the_times() {
        for how in [NEWER, DIFFER, Compare::Checksum] {
            let v = compare(&e("a", 2, 0), &crc(e("a", 3, 9000), 1), how);
            assert_eq!(v, Verdict::Copy(Reason::Size), "{how:?}");
        }
    }

    #[test]
    fn source_newer_rule_for_oss_destinations() {
        // Last-Modified 10 s: the object was written within [10 s, 11 s).
        // Changed before that second: in line, whatever the fraction.
        assert_eq!(
            compare(&e("a", 1, 9999), &e("a", 1, 10_000), NEWER),
            Verdict::Skip
        );
        assert_eq!(
            compare(&e("a", 1, 0), &e("a", 1, 10_000), NEWER),
            Verdict::Skip
        );
        // Changed a whole second after: copy without asking.
        assert_eq!(
            compare(&e("a", 1, 11_000), &e("a", 1, 10_000), NEWER),
            Verdict::Copy(Reason::Mtime)
        );
        // Changed within the second it was written: only the recorded mtime can tell.
        for s in [10_000, 10_500, 10_999] {
            assert_eq!(
                compare(&e("a", 1, s), &e("a", 1, 10_000), NEWER),
                Verdict::Check(CheckBy::MtimeMeta),
                "{s}"
            );
        }
        let acts = run(
            vec![e("a", 1, 10_500)],
            vec![e("a", 1, 10_000)],
            NEWER,
            false,
        );
        assert!(matches!(
            &acts[..],
            [Action::Check {
                by: CheckBy::MtimeMeta,
                ..
            }]
        ));
    }

    #[test]
    fn etags_settle_the_ambiguous_second_between_buckets() {
        let tag = |mut x: Entry, t: &str| {
            x.etag = Some(t.into());
            x
        };
        let src = tag(e("a", 1, 10_500), "\"ABC\"");
        assert_eq!(
            compare(&src, &tag(e("a", 1, 10_000), "abc"), NEWER),
            Verdict::Skip
        );
        assert_eq!(
            compare(&src, &tag(e("a", 1, 10_000), "abd"), NEWER),
            Verdict::Copy(Reason::Mtime)
        );
        // Outside the ambiguous second the times decide, as for uploads.
        assert_eq!(
            compare(
                &tag(e("a", 1, 11_000), "abc"),
                &tag(e("a", 1, 10_000), "abc"),
                NEWER
            ),
            Verdict::Copy(Reason::Mtime)
        );
    }

    #[test]
    fn the_recorded_mtime_settles_the_ambiguous_second() {
        let t = at(10_500);
        assert_eq!(after_mtime_check(t, t), Verdict::Skip);
        assert_eq!(
            after_mtime_check(t, at(10_400)),
            Verdict::Copy(Reason::Mtime)
        );
        assert_eq!(
            after_mtime_check(t, None),
            Verdict::Copy(Reason::Mtime),
            "another tool wrote it"
        );
        // Sub-millisecond differences do not count (the metadata round-trips through text).
        let fine = t.map(|t| t + Duration::from_micros(400));
        assert_eq!(after_mtime_check(fine, t), Verdict::Skip);
    }

    #[test]
    fn mtime_metadata_parses_as_written() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(parse_mtime_meta("1700000000.000000005"), Some(t));
        assert_eq!(
            parse_mtime_meta("1700000000.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(
            parse_mtime_meta("1700000000"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        for bad in ["", "x", "1.2.3", "1.-5", "1.0000000001", "-1"] {
            assert_eq!(parse_mtime_meta(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn differ_rule_for_local_destinations() {
        assert_eq!(
            compare(&e("a", 1, 1000), &e("a", 1, 1000), DIFFER),
            Verdict::Skip
        );
        // Edited at the destination (newer) or an older object restored: both copy.
        for d in [500, 1500] {
            assert_eq!(
                compare(&e("a", 1, 1000), &e("a", 1, d), DIFFER),
                Verdict::Copy(Reason::Mtime)
            );
        }
    }

    #[test]
    fn unknown_times_copy() {
        let mut d = e("a", 1, 0);
        d.mtime = None;
        assert_eq!(
            compare(&e("a", 1, 0), &d, NEWER),
            Verdict::Copy(Reason::Mtime)
        );
        assert_eq!(
            compare(&d, &e("a", 1, 0), DIFFER),
            Verdict::Copy(Reason::Mtime)
        );
    }

    #[test]
    fn times_before_the_epoch_compare() {
        let before = Entry {
            mtime: Some(UNIX_EPOCH - Duration::from_secs(10)),
            ..e("a", 1, 0)
        };
        assert_eq!(compare(&before, &e("a", 1, 0), NEWER), Verdict::Skip);
        assert_eq!(
            compare(&e("a", 1, 0), &before, NEWER),
            Verdict::Copy(Reason::Mtime)
        );
        assert_eq!(compare(&before, &before, DIFFER), Verdict::Skip);
    }

    #[test]
    fn checksum_mode_ignores_times_and_asks_when_unknown() {
        // Times differ wildly; equal CRCs skip.
        assert_eq!(
            compare(
                &crc(e("a", 1, 9999), 7),
                &crc(e("a", 1, 0), 7),
                Compare::Checksum
            ),
            Verdict::Skip
        );
        assert_eq!(
            compare(
                &crc(e("a", 1, 0), 7),
                &crc(e("a", 1, 0), 8),
                Compare::Checksum
            ),
            Verdict::Copy(Reason::Checksum)
        );
        assert_eq!(
            compare(&crc(e("a", 1, 0), 7), &e("a", 1, 0), Compare::Checksum),
            Verdict::Check(CheckBy::Checksum)
        );
        let acts = run(
            vec![e("a", 1, 0)],
            vec![e("a", 1, 0)],
            Compare::Checksum,
            false,
        );
        assert!(
            matches!(&acts[..], [Action::Check { src, dst, by: CheckBy::Checksum }] if src.rel == "a" && dst.rel == "a")
        );
    }

    #[test]
    fn after_check_copies_unless_both_known_and_equal() {
        assert_eq!(after_check(Some(1), Some(1)), Verdict::Skip);
        assert_eq!(
            after_check(Some(1), Some(2)),
            Verdict::Copy(Reason::Checksum)
        );
        assert_eq!(after_check(None, Some(2)), Verdict::Copy(Reason::Checksum));
        assert_eq!(after_check(Some(1), None), Verdict::Copy(Reason::Checksum));
    }

    #[test]
    fn byte_order_as_oss_lists() {
        // '-' (0x2d) < '/' (0x2f) < '0' (0x30) < 'a' < 'é' (0xc3 0xa9): OSS's order.
        let keys = ["a-b", "a/b", "a0", "z", "é", "日本/x"];
        let src: Vec<_> = keys.iter().map(|k| e(k, 1, 0)).collect();
        let acts = run(src.clone(), src, DIFFER, true);
        assert_eq!(acts.len(), keys.len());
        assert!(acts.iter().all(|a| matches!(a, Action::Skip(_))));
    }

    #[test]
    fn unsorted_or_duplicate_input_stops_the_plan() {
        for bad in [vec!["b", "a"], vec!["a", "a"]] {
            let src: Vec<_> = bad.iter().map(|k| e(k, 1, 0)).collect();
            let s = futures_util::stream::iter(src.into_iter().map(Ok::<_, PlanError>));
            let d = futures_util::stream::iter(Vec::<Result<Entry, PlanError>>::new());
            let out: Vec<_> = plan(
                s,
                d,
                PlanOptions {
                    compare: NEWER,
                    delete: true,
                },
            )
            .collect::<Vec<_>>()
            .now_or_never()
            .unwrap();
            assert_eq!(
                out.len(),
                2,
                "one action, then the error, then nothing: {out:?}"
            );
            let err = out[1].clone().unwrap_err();
            assert_eq!(err.side, Side::Source);
            assert!(err.to_string().contains("out of order"));
        }
        // On the destination side too: no deletes decided past the disorder.
        let d = futures_util::stream::iter(
            [e("b", 1, 0), e("a", 1, 0), e("c", 1, 0)].map(Ok::<_, PlanError>),
        );
        let s = futures_util::stream::iter(Vec::<Result<Entry, PlanError>>::new());
        let out: Vec<_> = plan(
            s,
            d,
            PlanOptions {
                compare: NEWER,
                delete: true,
            },
        )
        .collect::<Vec<_>>()
        .now_or_never()
        .unwrap();
        assert!(
            matches!(&out[..], [Ok(Action::Delete(x)), Err(PlanError { side: Side::Destination, .. })] if x.rel == "b")
        );
    }

    #[test]
    fn a_listing_error_ends_the_plan() {
        #[derive(Debug, PartialEq)]
        enum E {
            Listing,
            Plan,
        }
        impl From<PlanError> for E {
            fn from(_: PlanError) -> Self {
                E::Plan
            }
        }
        let s =
            futures_util::stream::iter(vec![Ok(e("a", 1, 0)), Err(E::Listing), Ok(e("b", 1, 0))]);
        let d = futures_util::stream::iter(Vec::<Result<Entry, E>>::new());
        let out: Vec<_> = plan(
            s,
            d,
            PlanOptions {
                compare: NEWER,
                delete: true,
            },
        )
        .collect::<Vec<_>>()
        .now_or_never()
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ref().unwrap_err(), &E::Listing);
    }

    #[test]
    fn a_million_keys_stream_through() {
        // Generated lazily on both sides: the merge holds one entry per side, whatever N.
        const N: u64 = 1_000_000;
        let gen = |skip_mod: u64| {
            futures_util::stream::iter(
                (0..N)
                    .filter(move |i| i % skip_mod != 0)
                    .map(|i| Ok::<_, PlanError>(e(&format!("{i:08}"), i % 7, 0))),
            )
        };
        let mut counts = [0u64; 3];
        let s = plan(
            gen(1000),
            gen(999),
            PlanOptions {
                compare: DIFFER,
                delete: true,
            },
        );
        futures_util::pin_mut!(s);
        while let Some(a) = s.next().now_or_never().unwrap() {
            match a.unwrap() {
                Action::Copy { .. } => counts[0] += 1,
                Action::Skip(_) => counts[1] += 1,
                Action::Delete(_) => counts[2] += 1,
                Action::Check { .. } => unreachable!(),
            }
        }
        // Copy: in src (not %1000) but not in dst (%999 and not %1000); delete the reverse.
        let copies = (0..N).filter(|i| i % 999 == 0 && i % 1000 != 0).count() as u64;
        let deletes = (0..N).filter(|i| i % 1000 == 0 && i % 999 != 0).count() as u64;
        assert_eq!(counts[0], copies);
        assert_eq!(counts[2], deletes);
        let union = (0..N).filter(|i| !(i % 1000 == 0 && i % 999 == 0)).count() as u64;
        assert_eq!(counts.iter().sum::<u64>(), union, "every key once");
    }

    #[test]
    fn delete_gate_opens_only_after_all_copies_succeeded() {
        let mut g = DeleteGate::default();
        assert_eq!(g.state(), Gate::Wait, "the plan is not complete yet");
        g.copy_started();
        g.copy_started();
        g.plan_complete();
        assert_eq!(g.state(), Gate::Wait, "copies still running");
        g.copy_finished(true);
        assert_eq!(g.state(), Gate::Wait);
        g.copy_finished(true);
        assert_eq!(g.state(), Gate::Open);

        let mut g = DeleteGate::default();
        g.copy_started();
        g.copy_finished(false);
        g.plan_complete();
        assert_eq!(
            g.state(),
            Gate::Withheld { failed: 1 },
            "one failure: none at all"
        );

        let mut g = DeleteGate::default();
        g.source_failed();
        g.plan_complete();
        assert_eq!(
            g.state(),
            Gate::Withheld { failed: 1 },
            "an unreadable source entry looks missing: deleting its copy would lose data"
        );
        let mut g = DeleteGate::default();
        g.plan_complete();
        assert_eq!(g.state(), Gate::Open, "nothing to copy");
    }
}
