//! Every raw and qcow2 corpus image converts to raw with the guest data its
//! manifest records, and images qemu-img refuses are refused.

#[path = "../../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use qimg_runtime::convert::{convert, Request};
use qimg_runtime::image_ref::ImageRef;
use qimg_runtime::secret::SecretStore;
use std::path::Path;
use std::process::Command;

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// What a conversion reads and writes.
struct Names {
    sources: Vec<ImageRef>,
    target: ImageRef,
    secrets: SecretStore,
}

fn names(src: &str, fmt: &str, dst: &str) -> Names {
    Names { sources: vec![ImageRef::file(src, Some(fmt))], target: ImageRef::file(dst, None), secrets: SecretStore::new() }
}

fn request<'a>(n: &'a Names, out_fmt: &'a str) -> Request<'a> {
    Request {
        sources: &n.sources,
        target: &n.target,
        secrets: &n.secrets,
        target_format: out_fmt,
        options: None,
        backing: None,
        backing_format: None,
        no_create: false,
        target_is_zero: false,
        compress: false,
        sparse_size: 4096,
        parallel: 8,
        oob_writes: false,
        rate_limit: 0,
        target_cache: "unsafe",
        force_share: false,
        snapshot: None,
        salvage: false,
        copy_offload: false,
        bitmaps: None,
    }
}

#[test]
fn corpus_images_read_back_to_their_checksums() {
    let dir = corpus::dir();
    // External data file names are relative to the working directory, as in qemu.
    std::env::set_current_dir(&dir).unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("convert-corpus");
    std::fs::create_dir_all(&out).unwrap();
    let mut checked = 0;
    for e in corpus::entries() {
        if !(e.format == "raw" || e.format == "qcow2") || e.secret.is_some() {
            continue;
        }
        let dst = out.join("out.raw");
        let src = e.path.to_str().unwrap();
        let n = names(src, &e.format, dst.to_str().unwrap());
        let r = convert(&request(&n, "raw"), &|_| {}, &|_, _| {});
        match &e.guest_sha256 {
            Some(sum) => {
                r.unwrap_or_else(|err| panic!("{}: {err}", e.path.display()));
                assert_eq!(&sha256(&dst), sum, "{}", e.path.display());
                checked += 1;
            }
            None => {
                let q = Command::new("qemu-img")
                    .args(["convert", "-f", &e.format, "-O", "raw", src])
                    .arg(out.join("qemu.raw"))
                    .status()
                    .unwrap();
                assert_eq!(r.is_ok(), q.success(), "{}: qimg and qemu-img disagree", e.path.display());
            }
        }
    }
    assert!(checked > 35, "{checked} images checked");
}

#[test]
fn qcow2_targets_compare_equal_and_check_clean() {
    let dir = corpus::dir();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("convert-qcow2");
    std::fs::create_dir_all(&out).unwrap();
    for name in ["raw/std.raw", "qcow2/v3-std.qcow2", "qcow2/compressed-zlib.qcow2", "qcow2/extended-l2.qcow2", "qcow2/chain-top.qcow2"] {
        let src = dir.join(name);
        let fmt = if name.ends_with(".raw") { "raw" } else { "qcow2" };
        for compress in [false, true] {
            let dst = out.join(if compress { "c.qcow2" } else { "n.qcow2" });
            let n = names(src.to_str().unwrap(), fmt, dst.to_str().unwrap());
            let mut req = request(&n, "qcow2");
            req.compress = compress;
            convert(&req, &|_| {}, &|_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
            let check = Command::new("qemu-img").args(["check", "-f", "qcow2"]).arg(&dst).output().unwrap();
            assert!(check.status.success(), "{name}: check: {}", String::from_utf8_lossy(&check.stdout));
            let cmp = Command::new("qemu-img").args(["compare", "-f", fmt, "-F", "qcow2"]).arg(&src).arg(&dst).output().unwrap();
            assert!(cmp.status.success(), "{name} (compress {compress}): {}", String::from_utf8_lossy(&cmp.stdout));
        }
    }
}
