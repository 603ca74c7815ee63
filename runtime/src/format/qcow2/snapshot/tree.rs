//! An L1 table and the L2 tables under it, as snapshot operations see them:
//! which clusters a tree references (qemu counts one reference per tree
//! that reaches a cluster), and the COPIED flags an active tree must carry.
//!
//! Walks are bounded by the file: an L2 table or a data cluster that starts
//! past the end of the file, or an L2 table that one L1 table names twice,
//! is refused, so a hostile table cannot make a walk cost more than reading
//! the file once.

use super::super::map::corrupt;
use super::super::shadow::Shadow;
use crate::error::{c_hex, Error, Result};
use qimg_formats::qcow2::{CompressedDescriptor, L1Entry, L2Entry, L2Table, L2TableExtended};
use std::collections::HashSet;

/// What one L2 entry holds a reference to (qemu's cluster types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing: unallocated, or reads as zeros without a host cluster.
    Nothing,
    /// A whole host cluster (normal data, or zeros with a cluster attached).
    Cluster(u64),
    /// The bytes of a compressed cluster.
    Compressed { offset: u64, len: u64 },
}

/// One tree being walked: the geometry, the file's end and the tables seen.
struct Walk {
    cluster_bits: u32,
    extended: bool,
    entries: usize,
    file_end: u64,
    seen: HashSet<u64>,
    buf: Vec<u8>,
}

impl Walk {
    fn new(sh: &mut Shadow<'_>) -> Result<Walk> {
        let meta = sh.meta();
        let g = meta.geom;
        Ok(Walk {
            cluster_bits: g.cluster_bits,
            extended: g.extended_l2,
            entries: g.l2_entries() as usize,
            file_end: meta.io.len()?,
            seen: HashSet::new(),
            buf: vec![0u8; g.cluster_size as usize],
        })
    }

    /// Reads the L2 table named by entry `index` of an L1 table; `None` when
    /// the entry names none.
    fn table(&mut self, sh: &mut Shadow<'_>, index: usize, raw: u64) -> Result<Option<u64>> {
        let offset = L1Entry::from_raw(raw).l2_offset();
        if offset == 0 {
            return Ok(None);
        }
        if offset & ((1 << self.cluster_bits) - 1) != 0 {
            return Err(corrupt(format!(
                "L2 table offset {} unaligned (L1 index: {})",
                c_hex(offset),
                c_hex(index as u64)
            )));
        }
        self.inside(offset)?;
        if !self.seen.insert(offset) {
            return Err(Error::errno_with(libc::EIO, format!("L2 table {} is named twice", c_hex(offset))));
        }
        sh.meta().io.read_zero_padded(&mut self.buf, offset)?;
        Ok(Some(offset))
    }

    /// Refuses a cluster that starts past the end of the file.
    fn inside(&self, offset: u64) -> Result<()> {
        let cluster_start = offset >> self.cluster_bits << self.cluster_bits;
        if cluster_start >= self.file_end {
            return Err(Error::errno_with(
                libc::EIO,
                format!("Cluster {} lies past the end of the file", c_hex(cluster_start)),
            ));
        }
        Ok(())
    }

    /// The descriptor of entry `j` of the table in `buf` (the first half of an extended entry).
    fn descriptor(&self, j: usize) -> u64 {
        if self.extended {
            L2TableExtended::get(&self.buf, j).unwrap_or_default().descriptor()
        } else {
            L2Table::get(&self.buf, j).unwrap_or_default().raw()
        }
    }

    fn set_descriptor(&mut self, j: usize, raw: u64) {
        if self.extended {
            let e = L2TableExtended::get(&self.buf, j).unwrap_or_default().with_descriptor(raw);
            L2TableExtended::set(&mut self.buf, j, e);
        } else {
            L2Table::set(&mut self.buf, j, L2Entry::from_raw(raw));
        }
    }

    /// What entry `j` of the table at `table` references, checked as qemu checks it.
    fn target(&self, table: u64, j: usize) -> Result<Target> {
        let raw = self.descriptor(j);
        let e = L2Entry::from_raw(raw);
        if e.compressed() {
            let d = CompressedDescriptor::from_raw(raw);
            let (Some(offset), Some(extra)) = (d.host_offset(self.cluster_bits), d.extra_sectors(self.cluster_bits))
            else {
                return Err(Error::errno(libc::EIO));
            };
            let len = (extra + 1) * 512 - (offset & 511);
            return Ok(Target::Compressed { offset, len });
        }
        let host = e.host_offset();
        if host == 0 {
            return Ok(Target::Nothing);
        }
        if host & ((1 << self.cluster_bits) - 1) != 0 {
            return Err(corrupt(format!(
                "Cluster allocation offset {} unaligned (L2 offset: {}, L2 index: {})",
                c_hex(host),
                c_hex(table),
                c_hex(j as u64)
            )));
        }
        Ok(Target::Cluster(host))
    }
}

/// Adds `delta` to the refcount of every L2 table the L1 table `l1` names
/// and of every cluster those tables reference.
pub(super) fn count(sh: &mut Shadow<'_>, l1: &[u64], delta: i64) -> Result<()> {
    let mut w = Walk::new(sh)?;
    let cb = w.cluster_bits;
    for (i, raw) in l1.iter().enumerate() {
        let Some(table) = w.table(sh, i, *raw)? else { continue };
        for j in 0..w.entries {
            match w.target(table, j)? {
                Target::Nothing => {}
                Target::Cluster(host) => {
                    w.inside(host)?;
                    sh.add(host >> cb, delta)?;
                }
                Target::Compressed { offset, len } => {
                    w.inside(offset)?;
                    w.inside(offset + len - 1)?;
                    sh.add_range(offset, len, delta)?;
                }
            }
        }
        sh.add(table >> cb, delta)?;
    }
    Ok(())
}

/// The active L1 table `l1` as it must be once the update is done: COPIED
/// set exactly on the entries whose cluster will have a refcount of 1.
/// An L2 table whose entries need other flags is replaced by a corrected
/// copy (never changed in place); the `refs` L1 tables that will name it
/// move their references from the old table to the copy.
pub(super) fn settle_copied(sh: &mut Shadow<'_>, l1: &[u64], refs: i64) -> Result<Vec<u64>> {
    let mut w = Walk::new(sh)?;
    let cb = w.cluster_bits;
    let mut out = Vec::with_capacity(l1.len());
    for (i, raw) in l1.iter().enumerate() {
        let Some(table) = w.table(sh, i, *raw)? else {
            out.push(*raw);
            continue;
        };
        let mut changed = false;
        for j in 0..w.entries {
            let raw = w.descriptor(j);
            let single = match w.target(table, j)? {
                Target::Cluster(host) => sh.refcount(host >> cb)? == 1,
                Target::Nothing | Target::Compressed { .. } => false,
            };
            let want = L2Entry::from_raw(raw).with_copied(single).raw();
            if want != raw {
                w.set_descriptor(j, want);
                changed = true;
            }
        }
        let table = if changed {
            let copy = sh.alloc_write(&w.buf, refs)?;
            sh.add(table >> cb, -refs)?;
            copy
        } else {
            table
        };
        let single = sh.refcount(table >> cb)? == 1;
        out.push(L1Entry::new().with_l2_offset(table).with_copied(single).raw());
    }
    Ok(out)
}
