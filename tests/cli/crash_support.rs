//! Crash-consistency tests. A qimg command is killed (SIGKILL, by the
//! `QIMG_CRASH_AFTER_WRITES` hook) before its (n+1)th change to any file,
//! for n = 0, 1, 2, … on fresh copies of its images: every point at first,
//! then a sample that spreads out, until n is past the command's last
//! change and it completes. After each crash the test's own assertions run
//! on what the crash left behind.

use crate::support::{qimg_path, scratch};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

/// The environment variable of the hook (see `runtime/src/crash_point.rs`).
const CRASH_ENV: &str = "QIMG_CRASH_AFTER_WRITES";
/// Crash points tried one by one before the sample spreads out.
const DENSE_POINTS: u64 = 64;

/// One crash test.
pub struct CrashTest<'a> {
    /// Names the scratch directory.
    pub label: &'a str,
    /// Puts the images (and any reference images) into a fresh directory.
    pub prepare: &'a dyn Fn(&Path),
    /// The qimg command line (argv[0] is "qemu-img").
    pub args: &'a [&'a str],
    /// Assertions on the directory after a crash at point n.
    pub after_crash: &'a dyn Fn(&Path, u64),
}

/// Runs `t` at every crash point (or a sample of them); returns how many
/// crash points were tried. The command must make at least one change.
pub fn run(t: &CrashTest<'_>) -> u64 {
    let dir = scratch(&format!("crash-{}", t.label));
    let (mut n, mut step, mut tried) = (0u64, 1u64, 0u64);
    loop {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create crash directory");
        (t.prepare)(&dir);
        let status = Command::new(qimg_path())
            .arg0("qemu-img")
            .args(t.args)
            .current_dir(&dir)
            .env(CRASH_ENV, n.to_string())
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run qimg");
        if status.signal().is_none() {
            assert!(status.success(), "{}: `{}` failed without a crash ({status})", t.label, t.args.join(" "));
            assert!(tried > 0, "{}: the command made no change to crash in", t.label);
            return tried;
        }
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{}: died of another signal at point {n}", t.label);
        (t.after_crash)(&dir, n);
        tried += 1;
        if tried >= DENSE_POINTS && tried % 16 == 0 {
            step *= 2;
        }
        n += step;
    }
}

/// Asserts that `qemu-img check` finds no corruption in `file` (leaked
/// clusters are allowed: they are what a crash may leave).
pub fn assert_no_corruption(dir: &Path, file: &str, label: &str) {
    let out = Command::new("qemu-img").args(["check", file]).current_dir(dir).output().expect("run qemu-img check");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 3,
        "{label}: qemu-img check {file} exits {code}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that two images in `dir` hold the same guest data
/// (`qemu-img compare`: a longer image must read as zeros past the other).
pub fn assert_same_guest(dir: &Path, a: &str, b: &str, label: &str) {
    let out = Command::new("qemu-img").args(["compare", "-U", a, b]).current_dir(dir).output().expect("run qemu-img compare");
    assert!(
        out.status.success(),
        "{label}: {a} and {b} differ:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that the first `mib` MiB of two images in `dir` hold the same
/// guest data (what shrinking keeps, whatever happened to the rest).
pub fn assert_same_first_mib(dir: &Path, a: &str, b: &str, mib: u64, label: &str) {
    let cut = |name: &str| {
        let out_name = format!("{name}.first.raw");
        let out = Command::new("qemu-img")
            .args(["dd", "-U", "-O", "raw", "bs=1M", &format!("count={mib}"), &format!("if={name}"), &format!("of={out_name}")])
            .current_dir(dir)
            .output()
            .expect("run qemu-img dd");
        assert!(out.status.success(), "{label}: dd {name}: {}", String::from_utf8_lossy(&out.stderr));
        out_name
    };
    let (ca, cb) = (cut(a), cut(b));
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw", &ca, &cb])
        .current_dir(dir)
        .output()
        .expect("run qemu-img compare");
    assert!(out.status.success(), "{label}: the first {mib} MiB of {a} and {b} differ");
}
