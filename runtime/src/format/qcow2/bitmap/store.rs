//! Writing bitmaps back, in qemu's steps and allocation order (so that the
//! image qimg leaves is the one qemu leaves), and crash-safe:
//!
//! * opening read-write marks the loaded bitmaps `in-use` in place, between
//!   two header writes that clear and then set the autoclear bit: a crash
//!   in between leaves the extension ignored, never a torn directory read;
//! * storing writes each bitmap's data clusters and table into newly
//!   allocated clusters, then a new directory; the refcount blocks that
//!   count them are written; then one cluster-0 write switches the bitmaps
//!   extension over; only then are the old directory, tables and data
//!   clusters freed. A crash at any point leaves at most leaked clusters.

use super::directory::{self, DirEntry, MAX_BITMAPS, MAX_PHYS_SIZE, MAX_TABLE_SIZE};
use super::{cluster_reader, table, Bitmaps, State};
use crate::bitmap::{Chunk, DirtyBitmap};
use crate::error::{strerror, Error, Result};
use crate::format::qcow2::header::{write_cluster0, Extensions};
use crate::format::qcow2::meta::{Fail, Meta};
use crate::format::qcow2::Qcow2;
use crate::image::Image;
use qimg_formats::qcow2::{AutoclearFeatures, BitmapFlags, BitmapTableEntry, BitmapsExtension};

/// Writes cluster 0 and makes it durable (qemu's `update_header_sync`).
fn header_sync(meta: &mut Meta, ext: &Extensions, backing: Option<&str>) -> Result<()> {
    write_cluster0(meta, ext, backing)?;
    meta.io.sync()
}

fn set_autoclear_bitmaps(meta: &mut Meta, on: bool) {
    meta.header.autoclear_features.set_bitmaps(on);
}

/// What a read-write open does about bitmaps (the end of qemu's
/// `qcow2_do_open`): marks consistent bitmaps `in-use` in place, and
/// rewrites cluster 0 when the extension was dropped as inconsistent or
/// unknown autoclear bits are set.
pub(in crate::format::qcow2) fn open_read_write(
    meta: &mut Meta,
    bitmaps: &Bitmaps,
    ext: &Extensions,
    backing: Option<&str>,
) -> Result<()> {
    let mut st = bitmaps.lock()?;
    let mut update_header = ext.bitmaps_inconsistent || meta.header.autoclear_features.unknown_bits() != 0;
    meta.header.autoclear_features = AutoclearFeatures::from_bits(meta.header.autoclear_features.without_unknown().bits());
    let loaded: Vec<usize> = (0..st.dir.len()).filter(|i| !st.dir[*i].flags.in_use()).collect();
    if !loaded.is_empty() {
        let mut dir = st.dir.clone();
        for i in &loaded {
            dir[*i].flags = dir[*i].flags.with_in_use(true);
        }
        mark_in_place(meta, &dir, ext, backing).map_err(|e| e.prefix("Can't update bitmap directory"))?;
        st.dir = dir;
        update_header = false;
    }
    if update_header {
        write_cluster0(meta, ext, backing)?;
    }
    Ok(())
}

/// qemu's `update_ext_header_and_dir_in_place`.
fn mark_in_place(meta: &mut Meta, dir: &[DirEntry], ext: &Extensions, backing: Option<&str>) -> Result<()> {
    let Some(b) = meta.bitmaps_ext.clone() else { return Err(Error::errno(libc::EINVAL)) };
    if !meta.header.autoclear_features.bitmaps() || dir.len() as u32 != b.nb_bitmaps {
        return Err(Error::errno(libc::EINVAL));
    }
    let len = meta.header.size / 512 * 512;
    let bytes = directory::serialize(dir, meta.geom.cluster_size, len)?;
    if bytes.len() as u64 != b.bitmap_directory_size {
        return Err(Error::errno(libc::EINVAL));
    }
    set_autoclear_bitmaps(meta, false);
    header_sync(meta, ext, backing)?;
    meta.io.write_at(&bytes, b.bitmap_directory_offset)?;
    header_sync(meta, ext, backing)?;
    set_autoclear_bitmaps(meta, true);
    header_sync(meta, ext, backing)
}

impl Qcow2 {
    /// Drops a reference to `[offset, offset + len)` as qemu's
    /// `qcow2_free_clusters` does: a failure is reported, not returned.
    /// Returns whether the references were dropped.
    fn free(&self, meta: &mut Meta, offset: u64, len: u64) -> bool {
        let errno = match meta.update_refcount(offset, len, -1) {
            Ok(()) => return true,
            Err(Fail::Again) => libc::EAGAIN,
            Err(Fail::Err(e)) => e.errno.unwrap_or(libc::EIO),
        };
        self.bitmaps.note(format!("qcow2_free_clusters failed: {}\n", strerror(errno)));
        false
    }

    fn backing_name(&self) -> Option<&str> {
        self.backing.as_ref().map(|b| b.filename.as_str())
    }

    /// Points the bitmaps extension at a directory for `list` (none when it
    /// is empty), then frees the old directory (qemu's
    /// `update_ext_header_and_dir`). `st.dir` follows on success.
    fn update_directory(&self, meta: &mut Meta, st: &mut State, list: Vec<DirEntry>) -> Result<()> {
        let old = meta.bitmaps_ext.clone();
        let old_autoclear = meta.header.autoclear_features;
        let mut new_dir = None;
        if !list.is_empty() {
            if list.len() > MAX_BITMAPS as usize {
                return Err(Error::errno(libc::EINVAL));
            }
            let bytes = directory::serialize(&list, self.geom.cluster_size, self.virtual_size())?;
            let offset = meta.alloc_clusters(bytes.len() as u64)?;
            let written = meta.io.write_at(&bytes, offset).and_then(|_| meta.flush()).and_then(|_| meta.io.sync());
            if let Err(e) = written {
                self.free(meta, offset, bytes.len() as u64);
                return Err(e);
            }
            new_dir = Some((offset, bytes.len() as u64));
            meta.bitmaps_ext = Some(BitmapsExtension {
                nb_bitmaps: list.len() as u32,
                reserved: 0,
                bitmap_directory_size: bytes.len() as u64,
                bitmap_directory_offset: offset,
            });
            set_autoclear_bitmaps(meta, true);
        } else {
            meta.bitmaps_ext = None;
            set_autoclear_bitmaps(meta, false);
        }
        if let Err(e) = header_sync(meta, &self.ext, self.backing_name()) {
            if let Some((offset, size)) = new_dir {
                self.free(meta, offset, size);
            }
            meta.bitmaps_ext = old;
            meta.header.autoclear_features = old_autoclear;
            return Err(e);
        }
        if let Some(o) = old {
            if o.bitmap_directory_size > 0 {
                self.free(meta, o.bitmap_directory_offset, o.bitmap_directory_size);
            }
        }
        st.dir = list;
        Ok(())
    }

    /// Frees a bitmap's data clusters (punching holes where nothing else
    /// uses them, as qemu discards them) and then its table. A table that
    /// fails its checks is left alone (leaked), as qemu leaves it.
    fn free_bitmap_clusters(&self, meta: &mut Meta, offset: u64, size: u32) -> Result<()> {
        let cs = self.geom.cluster_size;
        let Ok(entries) = table::read(&self.storage, offset, size, cs) else { return Ok(()) };
        for e in entries.iter().filter(|e| e.offset() != 0) {
            if self.free(meta, e.offset(), cs) && meta.refcount(e.offset() / cs)? == 0 {
                self.storage.punch_hole(e.offset(), cs)?;
            }
        }
        self.free(meta, offset, size as u64 * BitmapTableEntry::SIZE as u64);
        Ok(())
    }

    /// Writes a bitmap's data clusters and table into new clusters (qemu's
    /// `store_bitmap`); returns the table's offset and size. Chunks loaded
    /// as all-ones table entries stay so (qemu never writes them itself).
    fn store_one(&self, meta: &mut Meta, name: &str, bits: &DirtyBitmap, new: &mut Vec<(u64, u64)>) -> Result<(u64, u32)> {
        let cs = self.geom.cluster_size;
        let size = bits.chunk_count();
        if size > MAX_TABLE_SIZE || size * cs > MAX_PHYS_SIZE {
            return Err(Error::invalid(format!("Bitmap '{name}' is too big")));
        }
        let alloc_err = |e: Error| e.prefix(format!("Failed to allocate clusters for bitmap '{name}'"));
        let write_err = |e: Error| e.prefix(format!("Failed to write bitmap '{name}' to file"));
        let mut entries = vec![BitmapTableEntry::new(); size as usize];
        let mut load = cluster_reader(&self.storage, cs);
        let indices: Vec<(u64, bool)> = bits.chunks().map(|(i, c)| (i, *c == Chunk::Ones)).collect();
        for (index, ones) in indices {
            let Some(slot) = entries.get_mut(index as usize) else { continue };
            if ones {
                *slot = BitmapTableEntry::new().with_all_ones(true);
                continue;
            }
            let Some(content) = bits.chunk_content(index, &mut load)? else { continue };
            let offset = meta.alloc_clusters(cs).map_err(alloc_err)?;
            new.push((offset, cs));
            meta.io.write_at(&content, offset).map_err(write_err)?;
            *slot = BitmapTableEntry::new().with_offset(offset);
        }
        let bytes = table::serialize(&entries);
        let offset = meta.alloc_clusters(bytes.len() as u64).map_err(alloc_err)?;
        new.push((offset, bytes.len() as u64));
        meta.io.write_at(&bytes, offset).map_err(write_err)?;
        Ok((offset, size as u32))
    }

    /// Stores every consistent bitmap (qemu's
    /// `qcow2_store_persistent_dirty_bitmaps` at close), then forgets them.
    pub(in crate::format::qcow2) fn store_bitmaps(&self) -> Result<()> {
        if !self.bitmaps.writable {
            return Ok(());
        }
        let mut st = self.bitmaps.lock()?;
        let len = self.virtual_size();
        let cs = self.geom.cluster_size;
        let mut list = st.dir.clone();
        let mut old_tables = Vec::new();
        let mut jobs = Vec::new();
        // qemu visits its bitmaps newest first: that decides the order in
        // which old tables are freed, and so where later allocations land.
        for (li, b) in st.live.iter().enumerate().rev().filter(|(_, b)| !b.inconsistent) {
            table::check_constraints(&b.name, b.bits.granularity(), len, cs)
                .map_err(|e| e.prefix(format!("Bitmap '{}' doesn't satisfy the constraints", b.name)))?;
            let i = match list.iter().position(|d| d.name == b.name) {
                Some(i) => {
                    if !list[i].flags.in_use() {
                        return Err(Error::invalid(format!("Bitmap '{}' already exists in the image", b.name)));
                    }
                    old_tables.push((list[i].table_offset, list[i].table_size));
                    i
                }
                None => {
                    if list.len() >= MAX_BITMAPS as usize {
                        return Err(Error::invalid("Too many persistent bitmaps"));
                    }
                    let dir_size: u64 = list.iter().map(|d| directory::entry_size(d.name.len())).sum::<u64>()
                        + directory::entry_size(b.name.len());
                    if dir_size > directory::MAX_DIRECTORY_SIZE {
                        return Err(Error::invalid("Bitmap directory is too large"));
                    }
                    list.push(DirEntry {
                        name: b.name.clone(),
                        table_offset: 0,
                        table_size: 0,
                        flags: BitmapFlags::from_bits(0),
                        granularity_bits: 0,
                    });
                    list.len() - 1
                }
            };
            list[i].flags = BitmapFlags::from_bits(0).with_auto(b.enabled);
            list[i].granularity_bits = b.bits.granularity_bits() as u8;
            jobs.push((i, li));
        }
        if jobs.is_empty() {
            return Ok(());
        }
        jobs.sort_unstable();
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        let mut new = Vec::new();
        let mut result = Ok(());
        for (i, li) in &jobs {
            match self.store_one(&mut meta, &st.live[*li].name, &st.live[*li].bits, &mut new) {
                Ok((offset, size)) => {
                    list[*i].table_offset = offset;
                    list[*i].table_size = size;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self
                .update_directory(&mut meta, &mut st, list)
                .map_err(|e| Error::errno(e.errno.unwrap_or(libc::EINVAL)).prefix("Failed to update bitmap extension"));
        }
        if let Err(e) = result {
            for (offset, size) in new {
                self.free(&mut meta, offset, size);
            }
            return Err(e);
        }
        for (offset, size) in old_tables {
            let _ = self.free_bitmap_clusters(&mut meta, offset, size);
        }
        st.live.clear();
        Ok(())
    }

    /// Deletes bitmap `name` from the image (qemu's
    /// `qcow2_co_remove_persistent_dirty_bitmap`): a directory without it,
    /// then its clusters freed. A bitmap that is not stored yet needs nothing.
    pub(super) fn remove_stored(&self, st: &mut State, name: &str) -> Result<()> {
        let Some(i) = st.dir.iter().position(|d| d.name == name) else { return Ok(()) };
        let mut list = st.dir.clone();
        let gone = list.remove(i);
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        self.update_directory(&mut meta, st, list)
            .map_err(|e| Error::errno(e.errno.unwrap_or(libc::EINVAL)).prefix("Failed to update bitmap extension"))?;
        let _ = self.free_bitmap_clusters(&mut meta, gone.table_offset, gone.table_size);
        Ok(())
    }
}
