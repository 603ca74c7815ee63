//! Writing guest data to a qcow2 image: in place where the image owns a
//! cluster alone, otherwise into newly allocated clusters with the rest of
//! each partial (sub)cluster copied from what it held before (copy on write).
//! Zero writes use the zero flag where the format has one, and compressed
//! writes pack clusters into shared host clusters, as qemu does.
//!
//! Ordering: data reaches its new clusters before the L2 entries that point
//! there; refcount blocks are written before the L2 tables that reference
//! what they count (see `Meta::flush` and the cache eviction); old clusters
//! are released only after the L2 entries stop pointing at them.

use super::map::corrupt;
use super::meta::Meta;
use super::Qcow2;
use crate::error::{c_hex, Error, Result};
use crate::image::{read_backing, Image};
use qimg_formats::qcow2::{CompressedDescriptor, CryptMethod, L2Entry, L2EntryExtended, L2Table, L2TableExtended};

/// The state of one L2 entry, decoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub raw: u64,
    pub bitmap: Option<L2EntryExtended>,
}

impl Entry {
    pub(super) fn l2(&self) -> L2Entry {
        L2Entry::from_raw(self.raw)
    }
}

impl Meta {
    pub(super) fn entry(&mut self, table: u64, index: usize) -> Result<Entry> {
        let extended = self.geom.extended_l2;
        let buf = self.l2_table(table)?;
        Ok(if extended {
            let e = L2TableExtended::get(buf, index).unwrap_or_default();
            Entry { raw: e.descriptor(), bitmap: Some(e) }
        } else {
            Entry { raw: L2Table::get(buf, index).unwrap_or_default().raw(), bitmap: None }
        })
    }

    pub(super) fn set_entry(&mut self, table: u64, index: usize, raw: u64, bitmap: Option<(u32, u32)>) -> Result<()> {
        self.note_l2_change()?;
        let extended = self.geom.extended_l2;
        let buf = self.l2_table(table)?;
        if extended {
            let (alloc, zero) = bitmap.unwrap_or((0, 0));
            let e = L2EntryExtended::new().with_descriptor(raw).with_alloc_bitmap(alloc).with_zero_bitmap(zero);
            L2TableExtended::set(buf, index, e);
        } else {
            L2Table::set(buf, index, L2Entry::from_raw(raw));
        }
        self.mark_l2_dirty(table);
        Ok(())
    }

    /// Whether a cluster can be written in place: it is allocated to this
    /// image alone (COPIED), and not compressed.
    pub(super) fn owned(&self, e: &Entry) -> bool {
        let l2 = e.l2();
        !l2.compressed() && l2.copied() && (l2.host_offset() != 0 || self.data.is_some())
    }

    /// Releases the host space an entry held, once the entry that replaced
    /// it is on disk (see `Meta::flush`).
    pub(super) fn release(&mut self, e: &Entry) -> Result<()> {
        let l2 = e.l2();
        let cb = self.geom.cluster_bits;
        if l2.compressed() {
            let d = CompressedDescriptor::from_raw(e.raw);
            if let (Some(host), Some(extra)) = (d.host_offset(cb), d.extra_sectors(cb)) {
                let len = (extra + 1) * 512 - (host & 511);
                self.pending_free.push((host, len));
            }
            return Ok(());
        }
        if self.data.is_none() && l2.host_offset() != 0 {
            self.pending_free.push((l2.host_offset(), self.geom.cluster_size));
        }
        Ok(())
    }

}

impl Qcow2 {
    /// Reads what the cluster described by `old` holds at guest `[guest, guest + len)`.
    fn read_old(&self, old: &Entry, guest: u64, out: &mut [u8]) -> Result<()> {
        let cs = self.geom.cluster_size;
        let l2 = old.l2();
        let sub = self.geom.subcluster_size;
        if l2.compressed() {
            return self.read_compressed(old.raw, guest, out);
        }
        let subcluster = ((guest % cs) / sub) as u32;
        let (allocated, zero) = match old.bitmap {
            Some(b) => (b.alloc_bitmap() >> subcluster & 1 == 1, b.zero_bitmap() >> subcluster & 1 == 1),
            None => (l2.host_offset() != 0 || (self.data.is_some() && l2.copied()), l2.zero()),
        };
        if zero {
            out.fill(0);
        } else if allocated {
            let file = self.data.as_deref().unwrap_or(&self.storage);
            self.read_data(file, out, l2.host_offset() + guest % cs, guest)?;
        } else {
            read_backing(self.backing_image(), out, guest)?;
        }
        Ok(())
    }

    /// Writes guest data.
    pub(super) fn write(&self, buf: &[u8], offset: u64) -> Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.virtual_size() {
            return Err(Error::errno(libc::EIO));
        }
        if self.is_broken() {
            return Err(Error::errno(libc::ENOMEDIUM));
        }
        if let Some((full, start)) = self.sector_aligned(buf, offset)? {
            return self.write(&full, start);
        }
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        if self.geom.extended_l2 {
            return self.write_subclusters(&mut meta, buf, offset);
        }
        let cs = self.geom.cluster_size;
        let end = offset + buf.len() as u64;
        let mut pos = offset;
        while pos < end {
            let table = meta.l2_table_for(pos)?;
            let first = meta.l2_index(pos);
            let table_end = ((pos / cs - first as u64) + meta.geom.l2_entries()) * cs;
            let e = match meta.entry(table, first) {
                Ok(e) => e,
                Err(e) => return Err(self.corruption(&mut meta, e)),
            };
            if meta.owned(&e) {
                // A run of owned clusters, contiguous on the host: one write.
                let host = e.l2().host_offset();
                if host % cs != 0 {
                    return Err(self.corruption(&mut meta, unaligned_copied(e.l2(), pos)));
                }
                let mut stop = (pos - pos % cs + cs).min(end);
                let mut index = first + 1;
                while stop < end && stop < table_end {
                    let next = meta.entry(table, index)?;
                    if !meta.owned(&next) || next.l2().host_offset() != host + (index - first) as u64 * cs {
                        break;
                    }
                    stop = (stop + cs).min(end);
                    index += 1;
                }
                self.write_data(meta.data_file(), &buf[(pos - offset) as usize..(stop - offset) as usize], host + pos % cs, pos)?;
                pos = stop;
                continue;
            }
            // A run of clusters that need new space: allocated together, written
            // with at most one copied head and one copied tail.
            let mut olds = vec![e];
            let mut stop = (pos - pos % cs + cs).min(end);
            while stop < end && stop < table_end {
                let next = meta.entry(table, first + olds.len())?;
                if meta.owned(&next) {
                    break;
                }
                olds.push(next);
                stop = (stop + cs).min(end);
            }
            let n = olds.len() as u64;
            let run_start = pos - pos % cs;
            let host = match meta.data {
                Some(_) => run_start,
                None => meta.alloc_clusters(n * cs)?,
            };
            if pos > run_start {
                let mut head = vec![0u8; (pos - run_start) as usize];
                self.read_old(&olds[0], run_start, &mut head)?;
                self.write_data(meta.data_file(), &head, host, run_start)?;
            }
            let data = &buf[(pos - offset) as usize..(stop - offset) as usize];
            self.write_data(meta.data_file(), data, host + (pos - run_start), pos)?;
            let run_end = run_start + n * cs;
            if stop < run_end {
                let mut tail = vec![0u8; (run_end - stop) as usize];
                self.read_old(&olds[olds.len() - 1], stop, &mut tail)?;
                self.write_data(meta.data_file(), &tail, host + (stop - run_start), stop)?;
            }
            for i in 0..olds.len() {
                let new = L2Entry::new().with_host_offset(host + i as u64 * cs).with_copied(true).raw();
                meta.set_entry(table, first + i, new, None)?;
            }
            for old in &olds {
                meta.release(old)?;
            }
            pos = stop;
        }
        Ok(())
    }

    /// Writes guest data to an image with extended L2 entries, one cluster at
    /// a time: subclusters outside the write keep their state.
    fn write_subclusters(&self, meta: &mut Meta, buf: &[u8], offset: u64) -> Result<()> {
        let cs = self.geom.cluster_size;
        let sub = self.geom.subcluster_size;
        let end = offset + buf.len() as u64;
        let mut pos = offset;
        while pos < end {
            let table = meta.l2_table_for(pos)?;
            let index = meta.l2_index(pos);
            let e = match meta.entry(table, index) {
                Ok(e) => e,
                Err(e) => return Err(self.corruption(meta, e)),
            };
            let cluster = pos - pos % cs;
            let in_cluster_end = (cluster + cs).min(end);
            let src = &buf[(pos - offset) as usize..(in_cluster_end - offset) as usize];
            let Some(b) = e.bitmap else { return Err(Error::errno(libc::EIO)) };
            let first = (pos % cs) / sub;
            let last = (in_cluster_end - 1 - cluster) / sub;
            let mask = subcluster_mask(first, last);
            if meta.owned(&e) {
                let l2 = e.l2();
                if l2.host_offset() % cs != 0 {
                    return Err(self.corruption(meta, unaligned_copied(l2, pos)));
                }
                // Subclusters not yet allocated get their untouched part copied in.
                let head_from = cluster + first * sub;
                let tail_to = cluster + (last + 1) * sub;
                let mut full = vec![0u8; (tail_to - head_from) as usize];
                let head = &mut full[..(pos - head_from) as usize];
                if !head.is_empty() {
                    if b.alloc_bitmap() >> first & 1 == 0 {
                        self.read_old(&e, head_from, head)?;
                    } else {
                        self.read_data(meta.data_file(), head, l2.host_offset() + head_from - cluster, head_from)?;
                    }
                }
                if in_cluster_end < tail_to {
                    let t = &mut full[(in_cluster_end - head_from) as usize..];
                    if b.alloc_bitmap() >> last & 1 == 0 {
                        self.read_old(&e, in_cluster_end, t)?;
                    } else {
                        self.read_data(meta.data_file(), t, l2.host_offset() + in_cluster_end - cluster, in_cluster_end)?;
                    }
                }
                full[(pos - head_from) as usize..(in_cluster_end - head_from) as usize].copy_from_slice(src);
                self.write_data(meta.data_file(), &full, l2.host_offset() + head_from - cluster, head_from)?;
                meta.set_entry(table, index, e.raw, Some((b.alloc_bitmap() | mask, b.zero_bitmap() & !mask)))?;
                pos = in_cluster_end;
                continue;
            }
            // A new cluster. Without host data before, only the written
            // subclusters are filled; otherwise the whole cluster is copied.
            let l2 = e.l2();
            let old_host = l2.host_offset() != 0 && !l2.compressed();
            let partial = !old_host && !l2.compressed();
            let (from, to) = if partial { (cluster + first * sub, cluster + (last + 1) * sub) } else { (cluster, cluster + cs) };
            let mut full = vec![0u8; (to - from) as usize];
            if from < pos {
                self.read_old(&e, from, &mut full[..(pos - from) as usize])?;
            }
            if in_cluster_end < to {
                self.read_old(&e, in_cluster_end, &mut full[(in_cluster_end - from) as usize..])?;
            }
            full[(pos - from) as usize..(in_cluster_end - from) as usize].copy_from_slice(src);
            let host = match meta.data {
                Some(_) => cluster,
                None => meta.alloc_clusters(cs)?,
            };
            self.write_data(meta.data_file(), &full, host + (from - cluster), from)?;
            let new = L2Entry::new().with_host_offset(host).with_copied(true).raw();
            let written = subcluster_mask((from - cluster) / sub, (to - 1 - cluster) / sub);
            let kept = if old_host { b.alloc_bitmap() } else if l2.compressed() { u32::MAX } else { 0 };
            meta.set_entry(table, index, new, Some((kept | written, b.zero_bitmap() & !written)))?;
            meta.release(&e)?;
            pos = in_cluster_end;
        }
        Ok(())
    }
}

/// qemu's corruption event for a cluster owned by the image whose host
/// offset is not cluster aligned, found when writing at guest `guest`.
fn unaligned_copied(entry: L2Entry, guest: u64) -> Error {
    corrupt(format!(
        "{} cluster offset {} unaligned (guest offset: {})",
        if entry.zero() { "Preallocated zero" } else { "Data" },
        c_hex(entry.host_offset()),
        c_hex(guest)
    ))
}

/// Bits `first..=last` set.
fn subcluster_mask(first: u64, last: u64) -> u32 {
    let width = last - first + 1;
    let m = if width >= 32 { u32::MAX } else { (1u32 << width) - 1 };
    m << first
}

impl Qcow2 {
    /// Makes guest `[offset, offset + len)` read as zeros: whole clusters by
    /// their L2 entries (the zero flag in version 3; deallocation in version
    /// 2 when nothing shows through from a backing file), partial ones by
    /// writing zeros.
    pub(super) fn zero(&self, offset: u64, len: u64, unmap: bool) -> Result<()> {
        let cs = self.geom.cluster_size;
        let end = offset.saturating_add(len).min(self.virtual_size());
        let v3 = self.header.version >= 3;
        let mut pos = offset;
        while pos < end {
            let cluster = pos - pos % cs;
            let stop = (cluster + cs).min(end);
            let whole = pos == cluster && (stop == cluster + cs || stop == self.virtual_size());
            if !whole || (!v3 && self.backing_image.is_some()) {
                self.write(&vec![0u8; (stop - pos) as usize], pos)?;
                pos = stop;
                continue;
            }
            let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
            let table = meta.l2_table_for(pos)?;
            let index = meta.l2_index(pos);
            let e = meta.entry(table, index)?;
            let keep = !unmap && meta.owned(&e) && v3;
            let (raw, bits) = match (e.bitmap, v3) {
                (Some(_), _) => (if keep { e.raw } else { 0 }, Some((0u32, u32::MAX))),
                (None, true) => {
                    let base = if keep { e.raw } else { 0 };
                    (L2Entry::from_raw(base).with_zero(true).raw(), None)
                }
                (None, false) => (0, None),
            };
            meta.set_entry(table, index, raw, bits)?;
            if !keep {
                meta.release(&e)?;
            }
            pos = stop;
        }
        Ok(())
    }

    /// Writes a compressed cluster (`data` is already compressed with the
    /// image's method) at guest `offset`, a cluster boundary. Like qemu, only
    /// into a cluster that holds no data yet.
    pub(super) fn write_compressed_cluster(&self, data: &[u8], offset: u64) -> Result<()> {
        let cs = self.geom.cluster_size;
        let cb = self.geom.cluster_bits;
        if !offset.is_multiple_of(cs) || data.is_empty() || data.len() as u64 >= cs || self.data.is_some() {
            return Err(Error::errno(libc::EINVAL));
        }
        if self.header.crypt_method != CryptMethod::None {
            return Err(Error::unsupported("Compression and encryption not supported at the same time"));
        }
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        let table = meta.l2_table_for(offset)?;
        let index = meta.l2_index(offset);
        let e = meta.entry(table, index)?;
        if e.l2().host_offset() != 0 || e.l2().compressed() {
            return Err(Error::errno(libc::EIO));
        }
        let host = meta.alloc_bytes(data.len() as u64)?;
        meta.io.write_at(data, host)?;
        let extra = ((host + data.len() as u64 - 1) >> 9) - (host >> 9);
        let desc = CompressedDescriptor::default()
            .with_compressed(cb, true)
            .and_then(|d| d.with_host_offset(cb, host))
            .and_then(|d| d.with_extra_sectors(cb, extra))
            .ok_or_else(|| Error::errno(libc::EIO))?;
        meta.set_entry(table, index, desc.raw(), Some((0, 0)))
    }
}
