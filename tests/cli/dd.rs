//! `dd` against qemu-img on copies of the same images: same output, errors
//! and exit codes, and outputs with the same size, guest data, allocation
//! (`qemu-img map`, host offsets aside), `info` and `check` verdict.

use crate::support::qemu_img;
use crate::twin::{corpus_files, shell, Twin};
use std::path::Path;

/// A 1 MiB raw image and a qcow2 one with data, a zero cluster and holes.
const SMALL: &str = "truncate -s 1M s.raw && \
    qemu-io -f raw -c 'write -P 0xab 0 64k' -c 'write -P 0xcd 192k 64k' s.raw && \
    qemu-img create -q -f qcow2 s.qcow2 1M && \
    qemu-io -f qcow2 -c 'write -P 0xab 0 64k' -c 'write -z 128k 64k' -c 'write -P 0xcd 512k 64k' s.qcow2";

/// `qemu-img map --output=json` of an image without host offsets.
fn allocation(dir: &Path, file: &str, fmt: &str) -> String {
    let map = qemu_img(dir, &["map", "--output=json", "-U", "-f", fmt, file]);
    assert_eq!(map.code, 0, "map {file}: {}", map.stderr);
    map.stdout
        .lines()
        .map(|l| l.split(", \"offset\"").next().unwrap_or(l).trim_end_matches('}').to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `dd` with `args` (output `out` in format `fmt`) in both directories
/// and compares what both printed and left behind.
fn compare(t: &Twin, args: &[&str], out: &str, fmt: &str) {
    let mut argv = vec!["dd"];
    argv.extend_from_slice(args);
    t.run(&argv);
    t.assert_same_image(out, fmt, &[]);
    assert_eq!(allocation(&t.qimg, out, fmt), allocation(&t.qemu, out, fmt), "{out}: allocation");
    let len = |d: &Path| std::fs::metadata(d.join(out)).map(|m| m.len()).unwrap_or(u64::MAX);
    assert_eq!(len(&t.qimg), len(&t.qemu), "{out}: file length");
}

#[test]
fn block_ranges_of_raw_and_qcow2() {
    let t = Twin::new("dd-ranges", &shell(SMALL));
    let cases: &[(&[&str], &str, &str)] = &[
        (&["if=s.raw", "of=o1.raw", "bs=64k", "count=2", "skip=1"], "o1.raw", "raw"),
        (&["-O", "qcow2", "if=s.qcow2", "of=o2.qcow2", "bs=1000", "skip=3"], "o2.qcow2", "qcow2"),
        (&["if=s.qcow2", "of=o3.raw"], "o3.raw", "raw"),
        (&["-f", "qcow2", "if=s.qcow2", "of=o4.raw", "bs=4k", "count=17"], "o4.raw", "raw"),
        (&["-O", "qcow2", "if=s.raw", "of=o5.qcow2", "count=0"], "o5.qcow2", "qcow2"),
        (&["-O", "qcow2", "if=s.raw", "of=o6.qcow2", "bs=1000", "count=3"], "o6.qcow2", "qcow2"),
        (&["-U", "if=s.qcow2", "of=o7.raw", "bs=3", "count=7", "skip=2"], "o7.raw", "raw"),
        (&["--image-opts", "if=driver=qcow2,file.filename=s.qcow2", "of=o8.raw", "bs=1M"], "o8.raw", "raw"),
        (&["-f", "raw", "if=s.qcow2", "of=o9.raw"], "o9.raw", "raw"),
        (&["-O", "qcow2", "if=s.qcow2", "of=o10.qcow2", "bs=65536", "skip=2", "count=9"], "o10.qcow2", "qcow2"),
        (&["if=s.raw", "of=o11.raw", "skip=2048"], "o11.raw", "raw"),
        (&["if=s.raw", "of=o12.raw", "count=99999"], "o12.raw", "raw"),
    ];
    for (args, out, fmt) in cases {
        compare(&t, args, out, fmt);
    }
}

#[test]
fn skip_past_the_end_leaves_an_empty_output() {
    let t = Twin::new("dd-skip-end", &shell(SMALL));
    compare(&t, &["if=s.raw", "of=o1.raw", "skip=5000"], "o1.raw", "raw");
    compare(&t, &["-O", "qcow2", "if=s.raw", "of=o2.qcow2", "bs=4k", "count=2", "skip=3"], "o2.qcow2", "qcow2");
    let r = t.run(&["dd", "if=s.raw", "of=o3.raw", "bs=1M", "skip=9223372036854775807"]);
    assert!(r.stderr.contains("cannot skip to specified offset"), "{}", r.stderr);
}

#[test]
fn corpus_images_through_backing_chains_and_compression() {
    let t = Twin::new(
        "dd-corpus",
        &corpus_files(&[
            "qcow2/chain-base.qcow2",
            "qcow2/chain-mid.qcow2",
            "qcow2/chain-top.qcow2",
            "qcow2/compressed-mixed.qcow2",
            "qcow2/zero-clusters.qcow2",
            "raw/odd-size-file.raw",
        ]),
    );
    compare(&t, &["if=chain-top.qcow2", "of=a.raw", "bs=1M", "skip=1", "count=5"], "a.raw", "raw");
    compare(&t, &["-O", "qcow2", "if=compressed-mixed.qcow2", "of=b.qcow2", "bs=96k", "skip=3"], "b.qcow2", "qcow2");
    compare(&t, &["-O", "qcow2", "if=zero-clusters.qcow2", "of=c.qcow2", "bs=64k", "count=40"], "c.qcow2", "qcow2");
    compare(&t, &["-f", "raw", "if=odd-size-file.raw", "of=d.raw", "bs=7", "skip=3"], "d.raw", "raw");
}

#[test]
fn errors_match() {
    let t = Twin::new("dd-errors", &shell(SMALL));
    for args in [
        &["dd", "-O", "foo", "if=s.raw", "of=x.raw"][..],
        &["dd", "-O", "dmg", "if=s.raw", "of=x.raw"],
        &["dd", "if=missing", "of=x.raw"],
        &["dd", "-O", "foo", "if=missing", "of=x.raw"],
        &["dd", "if=s.raw", "of=/nonexistent-dir/x.raw"],
        &["dd", "if=s.qcow2", "of=s.qcow2"],
        &["dd", "-f", "qcow2", "if=s.raw", "of=x.raw"],
    ] {
        let r = t.run(args);
        assert_eq!(r.code, 1, "{args:?}");
    }
    assert!(!t.qimg.join("x.raw").exists(), "no output after an error before creation");
}

#[test]
fn read_errors_are_worded_as_qemu_words_them() {
    // A compressed cluster (the first data cluster of a fresh `convert -c`
    // sits at 0x50000) whose deflate stream is garbage.
    let made = format!(
        "{SMALL} && qemu-img convert -c -O qcow2 s.raw c.qcow2 && \
         head -c 64 /dev/zero | tr '\\0' '\\377' | dd of=c.qcow2 bs=1 seek={} conv=notrunc status=none",
        0x50000
    );
    let t = Twin::new("dd-read-error", &shell(&made));
    let r = t.run(&["dd", "if=c.qcow2", "of=o.raw"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error while reading from input image file"), "{}", r.stderr);
    let len = |d: &Path| std::fs::metadata(d.join("o.raw")).map(|m| m.len()).ok();
    assert_eq!(len(&t.qimg), len(&t.qemu), "output created before the copy");
}
