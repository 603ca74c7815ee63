//! Commands that change images, run on two copies of the same files: the
//! real qemu-img in one directory, qimg in another (same file names, so
//! stored names and messages agree). Then what both printed, and what they
//! left behind, is compared: guest data, `qemu-img check`, `qemu-img info`,
//! and the bytes of the files.

use crate::corpus;
use crate::support::{qemu_img, qimg, scratch, tool, Run};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two directories prepared alike.
pub struct Twin {
    /// Where qemu-img runs.
    pub qemu: PathBuf,
    /// Where qimg runs.
    pub qimg: PathBuf,
    label: String,
}

impl Twin {
    /// Two fresh scratch directories, each set up by `prepare`.
    pub fn new(label: &str, prepare: &dyn Fn(&Path)) -> Twin {
        let qemu = scratch(&format!("{label}-qemu"));
        let qimg = scratch(&format!("{label}-qimg"));
        prepare(&qemu);
        prepare(&qimg);
        Twin { qemu, qimg, label: label.to_string() }
    }

    /// Runs `args` with each tool in its directory; asserts identical
    /// stdout, stderr and exit code, and returns what qimg did.
    pub fn run(&self, args: &[&str]) -> Run {
        let expected = qemu_img(&self.qemu, args);
        let got = qimg(&self.qimg, args);
        let what = format!("{}: `qemu-img {}`", self.label, args.join(" "));
        assert_eq!(got.stdout, expected.stdout, "{what}: stdout");
        assert_eq!(got.stderr, expected.stderr, "{what}: stderr");
        assert_eq!(got.code, expected.code, "{what}: exit code");
        got
    }

    /// Asserts that both copies of image `file` (format `fmt`) hold the same
    /// guest data, get the same `qemu-img check` verdict and the same `info`
    /// (host allocation and the lines of `skip_info` excepted).
    pub fn assert_same_image(&self, file: &str, fmt: &str, skip_info: &[&str]) {
        let what = format!("{}: {file}", self.label);
        let (ga, gb) = (guest_raw(&self.qemu, file, fmt), guest_raw(&self.qimg, file, fmt));
        let same = same_contents(&ga, &gb);
        let _ = (std::fs::remove_file(ga), std::fs::remove_file(gb));
        assert!(same, "{what}: guest data differs");
        let (a, b) = (check(&self.qemu, file), check(&self.qimg, file));
        assert_eq!(a.code, b.code, "{what}: check exit code\nqemu-img:\n{}\nqimg:\n{}", a.stdout, b.stdout);
        let info = |dir: &Path| {
            let out = tool_run(dir, "qemu-img", &["info", "-U", file]);
            // Host allocation ("disk size") depends on the file system's
            // block size and timing, not only on what was written.
            out.lines()
                .filter(|l| !l.contains("disk size") && !skip_info.iter().any(|s| l.contains(s)))
                .map(without_date)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(info(&self.qimg), info(&self.qemu), "{what}: info");
    }

    /// Whether both copies of `file` are byte for byte the same.
    pub fn identical(&self, file: &str) -> bool {
        same_contents(&self.qemu.join(file), &self.qimg.join(file))
    }
}

/// A directory preparer that copies corpus images.
pub fn corpus_files(names: &[&str]) -> impl Fn(&Path) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    move |d: &Path| {
        for n in &names {
            let file = Path::new(n).file_name().expect("file name");
            std::fs::copy(corpus::dir().join(n), d.join(file)).expect("copy corpus image");
        }
    }
}

/// A directory preparer that runs a shell command line (qemu-img, qemu-io).
pub fn shell(command: &str) -> impl Fn(&Path) {
    let command = command.to_string();
    move |d: &Path| {
        tool(d, "sh", &["-c", &command]);
    }
}

/// `qemu-img check` of an image.
pub fn check(dir: &Path, file: &str) -> Run {
    let out = Command::new("qemu-img").args(["check", "-U", file]).current_dir(dir).output().expect("run qemu-img check");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn tool_run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("run tool");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Converts an image to raw (`qemu-img convert -O raw`, run in the image's
/// directory so that relative backing and data files resolve); returns the
/// raw file, which the caller removes.
pub fn guest_raw(dir: &Path, file: &str, fmt: &str) -> PathBuf {
    let raw = dir.join(format!("{file}.guest.raw"));
    let out = Command::new("qemu-img")
        .args(["convert", "-U", "-f", fmt, "-O", "raw", file])
        .arg(&raw)
        .current_dir(dir)
        .output()
        .expect("run qemu-img convert");
    assert!(out.status.success(), "convert {file}: {}", String::from_utf8_lossy(&out.stderr));
    raw
}

/// Whether two files have the same contents (read in chunks).
/// `line` with a snapshot's `YYYY-MM-DD HH:MM:SS` masked: each copy's
/// snapshots were taken when its directory was prepared, or when each tool
/// ran, which can be a second apart.
fn without_date(line: &str) -> String {
    let b = line.as_bytes();
    let shape = b"dddd-dd-dd dd:dd:dd";
    let at = (0..b.len().saturating_sub(shape.len() - 1)).find(|&i| {
        shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c })
    });
    match at {
        Some(i) => format!("{}<date>{}", &line[..i], &line[i + shape.len()..]),
        None => line.to_string(),
    }
}

pub fn same_contents(a: &Path, b: &Path) -> bool {
    let (Ok(mut fa), Ok(mut fb)) = (File::open(a), File::open(b)) else { return false };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}
