//! Changing the refcount width (`amend -o refcount_bits=N`) as qemu does.
//!
//! New refcount blocks and a new refcount table are allocated, and counted,
//! in the current structures: walks over the current refcounts repeat until
//! a walk allocates nothing more. A last walk fills the new blocks from the
//! current counts (which by then include the new structures) and writes
//! them, then the new table is written. The header switches to the new
//! table and width in one write; the old blocks and table are freed last,
//! in the new structures. A crash leaves one of the two valid and the other
//! leaked.

use super::amend::Progress;
use super::header::{write_cluster0, Extensions};
use super::meta::{Geometry, Meta};
use super::Qcow2;
use crate::error::{c_hex, Error, Result};
use qimg_formats::qcow2::{RefcountBlock, RefcountTable, RefcountTableEntry};

/// qemu's limit on the refcount table: 8 MiB.
const MAX_REFTABLE_BYTES: u64 = 8 << 20;

/// What a walk over the current refcounts does with each new block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Allocates the new blocks that will count something.
    Allocate,
    /// Fills and writes the new blocks.
    Write,
}

/// The new refcount structures being built.
struct Target {
    /// Refcount bits per entry.
    bits: u32,
    /// Entries per new block.
    entries: u64,
    /// The new table (block offsets).
    table: Vec<u64>,
}

impl Qcow2 {
    /// Changes the refcount width to `1 << order` bits.
    pub(super) fn change_refcount_order(&mut self, order: u32, progress: &mut Progress<'_>) -> Result<()> {
        let backing = self.backing.as_ref().map(|b| b.filename.clone());
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        meta.change_refcount_order(order, &self.ext, backing.as_deref(), &mut |done, total| progress.step(done, total))?;
        self.header = meta.header.clone();
        self.geom = meta.geom;
        Ok(())
    }
}

impl Meta {
    fn change_refcount_order(
        &mut self,
        order: u32,
        ext: &Extensions,
        backing: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let cs = self.geom.cluster_size;
        let bits = 1u32 << order;
        let mut target = Target { bits, entries: cs * 8 / bits as u64, table: Vec::new() };
        let mut table_at = (0u64, 0u64);
        let built = self.build_refcount_structures(&mut target, &mut table_at, progress);
        if let Err(e) = built {
            // Nothing points at the new structures: give their clusters back.
            for block in target.table.iter().filter(|b| **b != 0) {
                let _ = self.free_clusters(*block, cs);
            }
            if table_at.0 != 0 {
                let _ = self.free_clusters(table_at.0, table_at.1 * RefcountTable::ENTRY_SIZE as u64);
            }
            return Err(e);
        }
        let old_table = std::mem::take(&mut self.reftable);
        let old_header = self.header.clone();
        self.header.refcount_order = order;
        self.header.refcount_table_offset = table_at.0;
        self.header.refcount_table_clusters = u32::try_from(target.table.len() as u64 * 8 / cs)
            .map_err(|_| Error::errno(libc::EFBIG))?;
        if let Err(e) = write_cluster0(self, ext, backing) {
            self.header = old_header;
            self.reftable = old_table;
            return Err(e.prefix("Failed to update the qcow2 header"));
        }
        self.reftable = target.table;
        self.geom = Geometry::of(&self.header);
        self.refblocks.clear();
        for block in old_table.iter().filter(|b| **b != 0) {
            self.free_clusters(*block, cs)?;
        }
        self.free_clusters(old_header.refcount_table_offset, old_table.len() as u64 * RefcountTable::ENTRY_SIZE as u64)?;
        self.refblocks.flush(&self.io)
    }

    /// Allocates the new blocks and table (walking until nothing more is
    /// needed), then fills and writes them. `table_at` receives the new
    /// table's offset and length in entries.
    fn build_refcount_structures(
        &mut self,
        target: &mut Target,
        table_at: &mut (u64, u64),
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let mut walk_index = 0u64;
        loop {
            let walks = (walk_index + 2).max(3);
            let allocated = self.walk_refcounts(Walk::Allocate, target, walk_index, walks, progress)?;
            walk_index += 1;
            if !allocated {
                break;
            }
            if table_at.0 != 0 {
                self.free_clusters(table_at.0, table_at.1 * RefcountTable::ENTRY_SIZE as u64)?;
            }
            let len = target.table.len() as u64;
            let offset = self
                .alloc_clusters(len * RefcountTable::ENTRY_SIZE as u64)
                .map_err(|e| e.prefix("Failed to allocate the new reftable"))?;
            *table_at = (offset, len);
        }
        self.walk_refcounts(Walk::Write, target, walk_index, walk_index + 1, progress)?;
        let mut bytes = vec![0u8; target.table.len() * RefcountTable::ENTRY_SIZE];
        for (i, b) in target.table.iter().enumerate() {
            RefcountTable::set(&mut bytes, i, RefcountTableEntry::new().with_block_offset(*b));
        }
        self.io.write_at(&bytes, table_at.0).map_err(|e| e.prefix("Failed to write the new reftable"))?;
        self.refblocks.flush(&self.io).map_err(|e| e.prefix("Failed to flush the refblock cache"))
    }

    /// One walk over every current refcount, in order, cutting them into
    /// new blocks; returns whether a new block was allocated. Reports
    /// `progress` per current table entry, as walk `index` of `walks`.
    fn walk_refcounts(
        &mut self,
        walk: Walk,
        target: &mut Target,
        index: u64,
        walks: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<bool> {
        let cs = self.geom.cluster_size;
        let old_bits = 1u32 << self.geom.refcount_order;
        let old_entries = self.geom.refblock_entries();
        let mut allocated = false;
        let mut block = vec![0u8; if walk == Walk::Write { cs as usize } else { 0 }];
        let (mut filled, mut empty, mut new_index) = (0u64, true, 0usize);
        let mut i = 0usize;
        while i < self.reftable.len() {
            let len = self.reftable.len() as u64;
            progress(index * len + i as u64, walks * len);
            let old = self.reftable[i];
            if !old.is_multiple_of(cs) {
                return Err(Error::corrupt("Image is corrupt (unaligned refblock offset)"));
            }
            let mut k = 0u64;
            while k < old_entries {
                if filled >= target.entries {
                    self.finish_block(walk, target, new_index, &block, empty, &mut allocated)?;
                    new_index += 1;
                    filled = 0;
                    empty = true;
                    block.fill(0);
                }
                let n = (old_entries - k).min(target.entries - filled);
                if old != 0 {
                    self.refblock_room(old)?;
                    let counts = self.refblocks.get(&self.io, old)?;
                    for t in 0..n {
                        let count = RefcountBlock::get(counts, (k + t) as usize, old_bits).unwrap_or(0);
                        if target.bits < 64 && count >> target.bits != 0 {
                            let cluster = ((i as u64) << self.geom.refblock_bits) + k + t;
                            return Err(Error::invalid(format!(
                                "Cannot decrease refcount entry width to {} bits: Cluster at offset {} has a refcount of {count}",
                                target.bits,
                                c_hex(cluster << self.geom.cluster_bits)
                            )));
                        }
                        if walk == Walk::Write {
                            RefcountBlock::set(&mut block, (filled + t) as usize, target.bits, count);
                        }
                        empty &= count == 0;
                    }
                }
                filled += n;
                k += n;
            }
            i += 1;
        }
        if filled > 0 {
            self.finish_block(walk, target, new_index, &block, empty, &mut allocated)?;
        }
        let len = self.reftable.len() as u64;
        progress((index + 1) * len, walks * len);
        Ok(allocated)
    }

    /// What a walk does with a completed new block (number `index`).
    fn finish_block(
        &mut self,
        walk: Walk,
        target: &mut Target,
        index: usize,
        block: &[u8],
        empty: bool,
        allocated: &mut bool,
    ) -> Result<()> {
        let cs = self.geom.cluster_size;
        match walk {
            Walk::Allocate if !empty => {
                if index >= target.table.len() {
                    let per_cluster = (cs / RefcountTable::ENTRY_SIZE as u64) as usize;
                    let len = (index + 1).next_multiple_of(per_cluster);
                    if (len * RefcountTable::ENTRY_SIZE) as u64 > MAX_REFTABLE_BYTES {
                        return Err(Error::unsupported(
                            "This operation would make the refcount table grow beyond the maximum size supported by \
                             QEMU, aborting",
                        ));
                    }
                    target.table.resize(len, 0);
                }
                if target.table[index] == 0 {
                    target.table[index] = self.alloc_clusters(cs).map_err(|e| e.prefix("Failed to allocate refblock"))?;
                    *allocated = true;
                }
                Ok(())
            }
            Walk::Allocate => Ok(()),
            Walk::Write => match target.table.get(index) {
                Some(&offset) if offset != 0 => {
                    self.io.write_at(block, offset).map_err(|e| e.prefix("Failed to write refblock"))
                }
                _ => Ok(()),
            },
        }
    }
}
