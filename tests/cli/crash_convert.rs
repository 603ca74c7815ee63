//! Crash consistency of qimg's qcow2 write paths, through `convert`: a new
//! image (cluster allocation, L2 and refcount growth), an existing image
//! with a backing file (copy on write), compressed clusters, and images with
//! lazy refcounts (where a killed writer leaves the dirty bit, and a repair
//! by qimg gives what qemu's gives).

use crate::crash_support::{self, clusters_old_or_new, guest_data, no_corruption, qemu_check, Scenario};
use crate::support::{qimg, tool};
use std::path::Path;

/// Guest size of the test images.
const SIZE: usize = 8 << 20;

/// Old guest data: a few patterns in whole and partial clusters.
fn old_data() -> Vec<u8> {
    let mut d = vec![0u8; SIZE];
    for (at, len, byte) in [(0, 64 << 10, 0x11u8), (1 << 20, 100 << 10, 0x12), (5 << 20, 4 << 10, 0x13)] {
        d[at..at + len].fill(byte);
    }
    d
}

/// New guest data: patterns that start and end inside clusters, spread
/// over several L2 tables' worth of small clusters.
fn new_data() -> Vec<u8> {
    let mut d = vec![0u8; SIZE];
    for (i, at) in [4096usize, 70 << 10, 1 << 20, (2 << 20) + 512 * 9, 3 << 20, (6 << 20) + 12288, SIZE - 8192]
        .into_iter()
        .enumerate()
    {
        let len = (20 << 10).min(SIZE - at);
        for (k, b) in d[at..at + len].iter_mut().enumerate() {
            *b = (0x40 + i as u8) ^ (k / 4096) as u8;
        }
    }
    d
}

fn write_raw(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).expect("write raw input");
}

/// Writes `data` into an existing qcow2 image with qemu-io, 4 KiB at a time
/// where it is not zero.
fn fill_qcow2(dir: &Path, image: &str, data: &[u8]) {
    let raw = dir.join("fill.raw");
    std::fs::write(&raw, data).expect("write fill data");
    tool(dir, "qemu-img", &["convert", "-n", "-f", "raw", "-O", "qcow2", "fill.raw", image]);
    std::fs::remove_file(raw).expect("remove fill data");
}

/// File changes `qimg create` makes for an 8 MiB qcow2 image with `opts`:
/// a crash before they are all made may leave a file that is not an image yet.
fn creating_changes(opts: &[&str]) -> u64 {
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["t.qcow2", "8M"]);
    crash_support::count("create-only", &|_| {}, &args)
}

/// `None` (the judgement stops there: nothing is claimed) when the crash
/// came before `create` had made all its changes, and the image is not
/// complete yet (qemu's create is no different); `Some(())` to go on judging.
fn not_yet_created(point: u64, creating: u64) -> Option<()> {
    (point >= creating).then_some(())
}

fn report(f: &crash_support::Figures) {
    assert!(f.trials > 3, "too few crash points: {f:?}");
    assert!(f.failures.is_empty(), "crash points refused: {:?}", f.failures);
}

#[test]
fn convert_to_a_new_qcow2_image() {
    let new = new_data();
    let creating = creating_changes(&["-o", "cluster_size=4k"]);
    let judge = |dir: &Path, point: u64, _: bool| {
        not_yet_created(point, creating)?;
        no_corruption(dir, "t.qcow2")
            .or_else(|| clusters_old_or_new(&guest_data(dir, "t.qcow2", "qcow2"), &vec![0u8; SIZE], &new, 4096))
    };
    let f = crash_support::run(&Scenario {
        name: "convert-new",
        prepare: &|d| write_raw(d, "src.raw", &new),
        args: &["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", "src.raw", "t.qcow2"],
        judge: &judge,
        max_trials: 400,
    });
    report(&f);
    assert!(f.changes > creating + 10, "{f:?}");
}

#[test]
fn small_clusters_grow_l2_tables_refcount_blocks_and_the_refcount_table() {
    // 512-byte clusters with 64-bit refcounts: a refcount block counts 64
    // clusters and a refcount table cluster names 64 blocks, so 3 MiB of
    // data needs dozens of L2 tables and refcount blocks and a bigger table.
    let mut new = vec![0u8; SIZE];
    for (i, b) in new[..3 << 20].iter_mut().enumerate() {
        *b = (i / 512 % 253) as u8 | 1;
    }
    let opts = "cluster_size=512,refcount_bits=64";
    let creating = creating_changes(&["-o", opts]);
    let judge = |dir: &Path, point: u64, _: bool| {
        not_yet_created(point, creating)?;
        no_corruption(dir, "s.qcow2")
            .or_else(|| clusters_old_or_new(&guest_data(dir, "s.qcow2", "qcow2"), &vec![0u8; SIZE], &new, 512))
    };
    let f = crash_support::run(&Scenario {
        name: "convert-small-clusters",
        prepare: &|d| write_raw(d, "src.raw", &new),
        args: &["convert", "-f", "raw", "-O", "qcow2", "-o", opts, "src.raw", "s.qcow2"],
        judge: &judge,
        max_trials: 250,
    });
    report(&f);
    assert!(f.changes > creating + 100, "{f:?}");
}

#[test]
fn convert_into_an_image_with_a_backing_file() {
    let (old, new) = (old_data(), new_data());
    let mut base = vec![0u8; SIZE];
    base.iter_mut().enumerate().for_each(|(i, b)| *b = (i / 512 % 251) as u8 | 1);
    let mut before = base.clone();
    for (i, b) in old.iter().enumerate() {
        if *b != 0 {
            before[i] = *b;
        }
    }
    let prepare = |d: &Path| {
        tool(d, "qemu-img", &["create", "-q", "-f", "qcow2", "base.qcow2", "8M"]);
        fill_qcow2(d, "base.qcow2", &base);
        tool(d, "qemu-img", &["create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2"]);
        // Only the non-zero parts of `old` go into the overlay.
        for (at, len, byte) in [(0u64, 65536u64, 0x11u8), (1 << 20, 100 << 10, 0x12), (5 << 20, 4096, 0x13)] {
            let cmd = format!("write -P {byte} {at} {len}");
            tool(d, "qemu-io", &["-f", "qcow2", "-c", &cmd, "top.qcow2"]);
        }
        write_raw(d, "src.raw", &new);
    };
    let judge = |dir: &Path, _: u64, _: bool| {
        no_corruption(dir, "top.qcow2")
            .or_else(|| clusters_old_or_new(&guest_data(dir, "top.qcow2", "qcow2"), &before, &new, 4096))
    };
    // -S 0: every byte of the source is written, so partial clusters need copy on write.
    let f = crash_support::run(&Scenario {
        name: "convert-cow",
        prepare: &prepare,
        args: &["convert", "-n", "-S", "0", "-f", "raw", "-O", "qcow2", "src.raw", "top.qcow2"],
        judge: &judge,
        max_trials: 400,
    });
    report(&f);
}

#[test]
fn compressed_convert() {
    let new = new_data();
    let creating = creating_changes(&[]);
    let judge = |dir: &Path, point: u64, _: bool| {
        not_yet_created(point, creating)?;
        no_corruption(dir, "c.qcow2")
            .or_else(|| clusters_old_or_new(&guest_data(dir, "c.qcow2", "qcow2"), &vec![0u8; SIZE], &new, 65536))
    };
    let f = crash_support::run(&Scenario {
        name: "convert-compressed",
        prepare: &|d| write_raw(d, "src.raw", &new),
        args: &["convert", "-c", "-f", "raw", "-O", "qcow2", "src.raw", "c.qcow2"],
        judge: &judge,
        max_trials: 400,
    });
    report(&f);
}

/// Repairs copies of `image` with qemu-img and with qimg (`check -r all`):
/// same report, same files, and the repaired image is clean.
fn repairs_agree(dir: &Path, image: &str) -> Option<String> {
    let (a, b) = (dir.join("repair-qemu"), dir.join("repair-qimg"));
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).ok()?;
        std::fs::copy(dir.join(image), d.join(image)).ok()?;
    }
    let theirs = crate::support::qemu_img(&a, &["check", "-r", "all", image]);
    let ours = qimg(&b, &["check", "-r", "all", image]);
    if theirs != ours {
        return Some(format!("check -r all differs: qemu {theirs:?}, qimg {ours:?}"));
    }
    if std::fs::read(a.join(image)).ok()? != std::fs::read(b.join(image)).ok()? {
        return Some("check -r all left different files".into());
    }
    let after = qemu_check(&b, image, &[]);
    (after.code != 0).then(|| format!("not clean after repair: {after:?}"))
}

#[test]
fn lazy_refcounts_leave_the_dirty_bit_and_repair_like_qemu() {
    let (old, new) = (old_data(), new_data());
    let prepare = |d: &Path| {
        tool(d, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4k", "l.qcow2", "8M"]);
        fill_qcow2(d, "l.qcow2", &old);
        write_raw(d, "src.raw", &new);
    };
    let dirty_seen = std::cell::Cell::new(0u32);
    let judge = |dir: &Path, _: u64, completed: bool| {
        let info = tool(dir, "qemu-img", &["info", "-U", "--output=json", "l.qcow2"]);
        let dirty = info.lines().any(|l| l.trim().trim_end_matches(',') == "\"dirty-flag\": true");
        if dirty {
            dirty_seen.set(dirty_seen.get() + 1);
            if completed {
                return Some("dirty after a clean close".into());
            }
        } else if let Some(why) = no_corruption(dir, "l.qcow2") {
            return Some(format!("corrupt without the dirty bit: {why}"));
        }
        repairs_agree(dir, "l.qcow2").or_else(|| {
            let repaired = dir.join("repair-qimg");
            clusters_old_or_new(&guest_data(&repaired, "l.qcow2", "qcow2"), &old, &new, 4096)
        })
    };
    let f = crash_support::run(&Scenario {
        name: "convert-lazy",
        prepare: &prepare,
        args: &["convert", "-n", "-S", "0", "-f", "raw", "-O", "qcow2", "src.raw", "l.qcow2"],
        judge: &judge,
        max_trials: 300,
    });
    report(&f);
    assert!(dirty_seen.get() > 0, "no crash point left the dirty bit: {f:?}");
}
