//! `snapshot -c/-d/-a` killed before each of its file changes: `qemu-img
//! check` must find no corruption (leaks are allowed), the snapshot list
//! must be the old one or the new one, and every snapshot that is listed,
//! like the active image, must hold its data.

use crate::crash_support::{no_corruption, run, Scenario};
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
/// over both (so some clusters are shared and some are not), made in `dir`.
fn make_template(dir: &Path) {
    tool(dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", IMAGE, "32M"]);
    tool(dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x11 0 8M", "-c", "write -c -P 0x12 8M 1M", IMAGE]);
    tool(dir, "qemu-img", &["snapshot", "-c", "first", IMAGE]);
    tool(dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x21 1M 2M", "-c", "write -z 4M 1M", "-c", "write -P 0x22 20M 2M", IMAGE]);
    tool(dir, "qemu-img", &["snapshot", "-c", "second", IMAGE]);
    tool(dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x31 6M 1M", "-c", "discard 20M 512k", IMAGE]);
}

/// What is wrong with `now`, which must be `before` or `after` (or, for
/// each snapshot and the active data, one of the two).
fn judge(now: &State, before: &State, after: &State, completed: bool) -> Option<String> {
    if completed && now.snapshots.len() != after.snapshots.len() {
        return Some(format!("finished with snapshots {:?}", now.snapshots));
    }
    let old_list = now.snapshots.keys().eq(before.snapshots.keys());
    let new_list = now.snapshots.keys().eq(after.snapshots.keys());
    if !(old_list || new_list) {
        return Some(format!("snapshots {:?}", now.snapshots));
    }
    for (id, (name, hash)) in &now.snapshots {
        let known = before.snapshots.get(id).or_else(|| after.snapshots.get(id))?;
        if (name, hash) != (&known.0, &known.1) {
            return Some(format!("snapshot {id} is {name} {hash}, not {known:?}"));
        }
    }
    (now.active != before.active && now.active != after.active)
        .then(|| "active data is neither the old nor the new".to_string())
}

/// Runs `args` at every crash point and checks each result against the
/// state before and after.
fn crash_test(name: &str, args: &[&str]) {
    let probe = scratch(&format!("crash_snapshot/{name}/probe"));
    make_template(&probe);
    let before = state(&probe);
    tool(&probe, crate::support::qimg_path(), args);
    let after = state(&probe);
    assert_ne!(before, after, "`{}` changed nothing", args.join(" "));
    let figures = run(&Scenario {
        name: &format!("snapshot-{name}"),
        prepare: &make_template,
        args,
        judge: &|dir, _point, completed| {
            no_corruption(dir, IMAGE).or_else(|| judge(&state(dir), &before, &after, completed))
        },
        max_trials: 400,
    });
    assert!(figures.failures.is_empty(), "`{}`: {:?}", args.join(" "), figures.failures);
    assert!(figures.trials >= 5, "too few crash points: {figures:?}");
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
