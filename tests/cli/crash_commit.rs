//! `commit` killed at every file change: the base and the overlay stay free
//! of corruption, and the overlay's guest data never changes (what is
//! copied into the base is what the overlay shadows, and the overlay is
//! emptied only over a durable base) — also while the base grows and while
//! the overlay is reset to the empty layout or discarded.

use crate::crash_support::{guest_data, no_corruption, run, Scenario};
use crate::support::tool;
use std::path::Path;

/// Crashes `commit ARGS top.qcow2` on images made by `script`; `base` is
/// the image committed into.
fn crash(label: &str, script: &str, args: &[&str], base: &str) {
    let prepare = |d: &Path| {
        tool(d, "sh", &["-c", script]);
    };
    let mut argv = vec!["commit"];
    argv.extend_from_slice(args);
    argv.push("top.qcow2");
    // The overlay's guest data before any commit.
    let expected = std::cell::OnceCell::new();
    let judge = |d: &Path, _: u64, _: bool| {
        let want = expected.get_or_init(|| {
            let inputs = d.parent().expect("trial parent").join("inputs");
            guest_data(&inputs, "top.qcow2", "qcow2")
        });
        no_corruption(d, "top.qcow2")
            .or_else(|| no_corruption(d, base))
            .or_else(|| (guest_data(d, "top.qcow2", "qcow2") != *want).then(|| "the overlay's guest data changed".into()))
    };
    let figures = run(&Scenario { name: label, prepare: &prepare, args: &argv, judge: &judge, max_trials: 120 });
    assert!(figures.changes > 0, "{label}: no changes");
    assert!(figures.failures.is_empty(), "{label}: {:?}", figures.failures);
}

const CHAIN: &str = "qemu-img create -q -f qcow2 -o cluster_size=4k base.qcow2 2M && \
    qemu-io -c 'write -P 1 0 1M' base.qcow2 >/dev/null && \
    qemu-img create -q -f qcow2 -o cluster_size=4k -b base.qcow2 -F qcow2 mid.qcow2 && \
    qemu-io -c 'write -P 5 64k 64k' mid.qcow2 >/dev/null && \
    qemu-img create -q -f qcow2 -o cluster_size=4k -b mid.qcow2 -F qcow2 top.qcow2 3M && \
    qemu-io -c 'write -P 2 512k 1M' -c 'write -z 96k 8k' -c 'write -P 3 2560k 64k' top.qcow2 >/dev/null";

#[test]
fn commit_and_empty_the_top() {
    crash("commit-empty", CHAIN, &[], "mid.qcow2");
}

#[test]
fn commit_into_a_deeper_base() {
    crash("commit-deep", CHAIN, &["-b", "base.qcow2"], "base.qcow2");
}

#[test]
fn commit_and_discard_a_version_2_top() {
    let script = "qemu-img create -q -f qcow2 -o cluster_size=4k base.qcow2 2M && \
        qemu-io -c 'write -P 1 0 1M' base.qcow2 >/dev/null && \
        qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4k -b base.qcow2 -F qcow2 top.qcow2 && \
        qemu-io -c 'write -P 2 512k 1M' top.qcow2 >/dev/null";
    crash("commit-v2", script, &[], "base.qcow2");
}
