//! The shared test corpus: images made by the real qemu-img and qemu-io with
//! `tests/corpus/make_corpus.sh`, built once under the target directory and
//! reused by every test binary (a file lock serialises concurrent builders).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One row of `MANIFEST.tsv`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub format: String,
    pub virtual_size: u64,
    pub check_rc: i32,
    /// `None` when the manifest has `-`.
    pub guest_sha256: Option<String>,
    pub secret: Option<String>,
    pub notes: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate sits in the workspace").to_path_buf()
}

/// The corpus directory, built on first use.
pub fn dir() -> PathBuf {
    let script = repo_root().join("tests/corpus/make_corpus.sh");
    let text = fs::read(&script).expect("tests/corpus/make_corpus.sh exists");
    // Rebuild whenever the script changes.
    let tag = text.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    let base = repo_root().join("target/test-corpus");
    let dir = base.join(format!("{tag:016x}"));
    if dir.join("MANIFEST.tsv").exists() {
        return dir;
    }
    fs::create_dir_all(&base).expect("create target/test-corpus");
    let lock = File::create(base.join("lock")).expect("create corpus lock");
    lock.lock().expect("lock corpus");
    if !dir.join("MANIFEST.tsv").exists() {
        let partial = base.join(format!("{tag:016x}.partial"));
        let _ = fs::remove_dir_all(&partial);
        let out = Command::new("bash").arg(&script).arg(&partial).output().expect("run make_corpus.sh");
        assert!(
            out.status.success(),
            "make_corpus.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        settle_host_allocation(&partial);
        fs::rename(&partial, &dir).expect("publish corpus");
    }
    dir
}

/// Rewrites every file of the corpus with `cp --sparse=always`, so that what
/// reads as zeros is a real hole rather than an unwritten extent.
///
/// qemu-io leaves unwritten extents (fallocated zero ranges) inside qcow2
/// clusters. ext4 reports those as data or as holes depending on the page
/// cache, and qemu (and qimg) consult the host file's holes when an image
/// looks metadata-preallocated, so block status, `map` and convert progress
/// of such a file change as soon as anything reads it. Real holes do not.
fn settle_host_allocation(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read corpus directory") {
            let path = entry.expect("corpus directory entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat corpus file");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let tmp = path.with_extension("settling");
                let ok = Command::new("cp")
                    .args(["--sparse=always", "--preserve=mode,timestamps"])
                    .arg(&path)
                    .arg(&tmp)
                    .status()
                    .expect("run cp");
                assert!(ok.success(), "cp --sparse=always {}", path.display());
                fs::rename(&tmp, &path).expect("replace corpus file");
            }
        }
    }
}

/// Every image of the corpus, in manifest order.
pub fn entries() -> Vec<Entry> {
    let dir = dir();
    let manifest = fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            let opt = |s: &str| (s != "-").then(|| s.to_string());
            Entry {
                path: dir.join(c[0]),
                format: c[1].to_string(),
                virtual_size: c[2].parse().expect("virtual_size"),
                check_rc: c[3].parse().expect("check_rc"),
                guest_sha256: opt(c[4]),
                secret: opt(c[5]),
                notes: c.get(6).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// Corpus images of one format.
pub fn of_format(format: &str) -> Vec<Entry> {
    entries().into_iter().filter(|e| e.format == format).collect()
}
