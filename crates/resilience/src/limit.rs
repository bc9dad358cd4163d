//! Bulkhead: a concurrency limit per class of work (metadata vs data), so a flood of large
//! transfers cannot starve small metadata calls. The async waiting lives in the client; this
//! is the counting.

#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    max: usize,
    in_use: usize,
}

impl ConcurrencyLimit {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            in_use: 0,
        }
    }

    pub fn try_acquire(&mut self) -> bool {
        if self.in_use < self.max {
            self.in_use += 1;
            true
        } else {
            false
        }
    }

    pub fn release(&mut self) {
        self.in_use = self.in_use.saturating_sub(1);
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }

    pub fn max(&self) -> usize {
        self.max
    }
}
