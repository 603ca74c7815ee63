//! The internal snapshot table.

use crate::error::{Error, Result};
use crate::storage::Storage;
use qimg_formats::qcow2::SnapshotHeader;
use qimg_formats::rt::FormatError;

/// qemu's limit on the total size of the snapshot table.
const MAX_TABLE_SIZE: u64 = 64 << 20;
/// qemu's limit on a snapshot's extra data.
const MAX_EXTRA_DATA: u32 = 1024;
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
