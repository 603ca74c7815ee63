//! Rebuilding the refcount structure from the counted references (qemu's
//! `rebuild_refcount_structure`): new refcount blocks and a new refcount
//! table are placed in clusters the counts show free (growing the image if
//! needed), written, and the header switched to them. The old structure is
//! left leaked; the second pass of the check frees it.

use super::imrt::Imrt;
use super::overlap::Section;
use super::Checker;
use crate::check::CheckResult;
use crate::error::{Error, ErrorKind, Result};
use qimg_formats::qcow2::{RefcountBlock, RefcountTable, RefcountTableEntry};

/// The most refcount table entries a rebuild writes: what qemu opens (8 MiB).
const MAX_REFTABLE_ENTRIES: usize = (8 << 20) / RefcountTable::ENTRY_SIZE;

/// Prefixes an error as qemu's `error_setg_errno(errp, ret, what)` does.
fn failed(what: &str) -> impl Fn(Error) -> Error + '_ {
    move |e: Error| Error::errno_with(e.errno.unwrap_or(libc::EIO), what)
}

impl Checker<'_> {
    /// Writes a new refcount structure made from `imrt` (which gains the
    /// clusters it takes) and switches the image to it.
    pub(super) fn rebuild_refcount_structure(&mut self, res: &mut CheckResult, imrt: &mut Imrt) -> Result<()> {
        self.meta.refblocks.flush(&self.q.storage)?;
        self.meta.refblocks.clear();
        let cs = self.cluster_size();
        let mut table: Vec<u64> = Vec::new();
        let end = imrt.len();
        if let Err(e) = self.write_refblocks(imrt, 0, end, &mut table) {
            res.check_errors += 1;
            return Err(e);
        }
        let (offset, clusters) = loop {
            let clusters = (table.len() * RefcountTable::ENTRY_SIZE) as u64 / cs;
            let mut first_free = 0;
            let offset = match alloc_clusters(imrt, clusters, &mut first_free, self.cluster_bits()) {
                Ok(o) => o,
                Err(e) => {
                    res.check_errors += 1;
                    return Err(failed("ERROR allocating reftable")(e));
                }
            };
            let start = offset / cs;
            match self.write_refblocks(imrt, start, start + clusters, &mut table) {
                Ok(true) => continue,
                Ok(false) => break (offset, clusters),
                Err(e) => {
                    res.check_errors += 1;
                    return Err(e);
                }
            }
        };
        let mut bytes = vec![0u8; table.len() * RefcountTable::ENTRY_SIZE];
        for (i, b) in table.iter().enumerate() {
            RefcountTable::set(&mut bytes, i, RefcountTableEntry::new().with_block_offset(*b));
        }
        self.pre_write_overlap_check(Section::None, offset, bytes.len() as u64)
            .map_err(failed("ERROR writing reftable"))?;
        self.q.storage.write_at(&bytes, offset).map_err(failed("ERROR writing reftable"))?;
        let h = &mut self.meta.header;
        h.refcount_table_offset = offset;
        h.refcount_table_clusters = u32::try_from(clusters).map_err(|_| Error::errno(libc::EFBIG))?;
        self.meta.write_header().and_then(|_| self.q.storage.sync()).map_err(failed("ERROR setting reftable"))?;
        self.reftable = table.clone();
        self.meta.reftable = table;
        Ok(())
    }

    /// Writes the refcount blocks for the clusters in use in `[first, end)`,
    /// allocating those not yet in `table` (which grows as needed). Returns
    /// whether `table` grew.
    fn write_refblocks(&mut self, imrt: &mut Imrt, first: u64, end: u64, table: &mut Vec<u64>) -> Result<bool> {
        let cs = self.cluster_size();
        let bits = self.meta.geom.refblock_bits;
        let per_block = 1u64 << bits;
        let refcount_bits = 1u32 << self.meta.geom.refcount_order;
        let entries_per_cluster = cs as usize / RefcountTable::ENTRY_SIZE;
        let mut end = end;
        let mut first_free = 0;
        let mut grown = false;
        let mut cluster = first;
        while cluster < end {
            let Some(used) = imrt.next_used(cluster, end) else { break };
            let index = (used >> bits) as usize;
            let start = (index as u64) << bits;
            let offset = match table.get(index) {
                Some(&o) if o != 0 => o,
                _ => {
                    first_free = first_free.max(start);
                    let o = alloc_clusters(imrt, 1, &mut first_free, self.cluster_bits())
                        .map_err(failed("ERROR allocating refblock"))?;
                    end = end.max(o / cs + 1);
                    if table.len() <= index {
                        let entries = (index + 1).div_ceil(entries_per_cluster) * entries_per_cluster;
                        if entries > MAX_REFTABLE_ENTRIES {
                            return Err(Error::new(ErrorKind::Io, "ERROR allocating reftable memory")
                                .with_errno(libc::ENOMEM));
                        }
                        table.resize(entries, 0);
                        grown = true;
                    }
                    table[index] = o;
                    o
                }
            };
            self.pre_write_overlap_check(Section::None, offset, cs).map_err(failed("ERROR writing refblock"))?;
            let mut block = vec![0u8; cs as usize];
            let mut k = start;
            while let Some(j) = imrt.next_used(k, start + per_block) {
                if !RefcountBlock::set(&mut block, (j - start) as usize, refcount_bits, imrt.get(j)) {
                    return Err(Error::errno(libc::EINVAL));
                }
                k = j + 1;
            }
            self.q.storage.write_at(&block, offset).map_err(failed("ERROR writing refblock"))?;
            cluster = start + per_block;
        }
        Ok(grown)
    }
}

/// Takes `count` contiguous free clusters in `imrt`, searching from
/// `first_free` (updated to the first free cluster seen), growing the
/// table past its end when no run is free (qemu's `alloc_clusters_imrt`).
fn alloc_clusters(imrt: &mut Imrt, count: u64, first_free: &mut u64, cluster_bits: u32) -> Result<u64> {
    let len = imrt.len();
    let mut pos = *first_free;
    let mut first_gap = true;
    let start = loop {
        let Some(free) = (pos < len).then(|| imrt.next_free(pos, len)).flatten() else { break pos.max(len) };
        if first_gap {
            *first_free = free;
            first_gap = false;
        }
        match imrt.next_used(free, (free + count).min(len)) {
            Some(used) => pos = used,
            None => break free,
        }
    };
    if start + count > len {
        imrt.resize(start + count)?;
    }
    for i in start..start + count {
        imrt.set(i, 1);
    }
    Ok(start << cluster_bits)
}
