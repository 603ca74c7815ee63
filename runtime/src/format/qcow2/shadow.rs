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
//! the largest runs of them are punched out of the file after the switch.
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
/// Hole punches after an update, at most (the largest freed runs first):
/// each costs a journal update on most file systems, and clusters left
/// allocated are only reused later, never lost.
const MAX_PUNCHES: usize = 64;

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
        let blocks = (BLOCK_CACHE_BYTES / meta.geom.cluster_size) as usize;
        Shadow::start(meta, blocks)
    }

    /// [`Shadow::begin`] with room for `blocks` new refcount blocks in memory.
    fn start(meta: &'m mut Meta, blocks: usize) -> Result<Shadow<'m>> {
        meta.flush()?;
        let cs = meta.geom.cluster_size as usize;
        let blocks = MetaCache::new(blocks.max(4), cs);
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
        // The switch: one write of the header.
        let old_header = std::mem::replace(&mut self.meta.header, header);
        if let Err(e) = self.meta.write_header() {
            self.meta.header = old_header;
            return Err(e);
        }
        let old_table = std::mem::take(&mut self.meta.reftable);
        self.meta.reload(table, l1);
        self.meta.io.sync()?;
        let mut freed = self.freed(&old_table)?;
        freed.sort_by_key(|(offset, len)| (std::cmp::Reverse(*len), *offset));
        for (offset, len) in freed.into_iter().take(MAX_PUNCHES) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::OpenOptions;
    use crate::storage::{Mode, Storage};
    use std::process::Command;

    fn run(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
        let out = Command::new(program).args(args).current_dir(dir).output().expect("run tool");
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Adds `delta` to the refcount of every cluster in use, through a cache
    /// of 4 blocks (so that new blocks are written early and read back).
    fn add_to_all(path: &str, delta: i64) -> Vec<u64> {
        let storage = Storage::open(path, Mode::ReadWrite).expect("open image");
        let q = super::super::Qcow2::open(storage, &OpenOptions::write(Some("qcow2")), 0).expect("open qcow2");
        let mut meta = q.meta.lock().expect("meta");
        let cs = meta.geom.cluster_size;
        let clusters = meta.io.len().expect("length") / cs;
        // Refcount metadata moves: leave it out.
        let table = meta.header.refcount_table_offset / cs..(meta.header.refcount_table_offset / cs)
            + meta.header.refcount_table_clusters as u64;
        let blocks: Vec<u64> = meta.reftable.iter().map(|b| b / cs).collect();
        let used: Vec<u64> = (0..clusters)
            .filter(|c| !table.contains(c) && !blocks.contains(c) && meta.refcount(*c).expect("refcount") > 0)
            .collect();
        let before: Vec<u64> = used.iter().map(|c| meta.refcount(*c).expect("refcount")).collect();
        let (header, l1) = (meta.header.clone(), meta.l1.clone());
        let mut sh = Shadow::start(&mut meta, 4).expect("begin");
        for c in &used {
            sh.add(*c, delta).expect("add");
        }
        sh.commit(header, l1).expect("commit");
        let after: Vec<u64> = used.iter().map(|c| meta.refcount(*c).expect("refcount")).collect();
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(*a as i64, *b as i64 + delta);
        }
        before
    }

    #[test]
    fn refcount_blocks_evicted_to_their_new_place_come_back() {
        let dir = std::env::temp_dir().join(format!("qimg-shadow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        // 512-byte clusters and 64-bit refcounts: a block counts 64 clusters.
        run(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64", "t.qcow2", "4M"]);
        run(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 7 0 1M", "t.qcow2"]);
        let path = dir.join("t.qcow2").to_string_lossy().into_owned();
        let used = add_to_all(&path, 1);
        assert!(used.len() > 2048, "{} clusters in use", used.len());
        add_to_all(&path, -1);
        let check = Command::new("qemu-img").args(["check", &path]).output().expect("run qemu-img check");
        assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
