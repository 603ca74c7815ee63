//! Growing an image: the L1 table for the new size and, with preallocation,
//! the clusters and L2 tables for the new area, laid out as qemu lays them out.

use super::meta::Meta;
use crate::error::Result;
use qimg_formats::qcow2::{L2Entry, L2Table, L2TableExtended};

/// qemu's largest single request: INT_MAX rounded down to 512 bytes.
const MAX_REQUEST_BYTES: u64 = (i32::MAX as u64 >> 9) << 9;

/// How the new area of a grown image is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prealloc {
    /// Nothing is allocated.
    Off,
    /// L2 tables and data clusters are allocated; data clusters are not written.
    Metadata,
    /// As metadata, with the host space reserved by `fallocate`.
    Falloc,
    /// As metadata, with zeros written to the data clusters.
    Full,
}

/// Clusters mapped in one L2 table by one allocation.
struct Mapping {
    guest: u64,
    host: u64,
    clusters: u64,
    /// Bytes of the first cluster before the request, and of the last after it,
    /// that copy-on-write would fill.
    cow_start: (u64, u64),
    cow_end: (u64, u64),
}

impl Meta {
    /// Extends or reserves the file so that it is at least `len` bytes.
    fn extend_file(&self, target_is_data: bool, len: u64, mode: Prealloc) -> Result<()> {
        let f = if target_is_data { self.data_file() } else { &self.io };
        let cur = f.len()?;
        if len <= cur {
            return Ok(());
        }
        match mode {
            Prealloc::Off | Prealloc::Metadata => f.set_len(len),
            Prealloc::Falloc => f.allocate(cur, len - cur),
            Prealloc::Full => write_zeros(f, cur, len - cur),
        }
    }

    /// Sets the L2 entries of one mapping (qemu's link of an L2 meta):
    /// copy-on-write areas read as zeros here, so they are written as zeros.
    /// With extended entries the subclusters stay unallocated unless `cover`
    /// asks for all of them to be marked allocated.
    fn link(&mut self, m: &Mapping, cover: bool) -> Result<()> {
        let target = self.data_file();
        for (off, len) in [m.cow_start, m.cow_end] {
            if len > 0 {
                target.write_at(&vec![0u8; len as usize], m.host + off)?;
            }
        }
        let table = self.l2_table_for(m.guest)?;
        let first = self.l2_index(m.guest);
        let cs = self.geom.cluster_size;
        let extended = self.geom.extended_l2;
        let buf = self.l2_table(table)?;
        for i in 0..m.clusters as usize {
            let e = L2Entry::new().with_host_offset(m.host + i as u64 * cs).with_copied(true);
            if extended {
                let mut x = L2TableExtended::get(buf, first + i).unwrap_or_default().with_descriptor(e.raw());
                if cover {
                    x = x.with_alloc_bitmap(u32::MAX).with_zero_bitmap(0);
                }
                L2TableExtended::set(buf, first + i, x);
            } else {
                L2Table::set(buf, first + i, e);
            }
        }
        self.mark_l2_dirty(table);
        Ok(())
    }

    /// Allocates host clusters for guest `[offset, offset + bytes)` the way
    /// qemu's host-offset allocation does for unallocated clusters. Returns
    /// the host offset of the first byte, the bytes covered, and the mappings.
    fn alloc_host_range(&mut self, offset: u64, bytes: u64) -> Result<(Option<u64>, u64, Vec<Mapping>)> {
        let cs = self.geom.cluster_size;
        let (mut start, mut remaining) = (offset, bytes);
        let mut cluster_offset: Option<u64> = None;
        let mut host: Option<u64> = None;
        let mut cur = 0u64;
        let mut maps = Vec::new();
        loop {
            if host.is_none() && cluster_offset.is_some() {
                host = cluster_offset;
            }
            start += cur;
            remaining -= cur;
            if let Some(c) = cluster_offset.as_mut() {
                *c += cur;
            }
            if remaining == 0 {
                break;
            }
            cur = remaining;
            self.l2_table_for(start)?;
            let into = start % cs;
            let mut n = (into + cur).div_ceil(cs);
            n = n.min(self.geom.l2_entries() - self.l2_index(start) as u64);
            n = n.min(MAX_REQUEST_BYTES >> self.geom.cluster_bits);
            let alloc = if self.data.is_some() {
                start / cs * cs
            } else if let Some(c) = cluster_offset {
                let at = c / cs * cs;
                n = self.alloc_clusters_at(at, n)?;
                at
            } else {
                self.alloc_clusters(n * cs)?
            };
            if n == 0 {
                break;
            }
            let covered = (cur + into).min(n * cs);
            cluster_offset = Some(alloc + into);
            cur = cur.min(covered - into);
            let cow_end_from = into + cur;
            let sub = self.geom.subcluster_size;
            let cow_start_from = into / sub * sub;
            let cow_end_to = cow_end_from.div_ceil(sub) * sub;
            maps.insert(
                0,
                Mapping {
                    guest: start / cs * cs,
                    host: alloc,
                    clusters: cow_end_from.div_ceil(cs),
                    cow_start: (cow_start_from, into - cow_start_from),
                    cow_end: (cow_end_from, cow_end_to - cow_end_from),
                },
            );
        }
        Ok((host, bytes - remaining, maps))
    }

    /// Preallocates guest `[old, new)` with L2 tables and data clusters.
    fn preallocate(&mut self, old: u64, new: u64, mode: Prealloc) -> Result<()> {
        let cs = self.geom.cluster_size;
        let (mut offset, mut bytes) = (old, new - old);
        let (mut host, mut cur) = (0u64, 0u64);
        while bytes > 0 {
            cur = bytes.min(i32::MAX as u64 / cs * cs);
            let (h, done, maps) = self.alloc_host_range(offset, cur)?;
            host = h.unwrap_or(0);
            cur = done;
            for m in &maps {
                self.link(m, false)?;
            }
            if cur == 0 {
                break;
            }
            bytes -= cur;
            offset += cur;
        }
        let end = host + cur;
        self.extend_file(true, end, if mode == Prealloc::Metadata { Prealloc::Off } else { mode })
    }

    /// Grows the guest to `size` bytes with the given preallocation
    /// (qemu's truncate of a qcow2 image to a larger size).
    pub fn grow(&mut self, size: u64, mode: Prealloc) -> Result<()> {
        let old = self.header.size;
        self.grow_tables(size, mode, old, false)?;
        self.header.size = size;
        self.write_header()
    }

    /// Everything of growing the guest to `size` bytes but the header's size
    /// field: the L1 table, then guest `[from, size)` provided with `mode`.
    /// `from` is the old size, or the end of its last cluster when that
    /// cluster is already the image's own. `cover` (a backing file must not
    /// show through) marks falloc/full subclusters allocated.
    pub fn grow_tables(&mut self, size: u64, mode: Prealloc, from: u64, cover: bool) -> Result<()> {
        let cs = self.geom.cluster_size;
        let old = from;
        self.grow_l1(self.geom.l1_entries_for(size), true).map_err(|e| e.prefix("Failed to grow the L1 table"))?;
        match mode {
            Prealloc::Off => {
                if let Some(d) = &self.data {
                    d.set_len(size)?;
                }
            }
            _ if mode == Prealloc::Metadata || self.data.is_some() => self.preallocate(old, size, mode)?,
            _ => {
                // falloc/full: one refcount area and one contiguous run of data clusters.
                let file_len = self.io.len()?;
                let last = self.last_used_cluster(file_len)?.map_or(0, |c| c + 1);
                let data_clusters = (size.div_ceil(cs) * cs - old / cs * cs) / cs;
                let l2_tables = data_clusters.div_ceil(self.geom.l2_entries()) + 1;
                let area_end = super::meta::settle(self.refcount_area(last * cs, data_clusters + l2_tables, true, None))
                    .map_err(|e| e.prefix("Failed to resize refcount structures"))?;
                let got = self.alloc_clusters_at(area_end, data_clusters)?;
                if got != data_clusters {
                    return Err(crate::Error::corrupt("qcow2: preallocated area is not free"));
                }
                self.extend_file(false, area_end + data_clusters * cs, mode)
                    .map_err(|e| e.prefix("Failed to resize underlying file"))?;
                let (mut host, mut guest, mut left) = (area_end, old / cs * cs, data_clusters);
                while left > 0 {
                    let n = left.min(self.geom.l2_entries() - self.l2_index(guest) as u64);
                    let m = Mapping { guest, host, clusters: n, cow_start: (0, 0), cow_end: (n * cs, 0) };
                    self.link(&m, cover)?;
                    guest += n * cs;
                    host += n * cs;
                    left -= n;
                }
            }
        }
        Ok(())
    }
}

/// Writes zeros over `[offset, offset + len)` in large chunks.
fn write_zeros(f: &crate::storage::Storage, offset: u64, len: u64) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        f.write_at(&zeros[..n as usize], offset + done)?;
        done += n;
    }
    Ok(())
}
