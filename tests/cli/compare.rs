//! `compare` prints what qemu-img prints and exits as it exits: corpus
//! pairs in every mode, images made here with qemu-io that differ in one
//! byte, in size, in allocation, and failures (open 2, block status 3, read 4).

use crate::corpus;
use crate::support::{create, qemu_io, same, scratch, tool, Holder};
use std::path::Path;

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned()
}

/// Compares `a` and `b` in the modes scripts use.
fn modes(dir: &Path, a: &str, b: &str) {
    for mode in [&[][..], &["-s"], &["-p"], &["-s", "-p"], &["-q"]] {
        let mut args = vec!["compare"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&[a, b]);
        same(dir, &args);
    }
}

#[test]
fn corpus_pairs() {
    let dir = corpus::dir();
    let images: Vec<_> = corpus::entries()
        .into_iter()
        .filter(|e| (e.format == "raw" || e.format == "qcow2") && e.secret.is_none())
        .collect();
    assert!(images.len() > 40);
    let refs = [
        "raw/std.raw",
        "qcow2/v3-std.qcow2",
        "qcow2/chain-top.qcow2",
        "qcow2/small-base.qcow2",
        "qcow2/zero-clusters.qcow2",
    ];
    for e in &images {
        let name = rel(&dir, &e.path);
        for r in refs {
            for mode in [&[][..], &["-s"], &["-p"]] {
                let mut args = vec!["compare"];
                args.extend_from_slice(mode);
                args.extend_from_slice(&[&name, r]);
                same(&dir, &args);
            }
        }
        same(&dir, &["compare", "-f", &e.format, "-F", "raw", &name, "raw/std.raw"]);
        same(&dir, &["compare", "-s", "-p", "qcow2/small-base.qcow2", &name]);
    }
}

#[test]
fn corpus_pairs_in_every_mode() {
    let dir = corpus::dir();
    let pairs = [
        ("raw/std.raw", "qcow2/v3-std.qcow2"),
        ("qcow2/v3-std.qcow2", "qcow2/v2-std.qcow2"),
        ("qcow2/v3-std.qcow2", "qcow2/cluster-4k.qcow2"),
        ("qcow2/cluster-512.qcow2", "qcow2/cluster-2M.qcow2"),
        ("qcow2/v3-std.qcow2", "qcow2/prealloc-metadata.qcow2"),
        ("raw/std.raw", "qcow2/data-file-raw.qcow2"),
        ("qcow2/data-file.qcow2", "qcow2/v3-std.qcow2"),
        ("qcow2/small-base.qcow2", "qcow2/overlay-larger.qcow2"),
        ("qcow2/overlay-larger.qcow2", "qcow2/small-base.qcow2"),
        ("qcow2/chain-top.qcow2", "qcow2/chain-mid.qcow2"),
        ("qcow2/compressed-zlib.qcow2", "qcow2/compressed-zstd.qcow2"),
        ("qcow2/zero-clusters.qcow2", "qcow2/zero-clusters-v2.qcow2"),
        ("raw/empty.raw", "qcow2/empty.qcow2"),
        ("raw/odd-size-file.raw", "raw/odd-size-request.raw"),
        ("raw/prealloc-full.raw", "raw/prealloc-falloc.raw"),
        ("qcow2/backing-raw.qcow2", "raw/std.raw"),
        ("qcow2/resized.qcow2", "qcow2/v3-std.qcow2"),
        ("raw/std.raw", "raw/std.raw"),
    ];
    for (a, b) in pairs {
        modes(&dir, a, b);
    }
}

#[test]
fn errors_and_exit_codes() {
    let dir = corpus::dir();
    for p in [&[][..], &["-p"], &["-q"]] {
        let with = |args: &[&str]| {
            let mut v = vec!["compare"];
            v.extend_from_slice(p);
            v.extend_from_slice(args);
            same(&dir, &v);
        };
        with(&["nonexistent", "raw/std.raw"]);
        with(&["raw/std.raw", "nonexistent"]);
        with(&["nonexistent", "nonexistent2"]);
        with(&["qcow2/backing-missing.qcow2", "raw/std.raw"]);
        with(&["-f", "qcow2", "raw/std.raw", "qcow2/v3-std.qcow2"]);
        with(&["-F", "qcow2", "raw/std.raw", "raw/std.raw"]);
        with(&["-f", "foo", "raw/std.raw", "raw/std.raw"]);
        with(&["qcow2/luks.qcow2", "raw/std.raw"]);
        // A corrupt L2 table: block status fails (exit 3), on either side.
        with(&["broken/unaligned-l2.qcow2", "qcow2/v3-std.qcow2"]);
        with(&["qcow2/v3-std.qcow2", "broken/unaligned-l2.qcow2"]);
        with(&["-s", "broken/unaligned-l2.qcow2", "broken/unaligned-l2.qcow2"]);
        with(&["raw/std.raw"]);
        with(&["a", "b", "c"]);
        with(&["-T", "bogus", "raw/std.raw", "raw/std.raw"]);
        with(&["-T", "none", "raw/std.raw", "qcow2/v3-std.qcow2"]);
        with(&["-U", "raw/std.raw", "qcow2/v3-std.qcow2"]);
        with(&["--strict", "--a-format", "raw", "--b-format", "qcow2", "raw/std.raw", "qcow2/v3-std.qcow2"]);
    }
}

#[test]
fn one_byte_differences_are_reported_by_sector() {
    let dir = scratch("compare-bytes");
    create(&dir, &["-f", "qcow2", "base.qcow2", "4M"]);
    qemu_io(&dir, "qcow2", "base.qcow2", &["write -P 0x11 0 2M", "write -P 0x22 3M 64k"]);
    tool(&dir, "qemu-img", &["convert", "-O", "raw", "base.qcow2", "base.raw"]);
    for (i, at) in
        [0u64, 1, 511, 512, 1000, 65535, 65536, 2097151, 3 * 1048576 + 4095, 3 * 1048576 + 65535].iter().enumerate()
    {
        let name = format!("d{i}.raw");
        let mut b = std::fs::read(dir.join("base.raw")).unwrap();
        b[*at as usize] ^= 0x5a;
        std::fs::write(dir.join(&name), b).unwrap();
        modes(&dir, "base.qcow2", &name);
        same(&dir, &["compare", &name, "base.raw"]);
    }
    // A byte where the other image reads zeros (unallocated there).
    let mut b = std::fs::read(dir.join("base.raw")).unwrap();
    b[2 * 1048576 + 777] = 1;
    std::fs::write(dir.join("z.raw"), b).unwrap();
    modes(&dir, "base.qcow2", "z.raw");
    modes(&dir, "z.raw", "base.qcow2");
}

#[test]
fn sizes_differ() {
    let dir = scratch("compare-sizes");
    create(&dir, &["-f", "qcow2", "a.qcow2", "4M"]);
    create(&dir, &["-f", "qcow2", "b.qcow2", "6M"]);
    qemu_io(&dir, "qcow2", "a.qcow2", &["write -P 1 0 1M"]);
    qemu_io(&dir, "qcow2", "b.qcow2", &["write -P 1 0 1M", "write -z 4M 64k"]);
    create(&dir, &["-f", "qcow2", "c.qcow2", "6M"]);
    qemu_io(&dir, "qcow2", "c.qcow2", &["write -P 1 0 1M", "write -P 7 5M 1k"]);
    create(&dir, &["-f", "raw", "r.raw", "5M"]);
    qemu_io(&dir, "raw", "r.raw", &["write -P 1 0 1M", "write -P 0 4M 64k"]);
    for (x, y) in [("a.qcow2", "b.qcow2"), ("a.qcow2", "c.qcow2"), ("a.qcow2", "r.raw"), ("c.qcow2", "r.raw")] {
        modes(&dir, x, y);
        modes(&dir, y, x);
    }
}

#[test]
fn allocation_differs() {
    let dir = scratch("compare-allocation");
    // Same guest data, stored as unallocated, zero clusters, zeros written,
    // discarded, compressed, in a data file, in a backing file, in raw.
    create(&dir, &["-f", "qcow2", "plain.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "plain.qcow2", &["write -P 3 1M 64k"]);
    create(&dir, &["-f", "qcow2", "zero.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "zero.qcow2", &["write -P 3 1M 64k", "write -z 0 1M", "write -z -u 2M 1M"]);
    create(&dir, &["-f", "qcow2", "zeros-written.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "zeros-written.qcow2", &["write -P 0 0 1M", "write -P 3 1M 64k"]);
    create(&dir, &["-f", "qcow2", "discarded.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "discarded.qcow2", &["write -P 3 0 2M", "discard 0 1M", "write -z 1088k 960k"]);
    create(&dir, &["-f", "qcow2", "compressed.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "compressed.qcow2", &["write -c -P 3 1M 64k", "write -c -P 0 2M 64k"]);
    create(&dir, &["-f", "qcow2", "-o", "data_file=df.data", "df.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "df.qcow2", &["write -P 3 1M 64k", "write -z 3M 64k"]);
    create(&dir, &["-f", "qcow2", "-b", "plain.qcow2", "-F", "qcow2", "over.qcow2"]);
    create(&dir, &["-f", "qcow2", "-b", "plain.qcow2", "-F", "qcow2", "over-zero.qcow2"]);
    qemu_io(&dir, "qcow2", "over-zero.qcow2", &["write -z 1M 64k", "write -P 3 1M 4k"]);
    create(&dir, &["-f", "qcow2", "-o", "extended_l2=on", "ext.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "ext.qcow2", &["write -P 3 1M 64k", "write -z 1M 2k", "write -P 3 1M 2k"]);
    create(&dir, &["-f", "raw", "r.raw", "8M"]);
    qemu_io(&dir, "raw", "r.raw", &["write -P 3 1M 64k", "write -z 2M 1M"]);
    let all = [
        "plain.qcow2",
        "zero.qcow2",
        "zeros-written.qcow2",
        "discarded.qcow2",
        "compressed.qcow2",
        "df.qcow2",
        "over.qcow2",
        "over-zero.qcow2",
        "ext.qcow2",
        "r.raw",
    ];
    for a in all {
        for b in all {
            same(&dir, &["compare", a, b]);
            same(&dir, &["compare", "-s", a, b]);
        }
        modes(&dir, a, "plain.qcow2");
    }
}

#[test]
fn chains_with_short_backing_files() {
    let dir = scratch("compare-chains");
    create(&dir, &["-f", "qcow2", "base.qcow2", "2M"]);
    qemu_io(&dir, "qcow2", "base.qcow2", &["write -P 1 0 1M"]);
    create(&dir, &["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2", "4M"]);
    create(&dir, &["-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "top.qcow2", &["write -P 2 6M 64k"]);
    tool(&dir, "qemu-img", &["convert", "-O", "raw", "top.qcow2", "flat.raw"]);
    tool(&dir, "qemu-img", &["convert", "-O", "qcow2", "top.qcow2", "flat.qcow2"]);
    for (a, b) in [
        ("top.qcow2", "flat.raw"),
        ("top.qcow2", "flat.qcow2"),
        ("mid.qcow2", "base.qcow2"),
        ("top.qcow2", "mid.qcow2"),
    ] {
        modes(&dir, a, b);
        modes(&dir, b, a);
    }
}

#[test]
fn progress_over_many_chunks() {
    let dir = scratch("compare-progress");
    create(&dir, &["-f", "raw", "a.raw", "96M"]);
    qemu_io(&dir, "raw", "a.raw", &["write -P 1 0 40M", "write -P 2 50M 1M", "write -P 3 60M 20M"]);
    tool(&dir, "qemu-img", &["convert", "-O", "qcow2", "a.raw", "a.qcow2"]);
    tool(&dir, "qemu-img", &["convert", "-O", "qcow2", "-o", "cluster_size=4k", "a.raw", "a4k.qcow2"]);
    std::fs::copy(dir.join("a.raw"), dir.join("b.raw")).unwrap();
    qemu_io(&dir, "raw", "b.raw", &["write -P 9 70M 1"]);
    create(&dir, &["-f", "qcow2", "big.qcow2", "200M"]);
    qemu_io(&dir, "qcow2", "big.qcow2", &["write -P 1 0 40M", "write -P 2 50M 1M", "write -P 3 60M 20M"]);
    for (x, y) in [
        ("a.raw", "a.qcow2"),
        ("a.qcow2", "a4k.qcow2"),
        ("a.raw", "b.raw"),
        ("a4k.qcow2", "b.raw"),
        ("a.qcow2", "big.qcow2"),
        ("big.qcow2", "a.raw"),
    ] {
        modes(&dir, x, y);
    }
}

#[test]
fn read_errors_exit_4() {
    let dir = scratch("compare-read-errors");
    create(&dir, &["-f", "qcow2", "c.qcow2", "1M"]);
    qemu_io(&dir, "qcow2", "c.qcow2", &["write -c -P 7 0 64k", "write -c -P 8 64k 64k", "write -c -P 9 128k 64k"]);
    create(&dir, &["-f", "qcow2", "p.qcow2", "1M"]);
    qemu_io(&dir, "qcow2", "p.qcow2", &["write -P 7 0 64k", "write -P 8 64k 64k", "write -P 9 128k 64k"]);
    // Garble the compressed data of the second cluster.
    let mut img = std::fs::read(dir.join("c.qcow2")).unwrap();
    let be = |b: &[u8]| b.iter().fold(0u64, |a, x| a << 8 | *x as u64);
    let l1 = be(&img[40..48]) as usize;
    let l2 = (be(&img[l1..l1 + 8]) & 0x00ff_ffff_ffff_fe00) as usize;
    let entry = be(&img[l2 + 8..l2 + 16]);
    let host = (entry & ((1 << 54) - 1)) as usize;
    img[host..host + 64].fill(0xff);
    std::fs::write(dir.join("c.qcow2"), img).unwrap();
    modes(&dir, "c.qcow2", "p.qcow2");
    modes(&dir, "p.qcow2", "c.qcow2");
    same(&dir, &["map", "--output=json", "c.qcow2"]);
}

#[test]
fn locks_exclude_a_running_writer() {
    let dir = scratch("compare-locks");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "lk.qcow2", "1M"]);
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "other.qcow2", "1M"]);
    let holder = Holder::open(&dir, "lk.qcow2", false);
    same(&dir, &["compare", "lk.qcow2", "other.qcow2"]);
    same(&dir, &["compare", "-p", "other.qcow2", "lk.qcow2"]);
    same(&dir, &["compare", "-U", "lk.qcow2", "other.qcow2"]);
    holder.release();
    same(&dir, &["compare", "lk.qcow2", "other.qcow2"]);
}
