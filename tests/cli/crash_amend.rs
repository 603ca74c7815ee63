//! `amend` killed at every point leaves an image without corruption and
//! with its guest data unchanged: refcount width changes, upgrades and
//! downgrades (with zero clusters expanded) are crash safe.

use crate::corpus;
use crate::crash_support::{no_corruption, run, same_guest, Scenario};
use std::path::Path;

/// Crashes `amend -o OPTS IMAGE` on a copy of corpus image `image` (whose
/// backing files `also` are copied beside it).
fn amend(label: &str, image: &str, also: &[&str], opts: &str) {
    let name = Path::new(image).file_name().and_then(|f| f.to_str()).expect("file name");
    let prepare = |d: &Path| {
        for n in std::iter::once(&image).chain(also) {
            let file = Path::new(n).file_name().expect("file name");
            std::fs::copy(corpus::dir().join(n), d.join(file)).expect("copy corpus image");
        }
        std::fs::copy(d.join(name), d.join("orig.qcow2")).expect("copy");
    };
    let figures = run(&Scenario {
        name: label,
        prepare: &prepare,
        args: &["amend", "-o", opts, name],
        judge: &|d, _, _| no_corruption(d, name).or_else(|| same_guest(d, "orig.qcow2", name)),
        max_trials: 200,
    });
    assert!(figures.failures.is_empty(), "{label}: {:?}", figures.failures);
}

#[test]
fn refcount_width() {
    amend("amend-refcount-1", "qcow2/v3-std.qcow2", &[], "refcount_bits=1");
    amend("amend-refcount-64", "qcow2/snapshots.qcow2", &[], "refcount_bits=64");
    amend("amend-refcount-512", "qcow2/cluster-512.qcow2", &[], "refcount_bits=4");
}

#[test]
fn downgrade() {
    amend("amend-downgrade", "qcow2/zero-clusters.qcow2", &[], "compat=0.10");
    amend(
        "amend-downgrade-backing",
        "qcow2/chain-top.qcow2",
        &["qcow2/chain-mid.qcow2", "qcow2/chain-base.qcow2"],
        "compat=0.10",
    );
    amend("amend-downgrade-refcount", "qcow2/refcount-8.qcow2", &[], "refcount_bits=16,compat=0.10");
}

#[test]
fn upgrade() {
    amend("amend-upgrade", "qcow2/v2-std.qcow2", &[], "compat=1.1");
    amend("amend-upgrade-snapshots", "qcow2/snapshots-v2.qcow2", &[], "compat=1.1,refcount_bits=2");
}
