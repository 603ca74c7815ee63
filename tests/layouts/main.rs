//! Tests of the generated layouts: insta snapshots of every format's layout
//! table, and golden round trips of the structures in images qemu-img made.

#[path = "../support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

mod luks;
mod parallels;
mod qcow;
mod qcow2;
mod qed;
mod vdi;
mod vhdx;
mod vmdk;
mod vpc;

#[test]
fn every_format_layout_is_pinned() {
    for format in qimg_formats::ALL {
        insta::assert_snapshot!(format.name, format.render());
    }
}

/// Reads `len` bytes at `offset` of a file.
pub fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).expect("open image");
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, offset).expect("read image");
    buf.truncate(n);
    buf
}
