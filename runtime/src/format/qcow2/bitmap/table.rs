//! Bitmap tables: one entry per cluster of a bitmap's serialised bits.

use super::directory::{MAX_GRANULARITY_BITS, MAX_NAME_SIZE, MAX_PHYS_SIZE, MAX_TABLE_SIZE, MIN_GRANULARITY_BITS};
use crate::bitmap::{Chunk, DirtyBitmap};
use crate::error::{Error, Result};
use crate::storage::Storage;
use qimg_formats::qcow2::{BitmapTable, BitmapTableEntry};

/// Bytes of bits a bitmap over `len` bytes at `granularity` needs (qemu's
/// `get_bitmap_bytes_needed`).
pub fn bitmap_bytes_needed(len: u64, granularity: u64) -> u64 {
    len.div_ceil(granularity).div_ceil(8)
}

/// qemu's `check_constraints_on_bitmap`: whether a bitmap `name` of
/// `granularity` can be stored for a guest of `len` bytes.
pub fn check_constraints(name: &str, granularity: u64, len: u64, cluster_size: u64) -> Result<()> {
    let bits = granularity.trailing_zeros();
    if bits > MAX_GRANULARITY_BITS {
        return Err(Error::invalid(format!(
            "Granularity exceeds maximum ({} bytes)",
            1u64 << MAX_GRANULARITY_BITS
        )));
    }
    if bits < MIN_GRANULARITY_BITS {
        return Err(Error::invalid(format!("Granularity is under minimum ({} bytes)", 1u64 << MIN_GRANULARITY_BITS)));
    }
    let bytes = bitmap_bytes_needed(len, granularity);
    if bytes > MAX_PHYS_SIZE || bytes > MAX_TABLE_SIZE * cluster_size {
        return Err(Error::invalid("Too much space will be occupied by the bitmap. Use larger granularity"));
    }
    if name.len() > MAX_NAME_SIZE {
        return Err(Error::invalid(format!("Name length exceeds maximum ({MAX_NAME_SIZE} characters)")));
    }
    Ok(())
}

/// Whether a table entry is valid (qemu's `check_table_entry`).
fn entry_ok(e: BitmapTableEntry, cluster_size: u64) -> bool {
    if e.reserved_bits() != 0 {
        return false;
    }
    e.offset() == 0 || (!e.all_ones() && e.offset().is_multiple_of(cluster_size))
}

/// Reads a bitmap table of `size` entries at `offset`, checking every entry;
/// `EINVAL` for a bad one (qemu's `bitmap_table_load`).
pub fn read(storage: &Storage, offset: u64, size: u32, cluster_size: u64) -> Result<Vec<BitmapTableEntry>> {
    let mut buf = vec![0u8; size as usize * BitmapTableEntry::SIZE];
    storage.read_zero_padded(&mut buf, offset)?;
    let mut out = Vec::with_capacity(size as usize);
    for i in 0..size as usize {
        let e = BitmapTable::get(&buf, i).ok_or_else(|| Error::errno(libc::EINVAL))?;
        if !entry_ok(e, cluster_size) {
            return Err(Error::errno(libc::EINVAL));
        }
        out.push(e);
    }
    Ok(out)
}

/// The table bytes for `entries`.
pub fn serialize(entries: &[BitmapTableEntry]) -> Vec<u8> {
    let mut buf = vec![0u8; entries.len() * BitmapTableEntry::SIZE];
    for (i, e) in entries.iter().enumerate() {
        BitmapTable::set(&mut buf, i, *e);
    }
    buf
}

/// Fills `bits` from a table (qemu's `load_bitmap_data`, with the data
/// clusters left on disk until they are needed). `EINVAL` when the table
/// does not have the size the bitmap needs.
pub fn attach(bits: &mut DirtyBitmap, table: &[BitmapTableEntry]) -> Result<()> {
    let want = bits.chunk_count();
    if want != table.len() as u64 || want > MAX_TABLE_SIZE {
        return Err(Error::errno(libc::EINVAL));
    }
    for (i, e) in table.iter().enumerate() {
        match (e.offset(), e.all_ones()) {
            (0, true) => bits.insert(i as u64, Chunk::Ones),
            (0, false) => {}
            (offset, _) => bits.insert(i as u64, Chunk::Stored(offset)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_messages() {
        let tb = 1u64 << 40;
        assert!(check_constraints("b", 1024, 4 * tb, 65536).is_ok());
        assert_eq!(
            check_constraints("b", 512, 4 * tb, 65536).unwrap_err().message,
            "Too much space will be occupied by the bitmap. Use larger granularity"
        );
        assert_eq!(
            check_constraints(&"x".repeat(1024), 65536, 1 << 20, 65536).unwrap_err().message,
            "Name length exceeds maximum (1023 characters)"
        );
    }

    #[test]
    fn table_entries() {
        let cs = 65536;
        assert!(entry_ok(BitmapTableEntry::new().with_offset(0x50000), cs));
        assert!(entry_ok(BitmapTableEntry::new().with_all_ones(true), cs));
        assert!(!entry_ok(BitmapTableEntry::new().with_offset(0x50200), cs));
        assert!(!entry_ok(BitmapTableEntry::new().with_offset(0x50000).with_all_ones(true), cs));
        assert!(!entry_ok(BitmapTableEntry::from_raw(1 << 60), cs));
        let entries = [BitmapTableEntry::new().with_offset(0x50000), BitmapTableEntry::new()];
        let mut bits = DirtyBitmap::new(64 << 20, 16, cs);
        assert!(attach(&mut bits, &entries).is_err());
        attach(&mut bits, &entries[..1]).unwrap();
        assert_eq!(bits.chunks().collect::<Vec<_>>(), vec![(0, &Chunk::Stored(0x50000))]);
        assert_eq!(serialize(&entries).len(), 16);
    }
}
