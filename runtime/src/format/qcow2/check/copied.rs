//! Checking the COPIED flags of the active L1 and L2 tables against the
//! refcounts, and repairing them (qemu's `check_oflag_copied`).

use super::overlap::Section;
use super::tables::ClusterType;
use super::{say, Checker};
use crate::check::{CheckResult, Repair};
use crate::error::Result;
use qimg_formats::qcow2::{L1Entry, L1Table, L2Entry, L2Table, L2TableExtended};

impl Checker<'_> {
    /// Checks that exactly the tables and clusters with refcount 1 have the
    /// COPIED flag. Run after the refcounts are settled.
    pub(super) fn check_oflag_copied(&mut self, res: &mut CheckResult, fix: Option<Repair>) -> Result<()> {
        let repair = match fix {
            Some(Repair::All) => true,
            Some(Repair::Leaks) => res.check_errors == 0 && res.corruptions == 0 && res.leaks == 0,
            None => false,
        };
        let cb = self.cluster_bits();
        let cs = self.cluster_size();
        let word = if repair { "Repairing" } else { "ERROR" };
        let mut last = None;
        for i in 0..self.meta.l1.len() {
            let l1 = L1Entry::from_raw(self.meta.l1[i]);
            let l2_offset = l1.l2_offset();
            if l2_offset == 0 {
                continue;
            }
            let Ok(refcount) = self.disk_refcount(&mut last, l2_offset >> cb) else { continue };
            if (refcount == 1) != l1.copied() {
                res.corruptions += 1;
                say(format!("{word} OFLAG_COPIED L2 cluster: l1_index={i} l1_entry={:x} refcount={refcount}", l1.raw()));
                if repair {
                    self.meta.l1[i] = l1.with_copied(refcount == 1).raw();
                    if let Err(e) = self.write_l1_entry(i) {
                        res.check_errors += 1;
                        return Err(e);
                    }
                    res.corruptions -= 1;
                    res.corruptions_fixed += 1;
                }
            }
            let mut table = vec![0u8; cs as usize];
            if let Err(e) = self.q.storage.read_zero_padded(&mut table, l2_offset) {
                say(format!("ERROR: Could not read L2 table: {}", e.message));
                res.check_errors += 1;
                return Err(e);
            }
            let mut dirty = 0;
            for j in 0..self.meta.geom.l2_entries() as usize {
                let e = self.l2_entry(&table, j);
                if !matches!(self.cluster_type(e), ClusterType::Normal | ClusterType::ZeroAlloc) {
                    continue;
                }
                let l2 = L2Entry::from_raw(e.raw);
                let refcount = match self.q.data {
                    Some(_) => 1,
                    None => match self.disk_refcount(&mut last, l2.host_offset() >> cb) {
                        Ok(r) => r,
                        Err(_) => continue,
                    },
                };
                if (refcount == 1) != l2.copied() {
                    res.corruptions += 1;
                    say(format!("{word} OFLAG_COPIED data cluster: l2_entry={:x} refcount={refcount}", e.raw));
                    if repair {
                        self.set_l2_descriptor(&mut table, j, l2.with_copied(refcount == 1).raw());
                        dirty += 1;
                    }
                }
            }
            if dirty > 0 {
                if let Err(e) = self.pre_write_overlap_check(Section::ActiveL2, l2_offset, cs) {
                    say(format!("ERROR: Could not write L2 table; metadata overlap check failed: {}", e.message));
                    res.check_errors += 1;
                    return Err(e);
                }
                if let Err(e) = self.q.storage.write_at(&table, l2_offset) {
                    say(format!("ERROR: Could not write L2 table: {}", e.message));
                    res.check_errors += 1;
                    return Err(e);
                }
                res.corruptions -= dirty;
                res.corruptions_fixed += dirty;
            }
        }
        Ok(())
    }

    /// Replaces the descriptor of entry `index` in an L2 table held in `table`.
    fn set_l2_descriptor(&self, table: &mut [u8], index: usize, raw: u64) {
        if self.meta.geom.extended_l2 {
            let e = L2TableExtended::get(table, index).unwrap_or_default().with_descriptor(raw);
            L2TableExtended::set(table, index, e);
        } else {
            L2Table::set(table, index, L2Entry::from_raw(raw));
        }
    }

    /// Writes entry `index` of the active L1 table from memory (qemu's
    /// `qcow2_write_l1_entry`).
    fn write_l1_entry(&mut self, index: usize) -> Result<()> {
        let mut buf = [0u8; L1Table::ENTRY_SIZE];
        L1Table::set(&mut buf, 0, L1Entry::from_raw(self.meta.l1[index]));
        let at = self.meta.header.l1_table_offset + (index * L1Table::ENTRY_SIZE) as u64;
        self.pre_write_overlap_check(Section::ActiveL1, at, buf.len() as u64)?;
        self.q.storage.write_at(&buf, at)?;
        self.q.storage.sync()
    }
}
