//! Crash-consistency runs: a qimg command is killed (by the
//! `QIMG_CRASH_AFTER_WRITES` hook) before each of its file changes in turn,
//! on a fresh copy of prepared files each time, and the caller checks what
//! the crash left behind.

use crate::support::qimg_path;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How one run of the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Killed before its file change number `n` (0-based).
    KilledAt(u64),
    /// Ran to the end with this exit code.
    Finished(i32),
}

/// What a series of crash runs did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Runs killed by the hook.
    pub crashes: usize,
    /// File changes the command makes when nothing stops it.
    pub changes: u64,
}

/// Copies every regular file of `from` into a new, empty `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("create crash run directory");
    for entry in std::fs::read_dir(from).expect("read template directory") {
        let entry = entry.expect("template entry");
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy template file");
        }
    }
}

/// Runs qimg with `args` in `dir` (argv\[0\] `qemu-img`), killed before its
/// change number `limit` when given.
pub fn run_with_limit(dir: &Path, args: &[&str], limit: Option<u64>) -> Ending {
    let mut cmd = Command::new(qimg_path());
    cmd.arg0("qemu-img").args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(n) = limit {
        cmd.env("QIMG_CRASH_AFTER_WRITES", n.to_string());
    }
    let status = cmd.status().expect("run qimg");
    match (status.signal(), limit) {
        (Some(libc::SIGKILL), Some(n)) => Ending::KilledAt(n),
        _ => Ending::Finished(status.code().unwrap_or(-1)),
    }
}

/// Runs `args` in a copy of `template` once for every crash point: killed
/// before its first change, before its second, and so on, until a run
/// finishes. After each run, `verify(dir, ending)` inspects the copy.
/// At most `max_runs` runs are made (spread evenly over the changes when
/// there are more points than that); the final, uncrashed run always is.
pub fn every_crash_point(
    template: &Path,
    work: &Path,
    args: &[&str],
    max_runs: usize,
    verify: &dyn Fn(&Path, Ending),
) -> Summary {
    let changes = count_changes(template, work, args);
    let step = (changes as usize).div_ceil(max_runs.max(1)).max(1) as u64;
    let mut crashes = 0;
    let mut n = 0;
    while n < changes {
        let dir = run_dir(work, n);
        copy_dir(template, &dir);
        let ending = run_with_limit(&dir, args, Some(n));
        assert_eq!(ending, Ending::KilledAt(n), "`qemu-img {}` was not killed before change {n}", args.join(" "));
        verify(&dir, ending);
        let _ = std::fs::remove_dir_all(&dir);
        crashes += 1;
        n += step;
    }
    let dir = run_dir(work, changes);
    copy_dir(template, &dir);
    let ending = run_with_limit(&dir, args, None);
    verify(&dir, ending);
    Summary { crashes, changes }
}

/// How many file changes the command makes: the first limit it is not
/// killed at.
fn count_changes(template: &Path, work: &Path, args: &[&str]) -> u64 {
    let dir = work.join("count");
    copy_dir(template, &dir);
    let huge = 1 << 40;
    match run_with_limit(&dir, args, Some(huge)) {
        Ending::Finished(_) => {}
        e => panic!("`qemu-img {}` did not finish: {e:?}", args.join(" ")),
    }
    // Find the count by bisection over fresh copies.
    let (mut lo, mut hi) = (0u64, 1u64);
    loop {
        copy_dir(template, &dir);
        match run_with_limit(&dir, args, Some(hi)) {
            Ending::KilledAt(_) => {
                lo = hi + 1;
                hi *= 2;
            }
            Ending::Finished(_) => break,
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        copy_dir(template, &dir);
        match run_with_limit(&dir, args, Some(mid)) {
            Ending::KilledAt(_) => lo = mid + 1,
            Ending::Finished(_) => hi = mid,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    lo
}

fn run_dir(work: &Path, n: u64) -> PathBuf {
    work.join(format!("run-{n}"))
}

/// `qemu-img check` of `image` in `dir`: its exit code and output. 0 is
/// clean, 3 only leaks, 2 corruption.
pub fn qemu_check(dir: &Path, image: &str) -> (i32, String) {
    let out = Command::new("qemu-img").args(["check", image]).current_dir(dir).output().expect("run qemu-img check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Asserts that `qemu-img check` finds no corruption in `image` (leaks are allowed).
pub fn assert_no_corruption(dir: &Path, image: &str, ending: Ending) {
    let (code, text) = qemu_check(dir, image);
    assert!(code == 0 || code == 3, "after {ending:?}, qemu-img check of {image}: exit {code}\n{text}");
}
