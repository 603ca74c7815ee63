//! `convert` behaves as qemu-img's: same output (progress included), same
//! errors and exit codes, and images with the same guest data that pass
//! `qemu-img check`.

use crate::corpus;
use crate::support::{qemu_img, qimg, scratch, tool, Run};
use std::path::{Path, PathBuf};

/// Two directories with the same inputs: one for qemu-img, one for qimg.
struct Pair {
    qemu: PathBuf,
    ours: PathBuf,
}

impl Pair {
    fn new(label: &str, inputs: &[(&Path, &str)]) -> Pair {
        let qemu = scratch(&format!("convert-{label}-qemu"));
        let ours = scratch(&format!("convert-{label}-qimg"));
        for (src, name) in inputs {
            for d in [&qemu, &ours] {
                let to = d.join(name);
                if let Some(p) = to.parent() {
                    std::fs::create_dir_all(p).unwrap();
                }
                std::fs::copy(src, to).unwrap();
            }
        }
        Pair { qemu, ours }
    }

    /// Runs both, asserts identical stdout, stderr and exit code.
    fn run(&self, args: &[&str]) -> Run {
        let expected = qemu_img(&self.qemu, args);
        let got = qimg(&self.ours, args);
        assert_eq!(got.stdout, expected.stdout, "stdout of {args:?}");
        assert_eq!(got.stderr, expected.stderr, "stderr of {args:?}");
        assert_eq!(got.code, expected.code, "exit code of {args:?}");
        got
    }

    /// The outputs named `name` hold the same guest data and the same
    /// allocation; qcow2 ones check clean.
    fn same_data(&self, name: &str, fmt: &str) {
        self.same_contents(name, fmt);
        let (a, b) = (self.qemu.join(name), self.ours.join(name));
        assert_eq!(allocation(&self.ours, &b, fmt), allocation(&self.qemu, &a, fmt), "{name}: allocation");
    }

    /// The outputs named `name` hold the same guest data; qcow2 ones check clean.
    fn same_contents(&self, name: &str, fmt: &str) {
        let (a, b) = (self.qemu.join(name), self.ours.join(name));
        let cmp = qemu_img(&self.ours, &["compare", "-f", fmt, "-F", fmt, a.to_str().unwrap(), b.to_str().unwrap()]);
        assert_eq!(cmp.code, 0, "{name}: {}{}", cmp.stdout, cmp.stderr);
        if fmt == "qcow2" {
            let check = qemu_img(&self.ours, &["check", "-f", "qcow2", b.to_str().unwrap()]);
            assert_eq!(check.code, 0, "{name}: check: {}{}", check.stdout, check.stderr);
        }
    }
}

/// What `qemu-img map` says is allocated, zero or data where, ignoring host
/// offsets (which depend on allocation order): runs of equal flags.
fn allocation(dir: &Path, image: &Path, fmt: &str) -> Vec<(u64, String)> {
    tool(dir, "sync", &[]);
    let map = qemu_img(dir, &["map", "--output=json", "-f", fmt, image.to_str().unwrap()]);
    let field = |line: &str, key: &str| -> String {
        let at = line.find(&format!("\"{key}\": ")).map(|i| i + key.len() + 4).unwrap_or(line.len());
        line[at..].chars().take_while(|c| *c != ',' && *c != '}').collect()
    };
    let mut runs: Vec<(u64, String)> = Vec::new();
    for line in map.stdout.lines() {
        let flags = ["present", "zero", "data", "compressed"].map(|k| field(line, k)).join(" ");
        let start: u64 = field(line, "start").parse().unwrap_or(0);
        if runs.last().is_none_or(|(_, f)| *f != flags) {
            runs.push((start, flags));
        }
    }
    runs
}

fn corpus_file(name: &str) -> PathBuf {
    corpus::dir().join(name)
}

#[test]
fn corpus_images_to_raw_and_qcow2() {
    let dir = corpus::dir();
    for e in corpus::entries() {
        if !(e.format == "raw" || e.format == "qcow2") || e.secret.is_some() || e.notes.contains("missing") {
            continue;
        }
        let name = e.path.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        // Run in the corpus itself (relative backing and data file names), writing elsewhere.
        let out = scratch("convert-corpus-out");
        let (q, o) = (out.join("q.img"), out.join("o.img"));
        for fmt in ["raw", "qcow2"] {
            let expected = qemu_img(&dir, &["convert", "-p", "-f", &e.format, "-O", fmt, &name, q.to_str().unwrap()]);
            let got = qimg(&dir, &["convert", "-p", "-f", &e.format, "-O", fmt, &name, o.to_str().unwrap()]);
            assert_eq!((got.code, &got.stdout), (expected.code, &expected.stdout), "{name} -> {fmt}");
            assert_eq!(got.stderr.replace("o.img", "q.img"), expected.stderr, "{name} -> {fmt}");
            if expected.code == 0 {
                let cmp = qemu_img(&out, &["compare", "-f", fmt, "-F", fmt, "q.img", "o.img"]);
                assert_eq!(cmp.code, 0, "{name} -> {fmt}: {}", cmp.stdout);
                if fmt == "qcow2" {
                    assert_eq!(qemu_img(&out, &["check", "o.img"]).code, 0, "{name}: check");
                }
            }
        }
    }
}

#[test]
fn option_matrix() {
    let pair = Pair::new(
        "options",
        &[(&corpus_file("qcow2/v3-std.qcow2"), "src.qcow2"), (&corpus_file("raw/std.raw"), "src.raw")],
    );
    let cases: &[(&[&str], &str, &str)] = &[
        (&["convert", "-O", "qcow2", "-c", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-c", "-o", "compression_type=zstd", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-S", "0", "src.qcow2", "out"], "out", "qcow2"),
        (&["convert", "-O", "raw", "-S", "64k", "src.qcow2", "out"], "out", "raw"),
        (&["convert", "-O", "qcow2", "-W", "-m", "16", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-m", "1", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-o", "cluster_size=4k,compat=0.10", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-o", "extended_l2=on", "src.qcow2", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-t", "writeback", "src.qcow2", "out"], "out", "qcow2"),
        (&["convert", "-O", "raw", "-t", "none", "src.qcow2", "out"], "out", "raw"),
        (&["convert", "-q", "-p", "-O", "raw", "src.qcow2", "out"], "out", "raw"),
        (&["convert", "-O", "raw", "src.qcow2", "src.raw", "out"], "out", "raw"),
        (&["convert", "-C", "-O", "raw", "src.qcow2", "out"], "out", "raw"),
        (&["convert", "-C", "-O", "raw", "src.raw", "out"], "out", "raw"),
        (&["convert", "-C", "-O", "qcow2", "src.raw", "out"], "out", "qcow2"),
        (&["convert", "-O", "qcow2", "-o", "preallocation=metadata", "src.qcow2", "out"], "out", "qcow2"),
    ];
    for (args, out, fmt) in cases {
        pair.run(args);
        pair.same_data(out, fmt);
    }
}

#[test]
fn existing_targets_and_backing_files() {
    let pair = Pair::new(
        "existing",
        &[(&corpus_file("qcow2/v3-std.qcow2"), "src.qcow2"), (&corpus_file("qcow2/chain-base.qcow2"), "base.qcow2")],
    );
    for d in [&pair.qemu, &pair.ours] {
        tool(d, "qemu-img", &["create", "-q", "-f", "raw", "big.raw", "128M"]);
        tool(d, "qemu-io", &["-f", "raw", "-c", "write -P 0x77 0 128M", "big.raw"]);
        tool(d, "qemu-img", &["create", "-q", "-f", "raw", "small.raw", "1M"]);
    }
    pair.run(&["convert", "-n", "src.qcow2", "big.raw"]);
    pair.same_data("big.raw", "raw");
    pair.run(&["convert", "-n", "src.qcow2", "small.raw"]);
    pair.run(&["convert", "-n", "src.qcow2", "nonexistent.raw"]);
    pair.run(&["convert", "-n", "-o", "cluster_size=4k", "src.qcow2", "big.raw"]);
    pair.run(&["convert", "--target-is-zero", "src.qcow2", "big.raw"]);
    pair.run(&["convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", "src.qcow2", "ovl.qcow2"]);
    pair.same_data("ovl.qcow2", "qcow2");
    pair.run(&["convert", "-O", "qcow2", "-B", "base.qcow2", "src.qcow2", "ovl2.qcow2"]);
    pair.run(&["convert", "-O", "raw", "-B", "base.qcow2", "-F", "qcow2", "src.qcow2", "ovl3.raw"]);
    pair.run(&["convert", "-O", "qcow2", "-F", "qcow2", "src.qcow2", "ovl4.qcow2"]);
}

#[test]
fn errors() {
    let pair = Pair::new("errors", &[(&corpus_file("qcow2/v3-std.qcow2"), "src.qcow2")]);
    pair.run(&["convert", "nonexistent.qcow2", "out"]);
    pair.run(&["convert", "-c", "-O", "raw", "src.qcow2", "out"]);
    pair.run(&["convert", "-O", "qcow2", "-o", "cluster_size=1000", "src.qcow2", "out"]);
    pair.run(&["convert", "-O", "qcow2", "-o", "foo=bar", "src.qcow2", "out"]);
    pair.run(&["convert", "-O", "foo", "src.qcow2", "out"]);
    pair.run(&["convert", "-t", "bogus", "-O", "qcow2", "src.qcow2", "out2"]);
    pair.run(&["convert", "-p", "nonexistent.qcow2", "out"]);
    pair.run(&["convert", "-f", "raw", "src.qcow2", "src.qcow2"]);
}

#[test]
fn qemu_io_reads_back_what_qimg_wrote() {
    let dir = scratch("convert-qemu-io");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "src.qcow2", "64M"]);
    for (pat, off, len) in [("0x11", "0", "64k"), ("0x22", "1M", "4k"), ("0x33", "5M+0", "1M"), ("0x44", "63M", "1M")] {
        let off = off.trim_end_matches("+0");
        tool(&dir, "qemu-io", &["-f", "qcow2", "-c", &format!("write -P {pat} {off} {len}"), "src.qcow2"]);
    }
    tool(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -c -P 0x55 2M 64k", "src.qcow2"]);
    tool(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -z 5M 64k", "src.qcow2"]);
    for (out, opts) in [("a.qcow2", vec!["-O", "qcow2"]), ("b.qcow2", vec!["-O", "qcow2", "-c"]), ("c.raw", vec!["-O", "raw"])] {
        let mut args = vec!["convert"];
        args.extend(opts.iter().copied());
        args.extend(["src.qcow2", out]);
        assert_eq!(qimg(&dir, &args).code, 0);
        let fmt = if out.ends_with("raw") { "raw" } else { "qcow2" };
        for (pat, off, len) in
            [("0x11", "0", "64k"), ("0x22", "1M", "4k"), ("0x55", "2M", "64k"), ("0x00", "5M", "64k"), ("0x33", "6M-960k", "0"), ("0x44", "63M", "1M")]
        {
            if len == "0" {
                let _ = off;
                continue;
            }
            tool(&dir, "qemu-io", &["-f", fmt, "-c", &format!("read -P {pat} {off} {len}"), out]);
        }
    }
}

#[test]
fn snapshots_and_salvage() {
    let pair = Pair::new(
        "snapshots",
        &[
            (&corpus_file("qcow2/snapshots.qcow2"), "snap.qcow2"),
            (&corpus_file("broken/unaligned-l2.qcow2"), "ua.qcow2"),
            (&corpus_file("raw/std.raw"), "std.raw"),
        ],
    );
    for l in ["snap1", "1", "2", "snapshot.id=1", "snapshot.name=snap2", "snapshot.id=1,snapshot.name=snap2", "nope"] {
        let out = format!("s-{}.raw", l.replace(['=', ','], "_"));
        let r = pair.run(&["convert", "-l", l, "-O", "raw", "snap.qcow2", &out]);
        if r.code == 0 {
            pair.same_data(&out, "raw");
        }
    }
    pair.run(&["convert", "-l", "snap1", "-O", "raw", "std.raw", "x.raw"]);
    pair.run(&["convert", "-O", "raw", "ua.qcow2", "ua.raw"]);
    pair.run(&["convert", "--salvage", "-O", "raw", "ua.qcow2", "ua2.raw"]);
    // Known difference: qemu leaves salvaged (zeroed) sectors unallocated
    // where qimg writes them; the data is the same.
    pair.same_contents("ua2.raw", "raw");
}

#[test]
fn sigusr1_prints_progress_on_stderr() {
    let dir = scratch("convert-sigusr1");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "raw", "src.raw", "8M"]);
    tool(&dir, "qemu-io", &["-f", "raw", "-c", "write -P 0x5a 0 8M", "src.raw"]);
    // 2 MiB/s: the copy takes about four seconds.
    let child = std::process::Command::new(crate::support::qimg_path())
        .args(["convert", "-r", "2M", "-f", "raw", "-O", "raw", "src.raw", "out.raw"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().next().unwrap_or_default();
    assert!(line.starts_with("    (") && line.ends_with("/100%)"), "stderr: {err:?}");
}

/// A read error in the middle of a long conversion stops it with qemu's
/// message instead of leaving the workers waiting for each other.
#[test]
fn read_error_midway_stops_every_mode() {
    let dir = scratch("convert-midway-error");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "c.qcow2", "8M"]);
    let writes: Vec<String> = (0..128).map(|i| format!("write -c -P {} {}k 64k", i % 250 + 1, i * 64)).collect();
    let mut args = vec!["-f", "qcow2"];
    for w in &writes {
        args.extend(["-c", w.as_str()]);
    }
    args.push("c.qcow2");
    tool(&dir, "qemu-io", &args);
    let mut img = std::fs::read(dir.join("c.qcow2")).unwrap();
    let (host, compressed) = crate::support::qcow2_host_cluster(&img, 5 << 20).unwrap();
    assert!(compressed);
    img[host as usize..host as usize + 64].fill(0xff);
    std::fs::write(dir.join("c.qcow2"), img).unwrap();
    let pair = Pair::new("midway", &[(&dir.join("c.qcow2"), "c.qcow2")]);
    for extra in [&[][..], &["-W"][..], &["-c", "-O", "qcow2"][..], &["-m", "1"][..]] {
        let mut a = vec!["convert"];
        a.extend_from_slice(extra);
        a.extend(["c.qcow2", "out.img"]);
        let r = pair.run(&a);
        assert_eq!(r.code, 1, "{a:?}");
    }
}

/// `--bitmaps`: the persistent bitmaps reach a qcow2 target with the same
/// names, granularities and flags; qemu's refusals (several sources, a
/// source or target without bitmaps, an inconsistent bitmap) and warnings
/// (`--skip-broken-bitmaps`) come out the same, in the same order.
#[test]
fn bitmaps_are_copied() {
    let pair = Pair::new(
        "bitmaps",
        &[(&corpus_file("qcow2/bitmaps.qcow2"), "bm.qcow2"), (&corpus_file("raw/std.raw"), "std.raw")],
    );
    for d in [&pair.qemu, &pair.ours] {
        tool(d, "qemu-img", &["create", "-q", "-f", "qcow2", "two.qcow2", "64M"]);
        tool(d, "qemu-img", &["bitmap", "--add", "two.qcow2", "b1"]);
        tool(d, "qemu-img", &["bitmap", "--add", "-g", "512", "--disable", "two.qcow2", "b2"]);
        tool(d, "qemu-io", &["-f", "qcow2", "-c", "write -P 7 0 1M", "two.qcow2"]);
        std::fs::copy(d.join("two.qcow2"), d.join("broken.qcow2")).unwrap();
        let out = std::process::Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "write 2M 64k", "-c", "abort", "broken.qcow2"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    for (src, out) in [("bm.qcow2", "o1.qcow2"), ("two.qcow2", "o2.qcow2")] {
        pair.run(&["convert", "--bitmaps", "-O", "qcow2", src, out]);
        pair.same_contents(out, "qcow2");
        let info = |d: &Path| tool(d, "qemu-img", &["info", out]).lines().filter(|l| !l.contains("disk size")).collect::<Vec<_>>().join("\n");
        assert_eq!(info(&pair.ours), info(&pair.qemu), "info of {out}");
        assert_eq!(qemu_img(&pair.ours, &["check", out]).code, 0, "check of {out}");
        for name in ["b1", "b2", "bm-enabled", "bm-disabled"] {
            let (ours, theirs) = (dirty_bits(&pair.ours, out, name), dirty_bits(&pair.qemu, out, name));
            assert_eq!(ours, theirs, "bits of {name} in {out}");
            assert_eq!(ours, dirty_bits(&pair.ours, src, name), "bits of {name} in {out} and {src}");
        }
    }
    pair.run(&["convert", "--bitmaps", "-O", "qcow2", "bm.qcow2", "two.qcow2", "x.qcow2"]);
    pair.run(&["convert", "--bitmaps", "-O", "qcow2", "std.raw", "x.qcow2"]);
    pair.run(&["convert", "--bitmaps", "-O", "raw", "two.qcow2", "x.raw"]);
    pair.run(&["convert", "--bitmaps", "-O", "qcow2", "-o", "compat=0.10", "two.qcow2", "x2.qcow2"]);
    pair.run(&["convert", "--bitmaps", "-O", "qcow2", "broken.qcow2", "x3.qcow2"]);
    pair.run(&["convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", "broken.qcow2", "o3.qcow2"]);
    pair.same_contents("o3.qcow2", "qcow2");
}

/// The dirty ranges of bitmap `name` of qcow2 image `file` in `dir`, as
/// qemu sees them: exported by `qemu-nbd -B`, listed by `qemu-img map`
/// (empty when the image has no such bitmap).
fn dirty_bits(dir: &Path, file: &str, name: &str) -> String {
    let sock = dir.join(format!("{file}.{name}.sock"));
    let served = std::process::Command::new("qemu-nbd")
        .args(["--fork", "-r", "-f", "qcow2", "-B", name, "-k"])
        .arg(&sock)
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap();
    if !served.status.success() {
        return String::new();
    }
    let opts = format!(
        "driver=nbd,server.type=unix,server.path={},x-dirty-bitmap=qemu:dirty-bitmap:{name}",
        sock.display()
    );
    tool(dir, "qemu-img", &["map", "--output=json", "--image-opts", &opts])
}
