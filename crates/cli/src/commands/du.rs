//! `ossguard du`: total size and object count under a prefix, per storage class (as ossutil's
//! `du`). Streams the listing one page at a time: memory does not grow with the object count.

use std::collections::BTreeMap;

use clap::Args;
use futures_util::TryStreamExt;
use ossguard::ListOptions;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct DuArgs {
    /// oss://bucket[/prefix]: the whole bucket, or the objects whose key starts with prefix.
    pub url: String,
    /// Entries per listing request, 1 to 1000 (tests use small pages to exercise paging).
    #[arg(long, hide = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,
}

/// Objects and bytes of one storage class (or of all).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    objects: u64,
    bytes: u64,
}

impl Usage {
    fn add(&mut self, size: u64) {
        self.objects += 1;
        self.bytes = self.bytes.saturating_add(size);
    }
}

pub async fn run(a: DuArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse(&a.url)?;
    let client = ctx.client()?;
    let out = &ctx.out;
    let pages = client.list_objects(
        &u.bucket,
        ListOptions {
            prefix: u.key.clone(),
            max_keys: a.page_size,
            ..Default::default()
        },
    );
    futures_util::pin_mut!(pages);
    let mut total = Usage::default();
    let mut classes: BTreeMap<String, Usage> = BTreeMap::new();
    while let Some(page) = pages.try_next().await? {
        for o in page.objects {
            total.add(o.size);
            let class = if o.storage_class.is_empty() {
                "-".to_owned()
            } else {
                o.storage_class
            };
            classes.entry(class).or_default().add(o.size);
        }
    }
    if out.json {
        out.json(&json!({
            "operation": "du",
            "bucket": u.bucket,
            "prefix": u.key,
            "objects": total.objects,
            "bytes": total.bytes,
            "storage_classes": classes
                .iter()
                .map(|(c, s)| json!({"storage_class": c, "objects": s.objects, "bytes": s.bytes}))
                .collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for l in table(&classes, total) {
        out.line(l);
    }
    Ok(())
}

/// ossutil's `du` table: per storage class, then the totals (bytes exact, then human).
fn table(classes: &BTreeMap<String, Usage>, total: Usage) -> Vec<String> {
    let rule = "-".repeat(58);
    let mut lines = vec![
        format!(
            "{:<16}{:<24}{}",
            "storage class", "object count", "sum size(byte)"
        ),
        rule.clone(),
    ];
    for (class, s) in classes {
        lines.push(format!("{class:<16}{:<24}{}", s.objects, s.bytes));
    }
    lines.push(rule);
    lines.push(format!(
        "total object count: {:<16}total object sum size: {}",
        total.objects, total.bytes
    ));
    lines.push(String::new());
    lines.push(format!(
        "total du size(byte): {} ({})",
        total.bytes,
        output::human_bytes(total.bytes)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_classes_then_totals() {
        let mut classes = BTreeMap::new();
        let mut total = Usage::default();
        for (class, size) in [("Standard", 10), ("IA", 5), ("Standard", 1 << 20)] {
            total.add(size);
            classes
                .entry(class.to_owned())
                .or_insert(Usage::default())
                .add(size);
        }
        let t = table(&classes, total);
        assert!(t[0].starts_with("storage class") && t[0].contains("sum size(byte)"));
        assert!(t[2].starts_with("IA") && t[2].ends_with(" 5"), "{t:?}");
        assert!(
            t[3].starts_with("Standard") && t[3].ends_with(" 1048586"),
            "{t:?}"
        );
        assert!(
            t.iter().any(|l| l.starts_with("total object count: 3 ")),
            "{t:?}"
        );
        assert_eq!(t.last().unwrap(), "total du size(byte): 1048591 (1.00 MiB)");
        let empty = table(&BTreeMap::new(), Usage::default());
        assert!(
            empty.iter().any(|l| l == "total du size(byte): 0 (0 B)"),
            "{empty:?}"
        );
    }
}
