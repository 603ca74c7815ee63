//! `measure` prints qemu-img's numbers: for `--size` with every qcow2 create
//! option (cluster sizes, extended L2, refcount widths, preallocation, LUKS
//! encryption), raw and luks targets; for every raw and qcow2 corpus image
//! (holes, backing chains, compression, zero clusters, data files), with
//! `-l` snapshots and persistent bitmaps; and qemu's errors.

use crate::corpus;
use crate::support::{create, qemu_io, same, scratch, tool};
use std::path::Path;

/// A secret for the LUKS options; `iter-time=1` keeps qemu's key derivation short.
const SECRET: &str = "secret,id=sec0,data=x";

#[test]
fn sizes_and_qcow2_options() {
    let dir = scratch("measure-sizes");
    let options = [
        "",
        "compat=0.10",
        "compat=1.1",
        "cluster_size=512",
        "cluster_size=4k",
        "cluster_size=2M",
        "cluster_size=16k,extended_l2=on",
        "cluster_size=2M,extended_l2=on",
        "refcount_bits=1",
        "refcount_bits=8",
        "refcount_bits=64,cluster_size=512",
        "preallocation=off",
        "preallocation=metadata",
        "preallocation=falloc",
        "preallocation=full,cluster_size=2M",
        "lazy_refcounts=on,compression_type=zstd",
        "backing_file=x,backing_fmt=qcow2",
        "encrypt.format=aes",
        "encryption=on",
        "data_file=d.raw,data_file_raw=on",
        "nocow=on,extent_size_hint=1M",
    ];
    for size in ["0", "1000", "64M", "1.5G", "100G", "1P"] {
        for o in options {
            let mut args = vec!["measure", "-O", "qcow2", "--size", size];
            if !o.is_empty() {
                args.extend(["-o", o]);
            }
            same(&dir, &args);
        }
        same(&dir, &["measure", "--size", size]);
        same(&dir, &["measure", "-O", "raw", "--output=json", "--size", size]);
        same(&dir, &["measure", "-O", "qcow2", "--output=json", "--size", size]);
    }
    // --size wins over -o size; -o size alone works.
    same(&dir, &["measure", "-O", "qcow2", "-o", "size=1G", "--size", "2G"]);
    same(&dir, &["measure", "-O", "qcow2", "-o", "size=3G"]);
    same(&dir, &["measure", "-O", "raw", "-o", "size=1000"]);
}

#[test]
fn option_errors() {
    let dir = scratch("measure-option-errors");
    let bad = [
        "compat=v3",
        "compat=0.10,refcount_bits=8",
        "refcount_bits=7",
        "refcount_bits=128",
        "cluster_size=1000",
        "cluster_size=4M",
        "cluster_size=4k,extended_l2=on",
        "preallocation=bogus",
        "bogus=1",
        "cluster_size=abc",
        "refcount_bits=x",
        "extended_l2=maybe",
        "help",
        "encrypt.format=luks",
    ];
    for o in bad {
        same(&dir, &["measure", "-O", "qcow2", "-o", o, "--size", "1G"]);
    }
    for size in ["2E", "8E", "-1", "1x"] {
        same(&dir, &["measure", "-O", "qcow2", "--size", size]);
    }
    same(&dir, &["measure", "-O", "qcow2", "-o", "cluster_size=512", "--size", "1T"]);
    same(&dir, &["measure", "-O", "raw", "-o", "preallocation=bogus", "--size", "1G"]);
    for fmt in ["vdi", "vmdk", "qcow", "nope", "dmg", "file"] {
        same(&dir, &["measure", "-O", fmt, "--size", "1G"]);
    }
    same(&dir, &["measure"]);
    same(&dir, &["measure", "--size", "1G", "x"]);
    same(&dir, &["measure", "-f", "qcow2", "--size", "1G"]);
    same(&dir, &["measure", "-l", "s", "--size", "1G"]);
    same(&dir, &["measure", "a", "b"]);
    same(&dir, &["measure", "--output=xml", "--size", "1G"]);
    same(&dir, &["measure", "nonexistent.qcow2"]);
}

/// qemu benchmarks its key derivation for seconds on every LUKS layout it
/// computes, so the successful cases are few; errors come before that.
#[test]
fn luks_overhead() {
    let dir = scratch("measure-luks");
    let ok = [
        "key-secret=sec0,iter-time=1",
        "key-secret=sec0,iter-time=1,cipher-alg=aes-128,cipher-mode=cbc",
        "key-secret=sec0,iter-time=1,cipher-alg=serpent-192,hash-alg=sha512",
        "key-secret=sec0,iter-time=1,ivgen-alg=essiv,ivgen-hash-alg=md5,cipher-alg=aes-128",
    ];
    let errors = [
        "iter-time=1",
        "key-secret=sec1,iter-time=1",
        "key-secret=sec0,cipher-alg=bogus",
        "key-secret=sec0,cipher-mode=bogus",
        "key-secret=sec0,hash-alg=bogus",
        "key-secret=sec0,iter-time=1,cipher-alg=des",
        "key-secret=sec0,iter-time=1,cipher-alg=cast5-128",
        "key-secret=sec0,iter-time=1,ivgen-alg=essiv,ivgen-hash-alg=sha512",
        "key-secret=sec0,iter-time=1,ivgen-alg=essiv,cipher-alg=cast5-128,cipher-mode=cbc",
        "key-secret=sec0,iter-time=1,detached-header=on",
        "key-secret=sec0,iter-time=abc",
    ];
    for o in ok.iter().chain(errors.iter()) {
        same(&dir, &["measure", "--object", SECRET, "-O", "luks", "-o", o, "--size", "1G"]);
    }
    for o in ok[1..2].iter().chain(errors.iter()) {
        let prefixed: Vec<String> = o.split(',').map(|kv| format!("encrypt.{kv}")).collect();
        let q = format!("cluster_size=2M,encrypt.format=luks,{}", prefixed.join(","));
        same(&dir, &["measure", "--object", SECRET, "-O", "qcow2", "-o", &q, "--size", "10M"]);
    }
    same(&dir, &["measure", "-O", "luks", "--size", "1G"]);
    same(&dir, &["measure", "-O", "luks", "-o", "key-secret=sec0", "--size", "1G"]);
}

#[test]
fn every_raw_and_qcow2_corpus_image() {
    let dir = corpus::dir();
    let images: Vec<_> = corpus::entries().into_iter().filter(|e| e.format == "raw" || e.format == "qcow2").collect();
    assert!(images.len() > 40);
    let targets: &[&[&str]] = &[
        &["-O", "qcow2"],
        &["-O", "raw"],
        &["--output=json", "-O", "qcow2", "-o", "cluster_size=512"],
        &["-O", "qcow2", "-o", "cluster_size=2M,extended_l2=on"],
        &["-O", "qcow2", "-o", "compat=0.10,preallocation=metadata"],
        &["-O", "qcow2", "-o", "backing_file=b.qcow2"],
    ];
    for e in &images {
        let name = e.path.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        for t in targets {
            let mut args = vec!["measure", "-f", e.format.as_str()];
            args.extend_from_slice(t);
            args.push(&name);
            same(&dir, &args);
        }
        // Probed, read-only-shared.
        same(&dir, &["measure", "-U", "-O", "qcow2", &name]);
    }
}

#[test]
fn snapshots() {
    let dir = corpus::dir();
    for l in ["1", "2", "snap1", "snap2", "snapshot.id=1", "snapshot.name=snap2", "snapshot.id=2,snapshot.name=snap2"] {
        for image in ["qcow2/snapshots.qcow2", "qcow2/snapshots-v2.qcow2"] {
            same(&dir, &["measure", "-O", "qcow2", "-l", l, image]);
            same(&dir, &["measure", "--output=json", "-O", "raw", "-l", l, image]);
        }
    }
    for l in ["nope", "snapshot.id=1,snapshot.name=snap2", "snapshot.name=first", "snapshot.bogus=1"] {
        same(&dir, &["measure", "-O", "qcow2", "-l", l, "qcow2/snapshots.qcow2"]);
    }
    same(&dir, &["measure", "-O", "qcow2", "-l", "1", "qcow2/v3-std.qcow2"]);
    same(&dir, &["measure", "-O", "qcow2", "-l", "1", "-f", "raw", "raw/std.raw"]);
}

/// Bitmaps of several granularities and name lengths, one of them in use.
fn bitmap_images(dir: &Path) {
    create(dir, &["-f", "qcow2", "bm.qcow2", "100M"]);
    for (g, name) in [("512", "fine"), ("64k", "default-granularity"), ("2M", "c"), ("2G", "huge")] {
        tool(dir, "qemu-img", &["bitmap", "--add", "-g", g, "bm.qcow2", name]);
    }
    qemu_io(dir, "qcow2", "bm.qcow2", &["write -P 1 0 3M", "write -P 2 50M 64k"]);
    tool(dir, "qemu-img", &["bitmap", "--disable", "bm.qcow2", "c"]);
    tool(dir, "qemu-img", &["convert", "-O", "qcow2", "bm.qcow2", "in-use.qcow2"]);
    tool(dir, "qemu-img", &["bitmap", "--add", "in-use.qcow2", "left-open"]);
    // qemu-io opens the image read-write (marking the bitmap in use) and dies.
    let status = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write 0 64k", "-c", "abort", "in-use.qcow2"])
        .current_dir(dir)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn bitmaps() {
    let dir = scratch("measure-bitmaps");
    bitmap_images(&dir);
    for image in ["bm.qcow2", "in-use.qcow2"] {
        for cs in ["512", "4k", "64k", "2M"] {
            same(&dir, &["measure", "-O", "qcow2", "-o", &format!("cluster_size={cs}"), image]);
            same(&dir, &["measure", "--output=json", "-O", "qcow2", "-o", &format!("cluster_size={cs}"), image]);
        }
        same(&dir, &["measure", "-O", "qcow2", "-o", "compat=0.10", image]);
        same(&dir, &["measure", "-O", "raw", image]);
        same(&dir, &["measure", "-O", "qcow2", "-f", "raw", image]);
    }
    let corpus = corpus::dir();
    same(&corpus, &["measure", "--output=json", "-O", "qcow2", "qcow2/bitmaps.qcow2"]);
}

#[test]
fn encrypted_sources_and_image_opts() {
    let dir = corpus::dir();
    let s = "secret,id=sec0,data=corpus-secret";
    let opened: &[&str] = &[
        "driver=qcow2,file.filename=qcow2/luks.qcow2,encrypt.key-secret=sec0",
        "driver=qcow2,file.filename=qcow2/aes.qcow2,encrypt.key-secret=sec0",
        "driver=luks,file.filename=luks/std.luks,key-secret=sec0",
        "driver=qcow2,file.filename=qcow2/luks.qcow2",
        "driver=qcow2,file.filename=qcow2/bitmaps.qcow2",
        "file.filename=qcow2/bitmaps.qcow2",
        "qcow2/bitmaps.qcow2",
    ];
    for o in opened {
        same(&dir, &["measure", "--object", s, "--image-opts", o, "-O", "qcow2"]);
        same(&dir, &["measure", "--object", s, "--output=json", "--image-opts", o, "-O", "raw"]);
    }
    same(&dir, &["measure", "--image-opts", "-f", "qcow2", "qcow2/bitmaps.qcow2"]);
    same(&dir, &["measure", "qcow2/luks.qcow2"]);
    same(&dir, &["measure", "--object", "secret,id=s,file=/nonexistent", "--size", "1G"]);
}
