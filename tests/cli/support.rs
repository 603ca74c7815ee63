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

fn run_in(program: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(program)
        .arg0("qemu-img")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
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
