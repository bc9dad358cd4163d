//! `--include` / `--exclude`: glob patterns over relative paths (pure).
//!
//! Syntax: `*` any run of characters but `/`; `**` any run including `/`; `?` one character
//! but `/`; `[abc]`, `[a-z]`, `[!a-z]` one character of (not of) a set; `\x` a literal `x`.
//! A pattern without `/` matches the file name at any depth (`*.log`); one with `/` matches the
//! whole relative path from the root (`logs/*.gz`; a leading `/` is allowed); a trailing `/`
//! matches everything under that directory (`cache/`).
//!
//! A path takes part when it matches some `--include` (or there is none) and no `--exclude`.
//! Matching simulates the pattern's automaton (no backtracking): linear in the path's length.

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`: stays on anything but `/`.
    Star,
    /// `**`: stays on anything.
    Any,
    /// `[...]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Start of "zero or more whole directories" (`**/`, or the implicit one of a pattern without
    /// `/`): either skips itself and [`Tok::DirRest`], or reads one segment's first character.
    DirStart,
    /// Rest of that segment up to its `/`, then back to [`Tok::DirStart`].
    DirRest,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing: remove it".into());
        }
        let mut body = pattern;
        let mut tokens = Vec::new();
        if let Some(rest) = body.strip_prefix('/') {
            body = rest;
        } else if !body.trim_end_matches('/').contains('/') {
            tokens.extend([Tok::DirStart, Tok::DirRest]);
        }
        let dir = body.ends_with('/');
        let mut chars = body.trim_end_matches('/').chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                        tokens.extend([Tok::DirStart, Tok::DirRest]);
                    } else {
                        tokens.push(Tok::Any);
                    }
                }
                '*' => tokens.push(Tok::Star),
                '?' => tokens.push(Tok::One),
                '\\' => match chars.next() {
                    Some(c) => tokens.push(Tok::Lit(c)),
                    None => return Err(format!("{pattern:?} ends with a lone '\\'")),
                },
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!') | Some('^')) {
                        negated = true;
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(format!("{pattern:?} has a '[' without its ']'"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            chars
                                .next()
                                .ok_or_else(|| format!("{pattern:?}: bad escape"))?
                        } else {
                            c
                        };
                        let mut hi = lo;
                        if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            if let Some(&h) = ahead.peek().filter(|&&h| h != ']') {
                                chars.next();
                                chars.next();
                                hi = h;
                            }
                        }
                        if hi < lo {
                            return Err(format!("{pattern:?}: range {lo}-{hi} is backwards"));
                        }
                        ranges.push((lo, hi));
                    }
                    tokens.push(Tok::Class { negated, ranges });
                }
                c => tokens.push(Tok::Lit(c)),
            }
        }
        if dir {
            tokens.extend([Tok::Lit('/'), Tok::Any]);
        }
        Ok(Self {
            source: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Adds `i` and what it reaches without reading a character.
    fn close(&self, set: &mut [bool], i: usize) {
        if set[i] {
            return;
        }
        set[i] = true;
        match self.tokens.get(i) {
            Some(Tok::Star) | Some(Tok::Any) => self.close(set, i + 1),
            Some(Tok::DirStart) => self.close(set, i + 2),
            _ => {}
        }
    }

    /// Whether the whole of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let n = self.tokens.len();
        let mut cur = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        self.close(&mut cur, 0);
        for c in path.chars() {
            next.iter_mut().for_each(|b| *b = false);
            for (i, tok) in self.tokens.iter().enumerate() {
                if !cur[i] {
                    continue;
                }
                let to = match tok {
                    Tok::Lit(l) => (*l == c).then_some(i + 1),
                    Tok::One => (c != '/').then_some(i + 1),
                    Tok::Star => (c != '/').then_some(i),
                    Tok::Any => Some(i),
                    Tok::Class { negated, ranges } => {
                        let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                        (c != '/' && inside != *negated).then_some(i + 1)
                    }
                    Tok::DirStart => (c != '/').then_some(i + 1),
                    Tok::DirRest => Some(if c == '/' { i - 1 } else { i }),
                };
                if let Some(j) = to {
                    self.close(&mut next, j);
                }
            }
            std::mem::swap(&mut cur, &mut next);
            if !cur.iter().any(|&b| b) {
                return false;
            }
        }
        cur[n]
    }
}

/// The include and exclude patterns of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

impl Filter {
    /// Compiles the patterns; the error names the bad one.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let compile = |ps: &[String]| ps.iter().map(|p| Glob::new(p)).collect::<Result<_, _>>();
        Ok(Self {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// Whether `rel` takes part in the sync.
    pub fn accepts(&self, rel: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(rel)))
            && !self.exclude.iter().any(|g| g.matches(rel))
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::new(p).unwrap().matches(path)
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(m("/*.txt", "a.txt"));
        assert!(!m("/*.txt", "d/a.txt"));
        assert!(m("/d/*.txt", "d/a.txt"));
        assert!(!m("/d/*.txt", "d/e/a.txt"));
        assert!(m("/d/*", "d/"), "* may be empty");
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(m("/d/**", "d/e/f/a.txt"));
        assert!(m("/**.txt", "d/e/a.txt"));
        assert!(m("d/**/a.txt", "d/a.txt"), "**/ may be empty");
        assert!(m("d/**/a.txt", "d/x/y/a.txt"));
        assert!(!m("d/**/a.txt", "d/xa.txt"), "**/ takes whole segments");
        assert!(!m("d/**/a.txt", "e/a.txt"));
    }

    #[test]
    fn patterns_without_slash_match_the_name_at_any_depth() {
        assert!(m("*.log", "a.log"));
        assert!(m("*.log", "x/y/a.log"));
        assert!(!m("*.log", "x.log/y"), "the name is the last segment");
        assert!(m("日本*", "相/日本語.txt"));
        assert!(!m("a.log", "xa.log"));
    }

    #[test]
    fn trailing_slash_means_everything_under_a_directory() {
        assert!(m("cache/", "cache/a"));
        assert!(m("cache/", "x/cache/a/b"), "no other slash: at any depth");
        assert!(!m("cache/", "cache"));
        assert!(!m("/cache/", "x/cache/a"), "anchored");
    }

    #[test]
    fn question_classes_and_escapes() {
        assert!(m("/a?c", "abc"));
        assert!(!m("/a?c", "a/c"));
        assert!(m("/[a-c]x", "bx"));
        assert!(!m("/[a-c]x", "dx"));
        assert!(m("/[!a-c]x", "dx"));
        assert!(m("/[]]", "]"));
        assert!(m("/[a-]", "-"));
        assert!(m("/\\*", "*"));
        assert!(!m("/\\*", "a"));
        assert!(m("/é?", "éü"), "characters, not bytes");
    }

    #[test]
    fn bad_patterns_say_why() {
        for bad in ["", "[abc", "a\\", "[z-a]"] {
            assert!(Glob::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn many_stars_stay_linear() {
        let g = Glob::new(&format!("/{}b", "*a".repeat(30))).unwrap();
        assert!(!g.matches(&"a".repeat(5000)));
    }

    #[test]
    fn include_then_exclude() {
        let f = Filter::new(&["*.jpg".into(), "*.png".into()], &["tmp/".into()]).unwrap();
        assert!(f.accepts("a/b.jpg"));
        assert!(f.accepts("c.png"));
        assert!(!f.accepts("c.gif"));
        assert!(!f.accepts("tmp/b.jpg"));
        let all = Filter::default();
        assert!(all.is_empty() && all.accepts("anything/at/all"));
        let f = Filter::new(&[], &["*.tmp".into()]).unwrap();
        assert!(f.accepts("a") && !f.accepts("d/a.tmp"));
    }
}
