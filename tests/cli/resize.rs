//! `resize` against qemu-img on copies of the same images: same output and
//! exit code, same guest data, `check` and `info` of the results; for
//! images whose layout qimg reproduces, the same bytes.

use crate::support::tool;
use crate::twin::{corpus_files, shell, Twin};
use std::path::Path;

/// `info` lines that describe host allocation, which differs when qemu
/// rewrites persistent bitmaps elsewhere (qimg keeps them in place).
const ALLOCATION: &[&str] = &["disk size", "file length"];

/// Runs `args` on twins; compares output and the image `file`, which must
/// also be byte-identical when `identical`.
fn compare(label: &str, prepare: &dyn Fn(&Path), args: &[&str], file: &str, fmt: &str, identical: bool) {
    let t = Twin::new(label, prepare);
    t.run(args);
    t.assert_same_image(file, fmt, &[]);
    if identical {
        assert!(t.identical(file), "{label}: `{}` left different bytes", args.join(" "));
    }
}

#[test]
fn fresh_qcow2_images_are_byte_identical() {
    let cases: &[(&str, &[&str])] = &[
        ("", &["+1M"]),
        ("", &["128M"]),
        ("", &["3G"]),
        ("", &["--shrink", "--", "-1M"]),
        ("", &["--preallocation=metadata", "65M"]),
        ("", &["--preallocation=falloc", "65M"]),
        ("", &["--preallocation=full", "65M"]),
        ("", &["-q", "+1M"]),
        ("", &["+7E"]),
        ("", &["8E"]),
        ("", &["1000"]),
        ("", &["--", "-1M"]),
        ("", &["--", "-64M"]),
        ("", &["--preallocation=metadata", "64M"]),
        ("", &["--preallocation=falloc", "--shrink", "1M"]),
        ("cluster_size=512", &["1G"]),
        ("cluster_size=512", &["--preallocation=falloc", "70M"]),
        ("compat=0.10", &["1G"]),
        ("extended_l2=on", &["--preallocation=metadata", "300M"]),
        ("refcount_bits=1", &["--preallocation=falloc", "100M"]),
        ("refcount_bits=64", &["--preallocation=metadata", "100M"]),
        ("cluster_size=2M", &["--shrink", "1M"]),
    ];
    for (i, (opts, args)) in cases.iter().enumerate() {
        let prepare = |d: &Path| {
            let mut create = vec!["create", "-q", "-f", "qcow2"];
            if !opts.is_empty() {
                create.extend(["-o", opts]);
            }
            create.extend(["a.qcow2", "64M"]);
            tool(d, "qemu-img", &create);
        };
        let mut cmd = vec!["resize"];
        let (operands, options): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| !a.starts_with("--") || **a == "--");
        cmd.extend(options);
        cmd.push("a.qcow2");
        cmd.extend(operands);
        compare(&format!("resize-fresh-{i}"), &prepare, &cmd, "a.qcow2", "qcow2", true);
    }
}

#[test]
fn corpus_images_grow_and_shrink() {
    let images: &[&str] = &[
        "v3-std", "v2-std", "cluster-512", "cluster-4k", "refcount-1", "refcount-64", "lazy-refcounts",
        "prealloc-metadata", "extended-l2", "compressed-zlib", "compressed-zstd", "compressed-mixed", "zero-clusters",
        "zero-clusters-v2", "discarded", "snapshots", "snapshots-v2", "resized", "empty", "bitmaps",
    ];
    let ops: &[&[&str]] = &[
        &["IMG", "+3M"],
        &["--shrink", "IMG", "--", "-20M"],
        &["--shrink", "IMG", "1000448"],
        &["IMG", "+512"],
        &["--preallocation=metadata", "IMG", "+5M"],
    ];
    for image in images {
        let file = format!("{image}.qcow2");
        let path = format!("qcow2/{file}");
        for (k, op) in ops.iter().enumerate() {
            let args: Vec<&str> = std::iter::once("resize").chain(op.iter().map(|a| if *a == "IMG" { file.as_str() } else { a })).collect();
            let label = format!("resize-{image}-{k}");
            let t = Twin::new(&label, &corpus_files(&[&path]));
            t.run(&args);
            // qemu rewrites persistent bitmaps in new places on every
            // read-write open; qimg leaves them where they are.
            let bitmaps = *image == "bitmaps";
            t.assert_same_image(&file, "qcow2", if bitmaps { ALLOCATION } else { &[] });
            assert!(bitmaps || t.identical(&file), "{label}: `{}` left different bytes", args.join(" "));
        }
    }
}

/// Growing over a longer backing file: the new area reads as zeros (zero
/// clusters in version 3; version 2 cannot, as in qemu), with every
/// preallocation mode and with old sizes inside a cluster.
#[test]
fn growing_over_a_backing_file_reads_zeros() {
    let layouts: &[(&str, &str)] = &[("1.1", "off"), ("1.1", "on"), ("0.10", "off")];
    for (n, (compat, extended)) in layouts.iter().enumerate() {
        for prealloc in ["off", "metadata", "falloc", "full"] {
            for (old, new) in [("32M", "48M"), ("32M", "40000K"), ("33553920", "48M"), ("33553920", "33554432")] {
                let create = format!(
                    "qemu-img create -q -f qcow2 base.qcow2 64M && qemu-io -f qcow2 -c 'write -P 0x11 0 64M' base.qcow2 >/dev/null && \
                     qemu-img create -q -f qcow2 -o compat={compat},extended_l2={extended} -b base.qcow2 -F qcow2 o.qcow2 {old} && \
                     qemu-io -f qcow2 -c 'write -P 0x22 0 100k' -c 'write -P 0x33 32700k 60k' o.qcow2 >/dev/null"
                );
                let label = format!("resize-backing-{n}-{prealloc}-{old}-{new}");
                let t = Twin::new(&label, &shell(&create));
                t.run(&["resize", &format!("--preallocation={prealloc}"), "o.qcow2", new]);
                // Preallocating from inside a cluster, qimg first makes that
                // cluster the image's own: the layout differs from qemu's.
                let unaligned = old == "33553920" && prealloc != "off";
                t.assert_same_image("o.qcow2", "qcow2", if unaligned { ALLOCATION } else { &[] });
                assert!(unaligned || t.identical("o.qcow2"), "{label}: different bytes");
            }
        }
    }
}

#[test]
fn data_files_follow_the_image() {
    for raw in ["off", "on"] {
        for (k, args) in [
            &["resize", "--preallocation=off", "o.qcow2", "40M"][..],
            &["resize", "--preallocation=metadata", "o.qcow2", "40M"],
            &["resize", "--preallocation=full", "o.qcow2", "40M"],
            &["resize", "--shrink", "o.qcow2", "20M"],
        ]
        .iter()
        .enumerate()
        {
            let create = format!(
                "qemu-img create -q -f qcow2 -o data_file=o.data,data_file_raw={raw} o.qcow2 32M && \
                 qemu-io -f qcow2 -c 'write -P 0x22 0 100k' o.qcow2 >/dev/null"
            );
            let label = format!("resize-data-file-{raw}-{k}");
            let t = Twin::new(&label, &shell(&create));
            t.run(args);
            t.assert_same_image("o.qcow2", "qcow2", &[]);
            assert!(t.identical("o.qcow2") && t.identical("o.data"), "{label}: different bytes");
        }
    }
}

#[test]
fn raw_images() {
    let inits: &[&str] = &[
        "qemu-img create -q -f raw r.raw 1M && qemu-io -f raw -c 'write -P 0x22 0 100k' r.raw >/dev/null",
        "qemu-io -f raw -c 'write -P 0x5a 0 4608' r.raw >/dev/null; truncate -s 5000 r.raw",
        "truncate -s 1000 r.raw",
        ": > r.raw",
    ];
    let ops: &[&[&str]] = &[
        &["resize", "-f", "raw", "r.raw", "2M"],
        &["resize", "r.raw", "2M"],
        &["resize", "-f", "raw", "r.raw", "+1M"],
        &["resize", "-f", "raw", "--shrink", "r.raw", "--", "-512"],
        &["resize", "-f", "raw", "r.raw", "--", "-512"],
        &["resize", "-f", "raw", "--shrink", "r.raw", "1000"],
        &["resize", "-f", "raw", "--preallocation=falloc", "r.raw", "3M"],
        &["resize", "-f", "raw", "--preallocation=full", "r.raw", "3M"],
        &["resize", "-f", "raw", "--preallocation=metadata", "r.raw", "3M"],
        &["resize", "-f", "raw", "--preallocation=full", "r.raw", "1000"],
        &["resize", "-f", "raw", "r.raw", "9000000000000000000"],
        &["resize", "-f", "raw", "--shrink", "r.raw", "1"],
        &["resize", "-f", "raw", "r.raw", "+0"],
        &["resize", "-f", "qcow2", "r.raw", "+0"],
    ];
    for (i, init) in inits.iter().enumerate() {
        for (k, args) in ops.iter().enumerate() {
            let label = format!("resize-raw-{i}-{k}");
            let t = Twin::new(&label, &shell(init));
            t.run(args);
            t.assert_same_image("r.raw", "raw", &[]);
            assert!(t.identical("r.raw"), "{label}: different bytes");
        }
    }
}

#[test]
fn refusals_match_qemu_img() {
    let t = Twin::new("resize-v2-snapshots", &corpus_files(&["qcow2/snapshots-v2.qcow2"]));
    t.run(&["resize", "snapshots-v2.qcow2", "+1M"]);
    assert!(t.identical("snapshots-v2.qcow2"));

    let in_use = "qemu-img create -q -f qcow2 b.qcow2 64M && qemu-img bitmap --add b.qcow2 bm0 && \
                  (qemu-io -f qcow2 -c 'write 0 64k' -c abort b.qcow2 >/dev/null 2>&1; true)";
    let t = Twin::new("resize-bitmap-in-use", &shell(in_use));
    t.run(&["resize", "b.qcow2", "+1M"]);
    t.run(&["resize", "--shrink", "b.qcow2", "--", "-1M"]);

    let t = Twin::new("resize-refusals", &shell("qemu-img create -q -f qcow2 a.qcow2 64M"));
    for args in [
        &["resize", "a.qcow2", "--", "-1M"][..],
        &["resize", "--preallocation=metadata", "a.qcow2", "64M"],
        &["resize", "--preallocation=full", "--shrink", "a.qcow2", "1M"],
        &["resize", "a.qcow2", "--", "-64M"],
        &["resize", "a.qcow2", "--", "-8E"],
        &["resize", "a.qcow2", "0"],
        &["resize", "-f", "raw", "a.qcow2", "+0"],
        &["resize", "nonexistent.qcow2", "+1M"],
    ] {
        t.run(args);
    }
    assert!(t.identical("a.qcow2"));

    Twin::new("resize-backing-missing", &corpus_files(&["qcow2/backing-missing.qcow2"]))
        .run(&["resize", "backing-missing.qcow2", "+1M"]);
}
