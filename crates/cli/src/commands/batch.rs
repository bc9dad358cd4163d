//! Outcome of a recursive command: every item is tried; failures are reported as they happen.

use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, Default)]
pub struct Batch {
    pub total: usize,
    failed_items: usize,
    /// What failed (an item, or a group of items sharing one failed request) and why.
    errors: Vec<(String, usize, CliError)>,
}

impl Batch {
    pub fn ok(&mut self) {
        self.total += 1;
    }

    pub fn fail(&mut self, out: &Output, item: String, e: CliError) {
        self.fail_many(out, item, 1, e);
    }

    /// `n` items failed together (one batch request).
    pub fn fail_many(&mut self, out: &Output, what: String, n: usize, e: CliError) {
        self.total += n;
        self.failed_items += n;
        out.warn(format_args!("{what}: {e}"));
        self.errors.push((what, n, e));
    }

    pub fn succeeded(&self) -> usize {
        self.total - self.failed_items
    }

    /// The failures for `--json`.
    pub fn failures_json(&self) -> serde_json::Value {
        self.errors
            .iter()
            .map(|(item, n, e)| {
                serde_json::json!({
                    "item": item,
                    "items": n,
                    "error": e.to_string(),
                    "code": e.code(),
                    "exit_code": e.exit_code(),
                })
            })
            .collect()
    }

    /// Ok when nothing failed; the error itself when everything failed the same way (a wrong
    /// bucket is not a "partial" failure); else a partial failure (exit 4).
    pub fn finish(mut self) -> Result<(), CliError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let same =
            |a: &CliError, b: &CliError| a.exit_code() == b.exit_code() && a.code() == b.code();
        if self.failed_items == self.total && self.errors.windows(2).all(|w| same(&w[0].2, &w[1].2))
        {
            return Err(self.errors.swap_remove(0).2);
        }
        Err(CliError::Partial {
            failed: self.failed_items,
            total: self.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        let out = Output::new(false, true);
        let b = Batch::default();
        assert!(b.finish().is_ok());
        let mut b = Batch::default();
        b.ok();
        b.fail(&out, "x".into(), CliError::usage("bad"));
        assert_eq!(b.succeeded(), 1);
        assert_eq!(b.finish().unwrap_err().exit_code(), 4);
        let mut b = Batch::default();
        b.fail_many(&out, "2 objects".into(), 2, CliError::usage("bad"));
        b.fail(&out, "y".into(), CliError::usage("bad"));
        assert_eq!(
            b.finish().unwrap_err().exit_code(),
            1,
            "all failed alike: that error"
        );
    }
}
