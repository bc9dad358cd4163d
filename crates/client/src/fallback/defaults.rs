//! Default resources by key prefix: the last resort of a read (the seed's "return a default
//! resource when there is nothing else", e.g. a placeholder image under `img/`).

use bytes::Bytes;

/// What to serve for a prefix.
#[derive(Debug, Clone)]
pub struct DefaultResource {
    /// The bytes served.
    pub body: Bytes,
    /// Their `Content-Type`, if any.
    pub content_type: Option<String>,
}

impl DefaultResource {
    /// `body`, served as `content_type`.
    pub fn new(body: impl Into<Bytes>, content_type: Option<String>) -> Self {
        Self {
            body: body.into(),
            content_type,
        }
    }
}

/// Prefix → resource; the longest matching prefix wins (`""` matches every key).
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    by_prefix: Vec<(String, DefaultResource)>,
}

impl Defaults {
    /// Serves `r` for keys starting with `prefix` (replacing an earlier resource of that prefix).
    pub fn add(&mut self, prefix: String, r: DefaultResource) {
        self.by_prefix.retain(|(p, _)| *p != prefix);
        self.by_prefix.push((prefix, r));
        // Longest first, so the first match is the most specific.
        self.by_prefix
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    /// Whether no prefix has a resource.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The resource of the longest prefix of `key`, if any.
    pub fn lookup(&self, key: &str) -> Option<&DefaultResource> {
        self.by_prefix
            .iter()
            .find(|(p, _)| key.starts_with(p.as_str()))
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_a_later_add_replaces() {
        let mut d = Defaults::default();
        d.add("".into(), DefaultResource::new("any", None));
        d.add("img/".into(), DefaultResource::new("img", None));
        d.add("img/icons/".into(), DefaultResource::new("icon", None));
        let get = |k: &str| d.lookup(k).map(|r| r.body.clone());
        assert_eq!(get("img/icons/a.png").as_deref(), Some(&b"icon"[..]));
        assert_eq!(get("img/b.png").as_deref(), Some(&b"img"[..]));
        assert_eq!(get("doc/c").as_deref(), Some(&b"any"[..]));
        d.add("img/".into(), DefaultResource::new("img2", None));
        assert_eq!(get_body(&d, "img/x"), b"img2");
        let empty = Defaults::default();
        assert!(empty.lookup("x").is_none());
    }

    fn get_body<'a>(d: &'a Defaults, k: &str) -> &'a [u8] {
        &d.lookup(k).unwrap().body
    }
}
