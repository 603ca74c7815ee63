//! The L1 table and L2 tables of an image open for writing.

use super::meta::Meta;
use crate::error::{Error, Result};
use qimg_formats::qcow2::{L1Entry, L1Table};

/// qemu's limit on the L1 table: 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

impl Meta {
    /// Index of the L1 entry covering guest offset `guest`.
    pub fn l1_index(&self, guest: u64) -> usize {
        (guest >> (self.geom.cluster_bits + self.geom.l2_bits)) as usize
    }

    /// Index within its L2 table of the entry covering `guest`.
    pub fn l2_index(&self, guest: u64) -> usize {
        self.geom.l2_index(guest)
    }

    /// Grows the L1 table to at least `min_size` entries (exactly, or by
    /// qemu's 1.5x steps). The new table is written to freshly allocated
    /// clusters and the header switched to it before the old one is freed.
    pub fn grow_l1(&mut self, min_size: u64, exact: bool) -> Result<()> {
        let old = self.l1.len() as u64;
        if min_size <= old {
            return Ok(());
        }
        if min_size > i32::MAX as u64 / 8 {
            return Err(Error::errno(libc::EFBIG));
        }
        let mut n = min_size;
        if !exact {
            n = old.max(1);
            while min_size > n {
                n = (n * 3).div_ceil(2);
            }
        }
        if n * 8 > MAX_L1_BYTES {
            return Err(Error::errno(libc::EFBIG));
        }
        let offset = self.alloc_clusters(n * 8)?;
        self.refblocks.flush(&self.io)?;
        let mut table = self.l1.clone();
        table.resize(n as usize, 0);
        let mut bytes = vec![0u8; table.len() * L1Table::ENTRY_SIZE];
        for (i, e) in table.iter().enumerate() {
            L1Table::set(&mut bytes, i, L1Entry::from_raw(*e));
        }
        self.io.write_at(&bytes, offset)?;
        let old_offset = self.header.l1_table_offset;
        self.header.l1_size = n as u32;
        self.header.l1_table_offset = offset;
        self.write_header()?;
        self.l1 = table;
        self.free_clusters(old_offset, old * 8)
    }

    fn write_l1_entry(&self, index: usize) -> Result<()> {
        let mut buf = [0u8; L1Table::ENTRY_SIZE];
        L1Table::set(&mut buf, 0, L1Entry::from_raw(self.l1[index]));
        self.io.write_at(&buf, self.header.l1_table_offset + (index * L1Table::ENTRY_SIZE) as u64)
    }

    /// Makes room in the L2 cache for `offset`, writing refcount blocks back
    /// before any L2 table that may depend on them.
    fn l2_room(&mut self, offset: u64) -> Result<()> {
        while !self.l2.has_room(offset) {
            if matches!(self.l2.victim(), Some((_, true))) {
                self.refblocks_before_l2()?;
            }
            self.l2.evict_one(&self.io)?;
        }
        Ok(())
    }

    /// The L2 table covering `guest`, allocating it (and growing L1) if
    /// there is none. Returns the table's host offset.
    pub fn l2_table_for(&mut self, guest: u64) -> Result<u64> {
        let index = self.l1_index(guest);
        if index >= self.l1.len() {
            self.grow_l1(index as u64 + 1, false)?;
        }
        let entry = L1Entry::from_raw(self.l1[index]);
        if entry.copied() {
            return Ok(entry.l2_offset());
        }
        // A new table: empty, or a copy of the one shared with a snapshot.
        let shared = entry.l2_offset();
        let content = if shared != 0 { self.l2_table(shared)?.clone() } else { vec![0u8; self.geom.cluster_size as usize] };
        let offset = self.alloc_clusters(self.geom.cluster_size)?;
        self.refblocks.flush(&self.io)?;
        self.l2_room(offset)?;
        self.l2.insert_zeroed(offset).copy_from_slice(&content);
        self.io.write_at(&content, offset)?;
        self.l1[index] = L1Entry::new().with_l2_offset(offset).with_copied(true).raw();
        self.write_l1_entry(index)?;
        if shared != 0 {
            self.free_clusters(shared, self.geom.cluster_size)?;
        }
        Ok(offset)
    }

    /// The L2 table at `offset`, for reading or changing (then call `mark_l2_dirty`).
    pub fn l2_table(&mut self, offset: u64) -> Result<&mut Vec<u8>> {
        self.l2_room(offset)?;
        self.l2.get(&self.io, offset)
    }

    pub fn mark_l2_dirty(&mut self, offset: u64) {
        self.l2.mark_dirty(offset);
    }
}
