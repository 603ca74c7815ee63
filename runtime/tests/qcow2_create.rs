//! qcow2 images created by the runtime equal, byte for byte, the ones
//! qemu-img 10.0.2 creates with the same options.

use qimg_runtime::format::qcow2::create::{create, CreateOptions, Prealloc};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qcow2-create").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn same_files(a: &Path, b: &Path) -> Result<(), String> {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    if x.len() != y.len() {
        return Err(format!("length {} vs {}", x.len(), y.len()));
    }
    match x.iter().zip(&y).position(|(p, q)| p != q) {
        Some(i) => Err(format!("first difference at byte {i:#x}")),
        None => Ok(()),
    }
}

/// Creates with qemu-img (`-o` string) and with the runtime, and compares
/// the images (and the external data files). Paths are absolute so that the
/// data file name recorded in the header is the same for both.
fn check(label: &str, size: &str, qemu_opts: &str, mut o: CreateOptions) {
    let dir = scratch(label);
    let (q, r) = (dir.join("qemu.qcow2"), dir.join("qimg.qcow2"));
    let data = dir.join("image.data");
    let mut opts = qemu_opts.to_string();
    if o.data_file.is_some() {
        o.data_file = Some(data.to_string_lossy().into_owned());
        opts = format!("{opts},data_file={}", data.display()).trim_start_matches(',').to_string();
    }
    let mut cmd = Command::new("qemu-img");
    cmd.args(["create", "-q", "-f", "qcow2"]);
    if !opts.is_empty() {
        cmd.args(["-o", &opts]);
    }
    if let Some(b) = &o.backing_file {
        cmd.args(["-u", "-b", b, "-F", o.backing_format.as_deref().unwrap_or("raw")]);
    }
    let st = cmd.arg(&q).arg(size).status().unwrap();
    assert!(st.success(), "{label}: qemu-img create failed");
    let qemu_data = dir.join("qemu.data");
    if o.data_file.is_some() {
        std::fs::rename(&data, &qemu_data).unwrap();
    }
    create(r.to_str().unwrap(), &o).unwrap_or_else(|e| panic!("{label}: {e}"));
    same_files(&q, &r).unwrap_or_else(|e| panic!("{label}: image: {e}"));
    if o.data_file.is_some() {
        same_files(&qemu_data, &data).unwrap_or_else(|e| panic!("{label}: data file: {e}"));
    }
}

fn sized(size: u64) -> CreateOptions {
    CreateOptions { size, ..CreateOptions::default() }
}

#[test]
fn default_and_sizes() {
    for (s, n) in [("0", 0u64), ("1", 512), ("1000000", 1000000), ("64M", 64 << 20), ("1G", 1 << 30), ("100G", 100 << 30), ("16T", 16 << 40)] {
        check(&format!("default-{s}"), s, "", sized(n));
    }
}

#[test]
fn cluster_sizes_and_refcount_widths() {
    for (cs, size, sz) in [(512u64, "64M", 64u64 << 20), (512, "1G", 1 << 30), (4096, "1G", 1 << 30), (2 << 20, "64M", 64 << 20)] {
        let o = CreateOptions { size: sz, cluster_size: cs, cluster_size_given: true, ..CreateOptions::default() };
        check(&format!("cs{cs}-{size}"), size, &format!("cluster_size={cs}"), o);
    }
    for rb in [1u64, 2, 8, 32, 64] {
        let o = CreateOptions { size: 1 << 30, refcount_bits: rb, ..CreateOptions::default() };
        check(&format!("rb{rb}"), "1G", &format!("refcount_bits={rb}"), o);
    }
    let o = CreateOptions { size: 1 << 30, cluster_size: 512, refcount_bits: 1, ..CreateOptions::default() };
    check("cs512-rb1", "1G", "cluster_size=512,refcount_bits=1", o);
}

#[test]
fn features() {
    check("v2", "64M", "compat=0.10", CreateOptions { size: 64 << 20, version: 2, ..CreateOptions::default() });
    check("lazy", "64M", "lazy_refcounts=on", CreateOptions { size: 64 << 20, lazy_refcounts: true, ..CreateOptions::default() });
    check("zstd", "64M", "compression_type=zstd", CreateOptions { size: 64 << 20, zstd: true, ..CreateOptions::default() });
    check("extl2", "1G", "extended_l2=on", CreateOptions { size: 1 << 30, extended_l2: true, ..CreateOptions::default() });
    let b = CreateOptions {
        size: 64 << 20,
        backing_file: Some("base.qcow2".into()),
        backing_format: Some("qcow2".into()),
        ..CreateOptions::default()
    };
    check("backing", "64M", "", b);
    let d = CreateOptions { size: 64 << 20, data_file: Some(String::new()), ..CreateOptions::default() };
    check("data-file", "64M", "", d.clone());
    check("data-file-raw", "64M", "data_file_raw=on", CreateOptions { data_file_raw: true, ..d.clone() });
    let p = CreateOptions { size: 1000000, preallocation: Prealloc::Metadata, ..d.clone() };
    check("data-file-metadata", "1000000", "preallocation=metadata", p);
    let p = CreateOptions { size: 1000000, preallocation: Prealloc::Full, ..d };
    check("data-file-full", "1000000", "preallocation=full", p);
    let e = CreateOptions {
        size: 64 << 20,
        extended_l2: true,
        preallocation: Prealloc::Metadata,
        backing_file: Some("base.qcow2".into()),
        backing_format: Some("qcow2".into()),
        ..CreateOptions::default()
    };
    check("extl2-backing-metadata", "64M", "extended_l2=on,preallocation=metadata", e);
}

#[test]
fn preallocation_modes() {
    for (mode, p) in [("metadata", Prealloc::Metadata), ("falloc", Prealloc::Falloc), ("full", Prealloc::Full)] {
        for (s, n) in [("0", 0u64), ("1000000", 1000000), ("64M", 64 << 20)] {
            check(&format!("{mode}-{s}"), s, &format!("preallocation={mode}"), CreateOptions { size: n, preallocation: p, ..CreateOptions::default() });
        }
        let o = CreateOptions { size: 64 << 20, cluster_size: 4096, preallocation: p, ..CreateOptions::default() };
        check(&format!("{mode}-cs4k"), "64M", &format!("preallocation={mode},cluster_size=4096"), o);
        let o = CreateOptions { size: 16 << 20, cluster_size: 512, preallocation: p, ..CreateOptions::default() };
        check(&format!("{mode}-cs512"), "16M", &format!("preallocation={mode},cluster_size=512"), o);
    }
    let o = CreateOptions { size: 1000000, extended_l2: true, preallocation: Prealloc::Metadata, ..CreateOptions::default() };
    check("extl2-metadata", "1000000", "extended_l2=on,preallocation=metadata", o);
}

#[test]
fn big_l1_grows_the_refcount_table() {
    let o = CreateOptions { size: 100 << 30, cluster_size: 512, ..CreateOptions::default() };
    check("cs512-100G", "100G", "cluster_size=512", o);
}
