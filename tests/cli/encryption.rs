//! Encrypted images and `--image-opts` through the CLI: `--object secret`
//! definitions, key secrets and `encrypt.format` in option strings, the
//! `json:` names qemu shows, and qemu's errors, for info, map, compare and
//! convert.

use crate::corpus;
use crate::support::{qimg_path, same, scratch, tool};
use std::process::Command;

const SECRET: &str = "secret,id=s,data=corpus-secret";

fn opts(driver: &str, file: &str, extra: &str) -> String {
    format!("driver={driver},file.filename={file}{extra}")
}

#[test]
fn info_map_compare_of_encrypted_images() {
    let dir = corpus::dir();
    for (driver, file, key) in [
        ("qcow2", "qcow2/luks.qcow2", ",encrypt.key-secret=s"),
        ("qcow2", "qcow2/aes.qcow2", ",encrypt.key-secret=s"),
        ("luks", "luks/std.luks", ",key-secret=s"),
    ] {
        let o = opts(driver, file, key);
        same(&dir, &["info", "--object", SECRET, "--image-opts", &o]);
        same(&dir, &["info", "--output=json", "--object", SECRET, "--image-opts", &o]);
        same(&dir, &["map", "--output=json", "--object", SECRET, "--image-opts", &o]);
        same(&dir, &["map", "--object", SECRET, "--image-opts", &o]);
        same(&dir, &["compare", "--object", SECRET, "--image-opts", &o, &opts("raw", "raw/std.raw", "")]);
        // Without the secret, or with the wrong encryption format.
        same(&dir, &["map", "--image-opts", &o]);
        same(&dir, &["map", "--object", "secret,id=s,data=wrong", "--image-opts", &o]);
        same(&dir, &["info", "--image-opts", &format!("{o},encrypt.format=aes")]);
    }
}

#[test]
fn image_opts_names_and_errors() {
    let dir = corpus::dir();
    for o in [
        "file.filename=qcow2/std.qcow2",
        "driver=qcow2,file.filename=qcow2/std.qcow2,lazy-refcounts=on",
        "driver=qcow2,file.filename=qcow2/std.qcow2,lazy-refcounts",
        "driver=qcow2,file.filename=qcow2/std.qcow2,bogus=1",
        "driver=qcow2,file.filename=raw/std.raw",
        "driver=qcow2,file.filename=missing.qcow2",
        "driver=nope,file.filename=qcow2/std.qcow2",
        "file.filename=qcow2/std.qcow2,encrypt.format=luks",
    ] {
        same(&dir, &["info", "--image-opts", o]);
        same(&dir, &["info", "--output=json", "--image-opts", o]);
        same(&dir, &["map", "--output=json", "--image-opts", o]);
    }
    same(&dir, &["info", "--object", "secret,id=s,file=/nonexistent", "qcow2/std.qcow2"]);
    same(&dir, &["info", "--object", "secret,id=s,data=x,keyid=k", "qcow2/std.qcow2"]);
}

#[test]
fn convert_from_and_into_encrypted_images() {
    let corpus = corpus::dir();
    let dir = scratch("encryption-convert");
    let luks = corpus.join("qcow2/luks.qcow2");
    let src = opts("qcow2", luks.to_str().unwrap(), ",encrypt.key-secret=s");
    for tool_name in ["qemu-img", qimg_path()] {
        let out = dir.join(format!("{}.raw", if tool_name == "qemu-img" { "qemu" } else { "qimg" }));
        let status = Command::new(tool_name)
            .args(["convert", "--object", SECRET, "--image-opts", &src, "-O", "raw", out.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    same(&dir, &["compare", "qemu.raw", "qimg.raw"]);
    // Into an existing encrypted image (--target-image-opts needs -n).
    std::fs::copy(&luks, dir.join("t.qcow2")).unwrap();
    let target = opts("qcow2", "t.qcow2", ",encrypt.key-secret=s");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "raw", "pattern.raw", "64M"]);
    tool(&dir, "qemu-io", &["-f", "raw", "-c", "write -P 0x5a 1M 3M", "pattern.raw"]);
    let q = Command::new(qimg_path())
        .args(["convert", "-n", "--object", SECRET, "--target-image-opts", "pattern.raw", &target])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    same(&dir, &["compare", "--object", SECRET, "--image-opts", &opts("raw", "pattern.raw", ""), &target]);
    tool(&dir, "qemu-img", &["check", "-q", "--object", SECRET, "--image-opts", &target]);
}

/// Errors go to stderr before the buffered stdout, as with qemu-img's stdio.
#[test]
fn stderr_comes_before_buffered_stdout() {
    let dir = corpus::dir();
    let o = opts("qcow2", "qcow2/aes.qcow2", ",encrypt.key-secret=s");
    let run = |program: &str| {
        let script = format!("exec -a qemu-img {program} map --object {SECRET} --image-opts {o} 2>&1");
        Command::new("bash").args(["-c", &script]).current_dir(&dir).output().unwrap().stdout
    };
    assert_eq!(run(qimg_path()), run("qemu-img"));
}
