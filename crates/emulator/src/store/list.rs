//! ListObjects over the sorted index: prefix, delimiter roll-up, marker, max-keys.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included, Unbounded};

use super::types::{ListObjectsParams, ObjectListing};
use super::{Result, Store};

/// One page of a listing over any sorted map (generic so it can be tested without a store).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page<'a, V> {
    pub objects: Vec<(&'a str, &'a V)>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_marker: Option<String>,
}

/// S3/OSS v1 semantics: keys `> marker` starting with `prefix`, in byte order; with a
/// delimiter, keys sharing `prefix + … + delimiter` roll up into one common prefix that counts
/// once toward `max_keys` (and is skipped if it sorts at or before the marker, as after a page
/// that ended on it).
pub(crate) fn list_page<'a, V>(map: &'a BTreeMap<String, V>, p: &ListObjectsParams) -> Page<'a, V> {
    let mut page = Page {
        objects: Vec::new(),
        common_prefixes: Vec::new(),
        is_truncated: false,
        next_marker: None,
    };
    if p.max_keys == 0 {
        return page;
    }
    let (prefix, delimiter, marker) = (p.prefix.as_str(), p.delimiter.as_str(), p.marker.as_str());
    let start = if marker >= prefix {
        Excluded(marker)
    } else {
        Included(prefix)
    };
    let mut iter = map.range::<str, _>((start, Unbounded));
    let mut count = 0usize;
    let mut last: Option<&'a str> = None; // last key or common prefix returned
    let mut skipping: Option<&'a str> = None; // common prefix whose keys we are past
    while let Some((key, value)) = iter.next() {
        let key = key.as_str();
        if !key.starts_with(prefix) {
            break; // keys with the prefix are contiguous and we started at or after it
        }
        let rolled_up = (!delimiter.is_empty())
            .then(|| key[prefix.len()..].find(delimiter))
            .flatten()
            .map(|i| &key[..prefix.len() + i + delimiter.len()]);
        match rolled_up {
            Some(common) => {
                if skipping == Some(common) {
                    continue;
                }
                skipping = Some(common);
                if common > marker {
                    if count == p.max_keys {
                        page.is_truncated = true;
                        break;
                    }
                    page.common_prefixes.push(common.to_owned());
                    count += 1;
                    last = Some(common);
                }
                // Jump over the rest of this prefix's keys. U+10FFFF sorts after every other
                // character, so only keys continuing with it remain; `skipping` drops those.
                let past = format!("{common}\u{10FFFF}");
                iter = map.range::<str, _>((Excluded(past.as_str()), Unbounded));
            }
            None => {
                if count == p.max_keys {
                    page.is_truncated = true;
                    break;
                }
                page.objects.push((key, value));
                count += 1;
                last = Some(key);
            }
        }
    }
    if page.is_truncated {
        page.next_marker = last.map(str::to_owned);
    }
    page
}

impl Store {
    /// Lists objects (see [`ListObjectsParams`]); entries and common prefixes are each in byte
    /// order of keys.
    pub async fn list_objects(
        &self,
        bucket: &str,
        params: &ListObjectsParams,
    ) -> Result<ObjectListing> {
        let b = self.bucket(bucket)?;
        let state = b.lock();
        let page = list_page(&state.objects, params);
        Ok(ObjectListing {
            objects: page
                .objects
                .into_iter()
                .map(|(_, r)| r.info.clone())
                .collect(),
            common_prefixes: page.common_prefixes,
            is_truncated: page.is_truncated,
            next_marker: page.next_marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious quadratic definition, to check `list_page` against.
    fn reference(
        keys: &[String],
        p: &ListObjectsParams,
    ) -> (Vec<String>, Vec<String>, bool, Option<String>) {
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        // (is_prefix, text), deduplicated, in order
        let mut items: Vec<(bool, String)> = Vec::new();
        for key in sorted {
            if key.as_str() <= p.marker.as_str() || !key.starts_with(&p.prefix) {
                continue;
            }
            let rest = &key[p.prefix.len()..];
            let item = match (!p.delimiter.is_empty())
                .then(|| rest.find(&p.delimiter))
                .flatten()
            {
                Some(i) => (
                    true,
                    key[..p.prefix.len() + i + p.delimiter.len()].to_owned(),
                ),
                None => (false, key.clone()),
            };
            if item.0 && (items.last() == Some(&item) || item.1.as_str() <= p.marker.as_str()) {
                continue;
            }
            items.push(item);
        }
        let truncated = p.max_keys > 0 && items.len() > p.max_keys;
        items.truncate(p.max_keys);
        let next = if truncated {
            items.last().map(|i| i.1.clone())
        } else {
            None
        };
        let objects = items.iter().filter(|i| !i.0).map(|i| i.1.clone()).collect();
        let prefixes = items.iter().filter(|i| i.0).map(|i| i.1.clone()).collect();
        (objects, prefixes, truncated, next)
    }

    fn run(
        keys: &[&str],
        prefix: &str,
        delimiter: &str,
        marker: &str,
        max_keys: usize,
    ) -> (Vec<String>, Vec<String>, bool, Option<String>) {
        let map: BTreeMap<String, ()> = keys.iter().map(|k| (k.to_string(), ())).collect();
        let p = ListObjectsParams {
            prefix: prefix.into(),
            delimiter: delimiter.into(),
            marker: marker.into(),
            max_keys,
        };
        let page = list_page(&map, &p);
        (
            page.objects.iter().map(|(k, _)| k.to_string()).collect(),
            page.common_prefixes,
            page.is_truncated,
            page.next_marker,
        )
    }

    #[test]
    fn delimiter_rolls_up_and_counts_once() {
        let keys = ["a/1", "a/2", "a/3", "b", "c/1", "d"];
        let (objs, prefixes, truncated, next) = run(&keys, "", "/", "", 3);
        assert_eq!(objs, ["b"]);
        assert_eq!(prefixes, ["a/", "c/"]);
        assert!(truncated);
        assert_eq!(next.as_deref(), Some("c/"));
        // Continuing from a common prefix does not repeat it.
        let (objs, prefixes, truncated, next) = run(&keys, "", "/", "c/", 3);
        assert_eq!(
            (objs, prefixes, truncated, next),
            (vec!["d".to_owned()], vec![], false, None)
        );
    }

    #[test]
    fn prefix_and_marker() {
        let keys = ["a", "ab", "abc", "abd/x", "abd/y", "b"];
        let (objs, prefixes, _, _) = run(&keys, "ab", "/", "", 10);
        assert_eq!(objs, ["ab", "abc"]);
        assert_eq!(prefixes, ["abd/"]);
        let (objs, _, _, _) = run(&keys, "ab", "", "abc", 10);
        assert_eq!(objs, ["abd/x", "abd/y"]);
        assert_eq!(run(&keys, "", "", "", 0), (vec![], vec![], false, None));
    }

    #[test]
    fn keys_after_the_skip_point_are_still_rolled_up() {
        let keys = ["p/\u{10FFFF}", "p/\u{10FFFF}z", "p/a", "q"];
        let (objs, prefixes, truncated, _) = run(&keys, "", "/", "", 10);
        assert_eq!(objs, ["q"]);
        assert_eq!(prefixes, ["p/"]);
        assert!(!truncated);
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec!["a", "b", "/", "-", "é", "\u{10FFFF}"]),
            1..6,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn matches_reference(
            keys in proptest::collection::vec(key_strategy(), 0..30),
            prefix in prop::sample::select(vec!["", "a", "a/", "b", "é", "ab"]),
            delimiter in prop::sample::select(vec!["", "/", "b", "/a"]),
            marker in prop_oneof![Just(String::new()), key_strategy()],
            max_keys in 0usize..8,
        ) {
            let map: BTreeMap<String, ()> = keys.iter().map(|k| (k.clone(), ())).collect();
            let p = ListObjectsParams { prefix: prefix.into(), delimiter: delimiter.into(), marker, max_keys };
            let page = list_page(&map, &p);
            let got = (
                page.objects.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>(),
                page.common_prefixes,
                page.is_truncated,
                page.next_marker,
            );
            prop_assert_eq!(got, reference(&keys, &p));
        }

        /// Following next_marker page by page yields exactly the unpaginated listing.
        #[test]
        fn pages_concatenate(
            keys in proptest::collection::vec(key_strategy(), 0..30),
            delimiter in prop::sample::select(vec!["", "/", "b"]),
            max_keys in 1usize..5,
        ) {
            let map: BTreeMap<String, ()> = keys.iter().map(|k| (k.clone(), ())).collect();
            let all = |marker: String, max_keys| list_page(&map, &ListObjectsParams {
                prefix: String::new(), delimiter: delimiter.into(), marker, max_keys,
            });
            let full = all(String::new(), usize::MAX);
            let (mut objects, mut prefixes, mut marker) = (Vec::new(), Vec::new(), String::new());
            for _ in 0..100 {
                let page = all(marker.clone(), max_keys);
                objects.extend(page.objects.iter().map(|(k, _)| k.to_string()));
                prefixes.extend(page.common_prefixes.clone());
                match page.next_marker {
                    Some(next) => marker = next,
                    None => break,
                }
            }
            prop_assert_eq!(objects, full.objects.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>());
            prop_assert_eq!(prefixes, full.common_prefixes);
        }
    }
}
