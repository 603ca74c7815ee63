//! `create` prints what qemu-img prints and writes the same bytes.

use crate::support::{bytes, same, scratch};

/// Creates `name` with qemu-img and with qimg (same arguments, same
/// directory, so stored names agree), compares output and files.
fn same_file(label: &str, args: &[&str]) {
    let dir = scratch(&format!("create-{label}"));
    let name_at = args.iter().position(|a| *a == "IMG").expect("args name IMG");
    let mut q: Vec<&str> = args.to_vec();
    q[name_at] = "qemu.img";
    let expected = crate::support::qemu_img(&dir, &q);
    let mut i: Vec<&str> = args.to_vec();
    i[name_at] = "qimg.img";
    let got = crate::support::qimg(&dir, &i);
    assert_eq!(got.code, expected.code, "{label}: exit code");
    assert_eq!(got.stdout.replace("qimg.img", "qemu.img"), expected.stdout, "{label}: stdout");
    assert_eq!(got.stderr.replace("qimg.img", "qemu.img"), expected.stderr, "{label}: stderr");
    let (a, b) = (dir.join("qemu.img"), dir.join("qimg.img"));
    assert_eq!(a.exists(), b.exists(), "{label}: file created");
    if a.exists() {
        assert!(bytes(&a) == bytes(&b), "{label}: file contents differ");
    }
}

#[test]
fn raw_sizes_and_preallocation() {
    for size in ["0", "1", "511", "1023", "4096", "5000", "1M", "64M", "1.5k", "0x10000"] {
        same_file(&format!("raw-{size}"), &["create", "-f", "raw", "IMG", size]);
    }
    for p in ["off", "falloc", "full"] {
        same_file(&format!("raw-{p}"), &["create", "-f", "raw", "-o", &format!("preallocation={p}"), "IMG", "1M"]);
    }
    same_file("raw-default-format", &["create", "IMG", "1M"]);
    same_file("raw-quiet", &["create", "-q", "IMG", "1M"]);
}

#[test]
fn qcow2_option_matrix() {
    let cases: &[&[&str]] = &[
        &["create", "-f", "qcow2", "IMG", "64M"],
        &["create", "-f", "qcow2", "IMG", "0"],
        &["create", "-f", "qcow2", "IMG", "1000000"],
        &["create", "-f", "qcow2", "-o", "compat=0.10", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "compat=v2", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "compat=1.1,lazy_refcounts=on", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "cluster_size=512", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "cluster_size=4k", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "cluster_size=2M", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "refcount_bits=1", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "refcount_bits=64", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "extended_l2=on", "IMG", "1G"],
        &["create", "-f", "qcow2", "-o", "compression_type=zstd", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "preallocation=metadata", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "preallocation=falloc", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "preallocation=full", "IMG", "16M"],
        &["create", "-f", "qcow2", "-o", "preallocation=metadata,cluster_size=4k", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "nocow=on", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "extent_size_hint=0", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "data_file=IMG.data", "IMG", "64M"],
        &["create", "-f", "qcow2", "-o", "cluster_size=512", "IMG", "129G"],
        &["create", "-f", "qcow2", "IMG", "2P"],
    ];
    for (i, args) in cases.iter().enumerate() {
        same_file(&format!("qcow2-{i}"), args);
    }
}

#[test]
fn qcow2_errors() {
    let dir = scratch("create-errors");
    for opts in [
        "cluster_size=1000",
        "cluster_size=256",
        "refcount_bits=3",
        "refcount_bits=128",
        "compat=0.10,lazy_refcounts=on",
        "compat=0.10,refcount_bits=8",
        "compat=2.0",
        "extended_l2=on,cluster_size=4k",
        "compat=0.10,extended_l2=on",
        "preallocation=bogus",
        "compression_type=lz4",
        "compat=0.10,compression_type=zstd",
        "data_file_raw=on",
        "lazy_refcounts=maybe",
        "foo=bar",
        "cluster_size=abc",
    ] {
        same(&dir, &["create", "-f", "qcow2", "-o", opts, "x.qcow2", "64M"]);
        assert!(!dir.join("x.qcow2").exists(), "{opts}: no file left behind");
    }
    same(&dir, &["create", "-f", "qcow2", "x.qcow2"]);
    same(&dir, &["create", "-f", "qcow2", "nodir/x.qcow2", "1M"]);
    same(&dir, &["create", "-f", "qcow2", "-o", "help"]);
    same(&dir, &["create", "-f", "raw", "-o", "help"]);
    same(&dir, &["create", "-f", "qcow2", "-b", "nonexistent.qcow2", "x.qcow2", "1M"]);
}

#[test]
fn qcow2_with_backing_files() {
    let dir = scratch("create-backing");
    crate::support::tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "base.qcow2", "32M"]);
    crate::support::tool(&dir, "qemu-img", &["create", "-q", "-f", "raw", "base.raw", "20M"]);
    for (label, args) in [
        ("b-qcow2", vec!["create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "IMG"]),
        ("b-sized", vec!["create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "IMG", "64M"]),
        ("b-raw", vec!["create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "IMG"]),
        ("b-unsafe", vec!["create", "-f", "qcow2", "-u", "-b", "nonexistent", "-F", "qcow2", "IMG", "1M"]),
        ("b-no-fmt", vec!["create", "-f", "qcow2", "-b", "base.qcow2", "IMG"]),
        ("b-raw-target", vec!["create", "-f", "raw", "-b", "base.raw", "-F", "raw", "IMG"]),
        ("b-opts", vec!["create", "-f", "qcow2", "-o", "backing_file=base.qcow2,backing_fmt=qcow2", "IMG"]),
    ] {
        let d = scratch(&format!("create-{label}"));
        std::fs::copy(dir.join("base.qcow2"), d.join("base.qcow2")).unwrap();
        std::fs::copy(dir.join("base.raw"), d.join("base.raw")).unwrap();
        let name_at = args.iter().position(|a| *a == "IMG").unwrap();
        let mut q = args.clone();
        q[name_at] = "qemu.img";
        let expected = crate::support::qemu_img(&d, &q);
        let mut i = args.clone();
        i[name_at] = "qimg.img";
        let got = crate::support::qimg(&d, &i);
        assert_eq!(got.code, expected.code, "{label}");
        assert_eq!(got.stdout.replace("qimg.img", "qemu.img"), expected.stdout, "{label}");
        assert_eq!(got.stderr.replace("qimg.img", "qemu.img"), expected.stderr, "{label}");
        if d.join("qemu.img").exists() {
            assert!(bytes(&d.join("qemu.img")) == bytes(&d.join("qimg.img")), "{label}: contents");
        }
    }
}
