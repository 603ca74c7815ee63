//! Running qimg and the real qemu-img side by side. Both are started with
//! argv[0] = "qemu-img", so that error prefixes and "Try" lines compare
//! equal, exactly as they would for a script using a `qemu-img` symlink.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a command printed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// The qimg binary under test.
pub fn qimg_path() -> &'static str {
    env!("CARGO_BIN_EXE_qimg")
}

/// No single command of a test may take longer than this: a hang fails the
/// test instead of stalling the suite.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

fn run_in(program: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(program)
        .arg0("qemu-img")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).map(|_| v)
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).map(|_| v)
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            panic!("{program} {} did not finish in {COMMAND_TIMEOUT:?}", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let err = err_reader.join().expect("stderr reader").expect("read stderr");
    let out = out_reader.join().expect("stdout reader").expect("read stdout");
    Run {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code: status.code().unwrap_or(-1),
    }
}

/// Runs qimg in `dir`.
pub fn qimg(dir: &Path, args: &[&str]) -> Run {
    run_in(qimg_path(), dir, args, &[])
}

/// Runs the real qemu-img in `dir`.
pub fn qemu_img(dir: &Path, args: &[&str]) -> Run {
    run_in("qemu-img", dir, args, &[])
}

/// Runs both with the same arguments and asserts identical stdout, stderr and exit code.
pub fn same(dir: &Path, args: &[&str]) -> Run {
    same_env(dir, args, &[])
}

/// As [`same`], with extra environment variables.
pub fn same_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let expected = run_in("qemu-img", dir, args, env);
    let got = run_in(qimg_path(), dir, args, env);
    assert_eq!(got.stdout, expected.stdout, "stdout of `qemu-img {}` in {}", args.join(" "), dir.display());
    assert_eq!(got.stderr, expected.stderr, "stderr of `qemu-img {}` in {}", args.join(" "), dir.display());
    assert_eq!(got.code, expected.code, "exit code of `qemu-img {}` in {}", args.join(" "), dir.display());
    got
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

/// Runs a command (qemu-img or qemu-io) for fixtures, failing the test if it fails.
pub fn tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("run fixture tool");
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs qemu-io commands (`-c` each) on an image of `format`.
pub fn qemu_io(dir: &Path, format: &str, image: &str, cmds: &[&str]) {
    let mut args = vec!["-f", format];
    for c in cmds {
        args.push("-c");
        args.push(c);
    }
    args.push(image);
    tool(dir, "qemu-io", &args);
}

/// Makes an image with `qemu-img create -q ARGS`.
pub fn create(dir: &Path, args: &[&str]) {
    let mut a = vec!["create", "-q"];
    a.extend_from_slice(args);
    tool(dir, "qemu-img", &a);
}

/// Reads a whole file.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Where guest cluster `guest` of a qcow2 image (standard L2 entries, no
/// external data file) is stored, read through the generated layouts:
/// `(host offset, compressed)`, or `None` when it is not allocated. For a
/// compressed cluster the offset is that of its compressed data.
pub fn qcow2_host_cluster(image: &[u8], guest: u64) -> Option<(u64, bool)> {
    use qimg_formats::qcow2::{CompressedDescriptor, Header, L1Table, L2Table};
    let h = Header::read(image).ok()?;
    let cluster_bits = h.cluster_bits;
    let l2_entries = 1u64 << (cluster_bits - 3);
    let cluster = guest >> cluster_bits;
    let l1 = image.get(h.l1_table_offset as usize..)?;
    let l2_offset = L1Table::get(l1, (cluster / l2_entries) as usize)?.l2_offset();
    let l2 = image.get(l2_offset as usize..)?;
    let entry = L2Table::get(l2, (cluster % l2_entries) as usize)?;
    if entry.compressed() {
        return CompressedDescriptor::from_raw(entry.raw()).host_offset(cluster_bits).map(|o| (o, true));
    }
    (entry.host_offset() != 0).then_some((entry.host_offset(), false))
}

/// A qemu-io process keeping a qcow2 image open (read-write unless
/// `read_only`), with QEMU's locks on it, until [`Holder::release`].
pub struct Holder(std::process::Child);

impl Holder {
    /// Opens `image` in `dir` and waits until qemu-io has it open.
    pub fn open(dir: &Path, image: &str, read_only: bool) -> Holder {
        let mut args = vec!["-f", "qcow2", image];
        if read_only {
            args.insert(0, "-r");
        }
        let child = Command::new("qemu-io")
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start qemu-io");
        // qemu-io has the image open once it waits for a command.
        std::thread::sleep(std::time::Duration::from_millis(700));
        Holder(child)
    }

    /// Ends qemu-io (end of its input) and waits for it.
    pub fn release(mut self) {
        drop(self.0.stdin.take());
        self.0.wait().expect("qemu-io exits");
    }
}
