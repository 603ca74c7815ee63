//! `amend` against qemu-img on copies of the same images: same output and
//! exit code, same guest data, `check` and `info` of the results, and the
//! same bytes where qimg reproduces qemu's layout (everywhere but images
//! with persistent bitmaps, which qemu moves on every read-write open).

use crate::twin::{corpus_files, shell, Twin};

const ALLOCATION: &[&str] = &["disk size", "file length"];

fn compare_corpus(image: &str, opts: &str) {
    let file = format!("{image}.qcow2");
    let label = format!("amend-{image}-{}", opts.replace([',', '='], "-"));
    let t = Twin::new(&label, &corpus_files(&[&format!("qcow2/{file}")]));
    t.run(&["amend", "-o", opts, &file]);
    let bitmaps = image == "bitmaps";
    t.assert_same_image(&file, "qcow2", if bitmaps { ALLOCATION } else { &[] });
    assert!(bitmaps || t.identical(&file), "{label}: different bytes");
}

#[test]
fn compat_changes() {
    let images = [
        "v3-std", "v2-std", "cluster-512", "cluster-4k", "lazy-refcounts", "prealloc-metadata", "extended-l2",
        "compressed-zlib", "compressed-zstd", "compressed-v2", "zero-clusters", "zero-clusters-v2", "discarded",
        "snapshots", "snapshots-v2", "resized", "empty", "bitmaps", "refcount-8",
    ];
    for image in images {
        for opts in ["compat=0.10", "compat=1.1", "compat=v2", "compat=0.10,refcount_bits=16", "compat=1.1,lazy_refcounts=on"] {
            compare_corpus(image, opts);
        }
    }
}

#[test]
fn refcount_width_changes() {
    for image in ["v3-std", "cluster-512", "snapshots", "compressed-zlib", "zero-clusters", "refcount-8", "empty"] {
        for bits in ["1", "2", "8", "32", "64", "16"] {
            compare_corpus(image, &format!("refcount_bits={bits}"));
        }
    }
    compare_corpus("v2-std", "compat=1.1,refcount_bits=4");
}

#[test]
fn header_options() {
    for image in ["v3-std", "lazy-refcounts", "v2-std", "snapshots", "empty"] {
        for opts in [
            "lazy_refcounts=on",
            "lazy_refcounts=off",
            "data_file_raw=off",
            "size=100M",
            "size=32M",
            "size=0",
            "size=1000",
            "size=8E",
            "compat=0.10,size=128M",
            "compat=0.10,lazy_refcounts=on",
            "lazy_refcounts=on,compat=0.10",
        ] {
            compare_corpus(image, opts);
        }
    }
}

/// Zero clusters over a backing file become data clusters of zeros when
/// downgrading; without one they are dropped.
#[test]
fn downgrade_over_a_backing_chain() {
    let t = Twin::new(
        "amend-chain",
        &corpus_files(&["qcow2/chain-top.qcow2", "qcow2/chain-mid.qcow2", "qcow2/chain-base.qcow2"]),
    );
    t.run(&["amend", "-o", "compat=0.10", "chain-top.qcow2"]);
    t.assert_same_image("chain-top.qcow2", "qcow2", &[]);
    assert!(t.identical("chain-top.qcow2"));
    let made = "qemu-img create -q -f qcow2 base.qcow2 4M && qemu-io -f qcow2 -c 'write -P 0x11 0 4M' base.qcow2 >/dev/null && \
                qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 o.qcow2 4M && \
                qemu-io -f qcow2 -c 'write -z 0 64k' -c 'write -P 0x22 64k 64k' -c 'write -z 64k 64k' -c 'write -z -u 1M 128k' o.qcow2 >/dev/null";
    let t = Twin::new("amend-zero-over-backing", &shell(made));
    t.run(&["amend", "-o", "compat=0.10", "o.qcow2"]);
    t.assert_same_image("o.qcow2", "qcow2", &[]);
    assert!(t.identical("o.qcow2"));
}

#[test]
fn data_file_options() {
    let made = "qemu-img create -q -f qcow2 -o data_file=o.data,data_file_raw=on o.qcow2 8M && \
                qemu-io -f qcow2 -c 'write -P 0x22 0 100k' o.qcow2 >/dev/null";
    for opts in ["data_file_raw=off", "data_file=other.data", "data_file_raw=on", "compat=0.10", "data_file=o.data,size=16M"] {
        let label = format!("amend-data-file-{}", opts.replace([',', '='], "-"));
        let t = Twin::new(&label, &shell(made));
        t.run(&["amend", "-o", opts, "o.qcow2"]);
        assert!(t.identical("o.qcow2") && t.identical("o.data"), "{label}: different bytes");
    }
}

#[test]
fn refusals_match_qemu_img() {
    let t = Twin::new("amend-refusals", &shell("qemu-img create -q -f qcow2 a.qcow2 64M && qemu-img create -q -f raw r.raw 1M"));
    for opts in [
        "cluster_size=4k",
        "extended_l2=on",
        "preallocation=full",
        "compat=0.9",
        "refcount_bits=3",
        "refcount_bits=0",
        "refcount_bits=128",
        "refcount_bits=4294967312",
        "data_file=x",
        "data_file_raw=on",
        "backing_file=x",
        "backing_fmt=raw",
        "backing_file=",
        "encrypt.keyslot=1",
        "encrypt.new-secret=s,compat=0.9",
        "bogus=1",
        "bogus=1,cluster_size=4k",
        "lazy_refcounts=maybe",
        "size=1x",
        "size=1x,cluster_size=4k",
        "help",
        "?",
    ] {
        t.run(&["amend", "-o", opts, "a.qcow2"]);
    }
    t.run(&["amend", "-o", "help", "r.raw"]);
    t.run(&["amend", "-f", "raw", "-o", "size=2M", "r.raw"]);
    t.run(&["amend", "-o", "size=2M", "r.raw"]);
    t.run(&["amend", "-o", "size=2M", "nonexistent.qcow2"]);
    t.run(&["amend", "-p", "-o", "compat=0.9", "a.qcow2"]);
    assert!(t.identical("a.qcow2") && t.identical("r.raw"));

    for (image, opts) in [
        ("refcount-8", "compat=0.10"),
        ("compressed-zstd", "compat=0.10"),
        ("extended-l2", "compat=0.10"),
        ("refcount-64", "refcount_bits=1"),
        ("v2-std", "lazy_refcounts=on"),
        ("v2-std", "refcount_bits=8"),
        ("v2-std", "refcount_bits=16"),
    ] {
        compare_corpus(image, opts);
    }
    let t = Twin::new(
        "amend-backing",
        &shell("qemu-img create -q -f qcow2 base.qcow2 4M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 o.qcow2"),
    );
    for opts in ["backing_file=base.qcow2,backing_fmt=qcow2", "backing_file=base.qcow2", "backing_fmt=qcow2", "backing_file=x,backing_fmt=qcow2"] {
        t.run(&["amend", "-o", opts, "o.qcow2"]);
    }
    assert!(t.identical("o.qcow2"));
}

#[test]
fn progress_output_matches() {
    for (image, opts) in [("zero-clusters", "compat=0.10"), ("v3-std", "refcount_bits=1"), ("v2-std", "compat=1.1,refcount_bits=64")] {
        let file = format!("{image}.qcow2");
        let t = Twin::new(&format!("amend-progress-{image}"), &corpus_files(&[&format!("qcow2/{file}")]));
        t.run(&["amend", "-p", "-o", opts, &file]);
        assert!(t.identical(&file));
    }
}
