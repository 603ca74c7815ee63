//! Bounded readers used by the generated binrw code. Lengths and counts come
//! from the file, so each is checked against the bytes that remain before
//! anything is allocated.

use super::{FormatError, Num};
use binrw::io::{Read, Seek, SeekFrom};
use binrw::{BinRead, BinResult, Endian};

fn remaining<R: Read + Seek>(reader: &mut R) -> BinResult<(u64, u64)> {
    let pos = reader.stream_position()?;
    let end = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(pos))?;
    Ok((pos, end.saturating_sub(pos)))
}

/// Reads `len` bytes (`args.0`) for the field named `args.1` of `args.2`.
pub fn read_bytes<R: Read + Seek>(
    reader: &mut R,
    _: Endian,
    args: (Num, &'static str, &'static str),
) -> BinResult<Vec<u8>> {
    let (len, field, item) = args;
    let (pos, left) = remaining(reader)?;
    let Some(len) = len.get() else { return Err(FormatError::Overflow { item, field }.into_binrw(pos)) };
    if len > left {
        return Err(FormatError::Truncated { item, needed: pos + len, available: pos + left }.into_binrw(pos));
    }
    let mut v = vec![0u8; len as usize];
    reader.read_exact(&mut v)?;
    Ok(v)
}

/// Reads the rest of a structure of length `args.0` starting at offset `args.1`
/// (relative to the structure). Tolerant: reads what is there, so that the
/// structure's own checks can report a bad length in the format's words.
pub fn read_rest<R: Read + Seek>(reader: &mut R, _: Endian, args: (Num, Num)) -> BinResult<Vec<u8>> {
    let (total, off) = args;
    let want = total.saturating_sub(off).get().unwrap_or(0);
    let (_, left) = remaining(reader)?;
    let mut v = vec![0u8; want.min(left) as usize];
    reader.read_exact(&mut v)?;
    Ok(v)
}

/// Reads `count` (`args.0`) elements of at least `args.1` bytes each.
pub fn read_vec<R: Read + Seek, T: for<'a> BinRead<Args<'a> = ()>>(
    reader: &mut R,
    endian: Endian,
    args: (Num, u64, &'static str, &'static str),
) -> BinResult<Vec<T>> {
    let (count, elem, field, item) = args;
    let (pos, left) = remaining(reader)?;
    let Some(count) = count.get() else { return Err(FormatError::Overflow { item, field }.into_binrw(pos)) };
    let Some(bytes) = count.checked_mul(elem.max(1)) else { return Err(FormatError::Overflow { item, field }.into_binrw(pos)) };
    if bytes > left {
        return Err(FormatError::Truncated { item, needed: pos + bytes, available: pos + left }.into_binrw(pos));
    }
    let mut v = Vec::with_capacity(count as usize);
    for _ in 0..count {
        v.push(T::read_options(reader, endian, ())?);
    }
    Ok(v)
}
