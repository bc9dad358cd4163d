//! ListObjects through the store against a simple reference implementation.

use ossguard_emulator::store::{ListObjectsParams, ObjectListing, Store};
use proptest::prelude::*;

use crate::common::*;

/// The definition, spelled out: filter, roll up, drop prefixes at or before the marker,
/// deduplicate, cut at max_keys.
fn reference(
    keys: &[String],
    p: &ListObjectsParams,
) -> (Vec<String>, Vec<String>, bool, Option<String>) {
    let mut sorted = keys.to_vec();
    sorted.sort(); // String order is byte order
    sorted.dedup();
    let mut items: Vec<(bool, String)> = Vec::new();
    for key in sorted {
        if key <= p.marker || !key.starts_with(&p.prefix) {
            continue;
        }
        let rest = &key[p.prefix.len()..];
        let item = match rest.find(&p.delimiter).filter(|_| !p.delimiter.is_empty()) {
            Some(i) => (
                true,
                key[..p.prefix.len() + i + p.delimiter.len()].to_owned(),
            ),
            None => (false, key.clone()),
        };
        if item.0 && (item.1 <= p.marker || items.contains(&item)) {
            continue;
        }
        items.push(item);
    }
    let truncated = p.max_keys > 0 && items.len() > p.max_keys;
    items.truncate(p.max_keys);
    let next = truncated.then(|| items.last().unwrap().1.clone());
    (
        items.iter().filter(|i| !i.0).map(|i| i.1.clone()).collect(),
        items.iter().filter(|i| i.0).map(|i| i.1.clone()).collect(),
        truncated,
        next,
    )
}

fn flatten(l: ObjectListing) -> (Vec<String>, Vec<String>, bool, Option<String>) {
    (
        l.objects.into_iter().map(|o| o.key).collect(),
        l.common_prefixes,
        l.is_truncated,
        l.next_marker,
    )
}

fn params(prefix: &str, delimiter: &str, marker: &str, max_keys: usize) -> ListObjectsParams {
    ListObjectsParams {
        prefix: prefix.into(),
        delimiter: delimiter.into(),
        marker: marker.into(),
        max_keys,
    }
}

#[tokio::test]
async fn directory_style_listing_and_pagination() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let keys = [
        "photos/2024/a.jpg",
        "photos/2024/b.jpg",
        "photos/2025/c.jpg",
        "photos/top.jpg",
        "readme",
        "videos/x.mp4",
    ];
    for k in keys {
        put(&store, k, k.as_bytes()).await;
    }
    let root = flatten(
        store
            .list_objects(BUCKET, &params("", "/", "", 100))
            .await
            .unwrap(),
    );
    assert_eq!(
        root,
        (
            vec!["readme".into()],
            vec!["photos/".into(), "videos/".into()],
            false,
            None
        )
    );
    let photos = flatten(
        store
            .list_objects(BUCKET, &params("photos/", "/", "", 100))
            .await
            .unwrap(),
    );
    assert_eq!(photos.0, ["photos/top.jpg"]);
    assert_eq!(photos.1, ["photos/2024/", "photos/2025/"]);

    // A common prefix counts once toward max-keys, and paging resumes after it.
    let page1 = store
        .list_objects(BUCKET, &params("", "/", "", 1))
        .await
        .unwrap();
    assert_eq!(
        flatten(page1.clone()),
        (vec![], vec!["photos/".into()], true, Some("photos/".into()))
    );
    let page2 = store
        .list_objects(BUCKET, &params("", "/", "photos/", 1))
        .await
        .unwrap();
    assert_eq!(
        flatten(page2),
        (vec!["readme".into()], vec![], true, Some("readme".into()))
    );
    let page3 = store
        .list_objects(BUCKET, &params("", "/", "readme", 1))
        .await
        .unwrap();
    assert_eq!(
        flatten(page3),
        (vec![], vec!["videos/".into()], false, None)
    );

    // Entries carry full metadata.
    let all = store
        .list_objects(BUCKET, &params("", "", "", 1000))
        .await
        .unwrap();
    assert_eq!(all.objects.len(), keys.len());
    for o in &all.objects {
        assert_eq!(o, &store.head_object(BUCKET, &o.key).await.unwrap());
    }
    assert!(store
        .list_objects("missing-bucket", &params("", "", "", 1))
        .await
        .is_err());
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!["a", "b", "/", "%", " ", "é", "😀"]),
        1..7,
    )
    // Keys may not start with '/'.
    .prop_map(|parts| parts.concat())
    .prop_filter("valid key", |k| !k.starts_with('/'))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    /// Random key sets in a real store (fsync off: this is about ordering, not durability),
    /// queried with random prefix / delimiter / marker / max-keys.
    #[test]
    fn store_listing_matches_reference(
        keys in proptest::collection::vec(key_strategy(), 0..25),
        queries in proptest::collection::vec(
            (
                prop::sample::select(vec!["", "a", "a/", "b", "é", "/"]),
                prop::sample::select(vec!["", "/", "a", "%"]),
                prop_oneof![Just(String::new()), key_strategy()],
                0usize..8,
            ),
            1..12,
        ),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let store = Store::open_with(data_dir(&tmp), TestClock::at(0).config(false)).await.unwrap();
            store.create_bucket(BUCKET, Default::default()).await.unwrap();
            for k in &keys {
                put(&store, k, b"").await;
            }
            for (prefix, delimiter, marker, max_keys) in &queries {
                let p = params(prefix, delimiter, marker, *max_keys);
                let got = flatten(store.list_objects(BUCKET, &p).await.unwrap());
                assert_eq!(got, reference(&keys, &p), "{p:?}");
                // Page through from the start: markers are then keys and common prefixes.
                let mut p = params(prefix, delimiter, "", (*max_keys).max(1));
                for _ in 0..keys.len() + 1 {
                    let page = flatten(store.list_objects(BUCKET, &p).await.unwrap());
                    assert_eq!(page, reference(&keys, &p), "{p:?}");
                    match page.3 {
                        Some(next) => p.marker = next,
                        None => break,
                    }
                }
            }
        });
    }
}
