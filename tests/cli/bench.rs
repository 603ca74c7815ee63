//! `bench` against qemu-img: the same report (the run time masked), exit
//! code and errors for option combinations on raw and qcow2 images, and the
//! same guest data after write runs (checked with `qemu-io read -P` too).

use crate::support::{create, qemu_img, qemu_io, qimg, tool, Run};
use crate::twin::{shell, Twin};
use std::path::Path;

const PREFIX: &str = "Run completed in ";
const SUFFIX: &str = " seconds.";

/// `run` with the time of "Run completed in X.XXX seconds." replaced by
/// `T`, after checking that it has qemu's form (digits, 3 decimals).
fn masked(run: Run) -> Run {
    let lines: Vec<String> = run
        .stdout
        .lines()
        .map(|l| match l.strip_prefix(PREFIX).and_then(|r| r.strip_suffix(SUFFIX)) {
            Some(time) => {
                let (whole, frac) = time.split_once('.').unwrap_or_else(|| panic!("bad time {time:?}"));
                assert!(!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()), "bad time {time:?}");
                assert!(frac.len() == 3 && frac.bytes().all(|b| b.is_ascii_digit()), "bad time {time:?}");
                format!("{PREFIX}T{SUFFIX}")
            }
            None => l.to_string(),
        })
        .collect();
    let stdout = if lines.is_empty() { String::new() } else { lines.join("\n") + "\n" };
    Run { stdout, ..run }
}

/// Runs `bench ARGS` with qemu-img in `qemu_dir` and qimg in `qimg_dir`;
/// asserts the same output (time masked) and exit code.
fn same_bench(qemu_dir: &Path, qimg_dir: &Path, args: &[&str]) -> Run {
    let mut argv = vec!["bench"];
    argv.extend_from_slice(args);
    let expected = masked(qemu_img(qemu_dir, &argv));
    let got = masked(qimg(qimg_dir, &argv));
    assert_eq!(got, expected, "`qemu-img {}`", argv.join(" "));
    got
}

/// A raw and a qcow2 image of 1 MiB with some data, and an empty raw one.
fn images(d: &Path) {
    create(d, &["-f", "raw", "r.raw", "1M"]);
    create(d, &["-f", "qcow2", "q.qcow2", "1M"]);
    create(d, &["-f", "raw", "z.raw", "0"]);
    qemu_io(d, "qcow2", "q.qcow2", &["write -P 0x11 64k 64k"]);
}

#[test]
fn read_runs_print_as_qemu() {
    let t = Twin::new("bench-read", &images);
    let cases: &[&[&str]] = &[
        &["-c", "10", "r.raw"],
        &["-c", "10", "q.qcow2"],
        &["-c", "10", "-f", "raw", "r.raw"],
        &["-c", "100", "-d", "3", "-s", "1k", "-S", "5000", "-o", "7", "-f", "qcow2", "q.qcow2"],
        &["-c", "3", "-S", "0", "-f", "raw", "r.raw"],
        &["-c", "20", "-s", "1M", "-f", "raw", "r.raw"],
        &["-c", "20", "-o", "1044480", "-f", "raw", "r.raw"],
        &["-c", "5", "-q", "-t", "unsafe", "-U", "-f", "raw", "r.raw"],
        &["-c", "5", "-n", "-t", "none", "-f", "raw", "r.raw"],
        &["-c", "5", "-i", "native", "-t", "directsync", "q.qcow2"],
        &["-c", "5", "-i", "threads", "-f", "qcow2", "q.qcow2"],
        &["-c", "5", "-i", "io_uring", "-f", "raw", "r.raw"],
        &["-c", "5", "--pattern", "9", "-f", "raw", "r.raw"],
        &["-c", "5", "--no-drain", "-f", "raw", "r.raw"],
        &["-c", "5", "--image-opts", "driver=qcow2,file.filename=q.qcow2"],
        &["-c", "2000", "-s", "512", "-S", "1536", "-f", "qcow2", "q.qcow2"],
    ];
    for args in cases {
        let r = same_bench(&t.qemu, &t.qimg, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn errors_match_qemu() {
    let t = Twin::new("bench-errors", &images);
    let cases: &[&[&str]] = &[
        // A request past the end, at the start or after wrapping.
        &["-c", "10", "-o", "1048576", "-f", "raw", "r.raw"],
        &["-c", "10", "-o", "1046000", "-f", "qcow2", "q.qcow2"],
        &["-c", "3", "-S", "1046000", "-f", "raw", "r.raw"],
        &["-c", "10", "-s", "2M", "-f", "raw", "r.raw"],
        &["-c", "3", "-f", "raw", "z.raw"],
        // (One request only: qemu exits with other requests in flight,
        // whose effect on the image is left to chance.)
        &["-c", "1", "-w", "-o", "1M", "-f", "qcow2", "q.qcow2"],
        // Option checks and open errors.
        &["-w", "--flush-interval", "10", "-d", "11", "r.raw"],
        &["--flush-interval", "64", "r.raw"],
        &["-c", "3", "-n", "-f", "raw", "r.raw"],
        &["-c", "3", "-i", "native", "-t", "writethrough", "q.qcow2"],
        &["-c", "3", "-n", "missing.raw"],
        &["-c", "3", "-f", "qcow2", "r.raw"],
        &["-c", "3", "-f", "raw", "--image-opts", "driver=raw,file.filename=r.raw"],
    ];
    for args in cases {
        let r = same_bench(&t.qemu, &t.qimg, args);
        assert_eq!(r.code, 1, "{args:?}");
    }
    // The image was not changed by the failed write.
    t.assert_same_image("q.qcow2", "qcow2", &[]);
}

#[test]
fn writes_leave_the_same_data() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("r.raw", &["-w", "-c", "100", "--pattern", "0x5a", "-f", "raw"], "read -P 0x5a 0 400k"),
        ("r.raw", &["-w", "-c", "10", "-s", "1000", "-S", "3000", "-o", "5", "--pattern", "200"], "read -P 200 5 1000"),
        ("q.qcow2", &["-w", "-c", "300", "--pattern", "7", "-f", "qcow2"], "read -P 7 0 1M"),
        ("q.qcow2", &["-w", "-c", "5000", "-s", "1", "-S", "3", "--pattern", "9", "--flush-interval", "64", "-f", "qcow2"], "read -P 9 3 1"),
        ("q.qcow2", &["-w", "-c", "50", "-d", "2", "-s", "10k", "-S", "100k", "--flush-interval", "2", "--no-drain", "--pattern", "1", "-f", "qcow2"], "read -P 1 100k 10k"),
        ("q.qcow2", &["-w", "-c", "4", "-t", "unsafe", "--pattern", "3", "--image-opts"], "read -P 3 0 16k"),
    ];
    for (i, (file, args, verify)) in cases.iter().enumerate() {
        let fmt = if file.ends_with(".raw") { "raw" } else { "qcow2" };
        let t = Twin::new(&format!("bench-write-{i}"), &shell(&format!(
            "qemu-img create -q -f {fmt} {file} 1M && qemu-io -f {fmt} -c 'write -P 0x11 64k 64k' {file} >/dev/null"
        )));
        let mut argv = args.to_vec();
        let opts = format!("driver={fmt},file.filename={file}");
        argv.push(if args.contains(&"--image-opts") { &opts } else { file });
        let r = same_bench(&t.qemu, &t.qimg, &argv);
        assert_eq!(r.code, 0, "{argv:?}: {}", r.stderr);
        t.assert_same_image(file, fmt, &[]);
        let out = tool(&t.qimg, "qemu-io", &["-f", fmt, "-c", verify, file]);
        assert!(!out.contains("Pattern verification failed"), "{argv:?}: {out}");
    }
}
