//! The qcow2 consistency check and repair, as qemu's `qcow2_co_check` does
//! them, step for step, with its messages (on [`crate::diag`]) and counters:
//!
//! 1. the snapshot table is read (and, with `-r all`, cut down to what can
//!    be read) — `snapshots.rs`;
//! 2. the references to every host cluster are counted in memory from the
//!    header, the L1 and L2 tables (active and of every snapshot), the
//!    snapshot table, the refcount table and blocks, the encryption header
//!    and the bitmaps — `tables.rs`, `refblocks.rs`, `bitmaps.rs`;
//! 3. those counts are compared with the refcounts on disk, leaks and
//!    corruptions repaired where allowed, or the whole refcount structure
//!    rebuilt from the counts — `compare.rs`, `rebuild.rs`;
//! 4. the COPIED flags of the active tables are checked against the
//!    refcounts — `copied.rs`;
//! 5. snapshot table entries found broken are rewritten, and a repaired
//!    image loses its dirty and corrupt bits.
//!
//! Bounded work: counts take memory only for the clusters referenced (see
//! [`imrt`]), tables past the end of the file are not read, and the number
//! of L2 entries a check may visit is capped far above what any real image
//! needs, so that a hostile image whose tables all point at each other ends
//! in an error rather than in hours of work.

mod bitmaps;
mod compare;
mod copied;
mod imrt;
mod overlap;
mod rebuild;
mod refblocks;
mod snapshots;
mod tables;

use super::meta::Meta;
use super::Qcow2;
use crate::check::{CheckResult, Repair};
use crate::diag;
use crate::error::{Error, Result};
use imrt::Imrt;
use qimg_formats::qcow2::{RefcountTable, RefcountTableEntry};

/// L2 entries a check visits at most before giving up on a hostile image.
const WORK_LIMIT: u64 = 1 << 32;
/// Refcount overflows reported at most (only hostile images overflow).
const OVERFLOW_LIMIT: u64 = 4096;

/// The state of one check of an image whose metadata lock is held.
pub(super) struct Checker<'a> {
    q: &'a Qcow2,
    meta: &'a mut Meta,
    /// The refcount table as on disk, reserved bits included.
    reftable: Vec<u64>,
    /// The length of the image file as qemu sees it (rounded up to 512).
    file_len: u64,
    /// The snapshot table as this check read it.
    snapshots: snapshots::Table,
    /// L2 entries visited so far.
    work: u64,
    /// Refcount overflows reported so far.
    overflows: u64,
}

/// Prints a diagnostic line.
fn say(line: impl AsRef<str>) {
    diag::plain(line.as_ref());
}

impl Qcow2 {
    /// Runs a check, repairing what `fix` allows (qemu's `qcow2_co_check_locked`).
    pub(super) fn check_locked(&self, meta: &mut Meta, fix: Option<Repair>) -> Result<CheckResult> {
        if self.is_broken() {
            return Err(Error::errno(libc::ENOMEDIUM));
        }
        meta.flush()?;
        let mut c = Checker::new(self, meta)?;
        let mut snapshot_res = CheckResult::default();
        c.read_snapshot_table(&mut snapshot_res, fix)?;
        let mut result = CheckResult::default();
        let mut refcount_res = CheckResult::default();
        let r = c.check_refcounts(&mut refcount_res, fix);
        result.add(&refcount_res, true);
        r?;
        let r = c.fix_snapshot_table(&mut snapshot_res, fix);
        result.add(&snapshot_res, false);
        r?;
        if fix.is_some() && result.check_errors == 0 && result.corruptions == 0 {
            c.mark_clean_and_consistent()?;
        }
        // Repairs may have rewritten tables behind the (clean) L2 cache.
        meta.flush()?;
        meta.l2.clear();
        Ok(result)
    }
}

impl<'a> Checker<'a> {
    fn new(q: &'a Qcow2, meta: &'a mut Meta) -> Result<Checker<'a>> {
        let mut c = Checker {
            q,
            meta,
            reftable: Vec::new(),
            file_len: 0,
            snapshots: snapshots::Table::default(),
            work: 0,
            overflows: 0,
        };
        c.reftable = c.read_reftable()?;
        c.refresh_file_len()?;
        Ok(c)
    }

    fn cluster_size(&self) -> u64 {
        self.meta.geom.cluster_size
    }

    fn cluster_bits(&self) -> u32 {
        self.meta.geom.cluster_bits
    }

    /// Reads the refcount table the header names, raw.
    fn read_reftable(&self) -> Result<Vec<u64>> {
        let h = &self.meta.header;
        let entries = RefcountTable::count(h).unwrap_or(0);
        let mut bytes = vec![0u8; (entries as usize) * RefcountTable::ENTRY_SIZE];
        self.q.storage.read_zero_padded(&mut bytes, h.refcount_table_offset)?;
        Ok((0..entries as usize).map(|i| RefcountTable::get(&bytes, i).map_or(0, RefcountTableEntry::raw)).collect())
    }

    /// Re-reads the file's length (qemu's `bdrv_getlength` of the file node).
    fn refresh_file_len(&mut self) -> Result<()> {
        self.file_len = self.q.storage.len()?.div_ceil(512) * 512;
        Ok(())
    }

    /// Counts one more reference to every cluster `[offset, offset + size)`
    /// touches (qemu's `qcow2_inc_refcounts_imrt`). Offsets and sizes are
    /// taken as qemu's signed 64-bit values.
    fn inc(&mut self, imrt: &mut Imrt, res: &mut CheckResult, offset: u64, size: i64) -> Result<()> {
        if size <= 0 {
            return Ok(());
        }
        let cs = self.cluster_size();
        let end = (offset as i64).checked_add(size);
        let Some(end) = end.filter(|e| *e >= 0) else {
            // qemu walks a wrapped-around range until memory runs out.
            res.check_errors += 1;
            return Err(Error::errno(libc::ENOMEM));
        };
        if end - self.file_len as i64 >= cs as i64 {
            say(format!(
                "ERROR: counting reference for region exceeding the end of the file by one cluster or more: \
                 offset {offset:#x} size {size:#x}"
            ));
            res.corruptions += 1;
            return Ok(());
        }
        let max = self.meta.geom.refcount_max();
        let first = offset >> self.cluster_bits();
        let last = (end as u64 - 1) >> self.cluster_bits();
        for k in first..=last {
            if k >= imrt.len() {
                if let Err(e) = imrt.resize(k + 1) {
                    res.check_errors += 1;
                    return Err(e);
                }
            }
            let count = imrt.get(k);
            if count == max {
                say(format!("ERROR: overflow cluster offset={:#x}", k << self.cluster_bits()));
                say("Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a \
                     clean copy if the image cannot be opened for writing");
                res.corruptions += 1;
                self.overflows += 1;
                if self.overflows > OVERFLOW_LIMIT {
                    return Err(Error::errno(libc::EFBIG));
                }
                continue;
            }
            imrt.set(k, count + 1);
        }
        Ok(())
    }

    /// Counts every reference the metadata makes (qemu's `calculate_refcounts`).
    fn calculate_refcounts(
        &mut self,
        res: &mut CheckResult,
        fix: Option<Repair>,
        rebuild: &mut bool,
        imrt: &mut Imrt,
    ) -> Result<()> {
        let cs = self.cluster_size();
        self.refresh_file_len()?;
        self.inc(imrt, res, 0, cs as i64)?;
        let (l1_offset, l1_size) = (self.meta.header.l1_table_offset, self.meta.header.l1_size);
        self.check_l1(imrt, res, l1_offset, l1_size, true, fix, true)?;
        let nb = self.snapshots.entries.len();
        if self.q.data.is_some() && nb > 0 {
            say(format!("ERROR {nb} snapshots in image with data file"));
            res.corruptions += 1;
        }
        for i in 0..nb {
            let sn = &self.snapshots.entries[i];
            let (offset, size) = (sn.l1_table_offset, sn.l1_size);
            let (id, name) = (sn.id.clone(), sn.name.clone());
            if !offset.is_multiple_of(cs) {
                say(format!(
                    "ERROR snapshot {id} ({name}) l1_offset={}: L1 table is not cluster aligned; snapshot table \
                     entry corrupted",
                    crate::error::c_hex(offset)
                ));
                res.corruptions += 1;
                continue;
            }
            if size as u64 > tables::MAX_L1_ENTRIES {
                say(format!(
                    "ERROR snapshot {id} ({name}) l1_size={}: L1 table is too large; snapshot table entry corrupted",
                    crate::error::c_hex(size as u64)
                ));
                res.corruptions += 1;
                continue;
            }
            self.check_l1(imrt, res, offset, size, false, fix, false)?;
        }
        let (so, ss) = (self.snapshots.offset, self.snapshots.size);
        self.inc(imrt, res, so, ss as i64)?;
        let rt_offset = self.meta.header.refcount_table_offset;
        let rt_len = (self.reftable.len() * RefcountTable::ENTRY_SIZE) as i64;
        self.inc(imrt, res, rt_offset, rt_len)?;
        if let Some(c) = self.q.ext.crypto.clone() {
            if c.length != 0 {
                self.inc(imrt, res, c.offset, c.length as i64)?;
            }
        }
        self.check_bitmaps(imrt, res)?;
        self.check_refblocks(imrt, res, fix, rebuild)
    }

    /// Checks the refcounts and repairs them (qemu's `qcow2_check_refcounts`).
    fn check_refcounts(&mut self, res: &mut CheckResult, fix: Option<Repair>) -> Result<()> {
        let nb_clusters = self.file_len.div_ceil(self.cluster_size());
        if nb_clusters > i32::MAX as u64 {
            res.check_errors += 1;
            return Err(Error::errno(libc::EFBIG));
        }
        let guest = self.meta.header.size / 512 * 512;
        res.total_clusters = guest.div_ceil(self.cluster_size());
        let mut imrt = match Imrt::new(nb_clusters) {
            Ok(t) => t,
            Err(e) => {
                res.check_errors += 1;
                return Err(e);
            }
        };
        let mut rebuild = false;
        self.calculate_refcounts(res, fix, &mut rebuild, &mut imrt)?;
        let pre_compare = *res;
        let mut highest = self.compare_refcounts(res, None, &mut rebuild, &imrt);
        if rebuild && fix.is_some_and(Repair::errors) {
            let old = *res;
            say("Rebuilding refcount structure");
            if let Err(e) = self.rebuild_refcount_structure(res, &mut imrt) {
                diag::report(&e.message);
                return Err(e);
            }
            res.corruptions = 0;
            res.leaks = 0;
            rebuild = false;
            imrt.clear();
            self.calculate_refcounts(res, None, &mut rebuild, &mut imrt)?;
            let saved = *res;
            *res = CheckResult::default();
            highest = self.compare_refcounts(res, Some(Repair::Leaks), &mut rebuild, &imrt);
            if rebuild {
                say("ERROR rebuilt refcount structure is still broken");
            }
            let fresh_leaks = res.leaks;
            *res = saved;
            if res.corruptions < old.corruptions {
                res.corruptions_fixed += old.corruptions - res.corruptions;
            }
            if res.leaks < old.leaks {
                res.leaks_fixed += old.leaks - res.leaks;
            }
            res.leaks += fresh_leaks;
        } else if fix.is_some() {
            if rebuild {
                say("ERROR need to rebuild refcount structures");
                res.check_errors += 1;
                return Err(Error::errno(libc::EIO));
            }
            if res.leaks != 0 || res.corruptions != 0 {
                *res = pre_compare;
                highest = self.compare_refcounts(res, fix, &mut rebuild, &imrt);
            }
        }
        self.check_oflag_copied(res, fix)?;
        res.image_end_offset = (highest + 1) * self.cluster_size();
        Ok(())
    }

    /// Clears the dirty and corrupt bits of a repaired image (qemu's
    /// `qcow2_mark_clean` and `qcow2_mark_consistent`).
    fn mark_clean_and_consistent(&mut self) -> Result<()> {
        let h = &mut self.meta.header;
        if !h.incompatible_features.dirty() && !h.incompatible_features.corrupt() {
            return Ok(());
        }
        h.incompatible_features.set_dirty(false);
        h.incompatible_features.set_corrupt(false);
        self.meta.flush()?;
        self.q.update_header(self.meta)
    }
}
