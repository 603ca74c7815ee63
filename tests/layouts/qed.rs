//! Golden round trips of qed metadata: the header and the L1 and L2 tables of
//! every corpus image qemu-img wrote.

use crate::qcow::garbage_from;
use crate::{corpus, read_at};
use qimg_formats::qed::*;

#[test]
fn headers_and_tables_round_trip() {
    let images = corpus::of_format("qed");
    assert!(images.len() >= 3, "corpus has the qed images");
    let mut zero_clusters = 0;
    for img in images {
        let name = img.path.display().to_string();
        let file_len = std::fs::metadata(&img.path).unwrap().len();
        let head = read_at(&img.path, 0, Header::SIZE);
        let h = Header::parse(&head).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.to_bytes().unwrap(), head, "{name}: header");
        assert_eq!(h.image_size, img.virtual_size, "{name}");
        assert_eq!(h.header_size, 1, "{name}: qemu's header takes one cluster");
        assert!(!h.features.need_check(), "{name}: closed cleanly");
        assert_eq!(h.features.unknown_bits(), 0);
        assert_eq!((h.compat_features.bits(), h.autoclear_features.bits()), (0, 0));
        if name.contains("small-tables") {
            assert_eq!((h.cluster_size, h.table_size), (4096, 2), "{name}");
        } else {
            assert_eq!((h.cluster_size, h.table_size), (65536, 4), "{name}: qemu defaults");
        }
        // qemu puts the L1 table in the cluster after the header: 64 KiB by default.
        assert_eq!(h.l1_table_offset, h.cluster_size as u64, "{name}: L1 after the header");
        assert_eq!(L1Table::file_offset(&h), Some(h.l1_table_offset));

        let backing = name.ends_with("backing.qed");
        assert_eq!(h.features.backing_file(), backing, "{name}");
        assert!(!h.features.backing_format_no_probe(), "{name}: the backing file is qed, not raw");
        if backing {
            assert_eq!(h.backing_filename_offset, Header::SIZE as u32, "{name}: name after the header");
            let bname = read_at(&img.path, h.backing_filename_offset as u64, h.backing_filename_size as usize);
            assert_eq!(bname, b"std.qed");
        }

        let cs = h.cluster_size as u64;
        let count = L1Table::count(&h).unwrap();
        assert_eq!(count, h.table_size as u64 * cs / 8);
        assert_eq!(L2Table::count(&h), Some(count));
        let table_bytes = count as usize * 8;
        let l1 = read_at(&img.path, h.l1_table_offset, table_bytes);
        let mut data_clusters = 0;
        for i in 0..L1Table::len(&l1) {
            let l2_offset = L1Table::get(&l1, i).unwrap();
            if l2_offset == 0 {
                continue;
            }
            assert_eq!(l2_offset % cs, 0, "{name}: L1[{i}] cluster aligned");
            assert!(l2_offset + table_bytes as u64 <= file_len, "{name}: L2 table inside the file");
            let l2 = read_at(&img.path, l2_offset, table_bytes);
            let mut copy = vec![0u8; l2.len()];
            for j in 0..L2Table::len(&l2) {
                let e = L2Table::get(&l2, j).unwrap();
                assert!(L2Table::set(&mut copy, j, e));
                match e {
                    0 => {}
                    1 => zero_clusters += 1,
                    off => {
                        assert_eq!(off % cs, 0, "{name}: data cluster aligned (reserved low bits zero)");
                        assert!(off >= h.header_size as u64 * cs && off + cs <= file_len, "{name}: data inside the file");
                        data_clusters += 1;
                    }
                }
            }
            assert_eq!(copy, l2, "{name}: L2 table re-encodes");
        }
        assert!(data_clusters > 0, "{name}");
    }
    // backing.qed: 'write -z 0 64k' over the backing file left a zero cluster.
    assert_eq!(zero_clusters, 1, "zero cluster entries (value 1)");
}

fn good() -> Vec<u8> {
    let h = Header {
        cluster_size: 65536,
        table_size: 4,
        header_size: 1,
        l1_table_offset: 65536,
        image_size: 64 << 20,
        ..Default::default()
    };
    h.to_bytes().unwrap()
}

fn patched(patches: &[(usize, &[u8])]) -> Vec<u8> {
    let mut b = good();
    for (off, bytes) in patches {
        b[*off..off + bytes.len()].copy_from_slice(bytes);
    }
    b
}

fn message(patches: &[(usize, &[u8])]) -> String {
    Header::parse(&patched(patches)).unwrap_err().message()
}

#[test]
fn qemu_messages_for_broken_headers() {
    Header::parse(&good()).unwrap();
    let f = |v: u64| v.to_le_bytes();
    let w = |v: u32| v.to_le_bytes();
    assert_eq!(message(&[(Header::OFF_FEATURES, &f(8))]), "Unsupported QED features: 8");
    assert_eq!(message(&[(Header::OFF_FEATURES, &f(1 << 48))]), "Unsupported QED features: 1000000000000");
    assert_eq!(message(&[(Header::OFF_CLUSTER_SIZE, &w(2048))]), "QED cluster size is invalid");
    assert_eq!(message(&[(Header::OFF_CLUSTER_SIZE, &w(0x30000))]), "QED cluster size is invalid");
    assert_eq!(message(&[(Header::OFF_TABLE_SIZE, &w(3))]), "QED table size is invalid");
    assert_eq!(message(&[(Header::OFF_TABLE_SIZE, &w(32))]), "QED table size is invalid");
    assert_eq!(message(&[(Header::OFF_TABLE_SIZE, &w(0))]), "QED table size is invalid");
    // A one-cluster table is a valid size that qemu's table offset check refuses.
    let one = Header::read(&patched(&[(Header::OFF_TABLE_SIZE, &w(1))])).unwrap();
    one.check_table_size().unwrap();
    assert_eq!(one.check_table_size_multi_cluster().unwrap_err().message(), "QED table offset is invalid");
    assert_eq!(message(&[(Header::OFF_IMAGE_SIZE, &f(1))]), "QED image size is invalid");
    assert_eq!(message(&[(Header::OFF_IMAGE_SIZE, &f(1 << 56))]), "QED image size is invalid");
    assert_eq!(message(&[(Header::OFF_L1_TABLE_OFFSET, &f(0x10100))]), "QED table offset is invalid");
    assert_eq!(message(&[(Header::OFF_L1_TABLE_OFFSET, &f(0))]), "QED table offset is invalid");
    assert_eq!(message(&[(Header::OFF_L1_TABLE_OFFSET, &f(0xffff_ffff_ffff_0000))]), "QED table offset is invalid");
    assert_eq!(message(&[(Header::OFF_HEADER_SIZE, &w(0x10000)), (Header::OFF_L1_TABLE_OFFSET, &f(1 << 32))]), "QED header size is too large");
    // The backing fields count only with the backing file feature.
    let backing: &[(usize, &[u8])] = &[(Header::OFF_BACKING_FILENAME_OFFSET, &w(u32::MAX)), (Header::OFF_BACKING_FILENAME_SIZE, &w(u32::MAX))];
    Header::parse(&patched(backing)).unwrap();
    let mut with = backing.to_vec();
    let on = f(1);
    with.push((Header::OFF_FEATURES, &on));
    assert_eq!(message(&with), "QED backing filename offset is invalid");
    let name: &[(usize, &[u8])] = &[(Header::OFF_FEATURES, &on), (Header::OFF_BACKING_FILENAME_OFFSET, &w(64))];
    let mut long = name.to_vec();
    long.push((Header::OFF_BACKING_FILENAME_SIZE, &[0x00, 0x10, 0, 0]));
    assert_eq!(message(&long), "Failed to read backing filename");
    long[2] = (Header::OFF_BACKING_FILENAME_SIZE, &[0xff, 0x0f, 0, 0]);
    Header::parse(&patched(&long)).unwrap();
    // Unknown compatible and autoclear bits are accepted; a writer clears the latter.
    let mut h = Header::parse(&patched(&[(Header::OFF_COMPAT_FEATURES, &f(0xff)), (Header::OFF_AUTOCLEAR_FEATURES, &f(0xff))])).unwrap();
    h.prepare_for_write();
    assert_eq!((h.compat_features.bits(), h.autoclear_features.bits()), (0xff, 0));
}

#[test]
fn image_size_bound_wraps_like_qemu() {
    // 2 MiB clusters and 16-cluster tables: E * E * cluster_size = 2^72, which
    // qemu's 64-bit arithmetic wraps to 0, so only an empty image passes.
    let big = |image_size: u64| Header {
        cluster_size: 2 << 20,
        table_size: 16,
        header_size: 1,
        l1_table_offset: 2 << 20,
        image_size,
        ..Default::default()
    };
    big(0).validate().unwrap();
    assert_eq!(big(512).validate().unwrap_err().message(), "QED image size is invalid");
    assert_eq!(big(512).check_image_size_wrapped().unwrap_err().message(), "QED image size is invalid");
    // Below the wrap, the bound is exact: 64 KiB clusters, 4-cluster tables map 2^15 * 2^15 clusters = 2^46 bytes.
    let exact = |image_size: u64| Header { cluster_size: 65536, table_size: 4, header_size: 1, l1_table_offset: 65536, image_size, ..Default::default() };
    exact(1 << 46).validate().unwrap();
    assert!(exact((1 << 46) + 512).validate().is_err());
}

#[test]
fn hostile_input_fails_cleanly() {
    let good = good();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    for buf in garbage_from(0x9ed, &good) {
        if let Ok(h) = Header::read(&buf) {
            let _ = h.validate();
            let _ = (L1Table::count(&h), L2Table::count(&h), h.to_bytes());
        }
        for i in 0..buf.len() / 8 + 2 {
            let _ = L2Table::get(&buf, i);
        }
    }
    let worst = Header { cluster_size: u32::MAX, table_size: u32::MAX, header_size: u32::MAX, l1_table_offset: u64::MAX, image_size: u64::MAX, ..Default::default() };
    assert!(worst.validate().is_err());
    assert_eq!(L1Table::count(&worst), Some(u32::MAX as u64 * u32::MAX as u64 / 8));
}
