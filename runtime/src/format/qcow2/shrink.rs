//! Shrinking a qcow2 image, as qemu's truncate does: the mappings past the
//! new end are dropped, L2 tables past the new L1 size are freed (the header
//! keeps its L1 size), refcount blocks that count nothing are dropped from
//! the refcount table, and the file loses its unused tail. Clusters whose
//! last reference goes are punched out of the file when qemu would discard
//! them (its file layer passes discards down), so that the file's allocation
//! matches qemu's.
//!
//! Ordering: an L2 table is written before the refcounts of the clusters it
//! stopped pointing at go down, and before they are punched; L1 entries are
//! cleared on disk before their L2 tables are freed; the refcount table drops
//! a block before the block's own refcount goes; the file is cut only past
//! the last cluster still counted, once every count is on disk. A crash
//! leaves leaks at worst.

use super::map::corrupt;
use super::meta::Meta;
use crate::error::{c_hex, Result};
use qimg_formats::qcow2::{L1Entry, L1Table, RefcountBlock, RefcountTable, RefcountTableEntry};

/// How freed clusters are punched out of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Punch {
    /// In runs of adjacent clusters (qemu's queued, merged discards).
    Merged,
    /// One cluster at a time (qemu's immediate discards).
    EachCluster,
}

impl Meta {
    /// Drops the mappings of guest `[offset, end)` (`offset` cluster aligned):
    /// their entries become unallocated (qemu's full discard). As in qemu,
    /// each L2 table of the range is first made this image's own, allocated
    /// if missing; once a table is written, what it held is released and
    /// punched out, so that the next table may reuse the space.
    pub(super) fn discard_range(&mut self, offset: u64, end: u64) -> Result<()> {
        let cs = self.geom.cluster_size;
        let mut pos = offset;
        while pos < end {
            let l1_index = self.l1_index(pos);
            let l2_offset = self.l1.get(l1_index).map_or(0, |e| L1Entry::from_raw(*e).l2_offset());
            if !l2_offset.is_multiple_of(cs) {
                return Err(corrupt(format!(
                    "L2 table offset {} unaligned (L1 index: {})",
                    c_hex(l2_offset),
                    c_hex(l1_index as u64)
                )));
            }
            let table = self.l2_table_for(pos)?;
            let first = self.l2_index(pos);
            let n = (self.geom.l2_entries() - first as u64).min((end - pos).div_ceil(cs));
            let before = self.pending_free.len();
            for index in first..first + n as usize {
                let e = self.entry(table, index)?;
                let bits = e.bitmap.map_or(0, |b| b.raw());
                if e.raw == 0 && bits == 0 {
                    continue;
                }
                self.set_entry(table, index, 0, Some((0, 0)))?;
                // qemu refuses to free an unaligned cluster (and reports it).
                if e.l2().compressed() || e.l2().host_offset() % cs == 0 {
                    self.release(&e)?;
                }
            }
            let released = self.pending_free[before..].to_vec();
            self.flush()?;
            self.punch_freed(&released, Punch::Merged)?;
            pos += n * cs;
        }
        Ok(())
    }

    /// Clears the L1 entries from `new_size` on (on disk first), then frees
    /// the L2 tables they named; the header's L1 size stays, as in qemu.
    /// The L2 cache must have been written back.
    pub(super) fn shrink_l1(&mut self, new_size: u64) -> Result<()> {
        let cs = self.geom.cluster_size;
        let old = self.l1.len();
        let new = usize::try_from(new_size).unwrap_or(usize::MAX);
        if new >= old {
            return Ok(());
        }
        let zeros = vec![0u8; (old - new) * L1Table::ENTRY_SIZE];
        self.io.write_at(&zeros, self.header.l1_table_offset + (new * L1Table::ENTRY_SIZE) as u64)?;
        self.io.sync()?;
        let mut freed = Vec::new();
        for i in (new..old).rev() {
            let l2 = L1Entry::from_raw(self.l1[i]).l2_offset();
            self.l1[i] = 0;
            if l2 == 0 {
                continue;
            }
            self.l2.discard(l2);
            self.free_clusters(l2, cs)?;
            freed.push((l2, cs));
        }
        self.refblocks.flush(&self.io)?;
        self.punch_freed(&freed, Punch::EachCluster)
    }

    /// Punches out of the file the clusters of `ranges` that nothing counts
    /// any more (failures are ignored, as qemu ignores them).
    fn punch_freed(&mut self, ranges: &[(u64, u64)], how: Punch) -> Result<()> {
        let cb = self.geom.cluster_bits;
        let mut clusters: Vec<u64> = Vec::new();
        for &(offset, len) in ranges.iter().filter(|r| r.1 > 0) {
            clusters.extend(offset >> cb..=(offset + len - 1) >> cb);
        }
        clusters.sort_unstable();
        clusters.dedup();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for c in clusters {
            if self.refcount(c)? != 0 {
                continue;
            }
            match runs.last_mut() {
                Some((start, n)) if how == Punch::Merged && *start + *n == c => *n += 1,
                _ => runs.push((c, 1)),
            }
        }
        for (start, n) in runs {
            let _ = self.io.punch_hole(start << cb, n << cb);
        }
        Ok(())
    }

    /// Drops from the refcount table the blocks that count nothing but
    /// (perhaps) themselves: the table is rewritten first, then each dropped
    /// block's own refcount goes to zero and its cluster is punched out.
    pub(super) fn shrink_reftable(&mut self) -> Result<()> {
        let cs = self.geom.cluster_size;
        let bits = 1u32 << self.geom.refcount_order;
        let per_block_bits = self.geom.refblock_bits;
        let mut kept = self.reftable.clone();
        for (i, slot) in kept.iter_mut().enumerate() {
            let block = *slot;
            if block == 0 {
                continue;
            }
            if block % cs != 0 {
                return Err(corrupt(format!(
                    "Refblock offset {} unaligned (reftable index: {})",
                    c_hex(block),
                    c_hex(i as u64)
                )));
            }
            let own = ((block >> self.geom.cluster_bits) >> per_block_bits == i as u64)
                .then(|| ((block >> self.geom.cluster_bits) & ((1 << per_block_bits) - 1)) as usize);
            self.refblock_room(block)?;
            let mut content = self.refblocks.get(&self.io, block)?.clone();
            if let Some(k) = own {
                RefcountBlock::set(&mut content, k, bits, 0);
            }
            if content.iter().all(|b| *b == 0) {
                *slot = 0;
            }
        }
        let mut bytes = vec![0u8; kept.len() * RefcountTable::ENTRY_SIZE];
        for (i, b) in kept.iter().enumerate() {
            RefcountTable::set(&mut bytes, i, RefcountTableEntry::new().with_block_offset(*b));
        }
        self.io.write_at(&bytes, self.header.refcount_table_offset)?;
        self.io.sync()?;
        let mut dropped = Vec::new();
        for (i, &keep) in kept.iter().enumerate() {
            let block = self.reftable.get(i).copied().unwrap_or(0);
            if block == 0 || keep != 0 {
                continue;
            }
            let count = self.refcount(block >> self.geom.cluster_bits)?;
            if count != 1 {
                return Err(corrupt(format!(
                    "Invalid refcount: block offset {}, reftable index {}, refcount {}",
                    c_hex(block),
                    c_hex(i as u64),
                    c_hex(count)
                )));
            }
            self.free_clusters(block, cs)?;
            self.reftable[i] = 0;
            self.refblocks.discard(block);
            dropped.push((block, cs));
        }
        self.refblocks.flush(&self.io)?;
        self.punch_freed(&dropped, Punch::Merged)
    }

    /// Cuts the file after the last cluster that has a refcount, once every
    /// metadata change is written back. A failure to cut is only a warning
    /// (given to `warn`), as in qemu.
    pub(super) fn truncate_unused_tail(&mut self, warn: &mut dyn FnMut(String)) -> Result<()> {
        self.flush()?;
        let file_len = self.io.len()?;
        let end = self.last_used_cluster(file_len)?.map_or(0, |c| c + 1) << self.geom.cluster_bits;
        if end < file_len {
            if let Err(e) = self.io.set_len(end) {
                warn(format!("Failed to truncate the tail of the image: {}", e.message));
            }
        }
        Ok(())
    }
}
