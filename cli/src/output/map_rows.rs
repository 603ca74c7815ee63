//! The line formats of `qemu-img map` (QEMU's `img_map` and `dump_map_entry`).
//!
//! Human: a header, then `%#-16llx%#-16llx%#-16llx%s` rows (start, length, host offset,
//! file name). C's `%#x` prints zero as `0`, not `0x0`. Which ranges get a row is the
//! caller's business (QEMU prints only data that is mapped and not zero).
//!
//! JSON: not the QObject printer, but a fixed-order, one-entry-per-line format. qemu-img
//! prints [`MAP_JSON_OPEN`] before the first entry, `,\n` after every entry but the last
//! (see [`map_json_entry`]) and [`MAP_JSON_CLOSE`] after the last one:
//!
//! ```text
//! [{ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "compressed": false, "offset": 327680},
//! { "start": 65536, "length": 983040, "depth": 0, "present": false, "zero": true, "data": false, "compressed": false}]
//! ```

/// The human header line, with its newline.
pub const MAP_HUMAN_HEADER: &str = "Offset          Length          Mapped to       File\n";

/// Printed once before the first JSON entry.
pub const MAP_JSON_OPEN: &str = "[";

/// Printed once after the last JSON entry.
pub const MAP_JSON_CLOSE: &str = "]\n";

/// One human row, with its newline: start, length and host offset as `%#-16x`, then the
/// name of the file holding the data (bytes, printed as they are).
pub fn map_human_row(start: u64, length: u64, offset: u64, filename: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{:<16}{:<16}{:<16}",
        alt_hex(start),
        alt_hex(length),
        alt_hex(offset)
    )
    .into_bytes();
    out.extend_from_slice(filename);
    out.push(b'\n');
    out
}

/// One `qemu-img map --output=json` entry (QAPI `MapEntry` without `filename`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapJsonEntry {
    /// Guest offset of the range.
    pub start: i64,
    /// Length of the range in bytes.
    pub length: i64,
    /// Chain depth holding the range (0 = top image).
    pub depth: i64,
    /// Allocated somewhere in the chain.
    pub present: bool,
    /// Reads as zeros.
    pub zero: bool,
    /// Has data in the file.
    pub data: bool,
    /// Stored compressed.
    pub compressed: bool,
    /// Host offset, printed only when known.
    pub offset: Option<i64>,
}

/// One JSON entry: `{ "start": N, ..., "compressed": B[, "offset": N]}`, followed by
/// `,\n` when `has_next` (another entry follows), and by nothing otherwise.
pub fn map_json_entry(e: &MapJsonEntry, has_next: bool) -> String {
    let mut out = format!(
        "{{ \"start\": {}, \"length\": {}, \"depth\": {}, \"present\": {}, \"zero\": {}, \
         \"data\": {}, \"compressed\": {}",
        e.start, e.length, e.depth, e.present, e.zero, e.data, e.compressed
    );
    if let Some(offset) = e.offset {
        out.push_str(&format!(", \"offset\": {offset}"));
    }
    out.push('}');
    if has_next {
        out.push_str(",\n");
    }
    out
}

/// C's `%#llx`: lowercase hex with a `0x` prefix, except that zero is just `0`.
fn alt_hex(v: u64) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `qemu-img map m.qcow2`: verbatim.
    #[test]
    fn human_matches_qemu_img() {
        let mut out = MAP_HUMAN_HEADER.as_bytes().to_vec();
        out.extend(map_human_row(0, 0x10000, 0x50000, b"m.qcow2"));
        out.extend(map_human_row(0x100000, 0x10000, 0x60000, b"m.qcow2"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Offset          Length          Mapped to       File
0               0x10000         0x50000         m.qcow2
0x100000        0x10000         0x60000         m.qcow2
"
        );
    }

    #[test]
    fn human_wide_values_are_not_cut() {
        let row = map_human_row(u64::MAX, 1, 0, b"\xffname");
        assert_eq!(
            row,
            b"0xffffffffffffffff0x1             0               \xffname\n"
        );
    }

    fn entry(
        start: i64,
        length: i64,
        present: bool,
        zero: bool,
        data: bool,
        offset: Option<i64>,
    ) -> MapJsonEntry {
        MapJsonEntry {
            start,
            length,
            depth: 0,
            present,
            zero,
            data,
            compressed: false,
            offset,
        }
    }

    /// `qemu-img map --output=json m.qcow2`: verbatim.
    #[test]
    fn json_matches_qemu_img() {
        let entries = [
            entry(0, 65536, true, false, true, Some(327680)),
            entry(65536, 983040, false, true, false, None),
            entry(1048576, 65536, true, false, true, Some(393216)),
            entry(1114112, 983040, false, true, false, None),
            entry(2097152, 65536, true, true, false, None),
            entry(2162688, 2031616, false, true, false, None),
        ];
        let mut out = MAP_JSON_OPEN.to_owned();
        for (i, e) in entries.iter().enumerate() {
            out.push_str(&map_json_entry(e, i + 1 < entries.len()));
        }
        out.push_str(MAP_JSON_CLOSE);
        assert_eq!(
            out,
            r#"[{ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "compressed": false, "offset": 327680},
{ "start": 65536, "length": 983040, "depth": 0, "present": false, "zero": true, "data": false, "compressed": false},
{ "start": 1048576, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "compressed": false, "offset": 393216},
{ "start": 1114112, "length": 983040, "depth": 0, "present": false, "zero": true, "data": false, "compressed": false},
{ "start": 2097152, "length": 65536, "depth": 0, "present": true, "zero": true, "data": false, "compressed": false},
{ "start": 2162688, "length": 2031616, "depth": 0, "present": false, "zero": true, "data": false, "compressed": false}]
"#
        );
    }

    /// `qemu-img map --output=json z.raw` (0-byte image): a single empty entry.
    #[test]
    fn json_single_entry() {
        let e = MapJsonEntry {
            compressed: false,
            ..entry(0, 0, false, false, false, None)
        };
        let out = format!(
            "{MAP_JSON_OPEN}{}{MAP_JSON_CLOSE}",
            map_json_entry(&e, false)
        );
        assert_eq!(
            out,
            "[{ \"start\": 0, \"length\": 0, \"depth\": 0, \"present\": false, \"zero\": false, \"data\": false, \"compressed\": false}]\n"
        );
    }
}
