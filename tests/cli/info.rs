//! `info` prints what qemu-img prints, on every raw and qcow2 corpus image
//! and on broken and hostile ones.

use crate::corpus;
use crate::support::{same, same_env, scratch, tool, Holder};
use std::path::Path;

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned()
}

#[test]
fn every_raw_and_qcow2_corpus_image() {
    let dir = corpus::dir();
    let images: Vec<_> = corpus::entries().into_iter().filter(|e| e.format == "raw" || e.format == "qcow2").collect();
    assert!(images.len() > 40);
    for e in &images {
        let name = rel(&dir, &e.path);
        same(&dir, &["info", &name]);
        same(&dir, &["info", "--output=json", &name]);
        same(&dir, &["info", "-f", &e.format, "--output", "json", &name]);
        same(&dir, &["info", "-U", &name]);
        same(&dir, &["info", "--backing-chain", &name]);
        same(&dir, &["info", "--backing-chain", "--output=json", &name]);
    }
}

#[test]
fn snapshot_dates_follow_tz() {
    let dir = corpus::dir();
    for tz in ["UTC", "America/New_York", "Asia/Kolkata"] {
        same_env(&dir, &["info", "qcow2/snapshots.qcow2"], &[("TZ", tz)]);
    }
}

#[test]
fn paths_from_other_directories() {
    let dir = corpus::dir();
    let parent = dir.parent().expect("corpus has a parent");
    let base = dir.file_name().unwrap().to_string_lossy().into_owned();
    same(parent, &["info", &format!("{base}/qcow2/chain-top.qcow2")]);
    same(parent, &["info", "--backing-chain", &format!("{base}/qcow2/chain-top.qcow2")]);
    same(parent, &["info", "--output=json", "--backing-chain", &format!("{base}/qcow2/backing-raw.qcow2")]);
    let abs = dir.join("qcow2/chain-mid.qcow2");
    same(&dir, &["info", "--output=json", abs.to_str().unwrap()]);
}

#[test]
fn missing_files_and_wrong_formats() {
    let dir = corpus::dir();
    same(&dir, &["info", "nonexistent.qcow2"]);
    same(&dir, &["info", "qcow2"]);
    same(&dir, &["info", "-f", "qcow2", "raw/std.raw"]);
    same(&dir, &["info", "-f", "raw", "qcow2/v3-std.qcow2"]);
    same(&dir, &["info", "-f", "foo", "raw/std.raw"]);
    same(&dir, &["info", "--backing-chain", "qcow2/backing-missing.qcow2"]);
}

/// A qcow2 header with one field replaced.
fn patched(dir: &Path, name: &str, offset: usize, value: &[u8]) -> String {
    let mut b = std::fs::read(corpus::dir().join("qcow2/v3-std.qcow2")).unwrap();
    b[offset..offset + value.len()].copy_from_slice(value);
    std::fs::write(dir.join(name), b).unwrap();
    name.to_string()
}

#[test]
fn hostile_headers_get_qemus_messages() {
    let dir = scratch("info-hostile");
    let cases: Vec<(usize, Vec<u8>)> = vec![
        (4, 1u32.to_be_bytes().to_vec()),
        (4, 4u32.to_be_bytes().to_vec()),
        (20, 40u32.to_be_bytes().to_vec()),
        (20, 8u32.to_be_bytes().to_vec()),
        (24, (i64::MAX as u64).to_be_bytes().to_vec()),
        (36, 0x7fff_ffffu32.to_be_bytes().to_vec()),
        (36, 0u32.to_be_bytes().to_vec()),
        (40, 0x12345u64.to_be_bytes().to_vec()),
        (48, 0x12345u64.to_be_bytes().to_vec()),
        (56, 0x7fff_ffffu32.to_be_bytes().to_vec()),
        (56, 0u32.to_be_bytes().to_vec()),
        (60, 0xffff_ffffu32.to_be_bytes().to_vec()),
        (64, 0x200u64.to_be_bytes().to_vec()),
        (72, (1u64 << 20).to_be_bytes().to_vec()),
        (72, 0x2u64.to_be_bytes().to_vec()),
        (72, 0x8u64.to_be_bytes().to_vec()),
        (72, 0x10u64.to_be_bytes().to_vec()),
        (96, 7u32.to_be_bytes().to_vec()),
        (100, 100u32.to_be_bytes().to_vec()),
        (100, 0x20000u32.to_be_bytes().to_vec()),
        (104, vec![5]),
        (104, vec![1]),
        (32, 7u32.to_be_bytes().to_vec()),
        (8, 0x20000u64.to_be_bytes().to_vec()),
        (16, 2000u32.to_be_bytes().to_vec()),
        (112, 0xdeadbeefu32.to_be_bytes().to_vec()),
        (116, 0xffffu32.to_be_bytes().to_vec()),
    ];
    for (i, (off, val)) in cases.iter().enumerate() {
        let name = patched(&dir, &format!("h{i}.qcow2"), *off, val);
        same(&dir, &["info", &name]);
        same(&dir, &["info", "--output=json", &name]);
    }
}

#[test]
fn truncated_and_garbage_files() {
    let dir = scratch("info-truncated");
    let full = std::fs::read(corpus::dir().join("qcow2/v3-std.qcow2")).unwrap();
    for n in [0usize, 3, 4, 7, 8, 20, 50, 71, 72, 103, 104, 111, 112, 500, 4096, 65536, 196608, 200000] {
        let name = format!("t{n}.qcow2");
        std::fs::write(dir.join(&name), &full[..n.min(full.len())]).unwrap();
        same(&dir, &["info", &name]);
        same(&dir, &["info", "-f", "qcow2", &name]);
    }
    let mut seed = 0x2545f4914f6cdd1du64;
    for i in 0..20 {
        let mut g = Vec::new();
        for _ in 0..(4096 + i * 1000) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            g.push(seed as u8);
        }
        if i % 2 == 0 {
            g[..4].copy_from_slice(b"QFI\xfb");
            g[4..8].copy_from_slice(&3u32.to_be_bytes());
        }
        let name = format!("g{i}.bin");
        std::fs::write(dir.join(&name), &g).unwrap();
        same(&dir, &["info", &name]);
        same(&dir, &["info", "-f", "qcow2", &name]);
    }
}

#[test]
fn locks_exclude_a_running_writer() {
    let dir = scratch("info-locks");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "lk.qcow2", "1M"]);
    let holder = Holder::open(&dir, "lk.qcow2", false);
    same(&dir, &["info", "lk.qcow2"]);
    same(&dir, &["info", "-U", "lk.qcow2"]);
    holder.release();
    same(&dir, &["info", "lk.qcow2"]);
}
