//! `resize` killed at every point leaves an image without corruption whose
//! guest data is the old or the new: growing shows zeros (never a backing
//! file's data) in the new area; shrinking keeps what lies before the end.

use crate::corpus;
use crate::crash_support::{no_corruption, run, same_guest, same_prefix, Scenario};
use crate::support::tool;
use std::path::Path;

fn copy_corpus(dir: &Path, names: &[&str]) {
    for n in names {
        let file = Path::new(n).file_name().expect("file name");
        std::fs::copy(corpus::dir().join(n), dir.join(file)).expect("copy corpus image");
    }
}

/// Crashes `resize ARGS IMAGE SIZE` on a copy of a corpus image; after
/// each crash the image must be clean and hold the data of the original
/// (before its end, if it shrank) or of the finished result.
fn grow_or_shrink(label: &str, image: &str, opts: &[&str], size: &str, keep_mib: Option<u64>) {
    let name = Path::new(image).file_name().and_then(|f| f.to_str()).expect("file name");
    let prepare = |d: &Path| {
        copy_corpus(d, &[image]);
        std::fs::copy(d.join(name), d.join("orig.qcow2")).expect("copy");
        std::fs::copy(d.join(name), d.join("done.qcow2")).expect("copy");
        let mut args = vec!["resize"];
        args.extend_from_slice(opts);
        args.extend(["done.qcow2", size]);
        tool(d, "qemu-img", &args);
    };
    let mut args = vec!["resize"];
    args.extend_from_slice(opts);
    args.extend([name, size]);
    let judge = |d: &Path, _: u64, _: bool| {
        no_corruption(d, name).or_else(|| match keep_mib {
            Some(mib) => same_prefix(d, "orig.qcow2", name, (mib << 20) as usize),
            None => same_guest(d, "done.qcow2", name),
        })
    };
    check(label, &prepare, &args, &judge);
}

/// Runs a scenario and asserts that no crash point left a bad image.
fn check(label: &str, prepare: &dyn Fn(&Path), args: &[&str], judge: &dyn Fn(&Path, u64, bool) -> Option<String>) {
    let figures = run(&Scenario { name: label, prepare, args, judge, max_trials: 200 });
    assert!(figures.failures.is_empty(), "{label}: {:?}", figures.failures);
}

#[test]
fn grow_with_a_new_l1_table() {
    grow_or_shrink("resize-grow-l1", "qcow2/v3-std.qcow2", &[], "3G", None);
}

#[test]
fn grow_with_preallocation() {
    grow_or_shrink("resize-grow-metadata", "qcow2/v3-std.qcow2", &["--preallocation=metadata"], "80M", None);
    grow_or_shrink("resize-grow-falloc", "qcow2/cluster-512.qcow2", &["--preallocation=falloc"], "72M", None);
}

#[test]
fn shrink() {
    grow_or_shrink("resize-shrink", "qcow2/v3-std.qcow2", &["--shrink"], "20M", Some(20));
    grow_or_shrink("resize-shrink-512", "qcow2/cluster-512.qcow2", &["--shrink"], "1M", Some(1));
    grow_or_shrink("resize-shrink-snapshots", "qcow2/snapshots.qcow2", &["--shrink"], "3M", Some(3));
}

/// Growing an overlay over a longer backing file: the new area must never
/// show the backing file's data, whatever the crash point.
#[test]
fn grow_over_a_longer_backing_file() {
    let prepare = |d: &Path| {
        tool(d, "qemu-img", &["create", "-f", "qcow2", "base.qcow2", "64M"]);
        tool(d, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x11 0 64M", "base.qcow2"]);
        tool(d, "qemu-img", &["create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "o.qcow2", "32M"]);
        tool(d, "qemu-io", &["-f", "qcow2", "-c", "write -P 0x22 0 100k", "o.qcow2"]);
        std::fs::copy(d.join("o.qcow2"), d.join("done.qcow2")).expect("copy");
        tool(d, "qemu-img", &["resize", "done.qcow2", "48M"]);
    };
    let judge = |d: &Path, _: u64, _: bool| no_corruption(d, "o.qcow2").or_else(|| same_guest(d, "done.qcow2", "o.qcow2"));
    check("resize-backing", &prepare, &["resize", "o.qcow2", "48M"], &judge);
}
