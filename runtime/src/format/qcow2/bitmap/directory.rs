//! The bitmap directory: parsed with qemu's checks and messages (an image
//! whose directory fails them cannot be opened at all), and written back.

use crate::error::{Error, Result};
use qimg_formats::qcow2::{BitmapDirectoryEntry, BitmapFlags, BitmapType};

/// qemu's limits on a bitmap (`BME_*`).
pub const MAX_TABLE_SIZE: u64 = 0x800_0000;
/// Largest bitmap, in bytes of bits (qemu keeps bitmaps in memory).
pub const MAX_PHYS_SIZE: u64 = 0x2000_0000;
pub const MIN_GRANULARITY_BITS: u32 = 9;
pub const MAX_GRANULARITY_BITS: u32 = 31;
pub const MAX_NAME_SIZE: usize = 1023;
/// qemu's limits on the directory.
pub const MAX_BITMAPS: u32 = 65535;
pub const MAX_DIRECTORY_SIZE: u64 = 1024 * MAX_BITMAPS as u64;

/// One directory entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub table_offset: u64,
    /// Entries in the bitmap table.
    pub table_size: u32,
    pub flags: BitmapFlags,
    pub granularity_bits: u8,
}

impl DirEntry {
    fn to_spec(&self) -> BitmapDirectoryEntry {
        BitmapDirectoryEntry {
            bitmap_table_offset: self.table_offset,
            bitmap_table_size: self.table_size,
            flags: self.flags,
            kind: BitmapType::DirtyTracking,
            granularity_bits: self.granularity_bits,
            name_size: self.name.len() as u16,
            extra_data_size: 0,
            extra_data: Vec::new(),
            name: self.name.as_bytes().to_vec(),
        }
    }
}

/// Bytes a directory entry for a name of `name_len` bytes takes.
pub fn entry_size(name_len: usize) -> u64 {
    let e = BitmapDirectoryEntry {
        bitmap_table_offset: 0,
        bitmap_table_size: 0,
        flags: BitmapFlags::from_bits(0),
        kind: BitmapType::DirtyTracking,
        granularity_bits: 0,
        name_size: name_len as u16,
        extra_data_size: 0,
        extra_data: Vec::new(),
        name: Vec::new(),
    };
    e.encoded_len().unwrap_or(u64::MAX)
}

/// qemu's `check_dir_entry`: whether an entry is acceptable for an image of
/// `cluster_size` and guest size `len`.
pub fn entry_ok(e: &BitmapDirectoryEntry, cluster_size: u64, len: u64) -> bool {
    let gran = e.granularity_bits as u32;
    let fail = e.bitmap_table_size == 0
        || e.bitmap_table_offset == 0
        || !e.bitmap_table_offset.is_multiple_of(cluster_size)
        || e.bitmap_table_size as u64 > MAX_TABLE_SIZE
        || !(MIN_GRANULARITY_BITS..=MAX_GRANULARITY_BITS).contains(&gran)
        || e.flags.unknown_bits() != 0
        || e.flags.extra_data_compatible()
        || e.name_size as usize > MAX_NAME_SIZE
        || e.kind != BitmapType::DirtyTracking;
    if fail {
        return false;
    }
    let phys = e.bitmap_table_size as u64 * cluster_size;
    if phys > MAX_PHYS_SIZE {
        return false;
    }
    // A consistent bitmap must have room for every bit (phys * 8 << gran fits
    // in u64: phys is at most 2^29 and gran at most 31).
    e.flags.in_use() || len <= (phys * 8) << gran
}

/// A name as qemu copies it: the bytes up to the first NUL.
fn name_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn broken() -> Error {
    Error::invalid("Broken bitmap directory")
}

/// qemu's `bitmap_list_load` on the directory bytes: `nb_bitmaps` entries
/// that exactly fill `dir`, each checked.
pub fn parse(dir: &[u8], nb_bitmaps: u32, cluster_size: u64, len: u64) -> Result<Vec<DirEntry>> {
    if dir.is_empty() {
        return Err(Error::invalid("Requested bitmap directory size is zero"));
    }
    if dir.len() as u64 > MAX_DIRECTORY_SIZE {
        return Err(Error::invalid("Requested bitmap directory size is too big"));
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < dir.len() {
        if pos + BitmapDirectoryEntry::MIN_SIZE > dir.len() {
            return Err(broken());
        }
        if out.len() as u32 >= nb_bitmaps {
            return Err(Error::invalid("More bitmaps found than specified in header extension"));
        }
        let rest = &dir[pos..];
        let e = BitmapDirectoryEntry::read(rest).map_err(|_| broken())?;
        let size = e.encoded_len().map_err(|_| broken())?;
        if size > rest.len() as u64 {
            return Err(broken());
        }
        if e.extra_data_size != 0 {
            return Err(Error::invalid("Bitmap extra data is not supported"));
        }
        if !entry_ok(&e, cluster_size, len) {
            return Err(Error::invalid(format!(
                "Bitmap '{}' doesn't satisfy the constraints",
                name_of(&e.name)
            )));
        }
        out.push(DirEntry {
            name: name_of(&e.name),
            table_offset: e.bitmap_table_offset,
            table_size: e.bitmap_table_size,
            flags: e.flags,
            granularity_bits: e.granularity_bits,
        });
        pos += size as usize;
    }
    if out.len() as u32 != nb_bitmaps {
        return Err(Error::invalid("Less bitmaps found than specified in header extension"));
    }
    Ok(out)
}

/// The directory bytes for `entries` (qemu's `bitmap_list_store`); each
/// entry must pass qemu's check, else `EINVAL`.
pub fn serialize(entries: &[DirEntry], cluster_size: u64, len: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for d in entries {
        let e = d.to_spec();
        if !entry_ok(&e, cluster_size, len) {
            return Err(Error::errno(libc::EINVAL));
        }
        out.extend(e.to_bytes()?);
    }
    if out.is_empty() || out.len() as u64 > MAX_DIRECTORY_SIZE {
        return Err(Error::errno(libc::EINVAL));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, flags: u32) -> DirEntry {
        DirEntry {
            name: name.into(),
            table_offset: 0x40000,
            table_size: 1,
            flags: BitmapFlags::from_bits(flags),
            granularity_bits: 16,
        }
    }

    #[test]
    fn round_trip_and_sizes() {
        let list = vec![entry("b0", 2), entry("a-longer-name", 3)];
        let bytes = serialize(&list, 65536, 64 << 20).unwrap();
        assert_eq!(bytes.len() as u64, entry_size(2) + entry_size(13));
        assert_eq!((entry_size(2), entry_size(8), entry_size(9)), (32, 32, 40));
        assert_eq!(parse(&bytes, 2, 65536, 64 << 20).unwrap(), list);
    }

    #[test]
    fn qemu_messages() {
        let bytes = serialize(&[entry("b0", 2)], 65536, 64 << 20).unwrap();
        let msg = |r: Result<Vec<DirEntry>>| r.unwrap_err().message;
        assert_eq!(msg(parse(&bytes, 0, 65536, 64 << 20)), "More bitmaps found than specified in header extension");
        assert_eq!(msg(parse(&bytes, 2, 65536, 64 << 20)), "Less bitmaps found than specified in header extension");
        assert_eq!(msg(parse(&bytes[..30], 1, 65536, 64 << 20)), "Broken bitmap directory");
        assert_eq!(msg(parse(&[], 1, 65536, 64 << 20)), "Requested bitmap directory size is zero");
        // One table cluster of bits covers 2^19 bits of 64 KiB: 32 GiB.
        assert_eq!(msg(parse(&bytes, 1, 65536, 64 << 30)), "Bitmap 'b0' doesn't satisfy the constraints");
        let in_use = serialize(&[entry("b0", 3)], 65536, 0).unwrap();
        assert!(parse(&in_use, 1, 65536, 64 << 30).is_ok());
    }
}
