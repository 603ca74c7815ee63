//! Crash consistency of `dd` into a new qcow2 image: killed at any file
//! change after the image was created, it leaves an image `qemu-img check`
//! finds no corruption in, whose clusters read as zeros or as the copy.

use crate::crash_support::{self, clusters_old_or_new, guest_data, no_corruption, Scenario};

/// Input size, and the part `dd` copies (`bs=64k skip=3 count=60`).
const SIZE: usize = 4 << 20;
const START: usize = 3 << 16;
const END: usize = 60 << 16;

fn input() -> Vec<u8> {
    let mut d = vec![0u8; SIZE];
    for (i, b) in d.iter_mut().enumerate().filter(|(i, _)| (i >> 16) % 3 != 1) {
        *b = (i / 4096 % 251) as u8 | 1;
    }
    d
}

#[test]
fn dd_into_a_new_qcow2_image() {
    let src = input();
    let copied = src[START..END].to_vec();
    let size = (END - START).to_string();
    let creating = crash_support::count("dd-create-only", &|_| {}, &["create", "-q", "-f", "qcow2", "t.qcow2", &size]);
    let judge = |dir: &std::path::Path, point: u64, _: bool| {
        if point < creating {
            return None;
        }
        no_corruption(dir, "t.qcow2")
            .or_else(|| clusters_old_or_new(&guest_data(dir, "t.qcow2", "qcow2"), &vec![0u8; copied.len()], &copied, 65536))
    };
    let f = crash_support::run(&Scenario {
        name: "dd-new",
        prepare: &|d| std::fs::write(d.join("src.raw"), &src).expect("write input"),
        args: &["dd", "-f", "raw", "-O", "qcow2", "bs=64k", "skip=3", "count=60", "if=src.raw", "of=t.qcow2"],
        judge: &judge,
        max_trials: 200,
    });
    assert!(f.trials > 3 && f.changes > creating + 3, "{creating}: {f:?}");
    assert!(f.failures.is_empty(), "crash points refused: {:?}", f.failures);
}
