//! `rebase` against qemu-img on copies of the same chains: same output and
//! exit code, same guest data, backing file lines, allocation (`map`) and
//! `check` results.

use crate::corpus;
use crate::support::{create, qemu_img, qemu_io, qimg, same, scratch, tool, Run};
use std::path::Path;

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for e in std::fs::read_dir(from).expect("read directory") {
        let e = e.expect("directory entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

/// What qemu-img says of an image after a rebase: allocation, backing
/// lines of `info`, `check` output and guest data.
fn describe(dir: &Path, image: &str) -> (String, String, Run, String) {
    let map = qemu_img(dir, &["map", "--output=json", image]);
    let info = qemu_img(dir, &["info", "-U", image]);
    let backing: String = info.stdout.lines().filter(|l| l.contains("backing")).map(|l| format!("{l}\n")).collect();
    let check = qemu_img(dir, &["check", image]);
    (map.stdout + &map.stderr, backing, check, guest_sum(dir, image))
}

/// A checksum of an image's guest data (`convert -O raw`).
fn guest_sum(dir: &Path, image: &str) -> String {
    let raw = dir.join("guest.raw");
    let r = qemu_img(dir, &["convert", "-U", "-O", "raw", image, raw.to_str().expect("utf-8 path")]);
    if r.code != 0 {
        return r.stderr;
    }
    let sum = tool(dir, "md5sum", &["guest.raw"]);
    let _ = std::fs::remove_file(&raw);
    sum
}

/// Runs `rebase ARGS` with qemu-img and qimg in `cwd` of two copies of the
/// files `prepare` made, and compares everything about `overlay` afterwards.
/// Returns whether the overlay's guest data is what it was.
fn twin(name: &str, prepare: &dyn Fn(&Path), cwd: &str, overlay: &str, args: &[&str]) -> bool {
    let root = scratch(&format!("rebase-{name}"));
    let src = root.join("src");
    std::fs::create_dir_all(&src).expect("create src");
    prepare(&src);
    let before = guest_sum(&src, overlay);
    let (q, m) = (root.join("q"), root.join("m"));
    copy_tree(&src, &q);
    copy_tree(&src, &m);
    let mut argv = vec!["rebase"];
    argv.extend_from_slice(args);
    let expected = qemu_img(&q.join(cwd), &argv);
    let got = qimg(&m.join(cwd), &argv);
    assert_eq!(got, expected, "{name}: rebase {args:?}");
    let (dq, dm) = (describe(&q, overlay), describe(&m, overlay));
    assert_eq!(dm.1, dq.1, "{name}: backing file lines");
    assert_eq!(dm.2, dq.2, "{name}: qemu-img check");
    assert_eq!(dm.3, dq.3, "{name}: guest data");
    assert_eq!(dm.0, dq.0, "{name}: qemu-img map");
    dm.3 == before
}

/// The corpus chain (base <- mid <- top), and a raw copy of the base.
fn chain(d: &Path) {
    for n in ["chain-base", "chain-mid", "chain-top"] {
        std::fs::copy(corpus::dir().join(format!("qcow2/{n}.qcow2")), d.join(format!("{n}.qcow2"))).expect("copy");
    }
    tool(d, "qemu-img", &["convert", "-O", "raw", "chain-base.qcow2", "base.raw"]);
}

/// A small chain whose layers differ in size and clusters: base (4M, data
/// at 0..1M), mid over it (data at 512k..1.5M), top over mid (a write
/// inside one cluster), a 1M backing file `short` and overlays of it.
fn small(d: &Path) {
    create(d, &["-f", "qcow2", "base.qcow2", "4M"]);
    qemu_io(d, "qcow2", "base.qcow2", &["write -P 1 0 1M"]);
    create(d, &["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2"]);
    qemu_io(d, "qcow2", "mid.qcow2", &["write -P 2 512k 1M"]);
    create(d, &["-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2"]);
    qemu_io(d, "qcow2", "top.qcow2", &["write -P 3 100k 10k"]);
    create(d, &["-f", "qcow2", "short.qcow2", "1M"]);
    qemu_io(d, "qcow2", "short.qcow2", &["write -P 7 0 1M"]);
    create(d, &["-f", "qcow2", "-b", "short.qcow2", "-F", "qcow2", "over-short.qcow2", "4M"]);
    create(d, &["-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.qcow2", "-F", "qcow2", "small-clusters.qcow2", "6M"]);
    qemu_io(d, "qcow2", "small-clusters.qcow2", &["write -P 5 2M 8k"]);
    create(d, &["-f", "qcow2", "solo.qcow2", "4M"]);
    create(d, &["-f", "raw", "r.raw", "4M"]);
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    std::fs::create_dir_all(d.join("other")).expect("mkdir");
    for n in ["base.qcow2", "mid.qcow2", "top.qcow2"] {
        std::fs::copy(d.join(n), d.join("sub").join(n)).expect("copy");
    }
}

#[test]
fn safe_rebase_onto_the_corpus_base_keeps_the_guest_data() {
    assert!(twin("corpus-base", &chain, ".", "chain-top.qcow2", &["-b", "chain-base.qcow2", "-F", "qcow2", "chain-top.qcow2"]));
    assert!(twin("corpus-raw", &chain, ".", "chain-top.qcow2", &["-b", "base.raw", "-F", "raw", "chain-top.qcow2"]));
    assert!(twin("corpus-mid", &chain, ".", "chain-mid.qcow2", &["-p", "-b", "", "chain-mid.qcow2"]));
}

#[test]
fn safe_rebase_within_and_across_chains() {
    for (name, overlay, args) in [
        ("to-base", "top.qcow2", &["-b", "base.qcow2", "-F", "qcow2", "top.qcow2"][..]),
        ("to-base-progress", "top.qcow2", &["-p", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2"]),
        ("to-mid", "top.qcow2", &["-p", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2"]),
        ("to-short", "top.qcow2", &["-b", "short.qcow2", "-F", "qcow2", "top.qcow2"]),
        ("short-to-mid", "over-short.qcow2", &["-p", "-b", "mid.qcow2", "-F", "qcow2", "over-short.qcow2"]),
        ("solo-to-base", "solo.qcow2", &["-b", "base.qcow2", "-F", "qcow2", "solo.qcow2"]),
        ("small-clusters", "small-clusters.qcow2", &["-b", "short.qcow2", "-F", "qcow2", "small-clusters.qcow2"]),
        ("flatten", "top.qcow2", &["-b", "", "top.qcow2"]),
        ("flatten-ignores-F", "top.qcow2", &["-b", "", "-F", "raw", "top.qcow2"]),
        ("compressed", "top.qcow2", &["-c", "-b", "short.qcow2", "-F", "qcow2", "top.qcow2"]),
        ("flatten-compressed", "top.qcow2", &["-c", "-p", "-b", "", "top.qcow2"]),
        ("quiet", "top.qcow2", &["-q", "-p", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2"]),
    ] {
        assert!(twin(name, &small, ".", overlay, args), "{name}: guest data changed");
    }
}

#[test]
fn relative_names_resolve_against_the_overlay() {
    let args = ["-b", "base.qcow2", "-F", "qcow2", "../sub/top.qcow2"];
    assert!(twin("relative", &small, "other", "sub/top.qcow2", &args));
    let args = ["-b", "nonexist.qcow2", "-F", "qcow2", "../sub/top.qcow2"];
    twin("relative-missing", &small, "other", "sub/top.qcow2", &args);
}

#[test]
fn unsafe_mode_only_rewrites_the_reference() {
    for (name, args) in [
        ("unsafe", &["-u", "-b", "nonexist.qcow2", "-F", "qcow2", "top.qcow2"][..]),
        ("unsafe-remove", &["-u", "-b", "", "top.qcow2"]),
        ("unsafe-no-b", &["-u", "top.qcow2"]),
        ("unsafe-no-F", &["-u", "-b", "base.qcow2", "top.qcow2"]),
        ("unsafe-progress", &["-u", "-p", "-b", "base.qcow2", "-F", "raw", "top.qcow2"]),
    ] {
        twin(name, &small, ".", "top.qcow2", args);
    }
}

#[test]
fn errors_as_qemu_img() {
    for (name, overlay, args) in [
        // The quirk: data merged first, then the missing format refused.
        ("no-F", "top.qcow2", &["-b", "base.qcow2", "top.qcow2"][..]),
        ("no-F-progress", "top.qcow2", &["-p", "-b", "base.qcow2", "top.qcow2"]),
        ("missing-backing", "top.qcow2", &["-p", "-b", "nonexist", "-F", "qcow2", "top.qcow2"]),
        ("bad-format", "top.qcow2", &["-b", "base.qcow2", "-F", "foo", "top.qcow2"]),
        ("raw-overlay", "r.raw", &["-b", "base.qcow2", "-F", "qcow2", "r.raw"]),
        ("raw-overlay-unsafe", "r.raw", &["-f", "raw", "-u", "-b", "", "r.raw"]),
        ("raw-compress", "r.raw", &["-c", "-f", "raw", "-b", "base.qcow2", "-F", "raw", "r.raw"]),
        ("wrong-backing-format", "top.qcow2", &["-b", "r.raw", "-F", "qcow2", "top.qcow2"]),
    ] {
        twin(name, &small, ".", overlay, args);
    }
    let dir = scratch("rebase-usage");
    small(&dir);
    same(&dir, &["rebase", "top.qcow2"]);
    same(&dir, &["rebase", "-p", "-b", "x", "-F", "qcow2", "nonexist.qcow2"]);
}
