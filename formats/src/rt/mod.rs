//! Glue used by the generated code: checked arithmetic, bounded readers, text
//! and identifier types, checksums, errors and layout tables.

mod checksum;
mod error;
mod io;
mod layout;
mod num;
mod text;

pub use checksum::{crc32c, ones_complement};
pub use error::FormatError;
pub use io::{read_bytes, read_rest, read_vec};
pub use layout::*;
pub use num::{num, AsNum, Cond, FromNum, Num};
pub use text::{FixedStr, Guid, Utf16Str, Uuid};

/// Operations every generated structure offers.
pub trait Structure: Sized {
    /// `format::Name`, used in errors.
    const ITEM: &'static str;
    /// Reads the structure from the start of `buf` without checking its rules.
    fn read(buf: &[u8]) -> Result<Self, FormatError>;
    /// Checks every rule of the spec.
    fn validate(&self) -> Result<(), FormatError>;
    /// Length of the encoded structure, padding included.
    fn encoded_len(&self) -> Result<u64, FormatError>;
    /// Encodes the structure, filling in checksums.
    fn to_bytes(&self) -> Result<Vec<u8>, FormatError>;
}

/// Reads `count` consecutive structures (each `encoded_len` long) from `buf`,
/// checking each; returns them with their offsets.
pub fn read_sequence<T: Structure>(buf: &[u8], count: u64) -> Result<Vec<(u64, T)>, FormatError> {
    let mut out = Vec::new();
    let mut off = 0u64;
    for _ in 0..count {
        let rest = buf.get(off as usize..).ok_or(FormatError::Truncated { item: T::ITEM, needed: off, available: buf.len() as u64 })?;
        let item = T::read(rest)?;
        item.validate()?;
        let len = item.encoded_len()?;
        if len > rest.len() as u64 {
            return Err(FormatError::Truncated { item: T::ITEM, needed: off + len, available: buf.len() as u64 });
        }
        out.push((off, item));
        off += len.max(1);
    }
    Ok(out)
}

/// One undecoded entry of a tag-length-value list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvRaw {
    /// Offset of the entry's tag.
    pub offset: u64,
    pub tag: u64,
    /// Where the payload is, in the buffer that was parsed.
    pub data: std::ops::Range<usize>,
}

/// A tag-length-value list split into entries, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvRawList {
    pub entries: Vec<TlvRaw>,
    /// Offset just past the end marker, or where parsing stopped.
    pub end: u64,
    /// Whether an end marker was found.
    pub terminated: bool,
}

/// A parsed tag-length-value list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvList<T> {
    /// Entries with the offset of each entry's tag.
    pub entries: Vec<(u64, T)>,
    /// Offset just past the end marker, or where parsing stopped.
    pub end: u64,
    /// Whether an end marker was found.
    pub terminated: bool,
}

/// Rounds `v` up to a multiple of `align` (which is at least 1).
pub fn align_up(v: u64, align: u64) -> Option<u64> {
    v.checked_add(align - 1).map(|x| x / align * align)
}

/// Reads entry `index` of a table of `bits`-wide unsigned entries (1 to 64, a
/// power of two). Entries narrower than a byte fill each byte from bit 0;
/// wider ones are `bits / 8`-byte integers in the given byte order.
#[inline]
pub fn packed_get(buf: &[u8], index: usize, bits: u32, big_endian: bool) -> Option<u64> {
    if !bits.is_power_of_two() || bits > 64 {
        return None;
    }
    if bits < 8 {
        let bit = index.checked_mul(bits as usize)?;
        let byte = *buf.get(bit / 8)?;
        return Some(((byte >> (bit % 8)) as u64) & ((1u64 << bits) - 1));
    }
    let n = bits as usize / 8;
    let start = index.checked_mul(n)?;
    let b = buf.get(start..start.checked_add(n)?)?;
    Some(b.iter().enumerate().fold(0u64, |acc, (i, byte)| {
        let shift = if big_endian { (n - 1 - i) * 8 } else { i * 8 };
        acc | (*byte as u64) << shift
    }))
}

/// Writes entry `index` of a packed table (see [`packed_get`]); false when
/// out of range or when `v` does not fit in `bits`.
#[inline]
pub fn packed_set(buf: &mut [u8], index: usize, bits: u32, big_endian: bool, v: u64) -> bool {
    if !bits.is_power_of_two() || bits > 64 || (bits < 64 && v >> bits != 0) {
        return false;
    }
    if bits < 8 {
        let Some(bit) = index.checked_mul(bits as usize) else { return false };
        let Some(byte) = buf.get_mut(bit / 8) else { return false };
        let mask = (((1u16 << bits) - 1) as u8) << (bit % 8);
        *byte = (*byte & !mask) | ((v as u8) << (bit % 8));
        return true;
    }
    let n = bits as usize / 8;
    let Some(start) = index.checked_mul(n) else { return false };
    let Some(b) = start.checked_add(n).and_then(|end| buf.get_mut(start..end)) else { return false };
    for (i, byte) in b.iter_mut().enumerate() {
        let shift = if big_endian { (n - 1 - i) * 8 } else { i * 8 };
        *byte = (v >> shift) as u8;
    }
    true
}

#[cfg(test)]
mod packed_tests {
    use super::*;

    #[test]
    fn sub_byte_entries_fill_from_bit_zero() {
        let mut buf = [0u8; 2];
        assert!(packed_set(&mut buf, 1, 2, true, 3));
        assert_eq!(buf[0], 0b0000_1100);
        assert_eq!(packed_get(&buf, 1, 2, true), Some(3));
        assert!(packed_set(&mut buf, 15, 1, true, 1));
        assert_eq!(buf[1], 0x80);
        assert!(!packed_set(&mut buf, 0, 1, true, 2));
        assert_eq!(packed_get(&buf, 16, 1, true), None);
    }

    #[test]
    fn wide_entries_use_the_byte_order() {
        let mut buf = [0u8; 8];
        assert!(packed_set(&mut buf, 1, 16, true, 0x0102));
        assert_eq!(buf[2..4], [1, 2]);
        assert_eq!(packed_get(&buf, 1, 16, true), Some(0x0102));
        assert!(packed_set(&mut buf, 0, 64, true, u64::MAX));
        assert_eq!(packed_get(&buf, 0, 64, true), Some(u64::MAX));
    }
}
