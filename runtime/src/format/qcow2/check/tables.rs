//! Counting the references of an L1 table, its L2 tables and the clusters
//! they map, with qemu's checks of every entry (`check_refcounts_l1`,
//! `check_refcounts_l2`, `fix_l2_entry_by_zero`).

use super::imrt::Imrt;
use super::overlap::Section;
use super::{say, Checker, WORK_LIMIT};
use crate::check::{CheckResult, Repair};
use crate::error::{Error, Result};
use qimg_formats::qcow2::{CompressedDescriptor, L1Table, L2Entry, L2EntryExtended, L2Table, L2TableExtended};

/// qemu's limit on an L1 table: 32 MiB of entries.
pub const MAX_L1_ENTRIES: u64 = (32 << 20) / L1Table::ENTRY_SIZE as u64;
/// Subclusters per cluster with extended L2 entries.
const SUBCLUSTERS: u32 = 32;

/// What an L2 entry maps (qemu's `QCow2ClusterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClusterType {
    Unallocated,
    ZeroPlain,
    ZeroAlloc,
    Normal,
    Compressed,
}

/// One L2 entry: the descriptor and, with extended entries, the subcluster
/// bitmap as one number (zero bits in the high half, allocation bits in the low).
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub raw: u64,
    pub bitmap: u64,
}

impl Entry {
    fn l2(self) -> L2Entry {
        L2Entry::from_raw(self.raw)
    }

    fn alloc_bits(self) -> u64 {
        self.bitmap & ((1 << SUBCLUSTERS) - 1)
    }

    fn zero_bits(self) -> u64 {
        self.bitmap >> SUBCLUSTERS
    }
}

impl Checker<'_> {
    /// The entry at `index` of an L2 table held in `table`.
    pub(super) fn l2_entry(&self, table: &[u8], index: usize) -> Entry {
        if self.meta.geom.extended_l2 {
            let e = L2TableExtended::get(table, index).unwrap_or_default();
            let bitmap = ((e.zero_bitmap() as u64) << SUBCLUSTERS) | e.alloc_bitmap() as u64;
            Entry { raw: e.descriptor(), bitmap }
        } else {
            Entry { raw: L2Table::get(table, index).map_or(0, L2Entry::raw), bitmap: 0 }
        }
    }

    pub(super) fn cluster_type(&self, e: Entry) -> ClusterType {
        let l2 = e.l2();
        if l2.compressed() {
            ClusterType::Compressed
        } else if l2.zero() && !self.meta.geom.extended_l2 {
            if l2.host_offset() != 0 {
                ClusterType::ZeroAlloc
            } else {
                ClusterType::ZeroPlain
            }
        } else if l2.host_offset() == 0 {
            if self.q.data.is_some() && l2.copied() {
                ClusterType::Normal
            } else {
                ClusterType::Unallocated
            }
        } else {
            ClusterType::Normal
        }
    }

    /// Counts an L1 table, its L2 tables and what they map. `frag` gathers
    /// the allocation figures (active table only).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_l1(
        &mut self,
        imrt: &mut Imrt,
        res: &mut CheckResult,
        l1_offset: u64,
        l1_size: u32,
        frag: bool,
        fix: Option<Repair>,
        active: bool,
    ) -> Result<()> {
        if l1_size == 0 {
            return Ok(());
        }
        let bytes = l1_size as u64 * L1Table::ENTRY_SIZE as u64;
        self.inc(imrt, res, l1_offset, bytes as i64)?;
        // Entries past the end of the file read as zeros: only read the rest.
        let in_file = self.file_len.saturating_sub(l1_offset).min(bytes) as usize / L1Table::ENTRY_SIZE;
        let mut table = vec![0u8; in_file * L1Table::ENTRY_SIZE];
        if self.q.storage.read_zero_padded(&mut table, l1_offset).is_err() {
            say("ERROR: I/O error in check_refcounts_l1");
            res.check_errors += 1;
            return Err(Error::errno(libc::EIO));
        }
        let cs = self.cluster_size();
        for i in 0..in_file {
            let entry = L1Table::get(&table, i).unwrap_or_default();
            if entry.raw() == 0 {
                continue;
            }
            if entry.reserved_bits() != 0 {
                say(format!("ERROR found L1 entry with reserved bits set: {:x}", entry.raw()));
                res.corruptions += 1;
            }
            let l2_offset = entry.l2_offset();
            self.inc(imrt, res, l2_offset, cs as i64)?;
            if !l2_offset.is_multiple_of(cs) {
                say(format!("ERROR l2_offset={l2_offset:x}: Table is not cluster aligned; L1 entry corrupted"));
                res.corruptions += 1;
            }
            self.check_l2(imrt, res, l2_offset, frag, fix, active)?;
        }
        Ok(())
    }

    /// Counts what an L2 table maps, checking each entry.
    fn check_l2(
        &mut self,
        imrt: &mut Imrt,
        res: &mut CheckResult,
        l2_offset: u64,
        frag: bool,
        fix: Option<Repair>,
        active: bool,
    ) -> Result<()> {
        let cs = self.cluster_size();
        if l2_offset >= self.file_len {
            // Reads as zeros: nothing allocated, nothing to check.
            return Ok(());
        }
        let mut table = vec![0u8; cs as usize];
        if self.q.storage.read_zero_padded(&mut table, l2_offset).is_err() {
            say("ERROR: I/O error in check_refcounts_l2");
            res.check_errors += 1;
            return Err(Error::errno(libc::EIO));
        }
        let entries = self.meta.geom.l2_entries();
        self.work += entries;
        if self.work > WORK_LIMIT {
            return Err(Error::errno(libc::EFBIG));
        }
        let has_data_file = self.q.data.is_some();
        let cb = self.cluster_bits();
        let mut next_contiguous = 0u64;
        for i in 0..entries as usize {
            let mut e = self.l2_entry(&table, i);
            let kind = self.cluster_type(e);
            if kind != ClusterType::Compressed && e.l2().reserved_bits() != 0 {
                say(format!("ERROR found l2 entry with reserved bits set: {:x}", e.raw));
                res.corruptions += 1;
            }
            match kind {
                ClusterType::Compressed => {
                    let d = CompressedDescriptor::from_raw(e.raw);
                    if e.l2().copied() {
                        say(format!(
                            "ERROR: coffset=0x{:x}: copied flag must never be set for compressed clusters",
                            d.host_offset(cb).unwrap_or(0)
                        ));
                        e.raw = e.l2().with_copied(false).raw();
                        res.corruptions += 1;
                    }
                    if has_data_file {
                        say(format!("ERROR compressed cluster {i} with data file, entry=0x{:x}", e.raw));
                        res.corruptions += 1;
                        continue;
                    }
                    if e.bitmap != 0 {
                        say(format!(
                            "ERROR compressed cluster {i} with non-zero subcluster allocation bitmap, entry=0x{:x}",
                            e.raw
                        ));
                        res.corruptions += 1;
                        continue;
                    }
                    let d = CompressedDescriptor::from_raw(e.raw);
                    let (Some(coffset), Some(extra)) = (d.host_offset(cb), d.extra_sectors(cb)) else {
                        continue;
                    };
                    let csize = (extra as i64 + 1) * 512 - (coffset & 511) as i64;
                    self.inc(imrt, res, coffset, csize)?;
                    if frag {
                        res.allocated_clusters += 1;
                        res.compressed_clusters += 1;
                        res.fragmented_clusters += 1;
                    }
                }
                ClusterType::ZeroAlloc | ClusterType::Normal => {
                    let offset = e.l2().host_offset();
                    if e.zero_bits() & e.alloc_bits() != 0 {
                        res.corruptions += 1;
                        say(format!(
                            "ERROR offset={offset:x}: Allocated cluster has corrupted subcluster allocation bitmap"
                        ));
                    }
                    if !offset.is_multiple_of(cs) {
                        res.corruptions += 1;
                        let has_data =
                            if self.meta.geom.extended_l2 { e.alloc_bits() != 0 } else { !e.l2().zero() };
                        if !has_data {
                            let repair = fix.is_some_and(Repair::errors);
                            say(format!(
                                "{} offset={offset:x}: Preallocated cluster is not properly aligned; L2 entry \
                                 corrupted.",
                                if repair { "Repairing" } else { "ERROR" }
                            ));
                            if repair {
                                match self.fix_l2_entry_by_zero(res, l2_offset, &mut table, i, active) {
                                    Ok(()) => continue,
                                    Err(ZeroFix::Overlap(err)) => return Err(err),
                                    Err(ZeroFix::Failed) => {}
                                }
                            }
                        } else {
                            say(format!(
                                "ERROR offset={offset:x}: Data cluster is not properly aligned; L2 entry corrupted."
                            ));
                        }
                    }
                    if frag {
                        res.allocated_clusters += 1;
                        if next_contiguous != 0 && offset != next_contiguous {
                            res.fragmented_clusters += 1;
                        }
                        next_contiguous = offset + cs;
                    }
                    if !has_data_file {
                        self.inc(imrt, res, offset, cs as i64)?;
                    }
                }
                ClusterType::ZeroPlain => {}
                ClusterType::Unallocated => {
                    if e.alloc_bits() != 0 {
                        res.corruptions += 1;
                        say("ERROR: Unallocated cluster has non-zero subcluster allocation map");
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes entry `index` of the L2 table at `l2_offset` (held in `table`)
    /// read as zeros, on disk too (qemu's `fix_l2_entry_by_zero`).
    fn fix_l2_entry_by_zero(
        &mut self,
        res: &mut CheckResult,
        l2_offset: u64,
        table: &mut [u8],
        index: usize,
        active: bool,
    ) -> std::result::Result<(), ZeroFix> {
        let (entry_size, zeroed) = if self.meta.geom.extended_l2 {
            let e = L2TableExtended::get(table, index).unwrap_or_default();
            let zeros = e.alloc_bitmap() | e.zero_bitmap();
            let e = L2EntryExtended::new().with_descriptor(0).with_zero_bitmap(zeros).with_alloc_bitmap(0);
            (L2TableExtended::ENTRY_SIZE, L2TableExtended::set(table, index, e))
        } else {
            (L2Table::ENTRY_SIZE, L2Table::set(table, index, L2Entry::new().with_zero(true)))
        };
        let at = index * entry_size;
        let bytes = table.get(at..at + entry_size).filter(|_| zeroed).map(<[u8]>::to_vec).unwrap_or_default();
        let where_ = l2_offset + at as u64;
        let ign = if active { Section::ActiveL2 } else { Section::InactiveL2 };
        if let Err(e) = self.pre_write_overlap_check(ign, where_, entry_size as u64) {
            say("ERROR: Overlap check failed");
            res.check_errors += 1;
            return Err(ZeroFix::Overlap(e));
        }
        let written = self.q.storage.write_at(&bytes, where_).and_then(|_| self.q.storage.sync());
        if let Err(e) = written {
            say(format!("ERROR: Failed to overwrite L2 table entry: {}", e.message));
            res.check_errors += 1;
            return Err(ZeroFix::Failed);
        }
        res.corruptions -= 1;
        res.corruptions_fixed += 1;
        Ok(())
    }
}

/// Why an entry could not be zeroed.
enum ZeroFix {
    /// The write would have hit other metadata: the table is not checked further.
    Overlap(Error),
    /// The write failed: checking goes on.
    Failed,
}
