//! Counting the clusters of the persistent bitmaps: the directory, each
//! bitmap's table and the data clusters it names (qemu's
//! `qcow2_check_bitmaps_refcounts`, with `bitmap_list_load`'s checks).

use super::imrt::Imrt;
use super::Checker;
use crate::check::CheckResult;
use crate::error::{Error, Result};
use qimg_formats::qcow2::{BitmapDirectoryEntry, BitmapFlags, BitmapTable, BitmapTableEntry, BitmapType};

/// qemu's limits on a bitmap.
const MAX_TABLE_ENTRIES: u64 = 0x800_0000;
const MAX_PHYS_SIZE: u64 = 0x2000_0000;
const GRANULARITY_BITS: std::ops::RangeInclusive<u8> = 9..=31;
const MAX_NAME_SIZE: u16 = 1023;
const MAX_DIRECTORY_SIZE: u64 = 1024 * 65535;
/// The longest directory entry: the fixed part, the longest name, padding.
const MAX_ENTRY_SIZE: u64 = BitmapDirectoryEntry::MIN_SIZE as u64 + MAX_NAME_SIZE as u64 + 7;

/// A bitmap's table: where and how many entries.
struct BitmapTableRef {
    offset: u64,
    entries: u64,
}

impl Checker<'_> {
    /// Counts the bitmaps' clusters; a directory or table qemu would refuse
    /// is a corruption that ends the check.
    pub(super) fn check_bitmaps(&mut self, imrt: &mut Imrt, res: &mut CheckResult) -> Result<()> {
        let Some(ext) = self.q.ext.bitmaps.clone() else { return Ok(()) };
        self.inc(imrt, res, ext.bitmap_directory_offset, ext.bitmap_directory_size as i64)?;
        let Some(tables) = self.load_bitmap_directory(ext.bitmap_directory_offset, ext.bitmap_directory_size, ext.nb_bitmaps)
        else {
            res.corruptions += 1;
            return Err(Error::errno(libc::EINVAL));
        };
        let cs = self.cluster_size();
        for t in tables {
            let bytes = t.entries * BitmapTable::ENTRY_SIZE as u64;
            self.inc(imrt, res, t.offset, bytes as i64)?;
            // Entries past the end of the file read as zeros, which are valid.
            let in_file = self.file_len.saturating_sub(t.offset).min(bytes) as usize / BitmapTable::ENTRY_SIZE;
            let mut table = vec![0u8; in_file * BitmapTable::ENTRY_SIZE];
            self.q.storage.read_zero_padded(&mut table, t.offset)?;
            let entries: Vec<BitmapTableEntry> =
                (0..in_file).map(|i| BitmapTable::get(&table, i).unwrap_or_default()).collect();
            if entries.iter().any(|e| !valid_table_entry(*e, cs)) {
                res.corruptions += 1;
                return Err(Error::errno(libc::EINVAL));
            }
            for e in entries.iter().filter(|e| e.offset() != 0) {
                self.inc(imrt, res, e.offset(), cs as i64)?;
            }
        }
        Ok(())
    }

    /// Reads the bitmap directory with qemu's checks; `None` if it is broken.
    fn load_bitmap_directory(&self, offset: u64, size: u64, count: u32) -> Option<Vec<BitmapTableRef>> {
        if size == 0 || size > MAX_DIRECTORY_SIZE {
            return None;
        }
        // Past the end of the file the directory reads as zeros, and an
        // entry of zeros is invalid: one that long cannot be valid.
        let in_file = self.file_len.saturating_sub(offset);
        if size > in_file + MAX_ENTRY_SIZE {
            return None;
        }
        let mut dir = vec![0u8; size as usize];
        self.q.storage.read_zero_padded(&mut dir, offset).ok()?;
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < dir.len() {
            if pos + BitmapDirectoryEntry::MIN_SIZE > dir.len() || out.len() as u32 >= count {
                return None;
            }
            let e = BitmapDirectoryEntry::read(dir.get(pos..)?).ok()?;
            let len = e.encoded_len().ok()? as usize;
            if pos + len > dir.len() || e.extra_data_size != 0 || !self.valid_dir_entry(&e) {
                return None;
            }
            out.push(BitmapTableRef { offset: e.bitmap_table_offset, entries: e.bitmap_table_size as u64 });
            pos += len;
        }
        (out.len() as u32 == count).then_some(out)
    }

    /// qemu's `check_dir_entry`.
    fn valid_dir_entry(&self, e: &BitmapDirectoryEntry) -> bool {
        let cs = self.cluster_size();
        let known = BitmapFlags::IN_USE.union(BitmapFlags::AUTO).bits();
        let fits = e.bitmap_table_size != 0
            && e.bitmap_table_offset != 0
            && e.bitmap_table_offset.is_multiple_of(cs)
            && e.bitmap_table_size as u64 <= MAX_TABLE_ENTRIES
            && GRANULARITY_BITS.contains(&e.granularity_bits)
            && e.flags.bits() & !known == 0
            && e.name_size <= MAX_NAME_SIZE
            && e.kind == BitmapType::DirtyTracking;
        if !fits {
            return false;
        }
        let phys = e.bitmap_table_size as u64 * cs;
        let covered = (phys as u128 * 8) << e.granularity_bits;
        phys <= MAX_PHYS_SIZE && (e.flags.in_use() || (self.meta.header.size / 512 * 512) as u128 <= covered)
    }
}

/// qemu's `check_table_entry`.
fn valid_table_entry(e: BitmapTableEntry, cluster_size: u64) -> bool {
    e.reserved_bits() == 0 && (e.offset() == 0 || (!e.all_ones() && e.offset().is_multiple_of(cluster_size)))
}
