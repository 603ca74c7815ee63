//! `commit` against qemu-img 10.0.2 on copies of the same chains: what both
//! print, the guest data of every layer, `qemu-img map` of every layer (the
//! emptied overlay above all), `qemu-img check` and `info` of the results.

use crate::support::{qemu_img, qimg, Holder, Run};
use crate::twin::{check, corpus_files, shell, Twin};
use std::path::Path;
use std::process::Command;

const CHAIN: [&str; 3] = ["qcow2/chain-base.qcow2", "qcow2/chain-mid.qcow2", "qcow2/chain-top.qcow2"];

/// `qemu-img map --output=json` of an image (without opening its backing
/// files' locks).
fn map(dir: &Path, file: &str) -> String {
    let out = Command::new("qemu-img").args(["map", "-U", "--output=json", file]).current_dir(dir).output().expect("run map");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A map with the host offsets of lower layers left out: where a base
/// puts newly written clusters depends on the order of qemu's mirror
/// requests (zero writes free clusters before data writes land), which
/// qimg does not mimic. With `exact`, entries of the image itself (depth 0)
/// keep theirs.
fn map_shape(map: &str, exact: bool) -> String {
    let mut shaped: Vec<(u64, u64, String)> = Vec::new();
    for l in map.lines() {
        let l = l.trim_start_matches('[').trim_end_matches(']').trim_end_matches(',');
        let line = match (exact && l.contains("\"depth\": 0,"), l.find(", \"offset\"")) {
            (false, Some(i)) => format!("{}}}", &l[..i]),
            _ => l.to_string(),
        };
        let field = |name: &str| -> Option<u64> {
            let at = line.find(&format!("\"{name}\": "))? + name.len() + 4;
            line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        };
        let (Some(start), Some(length)) = (field("start"), field("length")) else {
            shaped.push((0, 0, line));
            continue;
        };
        let rest = line[line.find("\"depth\"").unwrap_or(0)..].to_string();
        // Runs of lower layers split where the host file's extents do (the
        // file system's business): joined when nothing else differs.
        match shaped.last_mut() {
            Some((s, len, r)) if *r == rest && *s + *len == start && !rest.contains("\"offset\"") => *len += length,
            _ => shaped.push((start, length, rest)),
        }
    }
    shaped.iter().map(|(s, l, r)| format!("{s} {l} {r}")).collect::<Vec<_>>().join("\n")
}

/// Asserts that every image of `files` (format, name) is alike in both
/// directories: guest data, check, info and map.
fn same_images(t: &Twin, files: &[(&str, &str)]) {
    // The first image (the overlay) must have qemu's layout exactly; the
    // images below, qemu's content (see `map_shape` on their layout).
    for (i, (fmt, file)) in files.iter().enumerate() {
        let layout = if i == 0 { &[][..] } else { &["file length", "Image end offset", "fragmented"][..] };
        t.assert_same_image(file, fmt, layout);
        let exact = i == 0;
        assert_eq!(map_shape(&map(&t.qimg, file), exact), map_shape(&map(&t.qemu, file), exact), "map of {file}");
        let (a, b) = (check(&t.qemu, file), check(&t.qimg, file));
        let lines = |r: &Run| r.stdout.lines().filter(|l| !layout.iter().any(|s| l.contains(s))).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(lines(&b), lines(&a), "check of {file}");
    }
}

/// Runs `commit ARGS` with both tools on twin copies made by `prepare`,
/// compares their output and every image of `files`.
fn commit_alike(label: &str, prepare: &dyn Fn(&Path), args: &[&str], files: &[(&str, &str)]) -> Run {
    let t = Twin::new(label, prepare);
    let mut argv = vec!["commit"];
    argv.extend_from_slice(args);
    let run = t.run(&argv);
    same_images(&t, files);
    run
}

const CHAIN_FILES: [(&str, &str); 3] =
    [("qcow2", "chain-top.qcow2"), ("qcow2", "chain-mid.qcow2"), ("qcow2", "chain-base.qcow2")];

#[test]
fn into_the_immediate_backing_file_and_empty_the_top() {
    let r = commit_alike("commit-chain", &corpus_files(&CHAIN), &["chain-top.qcow2"], &CHAIN_FILES);
    assert_eq!(r.stdout, "Image committed.\n");
    // Then the middle one into the base: a two-deep commit of what the first left.
    let t = Twin::new("commit-chain-twice", &corpus_files(&CHAIN));
    t.run(&["commit", "chain-top.qcow2"]);
    t.run(&["commit", "-q", "chain-mid.qcow2"]);
    same_images(&t, &CHAIN_FILES);
}

#[test]
fn drop_keeps_the_top() {
    commit_alike("commit-drop", &corpus_files(&CHAIN), &["-d", "chain-top.qcow2"], &CHAIN_FILES);
}

#[test]
fn into_a_deeper_base() {
    commit_alike("commit-base", &corpus_files(&CHAIN), &["-b", "chain-base.qcow2", "chain-top.qcow2"], &CHAIN_FILES);
    commit_alike("commit-base-mid", &corpus_files(&CHAIN), &["-b", "chain-mid.qcow2", "-t", "unsafe", "chain-top.qcow2"], &CHAIN_FILES);
}

#[test]
fn into_a_raw_base() {
    let prepare = shell(
        "qemu-img create -q -f raw base.raw 4M && qemu-io -f raw -c 'write -P 1 0 1M' base.raw >/dev/null && \
         qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 && \
         qemu-io -c 'write -P 2 512k 1M' -c 'write -z 3M 128k' -c 'write -P 3 3584k 4k' top.qcow2 >/dev/null",
    );
    commit_alike("commit-raw", &prepare, &["top.qcow2"], &[("qcow2", "top.qcow2"), ("raw", "base.raw")]);
}

#[test]
fn a_smaller_base_is_grown() {
    let prepare = shell(
        "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 1 0 1M' base.qcow2 >/dev/null && \
         qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 5M && \
         qemu-io -c 'write -P 2 768k 1M' -c 'write -P 3 4M 64k' top.qcow2 >/dev/null",
    );
    commit_alike("commit-grow", &prepare, &["top.qcow2"], &[("qcow2", "top.qcow2"), ("qcow2", "base.qcow2")]);
    let prepare = shell(
        "qemu-img create -q -f raw base.raw 1M && qemu-io -f raw -c 'write -P 1 0 1M' base.raw >/dev/null && \
         qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 3M && \
         qemu-io -c 'write -P 3 2M 64k' top.qcow2 >/dev/null",
    );
    commit_alike("commit-grow-raw", &prepare, &["top.qcow2"], &[("qcow2", "top.qcow2"), ("raw", "base.raw")]);
}

#[test]
fn tops_that_cannot_be_reset_are_discarded() {
    // Version 2, and an internal snapshot: qemu discards every cluster.
    let v2 = shell(
        "qemu-img create -q -f qcow2 base.qcow2 4M && qemu-io -c 'write -P 1 0 2M' base.qcow2 >/dev/null && \
         qemu-img create -q -f qcow2 -o compat=0.10 -b base.qcow2 -F qcow2 top.qcow2 && \
         qemu-io -c 'write -P 2 512k 1M' -c 'write -z 3M 64k' top.qcow2 >/dev/null",
    );
    commit_alike("commit-v2", &v2, &["top.qcow2"], &[("qcow2", "top.qcow2"), ("qcow2", "base.qcow2")]);
    let snap = shell(
        "qemu-img create -q -f qcow2 base.qcow2 4M && qemu-io -c 'write -P 1 0 2M' base.qcow2 >/dev/null && \
         qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && \
         qemu-io -c 'write -P 2 512k 1M' top.qcow2 >/dev/null && qemu-img snapshot -c s1 top.qcow2 && \
         qemu-io -c 'write -P 4 1M 64k' top.qcow2 >/dev/null",
    );
    commit_alike("commit-snapshot", &snap, &["top.qcow2"], &[("qcow2", "top.qcow2"), ("qcow2", "base.qcow2")]);
}

/// What `-p` printed, with runs of the same line collapsed (qemu prints a
/// line per job iteration, how many depends on timing).
fn progress_lines(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout.split('\r').map(str::to_string).collect();
    lines.dedup();
    lines
}

#[test]
fn progress_starts_at_zero_and_ends_at_one_hundred() {
    let t = Twin::new("commit-progress", &corpus_files(&CHAIN));
    let args = ["commit", "-p", "-r", "1G", "chain-top.qcow2"];
    let (a, b) = (qemu_img(&t.qemu, &args), qimg(&t.qimg, &args));
    assert_eq!((b.code, &b.stderr), (a.code, &a.stderr));
    let (la, lb) = (progress_lines(&a.stdout), progress_lines(&b.stdout));
    assert_eq!(lb.first(), la.first(), "qemu-img: {la:?}\nqimg: {lb:?}");
    assert_eq!(lb[lb.len() - 2..], la[la.len() - 2..], "qemu-img: {la:?}\nqimg: {lb:?}");
    assert_eq!(lb.last().map(String::as_str), Some("\nImage committed.\n"));
    for l in &lb[..lb.len() - 1] {
        assert!(l.starts_with("    (") && l.ends_with("/100%)"), "{l:?}");
    }
    same_images(&t, &CHAIN_FILES);
}

#[test]
fn errors_as_qemu() {
    let t = Twin::new(
        "commit-errors",
        &shell(
            "qemu-img create -q -f qcow2 alone.qcow2 1M && qemu-img create -q -f raw r.raw 1M && \
             qemu-img create -q -f qcow2 base.qcow2 1M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2",
        ),
    );
    t.run(&["commit", "alone.qcow2"]);
    t.run(&["commit", "-p", "alone.qcow2"]);
    t.run(&["commit", "-p", "r.raw"]);
    t.run(&["commit", "-q", "-f", "raw", "r.raw"]);
    t.run(&["commit", "-b", "nonexist.qcow2", "top.qcow2"]);
    t.run(&["commit", "-b", "top.qcow2", "top.qcow2"]);
    t.run(&["commit", "-p", "-b", "nope", "top.qcow2"]);
    t.run(&["commit", "missing.qcow2"]);
    t.run(&["commit", "-t", "bogus", "top.qcow2"]);
    t.run(&["commit", "-f", "qcow2", "-b", "base.qcow2", "top.qcow2"]);
}

#[test]
fn locked_images() {
    let prepare = shell(
        "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && \
         qemu-io -c 'write -P 2 0 64k' top.qcow2 >/dev/null",
    );
    let t = Twin::new("commit-locked", &prepare);
    for (file, read_only) in [("top.qcow2", false), ("base.qcow2", false), ("base.qcow2", true)] {
        let held = [Holder::open(&t.qemu, file, read_only), Holder::open(&t.qimg, file, read_only)];
        let r = t.run(&["commit", "top.qcow2"]);
        held.into_iter().for_each(Holder::release);
        assert_eq!(r.code, 1, "{file}: {r:?}");
    }
    same_images(&t, &[("qcow2", "top.qcow2"), ("qcow2", "base.qcow2")]);
}
