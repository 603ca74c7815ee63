//! qemu's metadata overlap check before a repair writes to the image: a
//! write that would land on metadata other than its target marks the image
//! corrupt instead of happening. qemu-img checks the "cached" set: every
//! structure but the L2 tables of snapshots.

use super::Checker;
use crate::error::{Error, Result};
use qimg_formats::qcow2::{L1Entry, L1Table, RefcountTable};

/// A kind of metadata, in the order qemu tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    MainHeader,
    ActiveL1,
    RefcountTable,
    SnapshotTable,
    InactiveL1,
    ActiveL2,
    RefcountBlock,
    /// Never tested by qemu-img; only ever ignored.
    InactiveL2,
    BitmapDirectory,
    /// Ignore nothing.
    None,
}

impl Section {
    /// qemu's name of the section in its corruption message.
    fn name(self) -> &'static str {
        match self {
            Section::MainHeader => "qcow2_header",
            Section::ActiveL1 => "active L1 table",
            Section::ActiveL2 => "active L2 table",
            Section::RefcountTable => "refcount table",
            Section::RefcountBlock => "refcount block",
            Section::SnapshotTable => "snapshot table",
            Section::InactiveL1 => "inactive L1 table",
            Section::InactiveL2 => "inactive L2 table",
            Section::BitmapDirectory => "bitmap directory",
            Section::None => "",
        }
    }
}

fn overlaps(a: u64, a_len: u64, b: u64, b_len: u64) -> bool {
    a_len != 0 && b_len != 0 && a < b.saturating_add(b_len) && b < a.saturating_add(a_len)
}

impl Checker<'_> {
    /// The first metadata section, other than `ign`, that `[offset, offset + size)` touches.
    fn metadata_overlap(&self, ign: Section, offset: u64, size: u64) -> Option<Section> {
        if size == 0 {
            return None;
        }
        let cs = self.cluster_size();
        let test = |s: Section| s != ign;
        if test(Section::MainHeader) && offset < cs {
            return Some(Section::MainHeader);
        }
        let size = (offset % cs + size).div_ceil(cs) * cs;
        let offset = offset - offset % cs;
        let hit = |o: u64, l: u64| overlaps(offset, size, o, l);
        let h = &self.meta.header;
        let l1_bytes = |n: u32| n as u64 * L1Table::ENTRY_SIZE as u64;
        if test(Section::ActiveL1) && hit(h.l1_table_offset, l1_bytes(h.l1_size)) {
            return Some(Section::ActiveL1);
        }
        let rt_bytes = (self.meta.reftable.len() * RefcountTable::ENTRY_SIZE) as u64;
        if test(Section::RefcountTable) && hit(h.refcount_table_offset, rt_bytes) {
            return Some(Section::RefcountTable);
        }
        if test(Section::SnapshotTable) && hit(self.snapshots.offset, self.snapshots.size) {
            return Some(Section::SnapshotTable);
        }
        if test(Section::InactiveL1) && self.snapshots.entries.iter().any(|s| hit(s.l1_table_offset, l1_bytes(s.l1_size)))
        {
            return Some(Section::InactiveL1);
        }
        if test(Section::ActiveL2)
            && self.meta.l1.iter().map(|e| L1Entry::from_raw(*e).l2_offset()).any(|o| o != 0 && hit(o, cs))
        {
            return Some(Section::ActiveL2);
        }
        if test(Section::RefcountBlock) && self.meta.reftable.iter().any(|b| *b != 0 && hit(*b, cs)) {
            return Some(Section::RefcountBlock);
        }
        if test(Section::BitmapDirectory) && self.meta.header.autoclear_features.bitmaps() {
            if let Some(b) = &self.q.ext.bitmaps {
                if hit(b.bitmap_directory_offset, b.bitmap_directory_size) {
                    return Some(Section::BitmapDirectory);
                }
            }
        }
        None
    }

    /// Refuses a repair write that would hit other metadata, marking the
    /// image corrupt as qemu does (`qcow2_pre_write_overlap_check`).
    pub(super) fn pre_write_overlap_check(&mut self, ign: Section, offset: u64, size: u64) -> Result<()> {
        match self.metadata_overlap(ign, offset, size) {
            None => Ok(()),
            Some(s) => {
                let message = format!("Preventing invalid write on metadata (overlaps with {})", s.name());
                self.q.signal_corruption(self.meta, true, &message);
                Err(Error::errno(libc::EIO))
            }
        }
    }
}
