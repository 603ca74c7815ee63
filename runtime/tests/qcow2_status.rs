//! qcow2 block status answers are bounded as qemu's are: never across the
//! end of an L2 table, never longer than `INT_MAX` bytes.

use qimg_runtime::format::qcow2::create::{create, CreateOptions, Prealloc};
use qimg_runtime::image::{open, OpenOptions};

const M: u64 = 1 << 20;

#[test]
fn answers_stop_at_l2_tables() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("qcow2-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (extended_l2, span) in [(false, 512 * M), (true, 256 * M)] {
        let path = dir.join(format!("p{extended_l2}.qcow2"));
        let o = CreateOptions { size: 6 << 30, extended_l2, preallocation: Prealloc::Metadata, ..CreateOptions::default() };
        create(path.to_str().unwrap(), &o).unwrap();
        let img = open(path.to_str().unwrap(), &OpenOptions::read(Some("qcow2"), false)).unwrap();
        assert_eq!(img.block_status(0, 6 << 30).unwrap().len, span, "extended_l2={extended_l2}");
        assert_eq!(img.block_status(span - 12 * M, 6 << 30).unwrap().len, 12 * M);
    }
    // 2 MiB clusters: a table maps 512 GiB, so INT_MAX is the bound.
    let path = dir.join("big-clusters.qcow2");
    let o = CreateOptions { size: 6 << 30, cluster_size: 2 * M, preallocation: Prealloc::Metadata, ..CreateOptions::default() };
    create(path.to_str().unwrap(), &o).unwrap();
    let img = open(path.to_str().unwrap(), &OpenOptions::read(Some("qcow2"), false)).unwrap();
    assert_eq!(img.block_status(0, 6 << 30).unwrap().len, i32::MAX as u64);
    std::fs::remove_dir_all(&dir).unwrap();
}
