//! Fixed-width text and identifier types of the spec language.

use binrw::io::{Read, Seek, Write};
use binrw::{BinRead, BinResult, BinWrite, Endian};
use std::fmt;

macro_rules! raw_bytes_binrw {
    ($t:ident $(<const $n:ident: usize>)?, $len:expr) => {
        impl$(<const $n: usize>)? BinRead for $t$(<$n>)? {
            type Args<'a> = ();
            fn read_options<R: Read + Seek>(reader: &mut R, _: Endian, _: ()) -> BinResult<Self> {
                let mut b = [0u8; $len];
                reader.read_exact(&mut b)?;
                Ok($t(b))
            }
        }

        impl$(<const $n: usize>)? BinWrite for $t$(<$n>)? {
            type Args<'a> = ();
            fn write_options<W: Write + Seek>(&self, writer: &mut W, _: Endian, _: ()) -> BinResult<()> {
                writer.write_all(&self.0)?;
                Ok(())
            }
        }
    };
}

/// `Str<N>`: N bytes of text, padded with NULs (not necessarily terminated).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize>(pub [u8; N]);
raw_bytes_binrw!(FixedStr<const N: usize>, N);

impl<const N: usize> FixedStr<N> {
    /// The bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|b| *b == 0).unwrap_or(N);
        &self.0[..end]
    }

    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }

    /// Pads `s` with NULs; `None` if it does not fit.
    pub fn new(s: &[u8]) -> Option<Self> {
        if s.len() > N {
            return None;
        }
        let mut b = [0u8; N];
        b[..s.len()].copy_from_slice(s);
        Some(FixedStr(b))
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        FixedStr([0; N])
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// `Utf16Le<N>` / `Utf16Be<N>`: N bytes of UTF-16 text padded with zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Utf16Str<const N: usize, const BIG: bool>(pub [u8; N]);

impl<const N: usize, const BIG: bool> BinRead for Utf16Str<N, BIG> {
    type Args<'a> = ();
    fn read_options<R: Read + Seek>(reader: &mut R, _: Endian, _: ()) -> BinResult<Self> {
        let mut b = [0u8; N];
        reader.read_exact(&mut b)?;
        Ok(Utf16Str(b))
    }
}

impl<const N: usize, const BIG: bool> BinWrite for Utf16Str<N, BIG> {
    type Args<'a> = ();
    fn write_options<W: Write + Seek>(&self, writer: &mut W, _: Endian, _: ()) -> BinResult<()> {
        writer.write_all(&self.0)?;
        Ok(())
    }
}

impl<const N: usize, const BIG: bool> Utf16Str<N, BIG> {
    /// Code units before the first zero unit.
    pub fn units(&self) -> Vec<u16> {
        self.0
            .chunks_exact(2)
            .map(|c| if BIG { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) })
            .take_while(|u| *u != 0)
            .collect()
    }

    pub fn to_string_lossy(&self) -> String {
        String::from_utf16_lossy(&self.units())
    }

    /// Encodes `s`, padding with zeros; `None` if it does not fit.
    pub fn new(s: &str) -> Option<Self> {
        let mut b = [0u8; N];
        let mut i = 0;
        for u in s.encode_utf16() {
            let bytes = if BIG { u.to_be_bytes() } else { u.to_le_bytes() };
            b.get_mut(i..i + 2)?.copy_from_slice(&bytes);
            i += 2;
        }
        Some(Utf16Str(b))
    }
}

impl<const N: usize, const BIG: bool> Default for Utf16Str<N, BIG> {
    fn default() -> Self {
        Utf16Str([0; N])
    }
}

impl<const N: usize, const BIG: bool> fmt::Debug for Utf16Str<N, BIG> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// A GUID in Microsoft byte order: the first three groups little-endian
/// (VHDX, VDI).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);
raw_bytes_binrw!(Guid, 16);

/// A UUID in RFC 4122 byte order (VHD).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Uuid(pub [u8; 16]);
raw_bytes_binrw!(Uuid, 16);

fn write_groups(f: &mut fmt::Formatter<'_>, b: &[u8; 16]) -> fmt::Result {
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

impl Guid {
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// The same identifier in RFC 4122 order.
    pub fn to_uuid(self) -> Uuid {
        let b = self.0;
        Uuid([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
    }

    /// Parses the canonical text form `8-4-4-4-12` into Microsoft byte order.
    pub fn parse(s: &str) -> Option<Guid> {
        Uuid::parse(s).map(|u| {
            let b = u.0;
            Guid([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
        })
    }
}

impl Uuid {
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses the canonical text form `8-4-4-4-12`.
    pub fn parse(s: &str) -> Option<Uuid> {
        let hex: Vec<u8> = s.bytes().filter(|c| *c != b'-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Uuid(out))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_groups(f, &self.to_uuid().0)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_groups(f, &self.0)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_round_trip() {
        // VHDX BAT region GUID.
        let g = Guid::parse("2dc27766-f623-4200-9d64-115e9bfd4a08").unwrap();
        assert_eq!(g.0[..4], [0x66, 0x77, 0xc2, 0x2d]);
        assert_eq!(g.to_string(), "2dc27766-f623-4200-9d64-115e9bfd4a08");
    }

    #[test]
    fn fixed_str_stops_at_nul() {
        let s = FixedStr::<8>::new(b"aes").unwrap();
        assert_eq!(s.as_bytes(), b"aes");
        assert!(FixedStr::<2>::new(b"aes").is_none());
    }

    #[test]
    fn utf16_round_trip() {
        let s = Utf16Str::<16, false>::new("QEMU").unwrap();
        assert_eq!(s.to_string_lossy(), "QEMU");
        assert_eq!(s.0[..4], [b'Q', 0, b'E', 0]);
    }
}
