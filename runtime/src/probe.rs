//! Format probing: each format scores the first bytes of a file (and its
//! name); the highest score wins, and raw is the fallback. Scores follow
//! QEMU's, so qimg picks the same format qemu-img picks.

/// Bytes read for probing; shorter files are padded with zeros.
pub const PROBE_LEN: usize = 2048;

/// Scores `buf` (the first [`PROBE_LEN`] bytes, zero-padded) for every
/// format and returns the name of the best one.
pub fn probe(buf: &[u8], filename: &str) -> &'static str {
    let scores: [(&'static str, u32); 12] = [
        ("raw", 1),
        ("qcow2", magic_version(buf, b"QFI\xfb", |v| v >= 2)),
        ("qcow", magic_version(buf, b"QFI\xfb", |v| v == 1)),
        ("qed", if buf.starts_with(b"QED\0") { 100 } else { 0 }),
        ("vdi", if buf.get(0x40..0x44) == Some(&[0x7f, 0x10, 0xda, 0xbe]) { 100 } else { 0 }),
        ("vmdk", vmdk(buf)),
        ("vpc", if buf.starts_with(b"conectix") { 100 } else { 0 }),
        ("vhdx", if buf.starts_with(b"vhdxfile") { 100 } else { 0 }),
        ("luks", if buf.starts_with(b"LUKS\xba\xbe\x00\x01") { 100 } else { 0 }),
        ("parallels", parallels(buf)),
        ("bochs", bochs(buf)),
        ("dmg", if filename.len() > 4 && filename.ends_with(".dmg") { 2 } else { 0 }),
    ];
    let mut best = scores[0];
    for s in scores {
        if s.1 > best.1 {
            best = s;
        }
    }
    best.0
}

fn magic_version(buf: &[u8], magic: &[u8; 4], ok: impl Fn(u32) -> bool) -> u32 {
    match (buf.get(..4), buf.get(4..8)) {
        (Some(m), Some(v)) if m == magic && ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]])) => 100,
        _ => 0,
    }
}

fn parallels(buf: &[u8]) -> u32 {
    let magic = buf.get(..16);
    let version = buf.get(16..20).map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
    if (magic == Some(b"WithoutFreeSpace") || magic == Some(b"WithouFreSpacExt")) && version == Some(2) {
        100
    } else {
        0
    }
}

fn bochs(buf: &[u8]) -> u32 {
    let text = |r: std::ops::Range<usize>, s: &[u8]| buf.get(r).is_some_and(|b| b.starts_with(s) && b.get(s.len()) == Some(&0));
    if text(0..32, b"Bochs Virtual HD Image") && text(32..48, b"Redolog") && (text(48..64, b"Growing") || text(48..64, b"growing")) {
        100
    } else {
        0
    }
}

/// A VMDK sparse header magic, or a text descriptor: optional comment and
/// blank lines, then `version=1|2|3` followed by a line end.
fn vmdk(buf: &[u8]) -> u32 {
    if buf.starts_with(b"KDMV") || buf.starts_with(b"COWD") {
        return 100;
    }
    let mut rest = buf;
    loop {
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let trimmed: &[u8] = {
            let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
            &line[start..]
        };
        if trimmed.is_empty() || trimmed[0] == b'#' {
            if end >= rest.len() {
                return 0;
            }
            rest = &rest[end + 1..];
            continue;
        }
        let ok = [b"version=1".as_slice(), b"version=2", b"version=3"]
            .iter()
            .any(|v| trimmed.starts_with(v) && trimmed[v.len()..].iter().all(|b| b.is_ascii_whitespace()));
        return if ok && end < rest.len() { 100 } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(b: &[u8]) -> Vec<u8> {
        let mut v = b.to_vec();
        v.resize(PROBE_LEN, 0);
        v
    }

    #[test]
    fn magics_pick_their_format() {
        assert_eq!(probe(&padded(b"QFI\xfb\0\0\0\x03"), "x"), "qcow2");
        assert_eq!(probe(&padded(b"QFI\xfb\0\0\0\x01"), "x"), "qcow");
        assert_eq!(probe(&padded(b"QFI\xfb"), "x"), "raw");
        assert_eq!(probe(&padded(b"conectix"), "x"), "vpc");
        assert_eq!(probe(&padded(b"# Disk DescriptorFile\nversion=1\n"), "x"), "vmdk");
        assert_eq!(probe(&padded(b"WithoutFreeSpace"), "x"), "raw");
        assert_eq!(probe(&padded(b""), "y.dmg"), "dmg");
        assert_eq!(probe(&padded(b"QFI\xfb\0\0\0\x03"), "y.dmg"), "qcow2");
    }
}
