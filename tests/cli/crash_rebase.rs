//! A safe `rebase` killed at every point leaves an overlay without
//! corruption whose guest view is unchanged: still over the old backing
//! file with some clusters copied, or already over the new one.

use crate::crash_support::{guest_data, no_corruption, run, Scenario};
use crate::support::{create, qemu_io};
use std::path::Path;

/// base (data 0..3M) <- mid (data 1M..5M) <- top (writes), and `new`, a
/// different file to rebase onto; `want.raw` is top's guest view.
fn prepare(d: &Path) {
    create(d, &["-f", "qcow2", "base.qcow2", "8M"]);
    qemu_io(d, "qcow2", "base.qcow2", &["write -P 0x11 0 3M"]);
    create(d, &["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2"]);
    qemu_io(d, "qcow2", "mid.qcow2", &["write -P 0x22 1M 4M", "write -z 6M 64k"]);
    create(d, &["-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2"]);
    qemu_io(d, "qcow2", "top.qcow2", &["write -P 0x33 100k 10k", "write -P 0x44 4M 128k"]);
    create(d, &["-f", "qcow2", "new.qcow2", "6M"]);
    qemu_io(d, "qcow2", "new.qcow2", &["write -P 0x55 0 6M"]);
    std::fs::write(d.join("want.raw"), guest_data(d, "top.qcow2", "qcow2")).expect("write guest data");
}

fn judge(d: &Path, _: u64, _: bool) -> Option<String> {
    no_corruption(d, "top.qcow2").or_else(|| {
        let want = std::fs::read(d.join("want.raw")).expect("read guest data");
        (guest_data(d, "top.qcow2", "qcow2") != want).then(|| "the overlay's guest data changed".to_string())
    })
}

fn check(name: &str, args: &[&str]) {
    let figures = run(&Scenario { name, prepare: &prepare, args, judge: &judge, max_trials: 120 });
    assert!(figures.changes > 2, "{name}: the rebase changed the file only {} times", figures.changes);
    assert!(figures.failures.is_empty(), "{name}: {:?}", figures.failures);
}

#[test]
fn safe_rebase_onto_another_file() {
    check("rebase-new", &["rebase", "-b", "new.qcow2", "-F", "qcow2", "top.qcow2"]);
}

#[test]
fn safe_rebase_onto_the_chain_base_and_flatten() {
    check("rebase-base", &["rebase", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2"]);
    check("rebase-flatten", &["rebase", "-c", "-b", "", "top.qcow2"]);
}
