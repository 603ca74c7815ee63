//! Output primitives: QEMU-compatible JSON and human renderings.
//!
//! Everything here is a pure function or a plain type: no I/O, no runtime types. Commands
//! build values (a [`QDict`] tree for `info`/`check`/`measure`, plain numbers for the rest)
//! and print the bytes these functions return. Each module documents the exact qemu-img
//! 10.0.2 behaviour it reproduces and was checked against the real qemu-img.
//!
//! * [`qobject`]: the `QObject` value tree and a `QDict` in QEMU's hash-bucket order.
//! * [`json`]: `qobject_to_json_pretty` / `qobject_to_json`, with QEMU's string escaping.
//! * [`human_dump`]: the "Format specific information:" dump.
//! * [`size`]: `size_to_str` (`1.21 MiB`, `1e+03 KiB`).
//! * [`snapshot_table`]: the snapshot table of `snapshot -l` and `info`.
//! * [`map_rows`]: `map` human rows and JSON entries.
//! * [`progress`]: the `-p` progress line.
//! * [`check_report`]: `check`'s human and JSON reports.
//! * [`c_printf`], [`mod_utf8`]: the C `printf` conversions and the modified-UTF-8 decoder
//!   the above depend on.

pub mod c_printf;
pub mod check_report;
pub mod human_dump;
pub mod json;
pub mod map_rows;
pub mod mod_utf8;
pub mod progress;
pub mod qobject;
pub mod size;
pub mod snapshot_table;
