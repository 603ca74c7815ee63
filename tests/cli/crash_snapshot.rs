//! `snapshot -c/-d/-a` killed before each of its file changes: `qemu-img
//! check` must find no corruption (leaks are allowed), the snapshot list
//! must be the old one or the new one, and every snapshot that is listed,
//! like the active image, must hold its data.

use crate::crash_support::{assert_no_corruption, every_crash_point, Ending};
use crate::support::{scratch, tool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const IMAGE: &str = "img.qcow2";

/// SHA-256 of the guest data of the active image, or of snapshot `id`.
fn data_hash(dir: &Path, id: Option<&str>) -> String {
    let mut args = vec!["convert".to_string(), "-O".into(), "raw".into()];
    if let Some(id) = id {
        args.push("-l".into());
        args.push(format!("snapshot.id={id}"));
    }
    args.extend([IMAGE.to_string(), "data.raw".into()]);
    let out = Command::new("qemu-img").args(&args).current_dir(dir).output().expect("run qemu-img convert");
    assert!(out.status.success(), "convert {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let sum = tool(dir, "sha256sum", &["data.raw"]);
    let _ = std::fs::remove_file(dir.join("data.raw"));
    sum.split_whitespace().next().unwrap_or("").to_string()
}

/// The snapshots (ID → name) as qemu-img lists them.
fn listed(dir: &Path) -> BTreeMap<String, String> {
    let text = tool(dir, "qemu-img", &["snapshot", "-l", IMAGE]);
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

/// What an image holds: its snapshots and the data of each, and the active data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    snapshots: BTreeMap<String, (String, String)>,
    active: String,
}

fn state(dir: &Path) -> State {
    let snapshots = listed(dir).into_iter().map(|(id, name)| (id.clone(), (name, data_hash(dir, Some(&id))))).collect();
    State { snapshots, active: data_hash(dir, None) }
}

/// An image with 4 KiB clusters (many L2 tables and refcount blocks),
/// 12 MiB of data, two snapshots with different data, and active writes
/// over both (so some clusters are shared and some are not).
fn template(name: &str) -> std::path::PathBuf {
    let dir = scratch(&format!("crash_snapshot/{name}/template"));
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", IMAGE, "32M"]);
    tool(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x11 0 8M", "-c", "write -c -P 0x12 8M 1M", IMAGE]);
    tool(&dir, "qemu-img", &["snapshot", "-c", "first", IMAGE]);
    tool(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x21 1M 2M", "-c", "write -z 4M 1M", "-c", "write -P 0x22 20M 2M", IMAGE]);
    tool(&dir, "qemu-img", &["snapshot", "-c", "second", IMAGE]);
    tool(&dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x31 6M 1M", "-c", "discard 20M 512k", IMAGE]);
    dir
}

/// Runs `args` at every crash point and checks each result against the
/// state before and after.
fn crash_test(name: &str, args: &[&str]) {
    let template = template(name);
    let before = state(&template);
    let work = template.parent().expect("template has a parent").to_path_buf();
    let after_dir = work.join("after");
    crate::crash_support::copy_dir(&template, &after_dir);
    tool(&after_dir, crate::support::qimg_path(), args);
    let after = state(&after_dir);
    assert_ne!(before, after, "`{}` changed nothing", args.join(" "));
    let summary = every_crash_point(&template, &work, args, 400, &|dir, ending| {
        assert_no_corruption(dir, IMAGE, ending);
        let now = state(dir);
        if let Ending::Finished(code) = ending {
            assert_eq!(code, 0);
            assert_eq!(now.snapshots.len(), after.snapshots.len());
        }
        let old_list = now.snapshots.keys().eq(before.snapshots.keys());
        let new_list = now.snapshots.keys().eq(after.snapshots.keys());
        assert!(old_list || new_list, "after {ending:?}: snapshots {:?}", now.snapshots);
        for (id, (name, hash)) in &now.snapshots {
            let known = before.snapshots.get(id).or_else(|| after.snapshots.get(id));
            let (want_name, want_hash) = known.expect("listed snapshot is known");
            assert_eq!((name, hash), (want_name, want_hash), "after {ending:?}: snapshot {id}");
        }
        assert!(
            now.active == before.active || now.active == after.active,
            "after {ending:?}: active data is neither the old nor the new"
        );
    });
    eprintln!(
        "crash test `{}`: {} crash points of {} file changes, no corruption",
        args.join(" "),
        summary.crashes,
        summary.changes
    );
    assert!(summary.crashes >= 5, "too few crash points: {summary:?}");
}

#[test]
fn create_survives_every_crash_point() {
    crash_test("create", &["snapshot", "-c", "third", IMAGE]);
}

#[test]
fn delete_survives_every_crash_point() {
    crash_test("delete", &["snapshot", "-d", "first", IMAGE]);
}

#[test]
fn apply_survives_every_crash_point() {
    crash_test("apply", &["snapshot", "-a", "first", IMAGE]);
}
