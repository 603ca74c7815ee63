//! Changing the qcow2 version (`compat=1.1` / `compat=0.10`) as qemu does.
//!
//! Upgrading rewrites the snapshot table first if an entry lacks the extra
//! data version 3 requires, then the header. Downgrading refuses what
//! version 2 cannot hold, turns zero clusters into data clusters (or drops
//! them where nothing shows through), and writes the version 2 header last:
//! until then the image is a valid version 3 image.

use std::sync::RwLock;
use super::amend::Progress;
use super::create::V3_HEADER_LENGTH;
use super::map::corrupt;
use super::meta::{settle, Meta};
use super::Qcow2;
use crate::error::{c_hex, Error, Result};
use crate::image::Image;
use qimg_formats::qcow2::{
    CompressionType, Header, IncompatibleFeatures, L1Entry, L1Table, L2Entry, L2Table, SnapshotHeader,
};

/// Bytes of snapshot extra data up to and including the disk size, which
/// version 3 requires.
const EXTRA_WITH_DISK_SIZE: u32 = (SnapshotHeader::OFF_ICOUNT - SnapshotHeader::OFF_VM_STATE_SIZE_LARGE) as u32;
/// Bytes of the snapshot extra data qemu writes (up to the instruction count).
const EXTRA_KNOWN: u32 = (SnapshotHeader::OFF_EXTRA_TAIL - SnapshotHeader::OFF_VM_STATE_SIZE_LARGE) as u32;
/// qemu's limit on an L1 table: 32 MiB.
const MAX_L1_ENTRIES: u64 = (32 << 20) / L1Table::ENTRY_SIZE as u64;

/// The snapshot list of an image being changed exclusively.
pub(super) fn snaps(list: &mut RwLock<Vec<super::Snapshot>>) -> Result<&mut Vec<super::Snapshot>> {
    list.get_mut().map_err(|_| Error::errno(libc::EIO))
}

impl Qcow2 {
    /// Makes a version 2 image version 3.
    pub(super) fn upgrade(&mut self, progress: &mut Progress<'_>) -> Result<()> {
        progress.step(0, 2);
        if snaps(&mut self.snapshots)?.iter().any(|s| s.header.extra_data_size < EXTRA_WITH_DISK_SIZE) {
            self.rewrite_snapshot_table().map_err(|e| e.prefix("Failed to update the snapshot table"))?;
        }
        progress.step(1, 2);
        let h = &mut self.header;
        h.version = 3;
        h.header_length = V3_HEADER_LENGTH;
        h.tail = vec![0; V3_HEADER_LENGTH as usize - Header::OFF_TAIL];
        h.compression_type = CompressionType::Zlib;
        self.amend_header()?;
        progress.step(2, 2);
        Ok(())
    }

    /// Makes a version 3 image version 2, if nothing in it needs version 3.
    pub(super) fn downgrade(&mut self, progress: &mut Progress<'_>) -> Result<()> {
        let unsupported = |m: &str| Error::unsupported(m.to_string()).with_errno(libc::ENOTSUP);
        if self.header.refcount_order != 4 {
            return Err(unsupported("compat=0.10 requires refcount_bits=16"));
        }
        if self.header.incompatible_features.external_data_file() {
            return Err(unsupported("Cannot downgrade an image with a data file"));
        }
        let size = self.virtual_size();
        let prevents = |s: &super::Snapshot| {
            let disk_size = if s.header.extra_data_size >= EXTRA_WITH_DISK_SIZE { s.header.disk_size } else { size };
            s.vm_state_size() > u32::MAX as u64 || disk_size != size
        };
        if snaps(&mut self.snapshots)?.iter().any(prevents) {
            return Err(unsupported("Internal snapshots prevent downgrade of image"));
        }
        let incompatible = self.header.incompatible_features.bits() & !IncompatibleFeatures::COMPRESSION_TYPE.bits();
        if incompatible != 0 {
            return Err(unsupported(&format!(
                "Cannot downgrade an image with incompatible features {} set",
                c_hex(incompatible)
            )));
        }
        self.header.compatible_features = Default::default();
        self.header.autoclear_features = Default::default();
        let tables: Vec<(u64, u32)> = snaps(&mut self.snapshots)?.iter().map(|s| (s.header.l1_table_offset, s.header.l1_size)).collect();
        let has_backing = self.backing_image.is_some();
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        meta.expand_zero_clusters(&tables, has_backing, &mut |done, total| progress.step(done, total))
            .map_err(|e| e.prefix("Failed to turn zero into data clusters"))?;
        if self.header.incompatible_features.compression_type() {
            if meta.has_compressed_clusters(size).map_err(|_| Error::invalid("Failed to check block status"))? {
                return Err(unsupported(
                    "Cannot downgrade an image with zstd compression type and existing compressed clusters",
                ));
            }
            self.header.incompatible_features.set_compression_type(false);
        }
        let h = &mut self.header;
        h.version = 2;
        h.header_length = Header::default().header_length;
        h.tail = Vec::new();
        h.compression_type = CompressionType::Zlib;
        self.amend_header()
    }

    /// Writes the snapshot table anew with every entry carrying the extra
    /// data qemu writes, switches the header to it (one write) and frees the
    /// old table.
    fn rewrite_snapshot_table(&mut self) -> Result<()> {
        let size = self.virtual_size();
        let fixed = SnapshotHeader::OFF_VM_STATE_SIZE_LARGE as u64;
        let mut table = Vec::new();
        let mut entries = Vec::new();
        for s in snaps(&mut self.snapshots)?.iter() {
            let old = &s.header;
            let mut h = old.clone();
            h.extra_data_size = old.extra_data_size.max(EXTRA_KNOWN);
            h.vm_state_size_large = s.vm_state_size();
            h.vm_state_size = u32::try_from(h.vm_state_size_large).unwrap_or(0);
            if old.extra_data_size < EXTRA_WITH_DISK_SIZE {
                h.disk_size = size;
            }
            h.icount = s.icount().map_or(-1, |i| i as i64);
            table.resize(table.len().next_multiple_of(8), 0);
            let offset = table.len() as u64;
            let bytes = h.to_bytes()?;
            let len = fixed + h.extra_data_size as u64 + h.id_str.len() as u64 + h.name.len() as u64;
            table.extend_from_slice(bytes.get(..len as usize).unwrap_or(&bytes));
            entries.push((offset, h));
        }
        let list = snaps(&mut self.snapshots)?;
        let (old_offset, old_len) = match (list.first(), list.last()) {
            (Some(first), Some(last)) => {
                let h = &last.header;
                let end = last.offset + fixed + h.extra_data_size as u64 + h.id_str_size as u64 + h.name_size as u64;
                (first.offset, end - first.offset)
            }
            _ => return Ok(()),
        };
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        let new_offset = meta.alloc_clusters(table.len() as u64)?;
        meta.refblocks.flush(&meta.io)?;
        meta.io.write_at(&table, new_offset)?;
        meta.header.snapshots_offset = new_offset;
        meta.write_header()?;
        self.header.snapshots_offset = new_offset;
        meta.free_clusters(old_offset, old_len)?;
        *snaps(&mut self.snapshots)? = entries
            .into_iter()
            .map(|(offset, header)| super::Snapshot { offset: new_offset + offset, header })
            .collect();
        Ok(())
    }
}

impl Meta {
    /// qemu's zero cluster expansion before a downgrade, over the active L1
    /// table and then each snapshot's (`tables`: offset and size). Zero
    /// clusters without a host cluster are dropped when nothing shows
    /// through (`has_backing` false), else get a new cluster of zeros; zero
    /// clusters with one get zeros written there. `progress(done, total)`
    /// counts L1 entries.
    pub(super) fn expand_zero_clusters(
        &mut self,
        tables: &[(u64, u32)],
        has_backing: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let total = self.l1.len() as u64 + tables.iter().map(|t| t.1 as u64).sum::<u64>();
        let mut visited = 0u64;
        let active = self.l1.clone();
        self.expand_zeros_in_l1(&active, true, has_backing, &mut visited, &mut |v| progress(v, total))?;
        self.flush()?;
        self.l2.clear();
        let cs = self.geom.cluster_size;
        for &(offset, size) in tables {
            if size as u64 > MAX_L1_ENTRIES {
                return Err(Error::invalid("Snapshot L1 table too large").with_errno(libc::EFBIG));
            }
            if offset % cs != 0 {
                return Err(Error::invalid("Snapshot L1 table offset invalid").with_errno(libc::EINVAL));
            }
            let bytes = super::read_table(&self.io, offset, size as u64)?;
            let l1: Vec<u64> = (0..size as usize).filter_map(|i| L1Table::get(&bytes, i).map(|e| e.raw())).collect();
            self.expand_zeros_in_l1(&l1, false, has_backing, &mut visited, &mut |v| progress(v, total))?;
        }
        Ok(())
    }

    /// Expands the zero clusters of the L2 tables `l1` names. The active
    /// tables are changed in the cache; a snapshot's are written directly,
    /// once the refcounts of the clusters they gain are on disk.
    fn expand_zeros_in_l1(
        &mut self,
        l1: &[u64],
        active: bool,
        has_backing: bool,
        visited: &mut u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let cs = self.geom.cluster_size;
        for (i, entry) in l1.iter().enumerate() {
            let l2_offset = L1Entry::from_raw(*entry).l2_offset();
            if l2_offset != 0 {
                if !l2_offset.is_multiple_of(cs) {
                    return Err(corrupt(format!(
                        "L2 table offset {} unaligned (L1 index: {})",
                        c_hex(l2_offset),
                        c_hex(i as u64)
                    )));
                }
                self.expand_zeros_in_l2(l2_offset, active, has_backing)?;
            }
            *visited += 1;
            progress(*visited);
        }
        Ok(())
    }

    fn expand_zeros_in_l2(&mut self, l2_offset: u64, active: bool, has_backing: bool) -> Result<()> {
        let cs = self.geom.cluster_size;
        let cb = self.geom.cluster_bits;
        let l2_refcount = self.refcount(l2_offset >> cb)?;
        let mut table = if active {
            self.l2_table(l2_offset)?.clone()
        } else {
            let mut t = vec![0u8; cs as usize];
            self.io.read_zero_padded(&mut t, l2_offset)?;
            t
        };
        let mut dirty = false;
        // References a rewritten entry no longer holds, dropped once the table is written.
        let mut dropped = Vec::new();
        for j in 0..self.geom.l2_entries() as usize {
            let e = L2Table::get(&table, j).unwrap_or_default();
            if e.compressed() || !e.zero() {
                continue;
            }
            let host = e.host_offset();
            if !host.is_multiple_of(cs) {
                return Err(corrupt(format!(
                    "Cluster allocation offset {} unaligned (L2 offset: {}, L2 index: {})",
                    c_hex(host),
                    c_hex(l2_offset),
                    c_hex(j as u64)
                )));
            }
            // A host cluster also reachable through another table keeps its
            // data (qemu would overwrite it); this entry gets its own.
            let shared = host != 0 && self.refcount(host >> cb)? > l2_refcount;
            if shared {
                dropped.push(host);
            }
            let target = if host != 0 && !shared {
                host
            } else if !has_backing {
                L2Table::set(&mut table, j, L2Entry::new());
                dirty = true;
                continue;
            } else {
                let fresh = self.alloc_clusters(cs)?;
                if l2_refcount > 1 {
                    settle(self.update_refcount(fresh, cs, l2_refcount as i64 - 1))?;
                }
                fresh
            };
            if self.io.zero_range(target, cs).is_err() {
                self.io.write_zeros(target, cs)?;
            }
            L2Table::set(&mut table, j, L2Entry::new().with_host_offset(target).with_copied(l2_refcount == 1));
            dirty = true;
        }
        if !dirty {
            return Ok(());
        }
        if active {
            self.l2_table(l2_offset)?.copy_from_slice(&table);
            self.mark_l2_dirty(l2_offset);
            for host in dropped {
                for _ in 0..l2_refcount {
                    self.pending_free.push((host, cs));
                }
            }
        } else {
            self.refblocks.flush(&self.io)?;
            self.io.write_at(&table, l2_offset)?;
            for host in dropped {
                settle(self.update_refcount(host, cs, -(l2_refcount as i64)))?;
            }
            self.refblocks.flush(&self.io)?;
        }
        Ok(())
    }

    /// Whether the active tables map a compressed cluster below `size`.
    pub(super) fn has_compressed_clusters(&mut self, size: u64) -> Result<bool> {
        let cs = self.geom.cluster_size;
        let per_table = self.geom.l2_entries();
        let clusters = size.div_ceil(cs);
        for i in 0..self.geom.l1_entries_for(size).min(self.l1.len() as u64) {
            let l2_offset = L1Entry::from_raw(self.l1[i as usize]).l2_offset();
            if l2_offset == 0 {
                continue;
            }
            if !l2_offset.is_multiple_of(cs) {
                return Err(corrupt(format!("L2 table offset {} unaligned (L1 index: {})", c_hex(l2_offset), c_hex(i))));
            }
            let n = (clusters - i * per_table).min(per_table) as usize;
            let table = self.l2_table(l2_offset)?;
            if (0..n).any(|j| L2Table::get(table, j).is_some_and(|e| e.compressed())) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
