//! Taking, reverting to and dropping internal snapshots, as qemu's
//! `qcow2_snapshot_create`, `qcow2_snapshot_goto` and `qcow2_snapshot_delete`
//! do, with the same results and messages, but each made one crash-safe
//! [`Shadow`] update: whatever instant the process dies at, `qemu-img
//! check` finds the image either as it was or as it is meant to be.
//!
//! What each operation changes, in refcounts (one reference per L1 table
//! that reaches a cluster):
//! - create: +1 for everything the active tree reaches; the active L2
//!   tables lose their COPIED flags (corrected copies, shared by the active
//!   L1 table and the snapshot's, replace tables that had them); the
//!   snapshot's L1 table is a copy of the new active one.
//! - delete: -1 for everything the snapshot's tree reaches and for its L1
//!   table; COPIED flags of the active tree are set again where a refcount
//!   fell to 1.
//! - goto: +1 for the snapshot's tree, -1 for the active tree; the active L1
//!   table becomes the snapshot's (zero-padded to at least its old size), and
//!   the image takes the snapshot's disk size.

use super::super::meta::Meta;
use super::super::shadow::Shadow;
use super::super::Qcow2;
use super::{encode_table, new_entry, new_id, read_table, tree, Snapshot, MAX_SNAPSHOTS};
use crate::error::{report_line, Error, ErrorKind, Result};
use crate::image::Image;
use crate::info::SnapshotInfo;
use qimg_formats::qcow2::{L1Entry, L1Table, SnapshotHeader};
use std::sync::atomic::Ordering;

/// qemu's limit on an L1 table: 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

fn poisoned() -> Error {
    Error::errno(libc::EIO)
}

impl Qcow2 {
    /// The snapshots, as `snapshot -l` lists them (`ENOTSUP` with an
    /// external data file, as qemu has it).
    pub(in super::super) fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        if self.header.incompatible_features.external_data_file() {
            return Err(Error::errno(libc::ENOTSUP));
        }
        Ok(self.snapshots.read().map_err(|_| poisoned())?.iter().map(Snapshot::info).collect())
    }

    /// Takes a snapshot of the current state named `name`, dated `date`
    /// (seconds, nanoseconds). Errors carry qemu's errno.
    pub(in super::super) fn create_snapshot(&self, name: &[u8], date: (u32, u32)) -> Result<()> {
        let mut snapshots = self.snapshots.write().map_err(|_| poisoned())?;
        if snapshots.len() as u64 >= MAX_SNAPSHOTS as u64 {
            return Err(Error::errno(libc::EFBIG));
        }
        if self.header.incompatible_features.external_data_file() {
            return Err(Error::errno(libc::ENOTSUP));
        }
        let mut meta = self.meta.lock().map_err(|_| poisoned())?;
        refuse_dirty(&meta)?;
        let mut entries: Vec<SnapshotHeader> = snapshots.iter().map(|s| s.rewritten(self.open_size())).collect();
        let id = new_id(&snapshots);
        let disk_size = self.virtual_size();
        let result = (|| {
            let mut sh = Shadow::begin(&mut meta)?;
            let old_l1 = sh.meta().l1.clone();
            tree::count(&mut sh, &old_l1, 1)?;
            let l1 = tree::settle_copied(&mut sh, &old_l1, 2)?;
            let snapshot_l1 = if l1.is_empty() { 0 } else { sh.alloc_write(&l1_bytes(&l1), 1)? };
            entries.push(new_entry(id, name.to_vec(), (snapshot_l1, l1.len() as u32), date, disk_size));
            let mut h = sh.meta().header.clone();
            h.l1_table_offset = replace_l1(&mut sh, &old_l1, &l1)?;
            (h.snapshots_offset, h.nb_snapshots) = replace_table(&mut sh, &snapshots, &entries)?;
            sh.commit(h, l1)
        })();
        result.map_err(|e| self.corruption_event(&mut meta, e))?;
        *snapshots = reread(&meta)?;
        Ok(())
    }

    /// Reverts the image to the snapshot whose ID, or else whose name, is
    /// `id_or_name`. Errors read as what follows `Could not apply snapshot
    /// 'X': ` in qemu-img's message.
    pub(in super::super) fn goto_snapshot(&self, id_or_name: Option<&str>) -> Result<()> {
        if self.ext.bitmaps.is_some() {
            return Err(errno_message(libc::EBUSY, "Device has active dirty bitmaps"));
        }
        if self.header.incompatible_features.external_data_file() {
            return Err(load_failed(Error::errno(libc::ENOTSUP)));
        }
        let mut snapshots = self.snapshots.write().map_err(|_| poisoned())?;
        let key = id_or_name.map(str::as_bytes);
        let found = snapshots
            .iter()
            .find(|s| Some(s.id()) == key)
            .or_else(|| snapshots.iter().find(|s| Some(s.name()) == key));
        let Some(snap) = found.cloned() else { return Err(load_failed(Error::errno(libc::ENOENT))) };
        validate_l1(&snap, self.cluster_size_bytes()).map_err(reported)?;
        let size = snap.disk_size(self.open_size());
        if size % 512 != 0 {
            return Err(reported(errno_message(libc::EINVAL, "The new size must be a multiple of 512")));
        }
        let mut meta = self.meta.lock().map_err(|_| poisoned())?;
        refuse_dirty(&meta)?;
        let current = self.virtual_size();
        let result = (|| {
            let snap_l1 = read_l1(&meta, snap.header.l1_table_offset, snap.header.l1_size)?;
            let grow_to = if size > current { meta.geom.l1_entries_for(size) } else { 0 };
            let len = (meta.l1.len() as u64).max(snap_l1.len() as u64).max(grow_to);
            if len * 8 > MAX_L1_BYTES {
                return Err(Error::errno(libc::EFBIG));
            }
            let mut sh = Shadow::begin(&mut meta)?;
            let old_l1 = sh.meta().l1.clone();
            tree::count(&mut sh, &snap_l1, 1)?;
            tree::count(&mut sh, &old_l1, -1)?;
            let mut wanted = snap_l1;
            wanted.resize(len as usize, 0);
            let l1 = tree::settle_copied(&mut sh, &wanted, 1)?;
            let mut h = sh.meta().header.clone();
            h.l1_table_offset = replace_l1(&mut sh, &old_l1, &l1)?;
            h.l1_size = len as u32;
            h.size = size;
            sh.commit(h, l1)
        })();
        result.map_err(|e| load_failed(self.corruption_event(&mut meta, e)))?;
        self.size.store(size, Ordering::Relaxed);
        *snapshots = reread(&meta)?;
        Ok(())
    }

    /// Deletes the snapshot with exactly this ID and name. Errors read as
    /// what follows `Could not delete snapshot 'X': ` in qemu-img's message.
    pub(in super::super) fn delete_snapshot(&self, id: &[u8], name: &[u8]) -> Result<()> {
        if self.header.incompatible_features.external_data_file() {
            return Err(Error::errno(libc::ENOTSUP));
        }
        let mut snapshots = self.snapshots.write().map_err(|_| poisoned())?;
        let index = snapshots.iter().position(|s| s.id() == id && s.name() == name);
        let Some(index) = index else {
            return Err(errno_message(libc::ENOENT, "Can't find the snapshot"));
        };
        let snap = snapshots[index].clone();
        validate_l1(&snap, self.cluster_size_bytes())?;
        let mut meta = self.meta.lock().map_err(|_| poisoned())?;
        refuse_dirty(&meta)?;
        let open_size = self.open_size();
        let entries: Vec<SnapshotHeader> =
            snapshots.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, s)| s.rewritten(open_size)).collect();
        let result = (|| {
            let in_step = |step: &'static str| move |e: Error| Step(step, e);
            let snap_l1 = read_l1(&meta, snap.header.l1_table_offset, snap.header.l1_size).map_err(in_step(FREE))?;
            let mut sh = Shadow::begin(&mut meta).map_err(in_step(REMOVE))?;
            let mut h = sh.meta().header.clone();
            (h.snapshots_offset, h.nb_snapshots) =
                replace_table(&mut sh, &snapshots, &entries).map_err(in_step(REMOVE))?;
            tree::count(&mut sh, &snap_l1, -1).map_err(in_step(FREE))?;
            let l1_len = snap.header.l1_size as u64 * L1Table::ENTRY_SIZE as u64;
            sh.add_range(snap.header.l1_table_offset, l1_len, -1).map_err(in_step(FREE))?;
            let old_l1 = sh.meta().l1.clone();
            let l1 = tree::settle_copied(&mut sh, &old_l1, 1).map_err(in_step(STATUS))?;
            h.l1_table_offset = replace_l1(&mut sh, &old_l1, &l1).map_err(in_step(STATUS))?;
            sh.commit(h, l1).map_err(in_step(REMOVE))
        })();
        if let Err(Step(step, e)) = result {
            let e = self.corruption_event(&mut meta, e);
            let errno = e.errno.unwrap_or(libc::EIO);
            let preamble = e.preamble.clone();
            let mut out = Error::errno_with(errno, step);
            out.preamble = preamble;
            return Err(out);
        }
        *snapshots = reread(&meta)?;
        Ok(())
    }

    /// The guest size when the image was opened (qemu's `total_sectors`).
    fn open_size(&self) -> u64 {
        self.header.size / 512 * 512
    }

    /// Turns a corruption found in the metadata into qemu's event: the image
    /// is marked corrupt (once) and the operation fails with `EIO`.
    fn corruption_event(&self, meta: &mut Meta, e: Error) -> Error {
        if e.kind != ErrorKind::Corrupt {
            return e;
        }
        let mut out = Error::errno(libc::EIO);
        if !self.corruption_reported.swap(true, Ordering::SeqCst) {
            if meta.header.version >= 3 {
                meta.header.incompatible_features.set_corrupt(true);
                // qemu carries on when it cannot mark the image; so does qimg.
                let _ = meta.write_header();
            }
            out.preamble = Some(format!(
                "qcow2: Marking image as corrupt: {}; further corruption events will be suppressed\n",
                e.message
            ));
        }
        out
    }
}

/// qemu's messages for the steps of a deletion.
const REMOVE: &str = "Failed to remove snapshot from snapshot list";
const FREE: &str = "Failed to free the cluster and L1 table";
const STATUS: &str = "Failed to update snapshot status in disk";

/// An error in one step of a deletion.
struct Step(&'static str, Error);

impl Snapshot {
    /// What `info` and `snapshot -l` show of the snapshot.
    pub(in super::super) fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            id: String::from_utf8_lossy(&self.header.id_str).into_owned(),
            name: String::from_utf8_lossy(&self.header.name).into_owned(),
            vm_state_size: self.vm_state_size(),
            date_sec: self.header.date_sec as u64,
            date_nsec: self.header.date_nsec as u64,
            vm_clock_nsec: self.header.vm_clock_nsec,
            icount: self.icount(),
        }
    }

    /// The disk size recorded with the snapshot, or `current` when the entry has none.
    fn disk_size(&self, current: u64) -> u64 {
        if self.header.extra_data_size >= 16 {
            self.header.disk_size
        } else {
            current
        }
    }
}

/// qemu's checks of a snapshot's L1 table before using it. The error's
/// message is qemu's text; its errno what the operation then fails with.
fn validate_l1(snap: &Snapshot, cluster_size: u64) -> Result<()> {
    let h = &snap.header;
    if h.l1_size as u64 > MAX_L1_BYTES / L1Table::ENTRY_SIZE as u64 {
        return Err(errno_message(libc::EFBIG, "Snapshot L1 table too large"));
    }
    let bytes = h.l1_size as u64 * L1Table::ENTRY_SIZE as u64;
    if (i64::MAX as u64 - bytes) < h.l1_table_offset || !h.l1_table_offset.is_multiple_of(cluster_size) {
        return Err(errno_message(libc::EINVAL, "Snapshot L1 table offset invalid"));
    }
    Ok(())
}

/// An errno error with a message of qemu's other than `strerror`'s.
fn errno_message(errno: i32, message: &str) -> Error {
    let mut e = Error::errno(errno);
    e.message = message.to_string();
    e
}

/// A failed check that qemu reports on a line of its own while loading a
/// snapshot: the line comes first, then `Failed to load snapshot: ERRNO`.
fn reported(e: Error) -> Error {
    let mut out = load_failed(Error::errno(e.errno.unwrap_or(libc::EINVAL)));
    out.preamble = Some(report_line(&e.message));
    out
}

/// `Failed to load snapshot: REASON`.
fn load_failed(e: Error) -> Error {
    e.prefix("Failed to load snapshot")
}

/// Refuses an image whose refcounts may be stale: qemu rebuilds them when
/// it opens such an image for writing, which qimg does not do yet.
fn refuse_dirty(meta: &Meta) -> Result<()> {
    if meta.header.incompatible_features.dirty() {
        return Err(Error::unsupported(
            "qimg cannot update an image that was not closed cleanly (dirty bit set) yet; repair it with 'qemu-img check -r all' first",
        ));
    }
    Ok(())
}

/// Reads an L1 table of `count` entries at `offset`, decoded.
fn read_l1(meta: &Meta, offset: u64, count: u32) -> Result<Vec<u64>> {
    let mut bytes = vec![0u8; count as usize * L1Table::ENTRY_SIZE];
    meta.io.read_zero_padded(&mut bytes, offset)?;
    Ok((0..count as usize).filter_map(|i| L1Table::get(&bytes, i).map(L1Entry::raw)).collect())
}

/// An L1 table's bytes.
fn l1_bytes(l1: &[u64]) -> Vec<u8> {
    let mut bytes = vec![0u8; l1.len() * L1Table::ENTRY_SIZE];
    for (i, e) in l1.iter().enumerate() {
        L1Table::set(&mut bytes, i, L1Entry::from_raw(*e));
    }
    bytes
}

/// Where the active L1 table `new` lives after the update: where `old`
/// was if nothing changed, else in new clusters (the old ones released).
fn replace_l1(sh: &mut Shadow<'_>, old: &[u64], new: &[u64]) -> Result<u64> {
    let offset = sh.meta().header.l1_table_offset;
    if old == new {
        return Ok(offset);
    }
    sh.add_range(offset, old.len() as u64 * L1Table::ENTRY_SIZE as u64, -1)?;
    if new.is_empty() {
        return Ok(0);
    }
    sh.alloc_write(&l1_bytes(new), 1)
}

/// Writes the snapshot table of `entries` to new clusters and releases the
/// clusters of the table of `old`. Returns (offset, count); offset 0 when
/// there are no snapshots left.
fn replace_table(sh: &mut Shadow<'_>, old: &[Snapshot], entries: &[SnapshotHeader]) -> Result<(u64, u32)> {
    let start = sh.meta().header.snapshots_offset;
    if let Some(last) = old.last() {
        let end = last.offset + last.header.encoded_len()?;
        sh.add_range(start, end.saturating_sub(start), -1)?;
    }
    let bytes = encode_table(entries)?;
    let offset = if entries.is_empty() { 0 } else { sh.alloc_write(&bytes, 1)? };
    Ok((offset, entries.len() as u32))
}

/// The snapshot table as it now is on disk.
fn reread(meta: &Meta) -> Result<Vec<Snapshot>> {
    read_table(&meta.io, meta.header.snapshots_offset, meta.header.nb_snapshots)
}
