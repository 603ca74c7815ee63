//! Renders [`NodeInfo`] as qemu-img prints it: a QDict tree built in QAPI
//! schema order (which fixes the order of keys that share a hash bucket),
//! printed as JSON or as the human listing.

use crate::output::human_dump::format_specific_dump;
use crate::output::qobject::{QDict, QObject};
use crate::output::size::size_to_str;
use crate::output::snapshot_table::{self, LocalDateTime, SnapshotRow, SNAPSHOT_ID_MAX, SNAPSHOT_NAME_MAX};
use qimg_runtime::info::{BitmapInfo, EncryptInfo, FormatSpecific, LuksInfo, NodeInfo, Qcow2Info, SnapshotInfo};

/// The QAPI `BlockGraphInfo` object for a node.
pub fn node_qdict(info: &NodeInfo) -> QDict {
    let mut d = QDict::new();
    d.put_str("filename", &info.filename);
    d.put_str("format", &info.format);
    if let Some(dirty) = info.dirty_flag {
        d.put_bool("dirty-flag", dirty);
    }
    if let Some(a) = info.actual_size {
        d.put_uint("actual-size", a);
    }
    d.put_uint("virtual-size", info.virtual_size);
    if let Some(c) = info.cluster_size {
        d.put_uint("cluster-size", c);
    }
    if info.encrypted {
        d.put_bool("encrypted", true);
    }
    if let Some(b) = &info.backing_filename {
        d.put_str("backing-filename", b);
    }
    if let Some(b) = &info.full_backing_filename {
        d.put_str("full-backing-filename", b);
    }
    if let Some(b) = &info.backing_filename_format {
        d.put_str("backing-filename-format", b);
    }
    if !info.snapshots.is_empty() {
        d.put_list("snapshots", info.snapshots.iter().map(|s| QObject::from(snapshot_qdict(s))).collect());
    }
    if let Some(fs) = &info.format_specific {
        d.put_dict("format-specific", format_specific_qdict(fs));
    }
    let children = info
        .children
        .iter()
        .map(|c| {
            let mut cd = QDict::new();
            cd.put_str("name", &c.name);
            cd.put_dict("info", node_qdict(&c.info));
            QObject::from(cd)
        })
        .collect();
    d.put_list("children", children);
    d
}

fn snapshot_qdict(s: &SnapshotInfo) -> QDict {
    let mut d = QDict::new();
    d.put_str("id", cut(s.id.as_bytes(), SNAPSHOT_ID_MAX));
    d.put_str("name", cut(s.name.as_bytes(), SNAPSHOT_NAME_MAX));
    d.put_uint("vm-state-size", s.vm_state_size);
    d.put_uint("date-sec", s.date_sec);
    d.put_uint("date-nsec", s.date_nsec);
    d.put_uint("vm-clock-sec", s.vm_clock_nsec / 1_000_000_000);
    d.put_uint("vm-clock-nsec", s.vm_clock_nsec % 1_000_000_000);
    if let Some(i) = s.icount {
        d.put_uint("icount", i);
    }
    d
}

fn format_specific_qdict(fs: &FormatSpecific) -> QDict {
    let (kind, data) = match fs {
        FormatSpecific::Qcow2(q) => ("qcow2", qcow2_qdict(q)),
        FormatSpecific::Luks(l) => {
            let mut d = QDict::new();
            put_luks(&mut d, l);
            ("luks", d)
        }
        FormatSpecific::File { extent_size_hint } => {
            let mut d = QDict::new();
            if let Some(h) = extent_size_hint {
                d.put_uint("extent-size-hint", *h);
            }
            ("file", d)
        }
    };
    let mut d = QDict::new();
    d.put_str("type", kind);
    d.put_dict("data", data);
    d
}

fn qcow2_qdict(q: &Qcow2Info) -> QDict {
    let mut d = QDict::new();
    d.put_str("compat", &q.compat);
    if let Some(f) = &q.data_file {
        d.put_str("data-file", f);
    }
    if let Some(r) = q.data_file_raw {
        d.put_bool("data-file-raw", r);
    }
    if let Some(e) = q.extended_l2 {
        d.put_bool("extended-l2", e);
    }
    if let Some(l) = q.lazy_refcounts {
        d.put_bool("lazy-refcounts", l);
    }
    if let Some(c) = q.corrupt {
        d.put_bool("corrupt", c);
    }
    d.put_uint("refcount-bits", q.refcount_bits);
    if let Some(e) = &q.encrypt {
        let ed = match e {
            EncryptInfo::Aes => {
                let mut ed = QDict::new();
                ed.put_str("format", "aes");
                ed
            }
            EncryptInfo::Luks(l) => {
                // QCryptoBlockInfo: the union's tag, then the LUKS members.
                let mut ed = QDict::new();
                ed.put_str("format", "luks");
                put_luks(&mut ed, l);
                ed
            }
        };
        d.put_dict("encrypt", ed);
    }
    if let Some(b) = &q.bitmaps {
        d.put_list("bitmaps", b.iter().map(|b| QObject::from(bitmap_qdict(b))).collect());
    }
    d.put_str("compression-type", &q.compression_type);
    d
}

/// The members of QAPI's `QCryptoBlockInfoLUKS`, in schema order.
fn put_luks(d: &mut QDict, l: &LuksInfo) {
    d.put_str("cipher-alg", &l.cipher_alg);
    d.put_str("cipher-mode", &l.cipher_mode);
    d.put_str("ivgen-alg", &l.ivgen_alg);
    if let Some(h) = &l.ivgen_hash_alg {
        d.put_str("ivgen-hash-alg", h);
    }
    d.put_str("hash-alg", &l.hash_alg);
    d.put_bool("detached-header", l.detached_header);
    d.put_uint("payload-offset", l.payload_offset);
    d.put_uint("master-key-iters", l.master_key_iters);
    d.put_str("uuid", &l.uuid);
    let slots = l
        .slots
        .iter()
        .map(|s| {
            let mut sd = QDict::new();
            sd.put_bool("active", s.active);
            if let Some(i) = s.iters {
                sd.put_uint("iters", i);
            }
            if let Some(n) = s.stripes {
                sd.put_uint("stripes", n);
            }
            sd.put_uint("key-offset", s.key_offset);
            QObject::from(sd)
        })
        .collect();
    d.put_list("slots", slots);
}

fn bitmap_qdict(b: &BitmapInfo) -> QDict {
    let mut d = QDict::new();
    d.put_str("name", &b.name);
    d.put_uint("granularity", b.granularity);
    let mut flags = Vec::new();
    if b.in_use {
        flags.push(QObject::str("in-use"));
    }
    if b.auto {
        flags.push(QObject::str("auto"));
    }
    d.put_list("flags", flags);
    d
}

/// qemu keeps snapshot IDs and names in fixed-size buffers, cutting longer ones.
fn cut(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

/// The human listing of a node and its children, as `qemu-img info` prints it.
pub fn human(info: &NodeInfo) -> Vec<u8> {
    let mut out = Vec::new();
    human_node(&mut out, info, 0, "/");
    out
}

fn line(out: &mut Vec<u8>, ind: &str, text: impl AsRef<[u8]>) {
    out.extend_from_slice(ind.as_bytes());
    out.extend_from_slice(text.as_ref());
    out.push(b'\n');
}

fn human_node(out: &mut Vec<u8>, info: &NodeInfo, level: usize, path: &str) {
    let ind = " ".repeat(level * 4);
    let protocol = info.children.is_empty();
    let disk = info.actual_size.map(size_to_str).unwrap_or_else(|| "unavailable".into());
    let (l1, l2, l3) =
        if protocol { ("filename", "protocol type", "file length") } else { ("image", "file format", "virtual size") };
    line(out, &ind, format!("{l1}: {}", info.filename));
    line(out, &ind, format!("{l2}: {}", info.format));
    line(out, &ind, format!("{l3}: {} ({} bytes)", size_to_str(info.virtual_size), info.virtual_size));
    line(out, &ind, format!("disk size: {disk}"));
    if info.encrypted {
        line(out, &ind, "encrypted: yes");
    }
    if let Some(c) = info.cluster_size {
        line(out, &ind, format!("cluster_size: {c}"));
    }
    if info.dirty_flag == Some(true) {
        line(out, &ind, "cleanly shut down: no");
    }
    if let Some(b) = &info.backing_filename {
        let path = match &info.full_backing_filename {
            None => " (cannot determine actual path)".to_string(),
            Some(full) if full != b => format!(" (actual path: {full})"),
            Some(_) => String::new(),
        };
        line(out, &ind, format!("backing file: {b}{path}"));
    }
    if let Some(f) = &info.backing_filename_format {
        line(out, &ind, format!("backing file format: {f}"));
    }
    if !info.snapshots.is_empty() {
        let rows: Vec<SnapshotRow> = info.snapshots.iter().map(snapshot_row).collect();
        out.extend(snapshot_table::snapshot_list_block(&rows, level));
    }
    if let Some(fs) = &info.format_specific {
        let spec = format_specific_qdict(fs);
        if let Some(data) = spec.get("data") {
            out.extend(format_specific_dump(data, "Format specific information:\n", level));
        }
    }
    for c in &info.children {
        line(out, &ind, format!("Child node '{path}{}':", c.name));
        human_node(out, &c.info, level + 1, &format!("{path}{}/", c.name));
    }
}

/// A snapshot as a row of the snapshot table.
pub fn snapshot_row(s: &SnapshotInfo) -> SnapshotRow<'_> {
    SnapshotRow {
        id: s.id.as_bytes(),
        name: s.name.as_bytes(),
        vm_state_size: s.vm_state_size,
        date: LocalDateTime::from_unix_local(s.date_sec as i64).unwrap_or_default(),
        vm_clock_nsec: s.vm_clock_nsec,
        icount: s.icount.map(|i| i as i64),
    }
}
