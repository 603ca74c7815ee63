//! The in-memory refcount table a check builds from the metadata: one count
//! per host cluster of the image file (qemu's "IMRT").
//!
//! Counts live in chunks of 16-bit cells allocated on first use, so memory
//! follows the clusters actually referenced, not the length of a (possibly
//! sparse or hostile) file. The rare count that does not fit 16 bits (only
//! possible with refcount widths over 16) is kept aside in a map.

use crate::error::{Error, Result};
use std::collections::HashMap;

/// log2 of the cells per chunk.
const CHUNK_BITS: u32 = 16;
const CHUNK: u64 = 1 << CHUNK_BITS;
/// A cell holding this value has its count in the overflow map.
const SPILLED: u16 = u16::MAX;
/// The most clusters a check counts (qemu refuses images of more than
/// `INT_MAX` clusters; references past the end of the file are refused
/// before they count, so only a repair that grows the file gets near this).
pub const MAX_CLUSTERS: u64 = 1 << 31;

/// Counts of references to each host cluster.
#[derive(Debug)]
pub struct Imrt {
    chunks: Vec<Option<Box<[u16]>>>,
    spilled: HashMap<u64, u64>,
    len: u64,
}

impl Imrt {
    /// A table of `len` zero counts.
    pub fn new(len: u64) -> Result<Imrt> {
        let mut t = Imrt { chunks: Vec::new(), spilled: HashMap::new(), len: 0 };
        t.resize(len)?;
        Ok(t)
    }

    /// How many clusters the table covers.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Covers `len` clusters (new ones count 0); more than
    /// [`MAX_CLUSTERS`] is `ENOMEM`, as an allocation failure is in qemu.
    pub fn resize(&mut self, len: u64) -> Result<()> {
        if len > MAX_CLUSTERS {
            return Err(Error::errno(libc::ENOMEM));
        }
        if len < self.len {
            for i in len..self.len.min(len.div_ceil(CHUNK) * CHUNK) {
                self.set(i, 0);
            }
            self.chunks.truncate(len.div_ceil(CHUNK) as usize);
            self.spilled.retain(|i, _| *i < len);
        } else {
            self.chunks.resize_with(len.div_ceil(CHUNK) as usize, || None);
        }
        self.len = len;
        Ok(())
    }

    /// The count of cluster `i` (0 past the end).
    pub fn get(&self, i: u64) -> u64 {
        let Some(Some(chunk)) = self.chunks.get((i >> CHUNK_BITS) as usize) else { return 0 };
        match chunk[(i % CHUNK) as usize] {
            SPILLED => self.spilled.get(&i).copied().unwrap_or(0),
            v => v as u64,
        }
    }

    /// Sets the count of cluster `i`, which must be below `len()`.
    pub fn set(&mut self, i: u64, value: u64) {
        let Some(slot) = self.chunks.get_mut((i >> CHUNK_BITS) as usize) else { return };
        if slot.is_none() {
            if value == 0 {
                return;
            }
            *slot = Some(vec![0u16; CHUNK as usize].into_boxed_slice());
        }
        let Some(chunk) = slot.as_mut() else { return };
        let cell = &mut chunk[(i % CHUNK) as usize];
        if value >= SPILLED as u64 {
            *cell = SPILLED;
            self.spilled.insert(i, value);
        } else {
            if *cell == SPILLED {
                self.spilled.remove(&i);
            }
            *cell = value as u16;
        }
    }

    /// Sets every count to 0.
    pub fn clear(&mut self) {
        self.chunks.iter_mut().for_each(|c| *c = None);
        self.spilled.clear();
    }

    /// The first cluster in `[from, to)` with a non-zero count.
    pub fn next_used(&self, from: u64, to: u64) -> Option<u64> {
        self.find(from, to, false, |c| c != 0)
    }

    /// The first cluster in `[from, to)` with a zero count.
    pub fn next_free(&self, from: u64, to: u64) -> Option<u64> {
        self.find(from, to, true, |c| c == 0)
    }

    /// The first cluster in `[from, to)` whose cell satisfies `hit`;
    /// `unallocated` says whether the clusters of a chunk never used do.
    fn find(&self, from: u64, to: u64, unallocated: bool, hit: impl Fn(u16) -> bool) -> Option<u64> {
        let to = to.min(self.len);
        let mut i = from;
        while i < to {
            let end = ((i | (CHUNK - 1)) + 1).min(to);
            match self.chunks.get((i >> CHUNK_BITS) as usize) {
                Some(Some(chunk)) => {
                    let cells = &chunk[(i % CHUNK) as usize..(i % CHUNK + (end - i)) as usize];
                    if let Some(k) = cells.iter().position(|c| hit(*c)) {
                        return Some(i + k as u64);
                    }
                }
                _ if unallocated => return Some(i),
                _ => {}
            }
            i = end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_spill_and_shrink() {
        let mut t = Imrt::new(200_000).unwrap();
        assert_eq!(t.get(5), 0);
        t.set(5, 3);
        t.set(150_000, 70_000);
        assert_eq!((t.get(5), t.get(150_000)), (3, 70_000));
        assert_eq!(t.next_used(0, 200_000), Some(5));
        assert_eq!(t.next_used(6, 200_000), Some(150_000));
        assert_eq!(t.next_free(5, 10), Some(6));
        assert_eq!(t.next_free(70_000, 80_000), Some(70_000));
        t.resize(100).unwrap();
        t.resize(200_000).unwrap();
        assert_eq!(t.get(150_000), 0);
        assert!(Imrt::new(MAX_CLUSTERS + 1).is_err());
    }
}
