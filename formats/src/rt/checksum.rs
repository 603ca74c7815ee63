//! Checksums the spec language knows, computed with the checksum field zeroed.

use std::ops::Range;

fn bytes_skipping(region: &[u8], skip: Range<usize>) -> impl Iterator<Item = u8> + '_ {
    region.iter().enumerate().map(move |(i, b)| if skip.contains(&i) { 0 } else { *b })
}

/// Ones' complement of the sum of all bytes (VHD footer and dynamic header).
pub fn ones_complement(region: &[u8], skip: Range<usize>) -> u64 {
    let sum = bytes_skipping(region, skip).fold(0u32, |s, b| s.wrapping_add(b as u32));
    (!sum) as u64
}

/// CRC-32C (Castagnoli) of the bytes (VHDX headers, region tables, log entries).
pub fn crc32c(region: &[u8], skip: Range<usize>) -> u64 {
    let start = skip.start.min(region.len());
    let end = skip.end.min(region.len());
    let crc = crc32c::crc32c(&region[..start]);
    let crc = crc32c::crc32c_append(crc, &vec![0u8; end - start]);
    crc32c::crc32c_append(crc, &region[end..]) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_answer() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32], 0..0), 0x8a9136aa);
        // Zeroing the skipped range equals hashing zeros there.
        let mut buf = [0xffu8; 32];
        buf[..4].copy_from_slice(&[0; 4]);
        assert_eq!(crc32c(&[0xffu8; 32], 0..4), crc32c(&buf, 0..0));
    }

    #[test]
    fn ones_complement_skips_field() {
        assert_eq!(ones_complement(&[1, 2, 3], 1..2), !4u32 as u64);
    }
}
