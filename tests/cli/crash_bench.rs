//! `bench -w` killed at every point leaves a qcow2 image without corruption
//! whose guest data is, 512 bytes at a time, the old or the written one.

use crate::crash_support::{clusters_old_or_new, guest_data, no_corruption, run, Scenario};
use crate::support::tool;
use std::path::Path;

/// Writes requests that allocate clusters partly (8 KiB of every 24 KiB),
/// over an image holding data and unallocated space.
fn writes(label: &str, depth: &str) {
    let bench = |image: &str| -> Vec<String> {
        ["bench", "-w", "-f", "qcow2", "-c", "40", "-d", depth, "-s", "8k", "-S", "24k", "--pattern", "0x5a", image]
            .map(String::from)
            .to_vec()
    };
    let prepare = |d: &Path| {
        tool(d, "qemu-img", &["create", "-q", "-f", "qcow2", "img.qcow2", "1M"]);
        tool(d, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x11 64k 128k", "img.qcow2"]);
        std::fs::copy(d.join("img.qcow2"), d.join("orig.qcow2")).expect("copy");
        std::fs::copy(d.join("img.qcow2"), d.join("done.qcow2")).expect("copy");
        let args = bench("done.qcow2");
        tool(d, "qemu-img", &args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    let judge = |d: &Path, _: u64, _: bool| {
        no_corruption(d, "img.qcow2").or_else(|| {
            let data = guest_data(d, "img.qcow2", "qcow2");
            let (old, new) = (guest_data(d, "orig.qcow2", "qcow2"), guest_data(d, "done.qcow2", "qcow2"));
            clusters_old_or_new(&data, &old, &new, 512)
        })
    };
    let args = bench("img.qcow2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let figures = run(&Scenario { name: label, prepare: &prepare, args: &args, judge: &judge, max_trials: 200 });
    assert!(figures.changes > 0, "{label}: the run changed nothing");
    assert!(figures.failures.is_empty(), "{label}: {:?}", figures.failures);
}

#[test]
fn one_request_at_a_time() {
    writes("bench-crash-d1", "1");
}
