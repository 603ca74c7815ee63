//! `bitmap` (and guest writes into an image with bitmaps) killed before
//! each of its file changes: `qemu-img check` must find no corruption
//! (leaks are allowed), the image must open, its guest data must be the
//! old or the new, and the bitmaps it lists must be the old set or the new
//! one (or none: a crash while the directory was being marked in use leaves
//! the extension for qemu to drop, as qemu's own crashes do).

use crate::crash_support::{no_corruption, run, Scenario};
use crate::support::{qemu_img, qimg_path, scratch, tool};
use std::path::Path;

const IMAGE: &str = "img.qcow2";

/// SHA-256 of the guest data.
fn data_hash(dir: &Path) -> String {
    tool(dir, "qemu-img", &["convert", "-O", "raw", IMAGE, "data.raw"]);
    let sum = tool(dir, "sha256sum", &["data.raw"]);
    let _ = std::fs::remove_file(dir.join("data.raw"));
    sum.split_whitespace().next().unwrap_or("").to_string()
}

/// The bitmap names `qemu-img info` lists, in order.
fn bitmap_names(dir: &Path) -> Vec<String> {
    let r = qemu_img(dir, &["info", IMAGE]);
    assert_eq!(r.code, 0, "info: {}", r.stderr);
    r.stdout.lines().filter_map(|l| l.trim().strip_prefix("name: ").map(str::to_string)).collect()
}

/// Bitmaps of three granularities with bits set, one left in use by a
/// crashed qemu-io, guest data, and a raw source for `convert -n`, made in `dir`.
fn make_template(dir: &Path) {
    tool(dir, "qemu-img", &["create", "-q", "-f", "qcow2", IMAGE, "64M"]);
    tool(dir, "qemu-img", &["bitmap", "--add", "-g", "512", IMAGE, "bad"]);
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "abort", IMAGE])
        .current_dir(dir)
        .output()
        .expect("run qemu-io");
    assert!(!out.status.success());
    tool(dir, "qemu-img", &["bitmap", "--add", IMAGE, "b0"]);
    tool(dir, "qemu-img", &["bitmap", "--add", "-g", "512", IMAGE, "fine"]);
    tool(dir, "qemu-img", &["bitmap", "--add", "-g", "2M", "--disable", IMAGE, "coarse"]);
    tool(dir, "qemu-io", &["-f", "qcow2", "-c", "write -P 2 1M 3M", "-c", "write -z 8M 1M", "-c", "write -P 3 60M 64k", IMAGE]);
    tool(dir, "qemu-img", &["create", "-q", "-f", "raw", "src.raw", "64M"]);
    tool(dir, "qemu-io", &["-f", "raw", "-c", "write -P 4 0 2M", "-c", "write -P 5 40M 64k", "src.raw"]);
}

/// Runs `args` at every crash point (at most `max_runs`) and checks each
/// result; `whole_data`: the guest data must be all old or all new (not
/// for a copy, which a crash leaves half done).
fn crash_test(name: &str, args: &[&str], max_runs: u64, whole_data: bool) {
    let probe = scratch(&format!("crash_bitmap/{name}/probe"));
    make_template(&probe);
    let (before_data, before_names) = (data_hash(&probe), bitmap_names(&probe));
    tool(&probe, qimg_path(), args);
    let (after_data, after_names) = (data_hash(&probe), bitmap_names(&probe));
    let judge = |dir: &Path, _: u64, completed: bool| {
        if let Some(why) = no_corruption(dir, IMAGE) {
            return Some(why);
        }
        let names = bitmap_names(dir);
        if completed && names != after_names {
            return Some(format!("finished with bitmaps {names:?}"));
        }
        if !(names == before_names || names == after_names || names.is_empty()) {
            return Some(format!("bitmaps {names:?}"));
        }
        let data = if whole_data { data_hash(dir) } else { before_data.clone() };
        (data != before_data && data != after_data).then(|| "data is neither the old nor the new".to_string())
    };
    let figures =
        run(&Scenario { name: &format!("bitmap-{name}"), prepare: &make_template, args, judge: &judge, max_trials: max_runs });
    assert!(figures.failures.is_empty(), "`{}`: {:?}", args.join(" "), figures.failures);
    assert!(figures.trials >= 5, "too few crash points: {figures:?}");
}

#[test]
fn add_survives_every_crash_point() {
    crash_test("add", &["bitmap", "--add", IMAGE, "new"], 400, true);
}

#[test]
fn remove_survives_every_crash_point() {
    crash_test("remove", &["bitmap", "--remove", IMAGE, "fine"], 400, true);
}

#[test]
fn merge_and_clear_survive_every_crash_point() {
    crash_test("merge", &["bitmap", "--merge", "fine", "--enable", IMAGE, "coarse"], 400, true);
    crash_test("clear", &["bitmap", "--clear", "--disable", IMAGE, "b0"], 400, true);
}

#[test]
fn guest_writes_with_bitmaps_survive_crashes() {
    crash_test("convert", &["convert", "-n", "-O", "qcow2", "-f", "raw", "src.raw", IMAGE], 150, false);
}
