//! Crash-safe metadata updates by shadow paging.
//!
//! qemu-img's `check` calls an image corrupt when a refcount is below the
//! number of references, and also when the COPIED flag of an active L1 or L2
//! entry disagrees with the refcount (set with a refcount other than 1, or
//! clear with a refcount of 1). Taking or dropping an internal snapshot
//! changes refcounts and COPIED flags together, and no order of in-place
//! writes keeps both rules at every instant: qemu-img itself, killed during
//! `snapshot -c`, often leaves an image its own check calls corrupt.
//!
//! A [`Shadow`] never writes in place. Every structure it changes (refcount
//! blocks, the refcount table, L1 and L2 tables, the snapshot table) is
//! written to clusters that are free both before and after the update, and
//! one write of the header — whose refcount table, L1 table and snapshot
//! table fields all lie in its first 72 bytes — switches from the old
//! metadata to the new. A crash before that write leaves the old image
//! untouched (new clusters are unreferenced and counted nowhere); a crash
//! after it leaves the new image complete. Clusters only the old metadata
//! used have a refcount of 0 in the new one, so nothing leaks either;
//! they are punched out of the file after the switch.
//!
//! New refcount values are kept as full copies of the refcount blocks they
//! belong to, in a bounded write-back cache keyed by the blocks' new
//! offsets: a block evicted early is simply written to its new place, which
//! nothing references yet.

use super::cache::MetaCache;
use super::meta::Meta;
use crate::error::{Error, Result};
use qimg_formats::qcow2::{Header, RefcountBlock, RefcountTable, RefcountTableEntry};
use std::collections::BTreeMap;

/// Bytes of new refcount blocks kept in memory.
const BLOCK_CACHE_BYTES: u64 = 4 << 20;
/// qemu's limit on the refcount table: 8 MiB.
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
/// Host offsets must fit in the 56 bits an L2 entry has.
const MAX_CLUSTER_OFFSET: u64 = (1 << 56) - 1;

/// An update in progress over the metadata of an image opened for writing.
pub(super) struct Shadow<'m> {
    meta: &'m mut Meta,
    /// Refcount blocks given a new place: table index → new offset.
    moved: BTreeMap<usize, u64>,
    /// The new contents of moved blocks, keyed by their new offsets.
    blocks: MetaCache,
    /// The allocator's next candidate cluster (it only moves forward).
    cursor: u64,
    /// Refcount changes waiting to be applied (moving a block queues some).
    pending: Vec<(u64, i64)>,
}

impl<'m> Shadow<'m> {
    /// Starts an update. The cached metadata is written back first, so that
    /// the file holds the old state in full.
    pub fn begin(meta: &'m mut Meta) -> Result<Shadow<'m>> {
        meta.flush()?;
        let cs = meta.geom.cluster_size;
        let blocks = MetaCache::new((BLOCK_CACHE_BYTES / cs).max(4) as usize, cs as usize);
        Ok(Shadow { meta, moved: BTreeMap::new(), blocks, cursor: 0, pending: Vec::new() })
    }

    /// The metadata being updated (its state is the old one until [`Shadow::commit`]).
    pub fn meta(&mut self) -> &mut Meta {
        self.meta
    }

    fn cluster_bits(&self) -> u32 {
        self.meta.geom.cluster_bits
    }

    fn block_index(&self, cluster: u64) -> (usize, usize) {
        let bits = self.meta.geom.refblock_bits;
        ((cluster >> bits) as usize, (cluster & ((1 << bits) - 1)) as usize)
    }

    /// The old table's block for table index `ti`, if any.
    fn old_block(&self, ti: usize) -> Option<u64> {
        self.meta.reftable.get(ti).copied().filter(|b| *b != 0)
    }

    /// The refcount of `cluster` after the update (as far as it is known).
    pub fn refcount(&mut self, cluster: u64) -> Result<u64> {
        let (ti, bi) = self.block_index(cluster);
        let Some(&offset) = self.moved.get(&ti) else { return self.meta.refcount(cluster) };
        let bits = 1 << self.meta.geom.refcount_order;
        let buf = self.block(offset)?;
        Ok(RefcountBlock::get(buf, bi, bits).unwrap_or(0))
    }

    /// The new block at `offset`, from the cache or from where it was evicted to.
    fn block(&mut self, offset: u64) -> Result<&mut Vec<u8>> {
        while !self.blocks.has_room(offset) {
            self.blocks.evict_one(&self.meta.io)?;
        }
        self.blocks.get(&self.meta.io, offset)
    }

    /// Adds `delta` to the refcount of cluster index `cluster`. Refcounts
    /// must stay within their width (qemu's `EINVAL` otherwise).
    pub fn add(&mut self, cluster: u64, delta: i64) -> Result<()> {
        self.pending.push((cluster, delta));
        while let Some((c, d)) = self.pending.pop() {
            let (ti, bi) = self.block_index(c);
            let offset = match self.moved.get(&ti) {
                Some(&o) => o,
                None => self.move_block(ti)?,
            };
            let bits = 1 << self.meta.geom.refcount_order;
            let max = self.meta.geom.refcount_max();
            let buf = self.block(offset)?;
            let current = RefcountBlock::get(buf, bi, bits).unwrap_or(0);
            let Some(value) = current.checked_add_signed(d).filter(|v| *v <= max) else {
                return Err(Error::errno(libc::EINVAL));
            };
            RefcountBlock::set(buf, bi, bits, value);
            self.blocks.mark_dirty(offset);
        }
        Ok(())
    }

    /// Adds `delta` to every cluster of the byte range `[offset, offset + len)`.
    pub fn add_range(&mut self, offset: u64, len: u64, delta: i64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let cb = self.cluster_bits();
        let last = offset.checked_add(len - 1).ok_or_else(|| Error::errno(libc::EFBIG))? >> cb;
        for c in offset >> cb..=last {
            self.add(c, delta)?;
        }
        Ok(())
    }

    /// Gives refcount block `ti` a new place holding a copy of its old
    /// contents (zeros when it had none), and queues the refcount changes
    /// that this makes: +1 for the new place, -1 for the old one.
    fn move_block(&mut self, ti: usize) -> Result<u64> {
        let cs = self.meta.geom.cluster_size;
        let offset = self.find_free(1)?;
        let mut content = vec![0u8; cs as usize];
        if let Some(old) = self.old_block(ti) {
            self.meta.io.read_zero_padded(&mut content, old)?;
            self.pending.push((old >> self.cluster_bits(), -1));
        }
        while !self.blocks.has_room(offset) {
            self.blocks.evict_one(&self.meta.io)?;
        }
        self.blocks.insert_zeroed(offset).copy_from_slice(&content);
        self.blocks.mark_dirty(offset);
        self.moved.insert(ti, offset);
        self.pending.push((offset >> self.cluster_bits(), 1));
        Ok(offset)
    }

    /// Finds `n` consecutive clusters that are free before and after the
    /// update, without counting them.
    fn find_free(&mut self, n: u64) -> Result<u64> {
        let n = n.max(1);
        let mut start = self.cursor;
        let mut found = 0;
        while found < n {
            let c = start + found;
            if c > MAX_CLUSTER_OFFSET >> self.cluster_bits() {
                return Err(Error::errno(libc::EFBIG));
            }
            if self.meta.refcount(c)? == 0 && self.refcount(c)? == 0 {
                found += 1;
            } else {
                start = c + 1;
                found = 0;
            }
        }
        self.cursor = start + n;
        Ok(start << self.cluster_bits())
    }

    /// Allocates clusters for `bytes`, gives them a refcount of `refs` and
    /// writes `bytes` there. Returns the offset.
    pub fn alloc_write(&mut self, bytes: &[u8], refs: i64) -> Result<u64> {
        let cs = self.meta.geom.cluster_size;
        let n = (bytes.len() as u64).div_ceil(cs);
        let offset = self.find_free(n)?;
        self.add_range(offset, n * cs, refs)?;
        self.meta.io.write_at(bytes, offset)?;
        Ok(offset)
    }

    /// Lays out the new refcount table: every old block that was not moved
    /// keeps its place. Returns (offset, entries).
    fn place_table(&mut self) -> Result<(u64, u64)> {
        let cs = self.meta.geom.cluster_size;
        let per_cluster = cs / RefcountTable::ENTRY_SIZE as u64;
        let old_entries = self.meta.reftable.len() as u64;
        let old_bytes = old_entries * RefcountTable::ENTRY_SIZE as u64;
        self.add_range(self.meta.header.refcount_table_offset, old_bytes, -1)?;
        let mut placed: Option<(u64, u64)> = None;
        loop {
            let used = self.moved.keys().next_back().map_or(0, |i| *i as u64 + 1);
            let entries = old_entries.max(used).div_ceil(per_cluster).max(1) * per_cluster;
            if let Some(p) = placed.filter(|p| p.1 >= entries) {
                return Ok(p);
            }
            if entries * RefcountTable::ENTRY_SIZE as u64 > MAX_REFTABLE_BYTES {
                return Err(Error::errno(libc::EFBIG));
            }
            if let Some((offset, n)) = placed.take() {
                self.add_range(offset, n * RefcountTable::ENTRY_SIZE as u64, -1)?;
            }
            let offset = self.find_free(entries / per_cluster)?;
            self.add_range(offset, entries * RefcountTable::ENTRY_SIZE as u64, 1)?;
            placed = Some((offset, entries));
        }
    }

    /// Finishes the update: writes the new refcount blocks and table, then
    /// switches to the new metadata with one write of `header` (whose
    /// refcount table fields are filled in here), then frees what only the
    /// old metadata used. `l1` is the new active L1 table, decoded.
    pub fn commit(mut self, mut header: Header, l1: Vec<u64>) -> Result<()> {
        let (table_offset, entries) = self.place_table()?;
        let mut table = self.meta.reftable.clone();
        table.resize(entries as usize, 0);
        for (&ti, &offset) in &self.moved {
            if let Some(slot) = table.get_mut(ti) {
                *slot = offset;
            }
        }
        let mut bytes = vec![0u8; table.len() * RefcountTable::ENTRY_SIZE];
        for (i, b) in table.iter().enumerate() {
            RefcountTable::set(&mut bytes, i, RefcountTableEntry::new().with_block_offset(*b));
        }
        self.meta.io.write_at(&bytes, table_offset)?;
        self.blocks.flush(&self.meta.io)?;
        self.meta.io.sync()?;
        let cs = self.meta.geom.cluster_size;
        header.refcount_table_offset = table_offset;
        header.refcount_table_clusters = u32::try_from(bytes.len() as u64 / cs).map_err(|_| Error::errno(libc::EFBIG))?;
        let old_table = std::mem::replace(&mut self.meta.reftable, table.clone());
        self.meta.header = header;
        self.meta.write_header()?;
        self.meta.io.sync()?;
        let freed = self.freed(&old_table)?;
        self.meta.reload(table, l1);
        for (offset, len) in freed {
            self.meta.io.punch_hole(offset, len)?;
        }
        Ok(())
    }

    /// Runs of clusters that had a refcount before the update and have none
    /// after it, inside the file: (offset, length) in bytes.
    fn freed(&mut self, old_table: &[u64]) -> Result<Vec<(u64, u64)>> {
        let cs = self.meta.geom.cluster_size;
        let file_len = self.meta.io.len()?;
        let bits = 1 << self.meta.geom.refcount_order;
        let per_block = self.meta.geom.refblock_entries();
        let moved: Vec<(usize, u64)> = self.moved.iter().map(|(t, o)| (*t, *o)).collect();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut old = vec![0u8; cs as usize];
        for (ti, offset) in moved {
            let Some(&old_offset) = old_table.get(ti).filter(|o| **o != 0) else { continue };
            self.meta.io.read_zero_padded(&mut old, old_offset)?;
            let new = self.block(offset)?;
            for i in 0..per_block as usize {
                let was = RefcountBlock::get(&old, i, bits).unwrap_or(0);
                let now = RefcountBlock::get(new, i, bits).unwrap_or(0);
                let at = (ti as u64 * per_block + i as u64) * cs;
                if was == 0 || now != 0 || at >= file_len {
                    continue;
                }
                match runs.last_mut() {
                    Some((start, len)) if *start + *len == at => *len += cs,
                    _ => runs.push((at, cs)),
                }
            }
        }
        Ok(runs)
    }
}
