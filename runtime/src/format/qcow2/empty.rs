//! Emptying an image whose data was committed into its backing file
//! (qemu's `make_empty`, what `qemu-img commit` does last without `-d`).
//!
//! qemu has two ways, and the result of each is visible (`map`, `check`'s
//! image end offset, the file size), so qimg takes the same one:
//!
//! - An image of version 3 without snapshots, persistent bitmaps, a LUKS
//!   header or an external data file is reset to the smallest layout: the
//!   header in cluster 0, a one-cluster refcount table in cluster 1, its
//!   one refcount block in cluster 2 and an empty L1 table (same size as
//!   before) from cluster 3, the file cut right after it. qemu gets there by
//!   overwriting its metadata in place under the dirty bit, which a crash
//!   leaves as an image `check` calls corrupt. qimg never writes over live
//!   metadata: it first builds a complete empty layout past the end of the
//!   file and switches the header to it (one write), then builds the final
//!   layout in clusters that layout leaves free, switches again, and cuts
//!   the file. Every crash leaves the old image, the intermediate one or the
//!   final one, each consistent (and with the data committed, all three
//!   show the same guest data through the backing file).
//! - Otherwise every cluster is discarded (L2 entries cleared, host
//!   clusters released) through the ordinary write path, whose ordering is
//!   crash safe.

use super::meta::Meta;
use super::Qcow2;
use crate::error::{Error, Result};
use crate::image::Image;
use qimg_formats::qcow2::{CryptMethod, RefcountBlock, RefcountTable, RefcountTableEntry};

/// qemu's limit on the refcount table: 8 MiB.
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
/// Zeros are written in pieces of this size at most.
const ZERO_CHUNK: u64 = 1 << 20;

/// Where an empty layout puts its structures, in clusters from `start`:
/// the refcount table, then the refcount blocks (for the blocks in
/// `blocks`, in that order), then the L1 table.
struct Layout {
    start: u64,
    table_clusters: u64,
    blocks: Vec<u64>,
    l1_clusters: u64,
}

impl Layout {
    /// The layout at cluster `start` that counts cluster 0 (the header) and
    /// its own clusters, with `refblock_entries` clusters per refcount block.
    fn at(start: u64, l1_clusters: u64, refblock_entries: u64, cluster_size: u64) -> Result<Layout> {
        let mut layout = Layout { start, table_clusters: 1, blocks: vec![0], l1_clusters };
        // Each round can only grow the table and the block list; a few
        // rounds reach the fixed point.
        for _ in 0..8 {
            let end = layout.end();
            let first = start / refblock_entries;
            let last = (end - 1) / refblock_entries;
            let mut blocks = vec![0];
            blocks.extend((first..=last).filter(|b| *b != 0));
            let table_bytes = (last + 1) * 8;
            if table_bytes > MAX_REFTABLE_BYTES {
                return Err(Error::errno(libc::EFBIG));
            }
            let table_clusters = table_bytes.div_ceil(cluster_size).max(1);
            if blocks == layout.blocks && table_clusters == layout.table_clusters {
                return Ok(layout);
            }
            layout.blocks = blocks;
            layout.table_clusters = table_clusters;
        }
        Err(Error::errno(libc::EFBIG))
    }

    /// The cluster after the layout's last one.
    fn end(&self) -> u64 {
        self.start + self.table_clusters + self.blocks.len() as u64 + self.l1_clusters
    }

    fn block_cluster(&self, i: usize) -> u64 {
        self.start + self.table_clusters + i as u64
    }

    fn l1_cluster(&self) -> u64 {
        self.start + self.table_clusters + self.blocks.len() as u64
    }

    /// Whether cluster `c` is counted (referenced) in this layout.
    fn counts(&self, c: u64) -> bool {
        c == 0 || (c >= self.start && c < self.end())
    }

    /// Writes the layout's structures (nothing references them yet) and
    /// returns the refcount table's entries.
    fn write(&self, meta: &Meta) -> Result<Vec<u64>> {
        let cs = meta.geom.cluster_size;
        let entries = meta.geom.refblock_entries();
        let bits = RefcountBlock::entry_bits(&meta.header).ok_or_else(|| Error::errno(libc::EINVAL))?;
        let mut table = vec![0u8; (self.table_clusters * cs) as usize];
        let mut offsets = vec![0u64; (self.table_clusters * cs / 8) as usize];
        for (i, &b) in self.blocks.iter().enumerate() {
            let mut block = vec![0u8; cs as usize];
            for c in (b * entries..(b + 1) * entries).filter(|c| self.counts(*c)) {
                RefcountBlock::set(&mut block, (c - b * entries) as usize, bits, 1);
            }
            let at = self.block_cluster(i) * cs;
            meta.io.write_at(&block, at)?;
            let slot = offsets.get_mut(b as usize).ok_or_else(|| Error::errno(libc::EFBIG))?;
            *slot = at;
            RefcountTable::set(&mut table, b as usize, RefcountTableEntry::new().with_block_offset(at));
        }
        meta.io.write_at(&table, self.start * cs)?;
        write_zeros(meta, self.l1_cluster() * cs, self.l1_clusters * cs)?;
        Ok(offsets)
    }
}

/// Writes `len` zero bytes at `offset` of the image file.
fn write_zeros(meta: &Meta, offset: u64, len: u64) -> Result<()> {
    let chunk = vec![0u8; len.min(ZERO_CHUNK) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(ZERO_CHUNK);
        meta.io.write_at(&chunk[..n as usize], offset + done)?;
        done += n;
    }
    Ok(())
}

impl Qcow2 {
    /// qemu's `make_empty` (see the module documentation).
    pub(super) fn empty(&self) -> Result<()> {
        let cs = self.geom.cluster_size;
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        let l1_clusters = (meta.header.l1_size as u64 * 8).div_ceil(cs);
        let no_snapshots = self.snapshots.read().map_err(|_| Error::errno(libc::EIO))?.is_empty();
        let resettable = meta.header.version >= 3
            && no_snapshots
            && meta.bitmaps_ext.as_ref().is_none_or(|b| b.nb_bitmaps == 0)
            && meta.header.crypt_method != CryptMethod::Luks
            && self.data.is_none()
            && 3 + l1_clusters <= meta.geom.refblock_entries();
        if resettable {
            reset(&mut meta, l1_clusters)
        } else {
            drop(meta);
            self.discard_all()
        }
    }

    /// Discards every cluster of the image: the L2 entries are cleared
    /// (ranges fall through to the backing file) and the host clusters
    /// released.
    fn discard_all(&self) -> Result<()> {
        let cs = self.geom.cluster_size;
        let size = self.virtual_size();
        let per_table = self.geom.l2_entries();
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        for i in 0..meta.l1.len() {
            if meta.l1.get(i).is_none_or(|e| *e == 0) {
                continue;
            }
            let first = (i as u64).saturating_mul(per_table).saturating_mul(cs);
            if first >= size {
                break;
            }
            let table = meta.l2_table_for(first)?;
            for j in 0..per_table {
                let guest = first + j * cs;
                if guest >= size {
                    break;
                }
                let e = meta.entry(table, j as usize)?;
                if e.raw == 0 && e.bitmap.is_none_or(|b| b.alloc_bitmap() == 0 && b.zero_bitmap() == 0) {
                    continue;
                }
                meta.set_entry(table, j as usize, 0, Some((0, 0)))?;
                meta.release(&e)?;
            }
        }
        meta.flush()?;
        drop(meta);
        self.mark_dirty(0, size)?;
        self.flush()
    }
}

/// Resets the image to qemu's empty layout through an intermediate one
/// past the end of the file (see the module documentation).
fn reset(meta: &mut Meta, l1_clusters: u64) -> Result<()> {
    let cs = meta.geom.cluster_size;
    let entries = meta.geom.refblock_entries();
    meta.flush()?;
    let end = (meta.io.len()?.div_ceil(cs)).max(3 + l1_clusters);
    let staging = Layout::at(end, l1_clusters, entries, cs)?;
    switch(meta, &staging)?;
    let last = Layout { start: 1, table_clusters: 1, blocks: vec![0], l1_clusters };
    switch(meta, &last)?;
    meta.io.set_len(last.end() * cs)?;
    meta.io.sync()
}

/// Writes `layout`, then the header that points at it, each made durable.
fn switch(meta: &mut Meta, layout: &Layout) -> Result<()> {
    let cs = meta.geom.cluster_size;
    let reftable = layout.write(meta)?;
    meta.io.sync()?;
    meta.header.l1_table_offset = layout.l1_cluster() * cs;
    meta.header.refcount_table_offset = layout.start * cs;
    meta.header.refcount_table_clusters = layout.table_clusters as u32;
    meta.write_header()?;
    meta.io.sync()?;
    let l1 = vec![0u64; meta.header.l1_size as usize];
    meta.reload(reftable, l1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_counts_the_header_and_itself() {
        // 64 KiB clusters, 16-bit refcounts: 32768 clusters per block.
        let l = Layout::at(10, 1, 32768, 65536).unwrap();
        assert_eq!((l.table_clusters, l.blocks.clone(), l.end()), (1, vec![0], 13));
        // Past the first block: a second block, and the table still fits one cluster.
        let l = Layout::at(40000, 2, 32768, 65536).unwrap();
        assert_eq!((l.table_clusters, l.blocks.clone(), l.end()), (1, vec![0, 1], 40005));
        assert!(l.counts(0) && l.counts(40004) && !l.counts(1) && !l.counts(40005));
        // 512-byte clusters, 256 per block: the table grows with the offset.
        let l = Layout::at(256 * 100, 1, 256, 512).unwrap();
        assert_eq!((l.table_clusters, l.blocks.clone()), (2, vec![0, 100]));
    }
}
