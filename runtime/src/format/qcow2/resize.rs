//! Resizing a qcow2 image, as qemu's truncate does it: growing (the L1 table,
//! preallocation, and zeros over the new area where a backing file would
//! otherwise show through) or shrinking (see `shrink.rs`). The header's size
//! field is written last, once every structure it depends on is on disk.

use crate::bitmap::BitmapStore;
use super::prealloc::Prealloc;
use super::Qcow2;
use crate::error::{Error, Result};
use crate::image::Image;
use qimg_formats::qcow2::L1Entry;
use std::sync::atomic::Ordering;

impl Qcow2 {
    /// Changes the guest size to `size` bytes. `zero_new`: a backing file
    /// has data past the old end, and the new area must read as zeros.
    pub(super) fn truncate(
        &mut self,
        size: u64,
        mode: Prealloc,
        zero_new: bool,
        warn: &mut dyn FnMut(String),
    ) -> Result<()> {
        if !size.is_multiple_of(512) {
            return Err(Error::invalid("The new size must be a multiple of 512").with_errno(libc::EINVAL));
        }
        if !super::version::snaps(&mut self.snapshots)?.is_empty() && self.header.version < 3 {
            return Err(Error::unsupported("Can't resize a v2 image which has snapshots").with_errno(libc::ENOTSUP));
        }
        BitmapStore::check_resize(self)?;
        let old = self.virtual_size();
        if size < old {
            self.shrink_to(size, mode, warn)?;
        } else {
            self.grow_to(size, mode, zero_new)?;
        }
        self.set_size(size)?;
        BitmapStore::resize(self, size)
    }

    /// Writes the new guest size into the header (one write) and adopts it.
    fn set_size(&mut self, size: u64) -> Result<()> {
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        meta.flush()?;
        meta.header.size = size;
        meta.write_header().map_err(|e| e.prefix("Failed to update the image size"))?;
        self.header = meta.header.clone();
        self.size.store(size, Ordering::Relaxed);
        Ok(())
    }

    fn shrink_to(&mut self, size: u64, mode: Prealloc, warn: &mut dyn FnMut(String)) -> Result<()> {
        if mode != Prealloc::Off {
            return Err(Error::invalid("Preallocation can't be used for shrinking an image").with_errno(libc::EINVAL));
        }
        let old = self.virtual_size();
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        let cs = meta.geom.cluster_size;
        let start = size.div_ceil(cs) * cs;
        if start < old {
            meta.discard_range(start, old).map_err(|e| e.prefix("Failed to discard cropped clusters"))?;
        }
        meta.flush()?;
        let l1_size = meta.geom.l1_entries_for(size);
        meta.shrink_l1(l1_size).map_err(|e| e.prefix("Failed to reduce the number of L2 tables"))?;
        meta.shrink_reftable().map_err(|e| e.prefix("Failed to discard unused refblocks"))?;
        meta.truncate_unused_tail(warn)?;
        if let Some(d) = &meta.data {
            d.set_len(size)?;
        }
        Ok(())
    }

    fn grow_to(&mut self, size: u64, mode: Prealloc, zero_new: bool) -> Result<()> {
        let cs = self.geom.cluster_size;
        let old = self.virtual_size();
        let raw_data = self.data.is_some() && self.header.autoclear_features.raw_external_data();
        let mode = if raw_data && mode == Prealloc::Off { Prealloc::Metadata } else { mode };
        let mut from = old;
        if mode != Prealloc::Off && !old.is_multiple_of(cs) {
            // Preallocation maps whole clusters: the one holding the old end
            // becomes the image's own first; falloc and full give it a zeroed
            // tail, as their fresh cluster has in qemu.
            self.own_last_cluster(old, size, mode != Prealloc::Metadata)?;
            from = (old.div_ceil(cs) * cs).min(size);
        }
        // falloc/full without a data file map fresh zeroed clusters, which
        // hide the backing file by themselves (qemu's zeroing truncate).
        let covered = matches!(mode, Prealloc::Falloc | Prealloc::Full) && self.data.is_none();
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        meta.grow_tables(size, mode, from, zero_new && covered)?;
        meta.flush().map_err(|e| e.prefix("Failed to flush the preallocated area to disk"))?;
        if zero_new && !covered {
            self.zero_new_area(old, size)?;
        }
        Ok(())
    }

    /// Makes guest `[old, size)` read as zeros, the backing file's data
    /// there notwithstanding: zero flags for whole (sub)clusters, written
    /// zeros for the part of the old last one. Version 2 has no zero flag.
    fn zero_new_area(&mut self, old: u64, size: u64) -> Result<()> {
        let sub = self.geom.subcluster_size;
        let zero_start = old.div_ceil(sub) * sub;
        self.size.store(size, Ordering::Relaxed);
        let zeroed = self.zero_range_for_growth(old, zero_start, size);
        if zeroed.is_err() {
            self.size.store(old, Ordering::Relaxed);
        }
        zeroed?;
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        meta.flush()
    }

    fn zero_range_for_growth(&self, old: u64, zero_start: u64, size: u64) -> Result<()> {
        if size > zero_start {
            if self.header.version < 3 {
                return Err(Error::errno(libc::ENOTSUP).prefix("Failed to zero out new clusters"));
            }
            self.zero(zero_start, size - zero_start, false).map_err(|e| e.prefix("Failed to zero out new clusters"))?;
        }
        if zero_start > old {
            let len = zero_start.min(size) - old;
            self.write(&vec![0u8; len as usize], old).map_err(|e| e.prefix("Failed to zero out the new area"))?;
        }
        Ok(())
    }

    /// Makes the cluster holding guest offset `old` (not cluster aligned)
    /// the image's own and allocated, unless it is so already; its part past
    /// `old` reads as zeros when newly written, or when `zero_tail` says so.
    fn own_last_cluster(&mut self, old: u64, size: u64, zero_tail: bool) -> Result<()> {
        let cs = self.geom.cluster_size;
        let start = old / cs * cs;
        let owned = {
            let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
            let l1 = L1Entry::from_raw(meta.l1.get(meta.l1_index(start)).copied().unwrap_or(0));
            if l1.copied() && l1.l2_offset() != 0 && l1.l2_offset().is_multiple_of(cs) {
                let index = meta.l2_index(start);
                let e = meta.entry(l1.l2_offset(), index)?;
                let whole = e.bitmap.is_none_or(|b| b.alloc_bitmap() == u32::MAX);
                meta.owned(&e) && !e.l2().zero() && whole
            } else {
                false
            }
        };
        let end = (start + cs).min(size);
        if owned && !zero_tail {
            return Ok(());
        }
        let (at, mut buf) = if owned { (old, Vec::new()) } else { (start, vec![0u8; (old - start) as usize]) };
        self.read(&mut buf, start)?;
        buf.resize((end - at) as usize, 0);
        self.size.store(end.max(old), Ordering::Relaxed);
        let written = self.write(&buf, at);
        self.size.store(old, Ordering::Relaxed);
        written
    }
}
