//! The internal snapshot table: reading it with qemu's limits, writing it
//! back as qemu does, and looking snapshots up by ID and name. The
//! operations that take, revert to and drop snapshots are in [`ops`].

mod ops;
mod tree;

use crate::error::{Error, Result};
use crate::storage::Storage;
use qimg_formats::qcow2::SnapshotHeader;
use qimg_formats::rt::FormatError;

/// qemu's limit on the total size of the snapshot table.
const MAX_TABLE_SIZE: u64 = 64 << 20;
/// qemu's limit on a snapshot's extra data.
const MAX_EXTRA_DATA: u32 = 1024;
/// qemu's limit on the number of snapshots.
const MAX_SNAPSHOTS: u32 = 65536;
/// The extra data qemu writes: 64-bit VM state size, disk size, icount.
const EXTRA_DATA_SIZE: u32 = 24;
/// Bytes read at a time; any one entry (at most 40 + 1024 + 2 * 65535 bytes) fits.
const WINDOW: usize = 1 << 20;

/// One snapshot and where its entry starts.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub offset: u64,
    pub header: SnapshotHeader,
}

impl Snapshot {
    /// The VM state size, from the 64-bit field when present.
    pub fn vm_state_size(&self) -> u64 {
        if self.header.extra_data_size >= 8 {
            self.header.vm_state_size_large
        } else {
            self.header.vm_state_size as u64
        }
    }

    /// The instruction count, if recorded.
    pub fn icount(&self) -> Option<u64> {
        (self.header.extra_data_size >= 24 && self.header.icount != -1).then_some(self.header.icount as u64)
    }

    /// The ID as qemu holds it: up to the first NUL.
    pub fn id(&self) -> &[u8] {
        c_bytes(&self.header.id_str)
    }

    /// The name as qemu holds it: up to the first NUL.
    pub fn name(&self) -> &[u8] {
        c_bytes(&self.header.name)
    }

    /// The entry as qemu writes it back: at least 24 bytes of extra data
    /// (fields the old entry lacked get the VM state size it had, the disk
    /// size `disk_size` and no icount), unknown extra data kept, ID and
    /// name cut at a NUL. A VM state size over 4 GiB leaves the 32-bit field 0.
    pub fn rewritten(&self, disk_size: u64) -> SnapshotHeader {
        let h = &self.header;
        let vm_state_size = self.vm_state_size();
        let (id, name) = (self.id().to_vec(), self.name().to_vec());
        SnapshotHeader {
            id_str_size: id.len() as u16,
            name_size: name.len() as u16,
            vm_state_size: u32::try_from(vm_state_size).unwrap_or(0),
            extra_data_size: h.extra_data_size.max(EXTRA_DATA_SIZE),
            vm_state_size_large: vm_state_size,
            disk_size: if h.extra_data_size >= 16 { h.disk_size } else { disk_size },
            icount: if h.extra_data_size >= EXTRA_DATA_SIZE { h.icount } else { -1 },
            extra_tail: if h.extra_data_size > EXTRA_DATA_SIZE { h.extra_tail.clone() } else { Vec::new() },
            id_str: id,
            name,
            ..h.clone()
        }
    }
}

/// A new snapshot's entry: no VM state, clock or icount of a running guest
/// (qemu-img records an icount of 0).
fn new_entry(id: Vec<u8>, name: Vec<u8>, l1: (u64, u32), date: (u32, u32), disk_size: u64) -> SnapshotHeader {
    SnapshotHeader {
        l1_table_offset: l1.0,
        l1_size: l1.1,
        id_str_size: id.len() as u16,
        name_size: name.len() as u16,
        date_sec: date.0,
        date_nsec: date.1,
        extra_data_size: EXTRA_DATA_SIZE,
        disk_size,
        icount: 0,
        id_str: id,
        name,
        ..SnapshotHeader::default()
    }
}

/// The bytes of a C string stored without its NUL: up to the first NUL.
fn c_bytes(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

/// The snapshot table holding `entries`, each padded to 8 bytes; `EFBIG`
/// past qemu's 64 MiB limit.
fn encode_table(entries: &[SnapshotHeader]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&e.to_bytes()?);
        if out.len() as u64 > MAX_TABLE_SIZE {
            return Err(Error::errno(libc::EFBIG));
        }
    }
    Ok(out)
}

/// The ID qemu gives a new snapshot: one more than the largest ID read as
/// C's `strtoul` reads it (wrapping, as unsigned arithmetic does).
fn new_id(snapshots: &[Snapshot]) -> Vec<u8> {
    let max = snapshots.iter().map(|s| strtoul(s.id())).max().unwrap_or(0);
    max.wrapping_add(1).to_string().into_bytes()
}

/// C's `strtoul(s, NULL, 10)` on a 64-bit system: leading white space, a
/// sign (a minus negates, modulo 2^64), the longest run of digits;
/// `ULONG_MAX` on overflow, 0 without digits.
fn strtoul(s: &[u8]) -> u64 {
    let s = &s[s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len())..];
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut value: u64 = 0;
    for d in digits.iter().take_while(|c| c.is_ascii_digit()) {
        match value.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)) {
            Some(v) => value = v,
            None => return u64::MAX,
        }
    }
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// Reads `count` snapshot entries from `offset`, with qemu's limits and messages.
pub fn read_table(storage: &Storage, offset: u64, count: u32) -> Result<Vec<Snapshot>> {
    let mut out = Vec::new();
    let mut window = Vec::new();
    let mut window_start = offset;
    let mut pos = offset;
    for i in 0..count {
        let snap = loop {
            let rel = (pos - window_start) as usize;
            let parsed = window.get(rel..).map(SnapshotHeader::read);
            match parsed {
                Some(Ok(h)) => break h,
                Some(Err(FormatError::Truncated { .. })) | None if rel != 0 || window.is_empty() => {
                    window = vec![0u8; WINDOW];
                    window_start = pos;
                    storage
                        .read_zero_padded(&mut window, pos)
                        .map_err(|e| e.prefix("Failed to read snapshot table"))?;
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Error::errno_with(libc::EIO, "Failed to read snapshot table")),
            }
        };
        if snap.extra_data_size > MAX_EXTRA_DATA {
            return Err(Error::invalid(format!("Too much extra metadata in snapshot table entry {i}"))
                .with_hint("You can force-remove this extra metadata with qemu-img check -r all"));
        }
        let len = snap.encoded_len()?;
        out.push(Snapshot { offset: pos, header: snap });
        pos += len;
        if pos - offset > MAX_TABLE_SIZE {
            return Err(Error::invalid("Snapshot table is too big").with_hint(format!(
                "You can force-remove all {} overhanging snapshots with qemu-img check -r all",
                count - i
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_reads_ids_as_c_does() {
        assert_eq!(strtoul(b"17"), 17);
        assert_eq!(strtoul(b"  42abc"), 42);
        assert_eq!(strtoul(b"abc"), 0);
        assert_eq!(strtoul(b"-1"), u64::MAX);
        assert_eq!(strtoul(b"99999999999999999999999"), u64::MAX);
        assert_eq!(strtoul(b"+8"), 8);
    }

    #[test]
    fn new_ids_follow_the_largest() {
        let snap = |id: &[u8]| Snapshot { offset: 0, header: SnapshotHeader { id_str: id.to_vec(), ..Default::default() } };
        assert_eq!(new_id(&[]), b"1");
        assert_eq!(new_id(&[snap(b"3"), snap(b"x"), snap(b"10")]), b"11");
        assert_eq!(new_id(&[snap(b"-1")]), b"0");
    }

    #[test]
    fn rewrite_upgrades_extra_data_and_keeps_unknown_bytes() {
        let old = Snapshot {
            offset: 0,
            header: SnapshotHeader {
                extra_data_size: 8,
                vm_state_size_large: 5 << 30,
                id_str: b"1".to_vec(),
                name: b"a\0b".to_vec(),
                ..Default::default()
            },
        };
        let h = old.rewritten(1 << 20);
        assert_eq!((h.extra_data_size, h.disk_size, h.icount, h.vm_state_size), (24, 1 << 20, -1, 0));
        assert_eq!(h.name, b"a");
        let tail = Snapshot {
            offset: 0,
            header: SnapshotHeader { extra_data_size: 32, extra_tail: vec![7; 8], icount: 9, ..Default::default() },
        };
        let h = tail.rewritten(0);
        assert_eq!((h.extra_data_size, h.extra_tail.len(), h.icount), (32, 8, 9));
        assert_eq!(h.to_bytes().map(|b| b.len()).ok(), Some(72));
    }
}
