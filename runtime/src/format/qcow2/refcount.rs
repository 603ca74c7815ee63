//! Refcounts and cluster allocation, following QEMU's algorithm: a search
//! for free clusters from `free_cluster_index`, refcount blocks allocated on
//! demand (describing themselves when they fall in their own range), and a
//! refcount table that grows by laying out a new "refcount area" at the end
//! of the used space.

use super::meta::{settle, Fail, Meta, Step};
use crate::error::{c_hex, Error, Result};
use qimg_formats::qcow2::{RefcountBlock, RefcountTable, RefcountTableEntry};

/// qemu's limit on the refcount table: 8 MiB.
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
/// Host offsets must fit in the 56 bits an L2 entry has.
const MAX_CLUSTER_OFFSET: u64 = (1 << 56) - 1;

fn too_big() -> Fail {
    Fail::Err(Error::errno(libc::EFBIG))
}

/// Refcount blocks and table clusters needed to count `clusters` clusters
/// (their own included), as qemu's fixed-point computation gives them;
/// `generous` leaves room for the table to grow by half.
pub fn refcount_metadata_size(clusters: u64, cluster_size: u64, refcount_order: u32, generous: bool) -> (u64, u64) {
    let per_table_cluster = cluster_size / 8;
    let per_block = cluster_size * 8 / (1 << refcount_order);
    let (mut clusters, mut generous) = (clusters, generous);
    let (mut table, mut blocks, mut n) = (0u64, 0u64, 0u64);
    loop {
        let last = n;
        blocks = (clusters + table + blocks).div_ceil(per_block);
        table = blocks.div_ceil(per_table_cluster);
        n = clusters + blocks + table;
        if n == last {
            if generous {
                clusters += table.div_ceil(2);
                n = 0;
                generous = false;
                continue;
            }
            break;
        }
    }
    ((blocks + table) * cluster_size, blocks)
}

impl Meta {
    fn refblock_index(&self, cluster_index: u64) -> (usize, usize) {
        let bits = self.geom.refblock_bits;
        ((cluster_index >> bits) as usize, (cluster_index & ((1 << bits) - 1)) as usize)
    }

    fn refcount_bits(&self) -> u32 {
        1 << self.geom.refcount_order
    }

    /// Makes room in the refcount block cache for `offset`.
    pub(super) fn refblock_room(&mut self, offset: u64) -> Result<()> {
        while !self.refblocks.has_room(offset) {
            self.refblocks.evict_one(&self.io)?;
        }
        Ok(())
    }

    /// A refcount block must be cluster aligned; anything else is a
    /// corruption (qemu's message).
    fn check_refblock_offset(&self, block: u64, table_index: usize) -> Result<()> {
        if block.is_multiple_of(self.geom.cluster_size) {
            return Ok(());
        }
        Err(Error::corrupt(format!(
            "Refblock offset {block:#x} unaligned (reftable index: {})",
            c_hex(table_index as u64)
        )))
    }

    /// A copy of refcount block `table_index` (`None` where the table names
    /// no block).
    pub(super) fn refcount_block(&mut self, table_index: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.loaded_refblock(table_index)?.map(<[u8]>::to_vec))
    }

    /// The refcount of cluster `cluster_index` (0 past the table).
    pub fn refcount(&mut self, cluster_index: u64) -> Result<u64> {
        let (ti, bi) = self.refblock_index(cluster_index);
        let bits = self.refcount_bits();
        Ok(self.loaded_refblock(ti)?.and_then(|buf| RefcountBlock::get(buf, bi, bits)).unwrap_or(0))
    }

    /// The refcount block reftable entry `ti` points to, checked and in the
    /// cache; `None` when the entry is past the table or empty.
    fn loaded_refblock(&mut self, ti: usize) -> Result<Option<&[u8]>> {
        let block = self.reftable.get(ti).copied().unwrap_or(0);
        if block == 0 {
            return Ok(None);
        }
        self.check_refblock_offset(block, ti)?;
        self.refblock_room(block)?;
        Ok(Some(self.refblocks.get(&self.io, block)?))
    }

    /// How many clusters of `[from, to)` have a refcount, counting no
    /// further than `limit`: one refcount block at a time.
    pub fn count_used(&mut self, from: u64, to: u64, limit: u64) -> Result<u64> {
        let per_block = 1u64 << self.geom.refblock_bits;
        let bits = self.refcount_bits();
        let mut count = 0u64;
        let mut i = from;
        while i < to && count < limit {
            let (ti, first) = self.refblock_index(i);
            let stop = (i - first as u64 + per_block).min(to);
            if let Some(buf) = self.loaded_refblock(ti)? {
                for bi in first..first + (stop - i) as usize {
                    count += (RefcountBlock::get(buf, bi, bits).unwrap_or(0) != 0) as u64;
                }
            }
            i = stop;
        }
        Ok(count.min(limit))
    }

    fn set_refcount_in(&mut self, block: u64, index: usize, value: u64) -> Result<()> {
        self.refblock_room(block)?;
        let bits = self.refcount_bits();
        let buf = self.refblocks.get(&self.io, block)?;
        if !RefcountBlock::set(buf, index, bits, value) {
            return Err(Error::corrupt("qcow2: refcount does not fit its width"));
        }
        self.refblocks.mark_dirty(block);
        Ok(())
    }

    /// A new, zeroed refcount block at `offset`, written at once.
    fn new_refblock(&mut self, offset: u64) -> Result<()> {
        self.refblock_room(offset)?;
        self.refblocks.insert_zeroed(offset);
        self.io.write_at(&vec![0u8; self.geom.cluster_size as usize], offset)
    }

    fn write_reftable_entry(&self, index: usize, block: u64) -> Result<()> {
        let mut buf = [0u8; RefcountTable::ENTRY_SIZE];
        RefcountTable::set(&mut buf, 0, RefcountTableEntry::new().with_block_offset(block));
        self.io.write_at(&buf, self.header.refcount_table_offset + (index * RefcountTable::ENTRY_SIZE) as u64)
    }

    /// Finds the refcount block covering `cluster_index`, allocating one if
    /// needed (which always ends in `Again`: the caller restarts).
    fn refcount_block_for(&mut self, cluster_index: u64) -> Step<u64> {
        let (ti, _) = self.refblock_index(cluster_index);
        if let Some(&b) = self.reftable.get(ti) {
            if b != 0 {
                self.check_refblock_offset(b, ti)?;
                return Ok(b);
            }
        }
        let new_block = self.alloc_clusters_noref(self.geom.cluster_size)?;
        let cb = self.geom.cluster_bits;
        if new_block >> (cb + self.geom.refblock_bits) == cluster_index >> self.geom.refblock_bits {
            // The block falls in its own range: it counts itself.
            self.new_refblock(new_block)?;
            let (_, bi) = self.refblock_index(new_block >> cb);
            self.set_refcount_in(new_block, bi, 1)?;
        } else {
            self.update_refcount(new_block, self.geom.cluster_size, 1)?;
            self.new_refblock(new_block)?;
        }
        if ti < self.reftable.len() {
            self.refblocks.flush(&self.io)?;
            self.write_reftable_entry(ti, new_block)?;
            self.reftable[ti] = new_block;
            return Err(Fail::Again);
        }
        let entries = self.geom.refblock_entries();
        let blocks_used = (cluster_index + 1).max((new_block >> cb) + 1).div_ceil(entries);
        let area_start = blocks_used * entries * self.geom.cluster_size;
        self.refcount_area(area_start, 0, false, Some((ti, new_block)))?;
        Err(Fail::Again)
    }

    /// Lays out new refcount metadata at `start`: refcount blocks for the
    /// whole image plus `additional` clusters, then a new refcount table; the
    /// header is switched to the new table and the old one freed. Returns the
    /// end of the area.
    pub(super) fn refcount_area(
        &mut self,
        start: u64,
        additional: u64,
        exact: bool,
        new_block: Option<(usize, u64)>,
    ) -> Step<u64> {
        let cs = self.geom.cluster_size;
        let entries = self.geom.refblock_entries();
        let (_, total_blocks) =
            refcount_metadata_size(start / cs + additional, cs, self.geom.refcount_order, !exact);
        if total_blocks * 8 > MAX_REFTABLE_BYTES {
            return Err(too_big());
        }
        let area_index = ((start / cs) / entries) as usize;
        let mut table_size = if exact { total_blocks } else { total_blocks + total_blocks.div_ceil(2) };
        table_size = table_size.div_ceil(cs / 8) * (cs / 8);
        let table_clusters = table_size * 8 / cs;
        if table_size * 8 > MAX_REFTABLE_BYTES {
            return Err(too_big());
        }
        let mut table = vec![0u64; table_size as usize];
        let used = self.reftable.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1).max(1);
        let keep = used.min(table.len()).min(self.reftable.len());
        table[..keep].copy_from_slice(&self.reftable[..keep]);
        if let Some((i, b)) = new_block {
            table[i] = b;
        }
        let total = total_blocks as usize;
        let missing = (area_index..total).filter(|i| table[*i] == 0).count() as u64;
        let table_offset = start + missing * cs;
        let end = table_offset + table_clusters * cs;
        let mut block_offset = start;
        #[allow(clippy::needless_range_loop)] // the loop reads the whole table too
        for i in area_index..total {
            if table[i] == 0 {
                self.new_refblock(block_offset)?;
                table[i] = block_offset;
                block_offset += cs;
            }
            // Count the new blocks and the new table where this block covers them.
            let first = i as u64 * entries * cs;
            if first < end {
                let from = if first < start { (start - first) / cs } else { 0 };
                let to = ((end - first) / cs).min(entries);
                for k in from..to {
                    self.set_refcount_in(table[i], k as usize, 1)?;
                }
            }
        }
        self.refblocks.flush(&self.io)?;
        let mut bytes = vec![0u8; table.len() * RefcountTable::ENTRY_SIZE];
        for (i, b) in table.iter().enumerate() {
            RefcountTable::set(&mut bytes, i, RefcountTableEntry::new().with_block_offset(*b));
        }
        self.io.write_at(&bytes, table_offset)?;
        let (old_offset, old_len) = (self.header.refcount_table_offset, self.reftable.len() as u64);
        self.header.refcount_table_offset = table_offset;
        self.header.refcount_table_clusters =
            u32::try_from(table_clusters).map_err(|_| Fail::Err(Error::errno(libc::EFBIG)))?;
        self.write_header()?;
        self.reftable = table;
        self.update_refcount(old_offset, old_len * 8, -1)?;
        Ok(end)
    }

    /// Adds `addend` to the refcount of every cluster in `[offset, offset + len)`.
    /// On `Again`, what was already changed is undone.
    pub(super) fn update_refcount(&mut self, offset: u64, len: u64, addend: i64) -> Step<()> {
        if len == 0 {
            return Ok(());
        }
        let cb = self.geom.cluster_bits;
        let start = offset >> cb;
        let last = (offset + len - 1) >> cb;
        let mut block = 0u64;
        let mut block_table_index = usize::MAX;
        let mut ci = start;
        while ci <= last {
            let (ti, bi) = self.refblock_index(ci);
            if ti != block_table_index {
                match self.refcount_block_for(ci) {
                    Ok(b) => block = b,
                    Err(Fail::Again) => {
                        if self.free_cluster_index > start {
                            self.free_cluster_index = start;
                        }
                        if ci > start {
                            self.update_refcount(offset, (ci - start) << cb, -addend)?;
                        }
                        return Err(Fail::Again);
                    }
                    Err(e) => return Err(e),
                }
                block_table_index = ti;
            }
            let bits = 1 << self.geom.refcount_order;
            self.refblock_room(block)?;
            let current = RefcountBlock::get(self.refblocks.get(&self.io, block)?, bi, bits).unwrap_or(0);
            let value = current.checked_add_signed(addend).filter(|v| *v <= self.geom.refcount_max());
            let Some(value) = value else {
                return Err(Fail::Err(Error::corrupt(format!(
                    "qcow2: refcount of cluster {ci} would leave its range"
                ))));
            };
            self.set_refcount_in(block, bi, value)?;
            if value == 0 && ci < self.free_cluster_index {
                self.free_cluster_index = ci;
            }
            ci += 1;
        }
        Ok(())
    }

    /// Finds `size` bytes of free clusters from `free_cluster_index` without
    /// counting them.
    pub(super) fn alloc_clusters_noref(&mut self, size: u64) -> Step<u64> {
        let n = size.div_ceil(self.geom.cluster_size).max(1);
        'search: loop {
            for _ in 0..n {
                let index = self.free_cluster_index;
                self.free_cluster_index += 1;
                if self.refcount(index)? != 0 {
                    continue 'search;
                }
            }
            break;
        }
        if self.free_cluster_index - 1 > MAX_CLUSTER_OFFSET >> self.geom.cluster_bits {
            return Err(too_big());
        }
        Ok((self.free_cluster_index - n) << self.geom.cluster_bits)
    }

    /// Allocates `size` bytes of clusters and counts them; returns the offset.
    pub fn alloc_clusters(&mut self, size: u64) -> Result<u64> {
        loop {
            let offset = settle(self.alloc_clusters_noref(size))?;
            match self.update_refcount(offset, size, 1) {
                Ok(()) => return Ok(offset),
                Err(Fail::Again) => continue,
                Err(Fail::Err(e)) => return Err(e),
            }
        }
    }

    /// Allocates up to `n` clusters at `offset`, stopping at the first one in
    /// use; returns how many were allocated.
    pub fn alloc_clusters_at(&mut self, offset: u64, n: u64) -> Result<u64> {
        if n == 0 {
            return Ok(0);
        }
        loop {
            let first = offset >> self.geom.cluster_bits;
            let mut free = 0;
            while free < n && self.refcount(first + free)? == 0 {
                free += 1;
            }
            match self.update_refcount(offset, free << self.geom.cluster_bits, 1) {
                Ok(()) => return Ok(free),
                Err(Fail::Again) => continue,
                Err(Fail::Err(e)) => return Err(e),
            }
        }
    }

    /// Allocates `size` bytes (at most a cluster) for compressed data, packed
    /// after the previous compressed cluster as qemu packs them. Every host
    /// cluster the bytes touch gains one reference.
    pub fn alloc_bytes(&mut self, size: u64) -> Result<u64> {
        let cs = self.geom.cluster_size;
        let cb = self.geom.cluster_bits;
        let mut offset = self.free_byte_offset;
        if offset != 0 && self.refcount(offset >> cb)? == self.geom.refcount_max() {
            offset = 0;
        }
        let mut free_in_cluster = cs - offset % cs;
        loop {
            if offset == 0 || free_in_cluster < size {
                let new_cluster = settle(self.alloc_clusters_noref(cs))?;
                if new_cluster == 0 {
                    return Err(Error::corrupt("Preventing invalid allocation of compressed cluster at offset 0"));
                }
                if offset == 0 || offset.div_ceil(cs) * cs != new_cluster {
                    offset = new_cluster;
                    free_in_cluster = cs;
                } else {
                    free_in_cluster += cs;
                }
            }
            match self.update_refcount(offset, size, 1) {
                Ok(()) => break,
                Err(Fail::Again) => {
                    offset = 0;
                    continue;
                }
                Err(Fail::Err(e)) => return Err(e),
            }
        }
        self.free_byte_offset = if (offset + size).is_multiple_of(cs) { 0 } else { offset + size };
        Ok(offset)
    }

    /// Drops one reference to each cluster of `[offset, offset + len)`.
    pub fn free_clusters(&mut self, offset: u64, len: u64) -> Result<()> {
        settle(self.update_refcount(offset, len, -1))
    }

    /// Index of the last cluster with a non-zero refcount below `end`.
    pub fn last_used_cluster(&mut self, end: u64) -> Result<Option<u64>> {
        let mut i = end.div_ceil(self.geom.cluster_size);
        while i > 0 {
            i -= 1;
            if self.refcount(i)? > 0 {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_size_fixed_point() {
        // 64 KiB clusters, 16-bit refcounts: one block counts 32768 clusters.
        assert_eq!(refcount_metadata_size(10, 65536, 4, false), (2 * 65536, 1));
        let (_, blocks) = refcount_metadata_size(32768, 65536, 4, false);
        assert_eq!(blocks, 2);
    }
}
