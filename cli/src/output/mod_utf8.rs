//! QEMU's "modified UTF-8" decoder (`mod_utf8_codepoint`), as used by its JSON writer.
//!
//! QEMU decodes each string one sequence at a time and escapes the code point; sequences it
//! deems invalid become U+FFFD. Reproducing its exact notion of "invalid", and how many
//! bytes an invalid sequence swallows, is what makes qimg's JSON byte-identical for file
//! names that are not valid UTF-8. The rules, verified against qemu-img 10.0.2:
//!
//! * a byte below 0x80 is itself;
//! * 0xFE, 0xFF and a stray continuation byte (0x80..=0xBF) are invalid, 1 byte long;
//! * a lead byte announces 2 to 6 bytes (0xC0..=0xFD); if a continuation byte is missing,
//!   the sequence is invalid and ends just before the offending byte;
//! * a complete sequence is invalid if it is above U+10FFFF, a noncharacter
//!   (U+FDD0..=U+FDEF, or any code point whose low 16 bits are FFFE or FFFF), a surrogate,
//!   or overlong, except that the overlong `C0 80` is valid and means U+0000.

/// Smallest code point that needs a sequence of 2, 3, 4, 5, 6 bytes (for overlong checks).
const MIN_CODE_POINT: [u32; 5] = [0x80, 0x800, 0x1_0000, 0x20_0000, 0x400_0000];

/// Decodes the sequence at the start of `s` (which must not be empty).
///
/// Returns the code point (`None` when invalid) and the number of bytes consumed, which is
/// at least 1. Bytes past the end of `s` read as NUL, like the terminator of a C string.
pub fn decode_mod_utf8(s: &[u8]) -> (Option<u32>, usize) {
    let lead = s[0];
    if lead < 0x80 {
        return (Some(u32::from(lead)), 1);
    }
    if lead >= 0xFE || lead & 0x40 == 0 {
        return (None, 1);
    }
    let len = lead.leading_ones() as usize; // 2..=6 here
    let mut cp = u32::from(lead) & (0xFF >> (len + 1));
    for i in 1..len {
        let byte = s.get(i).copied().unwrap_or(0);
        if byte & 0xC0 != 0x80 {
            return (None, i);
        }
        cp = (cp << 6) | u32::from(byte & 0x3F);
    }
    let valid = cp <= 0x10_FFFF
        && !(0xFDD0..=0xFDEF).contains(&cp)
        && cp & 0xFFFE != 0xFFFE
        && !(0xD800..=0xDFFF).contains(&cp)
        && (cp >= MIN_CODE_POINT[len - 2] || (cp == 0 && len == 2));
    (valid.then_some(cp), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_valid_sequences() {
        assert_eq!(decode_mod_utf8(b"a"), (Some(0x61), 1));
        assert_eq!(decode_mod_utf8("ü".as_bytes()), (Some(0xFC), 2));
        assert_eq!(decode_mod_utf8("€".as_bytes()), (Some(0x20AC), 3));
        assert_eq!(decode_mod_utf8("😀".as_bytes()), (Some(0x1F600), 4));
        assert_eq!(decode_mod_utf8(b"\xc0\x80"), (Some(0), 2));
        assert_eq!(
            decode_mod_utf8("\u{10FFFD}".as_bytes()),
            (Some(0x10FFFD), 4)
        );
    }

    #[test]
    fn invalid_sequences() {
        // Stray continuation, impossible bytes.
        assert_eq!(decode_mod_utf8(b"\x80"), (None, 1));
        assert_eq!(decode_mod_utf8(b"\xbf"), (None, 1));
        assert_eq!(decode_mod_utf8(b"\xfe"), (None, 1));
        assert_eq!(decode_mod_utf8(b"\xff"), (None, 1));
        // Truncated: ends before the first non-continuation byte.
        assert_eq!(decode_mod_utf8(b"\xc3("), (None, 1));
        assert_eq!(decode_mod_utf8(b"\xe2\x82"), (None, 2));
        assert_eq!(decode_mod_utf8(b"\xf0\x9f\x98z"), (None, 3));
        // Surrogates, noncharacters, beyond U+10FFFF, overlong.
        assert_eq!(decode_mod_utf8(b"\xed\xa0\x80"), (None, 3));
        assert_eq!(decode_mod_utf8(b"\xef\xb7\x90"), (None, 3)); // U+FDD0
        assert_eq!(decode_mod_utf8(b"\xef\xbf\xbe"), (None, 3)); // U+FFFE
        assert_eq!(decode_mod_utf8(b"\xf0\x9f\xbf\xbf"), (None, 4)); // U+1FFFF
        assert_eq!(decode_mod_utf8(b"\xf4\x90\x80\x80"), (None, 4)); // U+110000
        assert_eq!(decode_mod_utf8(b"\xc1\xbf"), (None, 2)); // overlong 0x7F
        assert_eq!(decode_mod_utf8(b"\xe0\x80\x80"), (None, 3)); // overlong 0
                                                                 // Five and six byte forms are well-formed but beyond Unicode.
        assert_eq!(decode_mod_utf8(b"\xf8\x88\x80\x80\x80"), (None, 5));
        assert_eq!(decode_mod_utf8(b"\xfd\xbf\xbf\xbf\xbf\xbf"), (None, 6));
    }
}
