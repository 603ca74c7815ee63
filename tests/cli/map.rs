//! `map` prints what qemu-img prints: every raw and qcow2 corpus image in
//! both output formats, ranges, errors, locks, and images made here with
//! qemu-io (zero writes, discards, compressed writes, subclusters, data
//! files, short backing files).

use crate::corpus;
use crate::support::{create, qemu_io, same, scratch, tool, Holder};
use std::path::Path;

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned()
}

/// Runs `map` in both formats, with `-f` and `-U` variants.
fn all_forms(dir: &Path, name: &str, format: Option<&str>) {
    same(dir, &["map", name]);
    same(dir, &["map", "--output=json", name]);
    if let Some(f) = format {
        same(dir, &["map", "-f", f, "--output", "json", name]);
        same(dir, &["map", "-U", "-f", f, name]);
    }
}

#[test]
fn every_raw_and_qcow2_corpus_image() {
    let dir = corpus::dir();
    let images: Vec<_> = corpus::entries().into_iter().filter(|e| e.format == "raw" || e.format == "qcow2").collect();
    assert!(images.len() > 40);
    for e in &images {
        let name = rel(&dir, &e.path);
        all_forms(&dir, &name, Some(&e.format));
    }
}

#[test]
fn ranges() {
    let dir = corpus::dir();
    let ranges: &[&[&str]] = &[
        &["--start-offset", "100M"],
        &["--start-offset", "64M"],
        &["--start-offset", "1000", "--max-length", "70000"],
        &["--max-length", "0"],
        &["-s", "3M", "-l", "1"],
        &["-s", "3145729", "-l", "4k"],
        &["--start-offset", "1", "--max-length", "9223372036854775807"],
        &["--start-offset", "9223372036854775807"],
        &["--max-length", "9223372036854775807"],
        &["--max-length", "1E"],
        &["--start-offset", "-1"],
        &["--max-length", "8E"],
        &["--start-offset", "1.5k", "--max-length", "0x10000"],
        &["--max-length", "48M"],
    ];
    for image in ["qcow2/chain-top.qcow2", "raw/std.raw", "qcow2/overlay-larger.qcow2", "qcow2/compressed-mixed.qcow2"]
    {
        for r in ranges {
            for out in ["human", "json"] {
                let mut args = vec!["map", "--output", out];
                args.extend_from_slice(r);
                args.push(image);
                same(&dir, &args);
            }
        }
    }
}

#[test]
fn errors() {
    let dir = corpus::dir();
    for out in ["--output=human", "--output=json"] {
        same(&dir, &["map", out, "nonexistent.qcow2"]);
        same(&dir, &["map", out, "qcow2"]);
        same(&dir, &["map", out, "-f", "qcow2", "raw/std.raw"]);
        same(&dir, &["map", out, "-f", "foo", "raw/std.raw"]);
        same(&dir, &["map", out, "qcow2/backing-missing.qcow2"]);
        same(&dir, &["map", out, "broken/unaligned-l2.qcow2"]);
        same(&dir, &["map", out, "-f", "raw", "broken/unaligned-l2.qcow2"]);
        same(&dir, &["map", out, "qcow2/luks.qcow2"]);
    }
    same(&dir, &["map"]);
    same(&dir, &["map", "a", "b"]);
    same(&dir, &["map", "--output=xml", "raw/std.raw"]);
    // Compressed data: human output fails after the rows before it.
    same(&dir, &["map", "qcow2/compressed-mixed.qcow2"]);
    same(&dir, &["map", "--start-offset", "1M", "qcow2/compressed-mixed.qcow2"]);
    same(&dir, &["map", "--start-offset", "1M", "--max-length", "1M", "qcow2/compressed-mixed.qcow2"]);
}

#[test]
fn paths_from_other_directories() {
    let dir = corpus::dir();
    let parent = dir.parent().expect("corpus has a parent");
    let base = dir.file_name().unwrap().to_string_lossy().into_owned();
    same(parent, &["map", &format!("{base}/qcow2/chain-top.qcow2")]);
    same(parent, &["map", "--output=json", &format!("{base}/qcow2/backing-raw.qcow2")]);
    let abs = dir.join("qcow2/chain-mid.qcow2");
    same(&dir, &["map", abs.to_str().unwrap()]);
    same(&dir, &["map", "--output=json", abs.to_str().unwrap()]);
}

#[test]
fn images_written_with_qemu_io() {
    let dir = scratch("map-qemu-io");
    // Zero writes with and without unmapping, discards, over data.
    for (name, opts) in [("v3.qcow2", "compat=1.1"), ("v2.qcow2", "compat=0.10"), ("c4k.qcow2", "cluster_size=4k")] {
        create(&dir, &["-f", "qcow2", "-o", opts, name, "16M"]);
        qemu_io(
            &dir,
            "qcow2",
            name,
            &[
                "write -P 1 0 1M",
                "write -z 64k 64k",
                "write -z -u 256k 128k",
                "discard 512k 64k",
                "write -z 2M 1M",
                "write -P 2 4M 4k",
                "write -P 3 5M 512",
                "write -c -P 4 6M 64k",
                "write -P 5 8M 2M",
                "write -z 9M 64k",
            ],
        );
        same(&dir, &["map", "--output=json", name]);
        same(&dir, &["map", name]);
        same(&dir, &["map", "--max-length", "6M", name]);
    }
    // Raw: holes, data, zero writes (punched or written), odd sizes.
    create(&dir, &["-f", "raw", "r.raw", "8M"]);
    qemu_io(&dir, "raw", "r.raw", &["write -P 1 1M 64k", "write -z 1M 4k", "write -P 2 3M 5k", "discard 3M 4k"]);
    std::fs::write(dir.join("odd.raw"), vec![7u8; 12345]).unwrap();
    for name in ["r.raw", "odd.raw"] {
        all_forms(&dir, name, Some("raw"));
    }
}

#[test]
fn backing_chains() {
    let dir = scratch("map-chains");
    create(&dir, &["-f", "raw", "base.raw", "4M"]);
    qemu_io(&dir, "raw", "base.raw", &["write -P 1 0 1M", "write -P 2 3M 1M"]);
    create(&dir, &["-f", "qcow2", "-b", "base.raw", "-F", "raw", "mid.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "mid.qcow2", &["write -P 3 512k 64k", "write -z 3M 64k", "write -P 4 5M 64k"]);
    create(&dir, &["-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "12M"]);
    qemu_io(&dir, "qcow2", "top.qcow2", &["write -P 5 0 64k", "write -z -u 5M 64k", "write -P 6 10M 64k"]);
    // A shorter overlay on a longer backing file.
    create(&dir, &["-f", "qcow2", "-b", "top.qcow2", "-F", "qcow2", "short.qcow2", "2M"]);
    for name in ["mid.qcow2", "top.qcow2", "short.qcow2"] {
        all_forms(&dir, name, Some("qcow2"));
        same(&dir, &["map", "--output=json", "--start-offset", "3M", name]);
    }
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    create(&dir, &["-f", "qcow2", "-b", "../top.qcow2", "-F", "qcow2", "sub/over.qcow2", "12M"]);
    all_forms(&dir, "sub/over.qcow2", Some("qcow2"));
}

#[test]
fn external_data_files() {
    let dir = scratch("map-data-file");
    create(&dir, &["-f", "qcow2", "-o", "data_file=d.data", "d.qcow2", "8M"]);
    create(&dir, &["-f", "qcow2", "-o", "data_file=r.data,data_file_raw=on", "r.qcow2", "8M"]);
    for name in ["d.qcow2", "r.qcow2"] {
        qemu_io(
            &dir,
            "qcow2",
            name,
            &["write -P 1 0 64k", "write -P 2 1M 128k", "write -z 1M 64k", "write -z -u 4M 64k"],
        );
        all_forms(&dir, name, Some("qcow2"));
    }
}

#[test]
fn compressed_writes() {
    let dir = scratch("map-compressed");
    for opts in ["compression_type=zlib", "compression_type=zstd", "cluster_size=4k"] {
        create(&dir, &["-f", "qcow2", "-o", opts, "c.qcow2", "4M"]);
        qemu_io(&dir, "qcow2", "c.qcow2", &["write -P 9 0 64k", "write -c -P 1 1M 64k", "write -c -P 2 1088k 64k"]);
        same(&dir, &["map", "c.qcow2"]);
        same(&dir, &["map", "--output=json", "c.qcow2"]);
        same(&dir, &["map", "--max-length", "1M", "c.qcow2"]);
    }
}

#[test]
fn subclusters_of_whole_clusters() {
    // Extended L2 without partly written clusters: only allocated and zero
    // subclusters (the unallocated ones of allocated clusters need the driver).
    let dir = scratch("map-subclusters");
    create(&dir, &["-f", "qcow2", "-o", "extended_l2=on", "x.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "x.qcow2", &["write -P 1 0 128k", "write -z 4k 8k", "write -z 64k 2k", "write -z -u 1M 6k"]);
    all_forms(&dir, "x.qcow2", Some("qcow2"));
}

/// Unallocated subclusters of allocated clusters show their reserved host offset.
#[test]
fn qcow2_subcluster_gaps() {
    let dir = corpus::dir();
    same(&dir, &["map", "--output=json", "qcow2/extended-l2.qcow2"]);
    let dir = scratch("map-subcluster-gaps");
    create(&dir, &["-f", "qcow2", "-o", "extended_l2=on", "g.qcow2", "8M"]);
    qemu_io(&dir, "qcow2", "g.qcow2", &["write -P 1 2k 2k", "write -P 2 70k 10k"]);
    same(&dir, &["map", "--output=json", "g.qcow2"]);
}

#[test]
fn preallocated_images() {
    let dir = scratch("map-prealloc");
    for p in ["metadata", "falloc", "full"] {
        let name = format!("{p}.qcow2");
        create(&dir, &["-f", "qcow2", "-o", &format!("preallocation={p}"), &name, "4M"]);
        qemu_io(&dir, "qcow2", &name, &["write -P 1 64k 64k", "write -z 1M 64k"]);
        all_forms(&dir, &name, Some("qcow2"));
    }
}

#[test]
fn large_sparse_images() {
    // Answers that stop at L2 tables (4k clusters: 2 MiB per table) and at
    // 2 GiB (2M clusters), merged back by map.
    let dir = scratch("map-large");
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=4k", "a.qcow2", "64M"]);
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=2M", "b.qcow2", "9G"]);
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=512", "c.qcow2", "4M"]);
    qemu_io(&dir, "qcow2", "a.qcow2", &["write -P 1 1M 4M", "write -P 2 30M 4k"]);
    qemu_io(&dir, "qcow2", "b.qcow2", &["write -P 1 5G 64k"]);
    qemu_io(&dir, "qcow2", "c.qcow2", &["write -P 1 0 100k", "write -P 2 1M 512"]);
    for name in ["a.qcow2", "b.qcow2", "c.qcow2"] {
        all_forms(&dir, name, Some("qcow2"));
    }
}

#[test]
fn locks_exclude_a_running_writer() {
    let dir = scratch("map-locks");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "lk.qcow2", "1M"]);
    let holder = Holder::open(&dir, "lk.qcow2", false);
    same(&dir, &["map", "lk.qcow2"]);
    same(&dir, &["map", "-U", "lk.qcow2"]);
    same(&dir, &["map", "-U", "--output=json", "lk.qcow2"]);
    holder.release();
    same(&dir, &["map", "lk.qcow2"]);
}
