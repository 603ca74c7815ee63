//! The internal-snapshot table of `qemu-img snapshot -l` and `qemu-img info`
//! (QEMU's `bdrv_snapshot_dump` and its callers).
//!
//! Verified against qemu-img 10.0.2 (including images with patched snapshot entries):
//!
//! * header and rows use `%-7s %-16s %8s %19s %15s %10s` (ID, TAG, VM_SIZE, DATE,
//!   VM_CLOCK, ICOUNT); widths count bytes, and a long tag pushes the rest right;
//! * the ID is cut to 127 bytes and the tag to 255 bytes (QEMU copies them into fixed
//!   128- and 256-byte buffers), possibly in the middle of a UTF-8 sequence;
//! * VM_SIZE is [`size_to_str`]; DATE is local time as `%Y-%m-%d %H:%M:%S` (`TZ` is
//!   honoured); VM_CLOCK is `%04d:%02d:%02d.%03d` (hours, which may exceed 4 digits,
//!   minutes, seconds, milliseconds);
//! * ICOUNT is the signed decimal value, or `--` when the snapshot has none (stored as -1
//!   or absent from the entry's extra data).
//!
//! The same truncation to 255 bytes also applies to the `name` in `info --output=json`,
//! because QEMU lists snapshots through the same fixed-size buffers: the caller must cut
//! names there too (a cut multi-byte sequence then prints as `\uFFFD`).

use super::c_printf::push_padded;
use super::json::c_string;
use super::size::size_to_str;

/// Longest ID QEMU keeps (`sizeof(id_str) - 1`).
pub const SNAPSHOT_ID_MAX: usize = 127;
/// Longest tag QEMU keeps (`sizeof(name) - 1`).
pub const SNAPSHOT_NAME_MAX: usize = 255;

/// A local date and time, broken down (what `localtime_r` gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalDateTime {
    /// Full year, e.g. 2026.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 60.
    pub second: u32,
}

impl LocalDateTime {
    /// Converts seconds since the Unix epoch to local time with the C library's
    /// `localtime_r`, which honours `TZ` (read once per process, like QEMU's GLib).
    /// Returns `None` if the C library cannot represent the time.
    pub fn from_unix_local(secs: i64) -> Option<Self> {
        let t = libc::time_t::try_from(secs).ok()?;
        // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid
        // for the duration of the call, and localtime_r is thread-safe.
        let tm = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&t, &mut tm).is_null() {
                return None;
            }
            tm
        };
        Some(LocalDateTime {
            year: tm.tm_year + 1900,
            month: u32::try_from(tm.tm_mon + 1).ok()?,
            day: u32::try_from(tm.tm_mday).ok()?,
            hour: u32::try_from(tm.tm_hour).ok()?,
            minute: u32::try_from(tm.tm_min).ok()?,
            second: u32::try_from(tm.tm_sec).ok()?,
        })
    }

    /// `%Y-%m-%d %H:%M:%S`, as in the DATE column.
    pub fn to_qemu_string(self) -> String {
        format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// One snapshot, as the table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRow<'a> {
    /// The snapshot ID string (bytes; cut to [`SNAPSHOT_ID_MAX`] when printed).
    pub id: &'a [u8],
    /// The tag (bytes; cut to [`SNAPSHOT_NAME_MAX`] when printed).
    pub name: &'a [u8],
    /// Size of the saved VM state, in bytes.
    pub vm_state_size: u64,
    /// Creation time, already converted to local time ([`LocalDateTime::from_unix_local`]).
    pub date: LocalDateTime,
    /// Guest clock at the snapshot, in nanoseconds (`vm-clock-sec * 10^9 + vm-clock-nsec`).
    pub vm_clock_nsec: u64,
    /// Instruction count; `None` (or `Some(-1)`) prints `--`.
    pub icount: Option<i64>,
}

/// The table header, without a newline:
/// `ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT`.
pub fn snapshot_table_header() -> String {
    format!(
        "{:<7} {:<16} {:>8} {:>19} {:>15} {:>10}",
        "ID", "TAG", "VM_SIZE", "DATE", "VM_CLOCK", "ICOUNT"
    )
}

/// One table row, without a newline (bytes, since tags need not be UTF-8).
pub fn snapshot_table_row(row: &SnapshotRow) -> Vec<u8> {
    let id = truncate(c_string(row.id), SNAPSHOT_ID_MAX);
    let name = truncate(c_string(row.name), SNAPSHOT_NAME_MAX);
    let secs = row.vm_clock_nsec / 1_000_000_000;
    // QEMU casts each field to int before printing.
    let clock = format!(
        "{:04}:{:02}:{:02}.{:03}",
        (secs / 3600) as i32,
        ((secs / 60) % 60) as i32,
        (secs % 60) as i32,
        ((row.vm_clock_nsec / 1_000_000) % 1000) as i32
    );
    let icount = match row.icount {
        Some(i) if i != -1 => i.to_string(),
        _ => "--".to_owned(),
    };
    let mut out = Vec::with_capacity(80);
    push_padded(&mut out, id, 7, true);
    out.push(b' ');
    push_padded(&mut out, name, 16, true);
    out.push(b' ');
    push_padded(
        &mut out,
        size_to_str(row.vm_state_size).as_bytes(),
        8,
        false,
    );
    out.push(b' ');
    push_padded(&mut out, row.date.to_qemu_string().as_bytes(), 19, false);
    out.push(b' ');
    push_padded(&mut out, clock.as_bytes(), 15, false);
    out.push(b' ');
    push_padded(&mut out, icount.as_bytes(), 10, false);
    out
}

/// The whole block: `Snapshot list:`, the header and one line per row, each line prefixed
/// with 4 spaces per `indentation` level and ended by `\n`.
///
/// `qemu-img snapshot -l` prints it at level 0 (and prints nothing when there are no
/// snapshots); `qemu-img info` prints it at the node's level when there is at least one.
pub fn snapshot_list_block(rows: &[SnapshotRow], indentation: usize) -> Vec<u8> {
    let indent = " ".repeat(indentation * 4);
    let mut out = Vec::new();
    out.extend_from_slice(format!("{indent}Snapshot list:\n{indent}").as_bytes());
    out.extend_from_slice(snapshot_table_header().as_bytes());
    out.push(b'\n');
    for row in rows {
        out.extend_from_slice(indent.as_bytes());
        out.extend_from_slice(&snapshot_table_row(row));
        out.push(b'\n');
    }
    out
}

/// The first `max` bytes of `s` (QEMU's `pstrcpy` into a `max + 1` byte buffer).
fn truncate(s: &[u8], max: usize) -> &[u8] {
    &s[..s.len().min(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> LocalDateTime {
        LocalDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    fn row<'a>(id: &'a [u8], name: &'a [u8], date: LocalDateTime) -> SnapshotRow<'a> {
        SnapshotRow {
            id,
            name,
            vm_state_size: 0,
            date,
            vm_clock_nsec: 0,
            icount: Some(0),
        }
    }

    /// `qemu-img snapshot -l s.qcow2` with a 140×"é" tag (280 bytes), a UTF-8 tag, a long
    /// ASCII tag and an empty tag: verbatim bytes.
    #[test]
    fn snapshot_list_matches_qemu_img() {
        let date = at(2026, 11, 24, 19, 8, 14);
        let long = "é".repeat(140);
        let rows = [
            row(b"1", long.as_bytes(), date),
            row(b"2", "ünï".as_bytes(), date),
            row(b"3", b"abcdefghijklmnopqrstuvwxyz", date),
            row(b"4", b"", date),
        ];
        let mut expect = b"Snapshot list:\n\
ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n\
1       "
            .to_vec();
        // 127 whole "é" and the first byte of the 128th: 255 bytes.
        expect.extend_from_slice(&long.as_bytes()[..255]);
        expect.extend_from_slice(
            "      0 B 2026-11-24 19:08:14  0000:00:00.000          0\n\
2       ünï                 0 B 2026-11-24 19:08:14  0000:00:00.000          0\n\
3       abcdefghijklmnopqrstuvwxyz      0 B 2026-11-24 19:08:14  0000:00:00.000          0\n\
4                             0 B 2026-11-24 19:08:14  0000:00:00.000          0\n"
                .as_bytes(),
        );
        assert_eq!(snapshot_list_block(&rows, 0), expect);
    }

    /// `qemu-img snapshot -l t.qcow2` (TZ=UTC) after patching the entries: VM state sizes,
    /// huge clocks, icount absent / negative / large, extreme dates. Verbatim.
    #[test]
    fn patched_entries_match_qemu_img() {
        let rows = [
            SnapshotRow {
                id: b"1",
                name: b"a",
                vm_state_size: 1536,
                date: at(1970, 1, 1, 0, 0, 0),
                vm_clock_nsec: 3_725_123_456_789,
                icount: None,
            },
            SnapshotRow {
                id: b"2",
                name: b"b",
                vm_state_size: 1 << 30,
                date: at(2106, 2, 7, 6, 28, 15),
                vm_clock_nsec: 3_600_000_000_000_000,
                icount: Some(-5),
            },
            SnapshotRow {
                id: b"3",
                name: b"c",
                vm_state_size: 0,
                date: at(2023, 11, 14, 22, 13, 20),
                vm_clock_nsec: 999_999_999,
                icount: Some(123_456_789_012),
            },
            SnapshotRow {
                id: b"4",
                name: b"d",
                vm_state_size: 0,
                date: at(1970, 1, 1, 23, 59, 59),
                vm_clock_nsec: 0,
                icount: Some(-1),
            },
        ];
        let expect = "Snapshot list:
ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT
1       a                 1.5 KiB 1970-01-01 00:00:00  0001:02:05.123         --
2       b                   1 GiB 2106-02-07 06:28:15  1000:00:00.000         -5
3       c                     0 B 2023-11-14 22:13:20  0000:00:00.999 123456789012
4       d                     0 B 1970-01-01 23:59:59  0000:00:00.000         --
";
        assert_eq!(
            String::from_utf8(snapshot_list_block(&rows, 0)).unwrap(),
            expect
        );
    }

    #[test]
    fn indented_block_for_info_children() {
        let rows = [row(b"1", b"s1", at(2026, 11, 24, 19, 7, 14))];
        let out = String::from_utf8(snapshot_list_block(&rows, 1)).unwrap();
        assert_eq!(
            out,
            "    Snapshot list:
    ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT
    1       s1                    0 B 2026-11-24 19:07:14  0000:00:00.000          0
"
        );
    }

    #[test]
    fn long_id_is_cut_to_127_bytes() {
        let id = vec![b'7'; 200];
        let out = snapshot_table_row(&row(&id, b"x", at(2000, 1, 1, 0, 0, 0)));
        assert!(out.starts_with(&[b'7'; 127]));
        assert_eq!(out[127], b' ');
    }

    /// Local time conversion. Timestamps chosen to match qemu-img's output under TZ=UTC,
    /// TZ=America/New_York and TZ=Asia/Kolkata; the process's own TZ decides which applies,
    /// so only zone-independent facts are asserted here.
    #[test]
    fn local_time_round_trip() {
        let t = LocalDateTime::from_unix_local(1_700_000_000).expect("representable");
        assert_eq!(t.year, 2023);
        assert!((1..=12).contains(&t.month));
        assert_eq!(t.to_qemu_string().len(), 19);
        assert_eq!(
            at(2023, 11, 14, 22, 13, 20).to_qemu_string(),
            "2023-11-14 22:13:20"
        );

        // DATE columns qemu-img printed for these timestamps under each zone; checked when
        // the tests run with that TZ (e.g. `TZ=Asia/Kolkata cargo test`).
        let expected: &[&str] = match std::env::var("TZ").as_deref() {
            Ok("UTC") => &[
                "1970-01-01 00:00:00",
                "2106-02-07 06:28:15",
                "2023-11-14 22:13:20",
            ],
            Ok("America/New_York") => &[
                "1969-12-31 19:00:00",
                "2106-02-07 01:28:15",
                "2023-11-14 17:13:20",
            ],
            Ok("Asia/Kolkata") => &[
                "1970-01-01 05:30:00",
                "2106-02-07 11:58:15",
                "2023-11-15 03:43:20",
            ],
            _ => &[],
        };
        for (&secs, &expect) in [0i64, 4_294_967_295, 1_700_000_000].iter().zip(expected) {
            let got = LocalDateTime::from_unix_local(secs)
                .unwrap()
                .to_qemu_string();
            assert_eq!(got, expect, "local time of {secs}");
        }
    }
}
