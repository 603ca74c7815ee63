//! The snapshot table as a check reads and repairs it (qemu's
//! `qcow2_check_read_snapshot_table`, `qcow2_do_read_snapshots` in repair
//! mode and `qcow2_check_fix_snapshot_table`): with `-r all`, snapshots
//! past qemu's limits are dropped, oversized extra data is cut, and a table
//! with such problems is written anew.

use super::super::meta::Fail;
use super::overlap::Section;
use super::{say, Checker};
use crate::check::{CheckResult, Repair};
use crate::diag;
use crate::error::{strerror, Error, Result};
use qimg_formats::qcow2::SnapshotHeader;

/// qemu's limits on the snapshot table.
const MAX_SNAPSHOTS: u32 = 65536;
const MAX_EXTRA_DATA: u32 = 1024;
const MAX_TABLE_SIZE: u64 = 1024 * MAX_SNAPSHOTS as u64;
/// Extra data qemu knows: 64-bit VM state size, disk size, instruction count.
const KNOWN_EXTRA: u32 = 24;
/// Extra data a version 3 entry must have (VM state size and disk size).
const V3_MIN_EXTRA: u32 = 16;

/// One snapshot, as the check read it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub l1_table_offset: u64,
    pub l1_size: u32,
    /// The ID and name as C strings (up to their first NUL), for messages.
    pub id: String,
    pub name: String,
    /// The entry as it would be written back (extra data possibly cut).
    header: SnapshotHeader,
}

/// The snapshot table as the check read it.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    pub entries: Vec<Entry>,
    pub offset: u64,
    /// Bytes from the first entry to the end of the last one.
    pub size: u64,
}

/// What reading found that a repair changes.
#[derive(Debug, Default)]
struct Cuts {
    /// Snapshots dropped off the end.
    dropped: u32,
    /// Entries whose extra data was cut.
    extra_cut: u32,
}

fn c_str(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())]
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

impl Checker<'_> {
    /// Reads the snapshot table the header names, cutting it down to what
    /// qemu accepts when `fix` repairs errors.
    pub(super) fn read_snapshot_table(&mut self, res: &mut CheckResult, fix: Option<Repair>) -> Result<()> {
        let repair = fix.is_some_and(Repair::errors);
        let offset = self.meta.header.snapshots_offset;
        let mut count = self.meta.header.nb_snapshots;
        let mut cuts = Cuts::default();
        if count > MAX_SNAPSHOTS && repair {
            say(format!("Discarding {} overhanging snapshots", count - MAX_SNAPSHOTS));
            cuts.dropped += count - MAX_SNAPSHOTS;
            count = MAX_SNAPSHOTS;
        }
        let bad = if count > MAX_SNAPSHOTS {
            Some(("snapshot table too large", libc::EFBIG))
        } else if (i64::MAX as u64 - count as u64 * SnapshotHeader::MIN_SIZE as u64) < offset
            || !offset.is_multiple_of(self.cluster_size())
        {
            Some(("snapshot table offset invalid", libc::EINVAL))
        } else {
            None
        };
        if let Some((message, errno)) = bad {
            res.check_errors += 1;
            diag::report(&format!("ERROR {message}"));
            if count > MAX_SNAPSHOTS {
                say(format!(
                    "You can force-remove all {} overhanging snapshots with qemu-img check -r all",
                    count - MAX_SNAPSHOTS
                ));
            }
            return Err(Error::errno(errno));
        }
        let table = match self.read_entries(offset, count, repair, &mut cuts) {
            Ok(t) => t,
            Err(e) => {
                res.check_errors += 1;
                diag::report(&format!("ERROR failed to read the snapshot table: {}", e.message));
                if let Some(hint) = &e.hint {
                    hint.lines().for_each(say);
                }
                return Err(e);
            }
        };
        self.snapshots = table;
        res.corruptions += (cuts.dropped + cuts.extra_cut) as i64;
        if cuts.dropped > 0 {
            self.meta.header.nb_snapshots = self.snapshots.entries.len() as u32;
            if let Err(e) = self.meta.write_header().and_then(|_| self.q.storage.sync()) {
                res.check_errors += 1;
                say(format!("ERROR failed to update the snapshot count in the image header: {}", e.message));
                return Err(e);
            }
            res.corruptions_fixed += cuts.dropped as i64;
            res.corruptions -= cuts.dropped as i64;
        }
        if self.meta.header.version >= 3 {
            let word = if repair { "Repairing" } else { "ERROR" };
            for (i, e) in self.snapshots.entries.iter().enumerate() {
                if e.header.extra_data_size < V3_MIN_EXTRA {
                    res.corruptions += 1;
                    say(format!("{word} snapshot table entry {i} is incomplete"));
                }
            }
        }
        Ok(())
    }

    /// Reads `count` entries from `offset` (qemu's `qcow2_do_read_snapshots`).
    fn read_entries(&self, offset: u64, count: u32, repair: bool, cuts: &mut Cuts) -> Result<Table> {
        let storage = &self.q.storage;
        let read = |buf: &mut [u8], at: u64| {
            storage.read_zero_padded(buf, at).map_err(|e| {
                Error::errno_with(e.errno.unwrap_or(libc::EIO), "Failed to read snapshot table")
            })
        };
        let mut table = Table { offset, ..Table::default() };
        let mut pos = offset;
        let mut length = 0u64;
        for i in 0..count {
            let entry_start = pos;
            length = length.div_ceil(8) * 8;
            pos = pos.div_ceil(8) * 8;
            let mut fixed = vec![0u8; SnapshotHeader::MIN_SIZE];
            read(&mut fixed, pos)?;
            pos += fixed.len() as u64;
            let mut extra_size = be_u32(&fixed, SnapshotHeader::OFF_EXTRA_DATA_SIZE);
            let id_size = be_u16(&fixed, SnapshotHeader::OFF_ID_STR_SIZE);
            let name_size = be_u16(&fixed, SnapshotHeader::OFF_NAME_SIZE);
            let mut cut = false;
            if extra_size > MAX_EXTRA_DATA {
                if !repair {
                    return Err(Error::invalid(format!("Too much extra metadata in snapshot table entry {i}"))
                        .with_errno(libc::EFBIG)
                        .with_hint("You can force-remove this extra metadata with qemu-img check -r all"));
                }
                say(format!(
                    "Discarding too much extra metadata in snapshot table entry {i} ({extra_size} > {MAX_EXTRA_DATA})"
                ));
                cuts.extra_cut += 1;
                cut = true;
            }
            // The fixed part and the known extra data, parsed by the layout.
            let known = extra_size.min(KNOWN_EXTRA);
            let mut buf = fixed.clone();
            buf.resize(SnapshotHeader::MIN_SIZE + KNOWN_EXTRA as usize, 0);
            read(&mut buf[SnapshotHeader::MIN_SIZE..SnapshotHeader::MIN_SIZE + known as usize], pos)?;
            pos += known as u64;
            put_u32(&mut buf, SnapshotHeader::OFF_EXTRA_DATA_SIZE, KNOWN_EXTRA);
            put_u16(&mut buf, SnapshotHeader::OFF_ID_STR_SIZE, 0);
            put_u16(&mut buf, SnapshotHeader::OFF_NAME_SIZE, 0);
            let mut h = SnapshotHeader::read(&buf)?;
            if extra_size < 8 {
                h.vm_state_size_large = h.vm_state_size as u64;
            }
            if extra_size < V3_MIN_EXTRA {
                h.disk_size = self.meta.header.size / 512 * 512;
            }
            if extra_size < KNOWN_EXTRA {
                h.icount = -1;
            }
            if extra_size > KNOWN_EXTRA {
                let extra_end = pos + (extra_size - KNOWN_EXTRA) as u64;
                if cut {
                    extra_size = MAX_EXTRA_DATA;
                }
                let mut tail = vec![0u8; (extra_size - KNOWN_EXTRA) as usize];
                read(&mut tail, pos)?;
                h.extra_tail = tail;
                pos = extra_end;
            }
            h.extra_data_size = extra_size;
            let mut id = vec![0u8; id_size as usize];
            read(&mut id, pos)?;
            pos += id_size as u64;
            let mut name = vec![0u8; name_size as usize];
            read(&mut name, pos)?;
            pos += name_size as u64;
            length += (SnapshotHeader::MIN_SIZE as u32 + extra_size) as u64 + id_size as u64 + name_size as u64;
            if length > MAX_TABLE_SIZE || pos - offset > i32::MAX as u64 {
                let left = count - i;
                if !repair {
                    return Err(Error::invalid("Snapshot table is too big").with_errno(libc::EFBIG).with_hint(format!(
                        "You can force-remove all {left} overhanging snapshots with qemu-img check -r all"
                    )));
                }
                say(format!("Discarding {left} overhanging snapshots (snapshot table is too big)"));
                cuts.dropped += left;
                pos = entry_start;
                break;
            }
            h.id_str = c_str(&id).to_vec();
            h.name = c_str(&name).to_vec();
            h.id_str_size = h.id_str.len() as u16;
            h.name_size = h.name.len() as u16;
            table.entries.push(Entry {
                l1_table_offset: h.l1_table_offset,
                l1_size: h.l1_size,
                id: String::from_utf8_lossy(&h.id_str).into_owned(),
                name: String::from_utf8_lossy(&h.name).into_owned(),
                header: h,
            });
        }
        table.size = pos - offset;
        Ok(table)
    }

    /// Writes the snapshot table anew if reading it found what `-r all`
    /// repairs (qemu's `qcow2_check_fix_snapshot_table`).
    pub(super) fn fix_snapshot_table(&mut self, res: &mut CheckResult, fix: Option<Repair>) -> Result<()> {
        if res.corruptions == 0 || !fix.is_some_and(Repair::errors) {
            return Ok(());
        }
        if let Err(e) = self.write_snapshot_table() {
            res.check_errors += 1;
            say(format!("ERROR failed to update snapshot table: {}", strerror(e.errno.unwrap_or(libc::EIO))));
            return Err(e);
        }
        res.corruptions_fixed += res.corruptions;
        res.corruptions = 0;
        Ok(())
    }

    /// Writes the snapshot table to new clusters, points the header at it
    /// and frees the old one (qemu's `qcow2_write_snapshots`).
    fn write_snapshot_table(&mut self) -> Result<()> {
        let mut bytes = Vec::new();
        for e in &self.snapshots.entries {
            let mut h = e.header.clone();
            let vm_state = h.vm_state_size_large;
            h.vm_state_size = u32::try_from(vm_state).unwrap_or(0);
            h.extra_data_size = h.extra_data_size.max(KNOWN_EXTRA);
            h.extra_tail.resize((h.extra_data_size - KNOWN_EXTRA) as usize, 0);
            bytes.resize(bytes.len().div_ceil(8) * 8, 0);
            let mut entry = h.to_bytes()?;
            entry.truncate(SnapshotHeader::MIN_SIZE + h.extra_data_size as usize + h.id_str.len() + h.name.len());
            bytes.extend_from_slice(&entry);
            if bytes.len() as u64 > MAX_TABLE_SIZE {
                return Err(Error::errno(libc::EFBIG));
            }
        }
        let size = bytes.len() as u64;
        let offset = if size == 0 {
            self.meta.free_cluster_index << self.cluster_bits()
        } else {
            self.meta.alloc_clusters(size)?
        };
        self.meta.flush()?;
        self.q.storage.sync()?;
        self.pre_write_overlap_check(Section::None, offset, size)?;
        self.q.storage.write_at(&bytes, offset)?;
        self.q.storage.sync()?;
        let (old_offset, old_size) = (self.snapshots.offset, self.snapshots.size);
        self.meta.header.nb_snapshots = self.snapshots.entries.len() as u32;
        self.meta.header.snapshots_offset = offset;
        self.meta.write_header()?;
        self.q.storage.sync()?;
        // qemu only warns when the old table cannot be freed.
        match self.meta.update_refcount(old_offset, old_size, -1) {
            Ok(()) => self.discard_unused(old_offset, old_size)?,
            Err(e) => {
                let errno = match e {
                    Fail::Again => libc::EAGAIN,
                    Fail::Err(e) => e.errno.unwrap_or(libc::EIO),
                };
                say(format!("qcow2_free_clusters failed: {}", strerror(errno)));
            }
        }
        self.snapshots.offset = offset;
        self.snapshots.size = size;
        Ok(())
    }

    /// Discards from the file the clusters of `[offset, offset + len)` that
    /// are no longer in use.
    fn discard_unused(&mut self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let cb = self.cluster_bits();
        for c in offset >> cb..=(offset + len - 1) >> cb {
            if self.meta.refcount(c)? == 0 {
                let _ = self.q.storage.punch_hole(c << cb, self.cluster_size());
            }
        }
        Ok(())
    }
}
