//! Deletions decided while copies run, held until the copies are done: in memory up to
//! [`IN_MEMORY`] paths, then spilled to an anonymous temporary file, so a million deletions do
//! not grow the process.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Paths kept in memory before spilling.
const IN_MEMORY: usize = 10_000;

#[derive(Default)]
pub(crate) struct PendingDeletes {
    mem: Vec<String>,
    spill: Option<BufWriter<File>>,
    len: u64,
}

impl PendingDeletes {
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Small, sequential writes of a local temporary file: not worth a blocking thread.
    pub fn push(&mut self, rel: String) -> std::io::Result<()> {
        self.len += 1;
        self.mem.push(rel);
        if self.mem.len() >= IN_MEMORY {
            if self.spill.is_none() {
                self.spill = Some(BufWriter::new(tempfile::tempfile()?));
            }
            if let Some(w) = &mut self.spill {
                for r in self.mem.drain(..) {
                    // Length-prefixed: names may hold any character, newlines included.
                    w.write_all(&(r.len() as u32).to_le_bytes())?;
                    w.write_all(r.as_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Every path, in batches of at most `n` (spilled ones first, in the order pushed).
    pub fn into_batches(self, n: usize) -> std::io::Result<Batches> {
        let reader = match self.spill {
            None => None,
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.seek(SeekFrom::Start(0))?;
                Some(BufReader::new(f))
            }
        };
        Ok(Batches {
            reader,
            mem: self.mem.into_iter(),
            n: n.max(1),
        })
    }
}

pub(crate) struct Batches {
    reader: Option<BufReader<File>>,
    mem: std::vec::IntoIter<String>,
    n: usize,
}

impl Batches {
    fn read_one(&mut self) -> std::io::Result<Option<String>> {
        if let Some(r) = &mut self.reader {
            let mut len = [0u8; 4];
            match r.read_exact(&mut len) {
                Ok(()) => {
                    let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
                    r.read_exact(&mut buf)?;
                    return String::from_utf8(buf)
                        .map(Some)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => self.reader = None,
                Err(e) => return Err(e),
            }
        }
        Ok(self.mem.next())
    }
}

impl Iterator for Batches {
    type Item = std::io::Result<Vec<String>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut batch = Vec::new();
        while batch.len() < self.n {
            match self.read_one() {
                Ok(Some(r)) => batch.push(r),
                Ok(None) => break,
                Err(e) => return Some(Err(e)),
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_reads_back_everything_in_batches() {
        let mut p = PendingDeletes::default();
        let n = IN_MEMORY * 2 + 17;
        for i in 0..n {
            p.push(format!("dir/{i}\nwith newline é")).unwrap();
        }
        assert_eq!(p.len(), n as u64);
        assert!(p.spill.is_some() && p.mem.len() < IN_MEMORY);
        let batches: Vec<Vec<String>> = p.into_batches(1000).unwrap().map(|b| b.unwrap()).collect();
        assert!(batches.iter().all(|b| b.len() <= 1000));
        let all: Vec<String> = batches.into_iter().flatten().collect();
        let want: Vec<String> = (0..n).map(|i| format!("dir/{i}\nwith newline é")).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn empty_gives_no_batch() {
        assert_eq!(
            PendingDeletes::default().into_batches(10).unwrap().count(),
            0
        );
    }
}
