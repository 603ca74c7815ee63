//! Crash-consistency tests: a qimg command is killed (SIGKILL, through the
//! `QIMG_CRASH_AFTER_WRITES` hook) before each of its file changes in turn,
//! on fresh copies of the same inputs, and a judge looks at what is left.
//!
//! A scenario says how to make the inputs, which command to run and how to
//! judge a trial; [`run`] finds how many changes the command makes, tries
//! every crash point (or an even sample when there are many) and returns the
//! figures. Judges built from [`qemu_check`] and [`clusters_old_or_new`]
//! cover the usual rules: `qemu-img check` finds no corruption (leaks are
//! fine), and every guest cluster holds either its old or its new data.

use crate::support::qimg_path;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable of the hook (runtime/src/crash_point.rs).
const HOOK: &str = "QIMG_CRASH_AFTER_WRITES";

/// What to crash, and how to judge the result.
pub struct Scenario<'a> {
    /// A short name (scratch directories are named after it).
    pub name: &'a str,
    /// Makes the inputs in an empty directory (once; each trial gets a copy).
    pub prepare: &'a dyn Fn(&Path),
    /// The qimg command line, run in the trial's directory.
    pub args: &'a [&'a str],
    /// Looks at a trial's directory after the command was killed before its
    /// change number `point` (or ran to the end: `completed`) and says what
    /// is wrong, if anything.
    pub judge: &'a dyn Fn(&Path, u64, bool) -> Option<String>,
    /// Crash points tried at most (spread evenly when the command makes more changes).
    pub max_trials: u64,
}

/// What a scenario's run found.
#[derive(Debug)]
pub struct Figures {
    /// File changes the command makes when it runs to the end.
    pub changes: u64,
    /// Crash points tried.
    pub trials: u64,
    /// Crash points whose result the judge refused, with its reasons.
    pub failures: Vec<(u64, String)>,
}

fn scratch_root(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create crash scratch directory");
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("create trial directory");
    for e in std::fs::read_dir(from).expect("read inputs") {
        let e = e.expect("directory entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy input");
    }
}

/// Runs qimg in `dir`, killed before its `limit`th change (never, with
/// `None`). Returns whether it ran to the end (and its exit code).
fn run_qimg(dir: &Path, args: &[&str], limit: Option<u64>) -> (bool, i32) {
    let mut cmd = Command::new(qimg_path());
    cmd.arg0("qemu-img").args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(n) = limit {
        cmd.env(HOOK, n.to_string());
    }
    let status = cmd.status().expect("run qimg");
    match status.signal() {
        Some(libc::SIGKILL) => (false, -1),
        Some(s) => panic!("qimg {args:?} died of signal {s}"),
        None => (true, status.code().unwrap_or(-1)),
    }
}

/// How many changes the command makes: the smallest limit it completes under.
fn count_changes(inputs: &Path, work: &Path, args: &[&str]) -> u64 {
    let completes = |n: u64| {
        copy_dir(inputs, work);
        run_qimg(work, args, Some(n)).0
    };
    let mut hi = 1;
    while !completes(hi) {
        hi *= 2;
        assert!(hi < 1 << 24, "qimg {args:?} never completes under the crash hook");
    }
    let mut lo = 0;
    while lo < hi {
        let mid = (lo + hi) / 2;
        if completes(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The crash points to try: all of `0..=changes`, or an even sample that
/// keeps both ends.
fn crash_points(changes: u64, max: u64) -> Vec<u64> {
    if changes < max {
        return (0..=changes).collect();
    }
    let mut v: Vec<u64> = (0..max).map(|i| i * changes / (max - 1)).collect();
    v.dedup();
    v
}

/// How many file changes `args` makes on inputs made by `prepare`.
pub fn count(name: &str, prepare: &dyn Fn(&Path), args: &[&str]) -> u64 {
    let root = scratch_root(name);
    let inputs = root.join("inputs");
    std::fs::create_dir_all(&inputs).expect("create inputs directory");
    prepare(&inputs);
    count_changes(&inputs, &root.join("trial"), args)
}

/// Runs a scenario and returns its figures (also printed on stderr).
pub fn run(s: &Scenario<'_>) -> Figures {
    let root = scratch_root(s.name);
    let inputs = root.join("inputs");
    std::fs::create_dir_all(&inputs).expect("create inputs directory");
    (s.prepare)(&inputs);
    let work = root.join("trial");
    let changes = count_changes(&inputs, &work, s.args);
    let mut failures = Vec::new();
    let points = crash_points(changes, s.max_trials);
    for &n in &points {
        copy_dir(&inputs, &work);
        let (completed, _) = run_qimg(&work, s.args, Some(n));
        assert_eq!(completed, n >= changes, "crash point {n} of {changes}");
        if let Some(why) = (s.judge)(&work, n, completed) {
            failures.push((n, why));
        }
    }
    let figures = Figures { changes, trials: points.len() as u64, failures };
    eprintln!(
        "crash scenario {}: {} changes, {} crash points tried, {} refused",
        s.name,
        figures.changes,
        figures.trials,
        figures.failures.len()
    );
    figures
}

/// What `qemu-img check --output=json` says of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckFigures {
    pub code: i32,
    pub corruptions: u64,
    pub leaks: u64,
}

/// Runs `qemu-img check` (with `extra` arguments) on `image` in `dir`.
pub fn qemu_check(dir: &Path, image: &str, extra: &[&str]) -> CheckFigures {
    let out = Command::new("qemu-img")
        .arg("check")
        .args(extra)
        .args(["--output=json", "-f", "qcow2", image])
        .current_dir(dir)
        .output()
        .expect("run qemu-img check");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("\"{key}\": ")))
            .and_then(|v| v.trim_end_matches(',').parse().ok())
            .unwrap_or(0)
    };
    CheckFigures { code: out.status.code().unwrap_or(-1), corruptions: field("corruptions"), leaks: field("leaks") }
}

/// The judgement "`qemu-img check` finds no corruption" (leaks are fine).
pub fn no_corruption(dir: &Path, image: &str) -> Option<String> {
    let c = qemu_check(dir, image, &[]);
    (c.corruptions != 0 || !matches!(c.code, 0 | 3)).then(|| format!("qemu-img check: {c:?}"))
}

/// Reads an image's guest data through qemu-img (as raw bytes).
pub fn guest_data(dir: &Path, image: &str, format: &str) -> Vec<u8> {
    let raw = crate::twin::guest_raw(dir, image, format);
    let data = std::fs::read(&raw).expect("read guest data");
    let _ = std::fs::remove_file(&raw);
    data
}

/// The judgement "every `unit`-sized piece of guest data is either as it
/// was before (`old`) or as the command makes it (`new`)".
pub fn clusters_old_or_new(data: &[u8], old: &[u8], new: &[u8], unit: usize) -> Option<String> {
    if data.len() != new.len() || old.len() != new.len() {
        return Some(format!("guest size {} (old {}, new {})", data.len(), old.len(), new.len()));
    }
    let bad = (0..data.len()).step_by(unit).find(|&at| {
        let end = (at + unit).min(data.len());
        data[at..end] != old[at..end] && data[at..end] != new[at..end]
    });
    bad.map(|at| format!("guest bytes at {at} are neither old nor new"))
}

/// The judgement "images `a` and `b` in `dir` hold the same guest data"
/// (`qemu-img compare`: a longer image must read as zeros past the other).
pub fn same_guest(dir: &Path, a: &str, b: &str) -> Option<String> {
    let out = Command::new("qemu-img").args(["compare", "-U", a, b]).current_dir(dir).output().expect("run qemu-img compare");
    (!out.status.success()).then(|| {
        format!("{a} and {b} differ: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// The judgement "the first `len` bytes of guest data of qcow2 images `a`
/// and `b` in `dir` are the same" (what shrinking keeps).
pub fn same_prefix(dir: &Path, a: &str, b: &str, len: usize) -> Option<String> {
    let (da, db) = (guest_data(dir, a, "qcow2"), guest_data(dir, b, "qcow2"));
    let (pa, pb) = (&da[..len.min(da.len())], &db[..len.min(db.len())]);
    (pa.len() != len || pa != pb).then(|| format!("the first {len} bytes of {a} and {b} differ"))
}
