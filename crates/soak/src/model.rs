//! What each soak key must hold: a pure model the load checks every read against.
//!
//! Each worker owns its keys, so the model is exact except after a write whose result is
//! unknown (a failed PUT or DELETE may or may not have reached the store): then either the old
//! or the new state is acceptable until a read tells them apart.

/// One state of a key: absent, or holding the content of a version.
pub type State = Option<u32>;

/// What the model allows a key to hold: the states the store may be in (a small set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect(Vec<State>);

impl Expect {
    pub fn exactly(s: State) -> Expect {
        Expect(vec![s])
    }

    pub fn allows(&self, s: State) -> bool {
        self.0.contains(&s)
    }

    pub fn is_certain(&self) -> bool {
        self.0.len() == 1
    }

    /// After a write of `to`: known when it succeeded; when it failed, `to` joins what was
    /// possible before (it may or may not have landed).
    pub fn after_write(&self, to: State, succeeded: bool) -> Expect {
        if succeeded {
            return Expect::exactly(to);
        }
        let mut v = self.0.clone();
        if !v.contains(&to) {
            v.push(to);
        }
        Expect(v)
    }

    /// A read observed `s` (one the model allowed): the ambiguity is resolved.
    pub fn observed(&self, s: State) -> Expect {
        debug_assert!(self.allows(s));
        Expect::exactly(s)
    }
}

/// Deterministic content of `version` of key number `key` of `worker`: size and bytes.
pub fn content(worker: u32, key: u32, version: u32) -> Vec<u8> {
    let mut x = (u64::from(worker) << 40) ^ (u64::from(key) << 20) ^ u64::from(version);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // 1 KiB to 192 KiB: several TCP windows, so body faults bite mid-transfer.
    let len = 1024 + (next() % (191 * 1024)) as usize;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&next().to_le_bytes());
    }
    v.truncate(len);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_writes_make_either_state_acceptable_until_read() {
        let e = Expect::exactly(Some(1)).after_write(Some(2), false);
        assert!(e.allows(Some(1)) && e.allows(Some(2)) && !e.allows(None));
        assert!(!e.is_certain());
        let e = e.observed(Some(2));
        assert_eq!(e, Expect::exactly(Some(2)));
        assert!(!e.allows(Some(1)));
    }

    #[test]
    fn a_failed_delete_allows_absent_or_present() {
        let e = Expect::exactly(Some(3)).after_write(None, false);
        assert!(e.allows(None) && e.allows(Some(3)) && !e.allows(Some(4)));
        assert_eq!(
            Expect::exactly(None).after_write(None, false),
            Expect::exactly(None)
        );
    }

    #[test]
    fn failed_writes_accumulate_and_a_success_settles() {
        let e = Expect::exactly(Some(1))
            .after_write(Some(2), false)
            .after_write(Some(3), false);
        assert!(e.allows(Some(1)) && e.allows(Some(2)) && e.allows(Some(3)));
        assert_eq!(e.after_write(Some(4), true), Expect::exactly(Some(4)));
    }

    #[test]
    fn content_is_deterministic_and_versions_differ() {
        assert_eq!(content(1, 2, 3), content(1, 2, 3));
        assert_ne!(content(1, 2, 3), content(1, 2, 4));
        let c = content(0, 0, 0);
        assert!((1024..=192 * 1024).contains(&c.len()));
    }
}
