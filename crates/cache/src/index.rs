//! The in-memory index: which entries exist, their LRU order and the byte total (pure: no I/O).
//! The I/O layer keeps it equal to the metadata files on disk, changing both under one lock.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::layout::Hash;
use crate::EntryMeta;

#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub meta: EntryMeta,
    /// Body file generation.
    pub body: u64,
    tick: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    slots: HashMap<Hash, Slot>,
    /// Last use → entry; the first is the least recently used.
    lru: BTreeMap<u64, Hash>,
    next_tick: u64,
    bytes: u64,
}

impl Index {
    pub fn get(&self, h: &Hash) -> Option<&Slot> {
        self.slots.get(h)
    }

    /// Marks `h` as just used.
    pub fn touch(&mut self, h: &Hash) {
        let tick = self.next_tick;
        if let Some(slot) = self.slots.get_mut(h) {
            self.lru.remove(&slot.tick);
            slot.tick = tick;
            self.lru.insert(tick, *h);
            self.next_tick += 1;
        }
    }

    /// Adds or replaces `h` as the most recently used entry; returns the replaced slot.
    pub fn insert(&mut self, h: Hash, meta: EntryMeta, body: u64) -> Option<Slot> {
        let previous = self.remove(&h);
        let tick = self.next_tick;
        self.next_tick += 1;
        self.bytes += meta.size;
        self.lru.insert(tick, h);
        self.slots.insert(h, Slot { meta, body, tick });
        previous
    }

    /// Updates an entry's metadata in place (same body, same size).
    pub fn update_meta(&mut self, h: &Hash, meta: EntryMeta) {
        if let Some(slot) = self.slots.get_mut(h) {
            debug_assert_eq!(slot.meta.size, meta.size);
            slot.meta = meta;
        }
    }

    pub fn remove(&mut self, h: &Hash) -> Option<Slot> {
        let slot = self.slots.remove(h)?;
        self.lru.remove(&slot.tick);
        self.bytes -= slot.meta.size;
        Some(slot)
    }

    /// Removes least recently used entries, sparing `keep`, until the total is at most
    /// `max_bytes`. An entry larger than the limit alone can stay: the bound is "at most one entry
    /// over", and the config caps entries at `max_bytes` anyway.
    pub fn evict_to(&mut self, max_bytes: u64, keep: Option<&Hash>) -> Vec<(Hash, Slot)> {
        let mut victims = Vec::new();
        while self.bytes > max_bytes {
            // At most one entry (`keep`) is skipped: amortised O(log n) per victim.
            let Some(h) = self.lru.values().find(|h| Some(*h) != keep).copied() else {
                break;
            };
            let slot = self.remove(&h).expect("LRU and slots agree");
            victims.push((h, slot));
        }
        victims
    }

    /// Entries stored at or before `cutoff`.
    pub fn stored_before(&self, cutoff: SystemTime) -> Vec<Hash> {
        self.slots
            .iter()
            .filter(|(_, s)| s.meta.stored_at <= cutoff)
            .map(|(h, _)| *h)
            .collect()
    }

    pub fn hashes(&self) -> Vec<Hash> {
        self.slots.keys().copied().collect()
    }

    pub fn metas(&self) -> impl Iterator<Item = &EntryMeta> {
        self.slots.values().map(|s| &s.meta)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> EntryMeta {
        EntryMeta {
            bucket: "b".into(),
            key: String::new(),
            etag: None,
            crc64: 0,
            size,
            last_modified: None,
            content_type: None,
            user_meta: Default::default(),
            stored_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn h(i: u8) -> Hash {
        [i; 16]
    }

    #[test]
    fn evicts_least_recently_used_first_and_counts_bytes() {
        let mut ix = Index::default();
        for i in 0..4 {
            ix.insert(h(i), meta(10), 0);
        }
        ix.touch(&h(0)); // order now 1, 2, 3, 0
        assert_eq!(ix.bytes(), 40);
        let victims = ix.evict_to(25, None);
        let gone: Vec<_> = victims.iter().map(|(x, _)| *x).collect();
        assert_eq!(gone, vec![h(1), h(2)]);
        assert_eq!((ix.len(), ix.bytes()), (2, 20));
    }

    #[test]
    fn replacing_adjusts_bytes_and_keep_is_spared() {
        let mut ix = Index::default();
        ix.insert(h(1), meta(10), 0);
        assert!(ix.insert(h(1), meta(30), 1).is_some());
        assert_eq!(ix.bytes(), 30);
        ix.insert(h(2), meta(50), 2);
        let victims = ix.evict_to(40, Some(&h(2)));
        assert_eq!(victims.len(), 1);
        assert_eq!(victims[0].0, h(1));
        // Only the kept entry is left: over by at most that one entry.
        assert_eq!(ix.evict_to(40, Some(&h(2))).len(), 0);
        assert_eq!(ix.bytes(), 50);
    }
}
