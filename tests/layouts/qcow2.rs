//! Golden round trips of qcow2 metadata: every structure that qemu-img wrote
//! into a corpus image parses and encodes back to the same bytes.

use crate::{corpus, read_at};
use qimg_formats::qcow2::*;

fn header_cluster(path: &std::path::Path) -> (Header, Vec<u8>) {
    let head = read_at(path, 0, 4096);
    let h = Header::read(&head).expect("header reads");
    let cluster = read_at(path, 0, 1 << h.cluster_bits);
    (Header::parse(&cluster).expect("header parses"), cluster)
}

#[test]
fn headers_extensions_and_tables_round_trip() {
    let images = corpus::of_format("qcow2");
    assert!(images.len() >= 30, "corpus has the qcow2 images");
    for img in images {
        let name = img.path.display().to_string();
        let (h, cluster) = header_cluster(&img.path);
        let hlen = h.header_length as usize;
        assert_eq!(h.to_bytes().unwrap(), cluster[..hlen], "{name}: header");

        // Extensions run from header_length to the backing file name or the end of cluster 0.
        let ext_end = if h.backing_file_offset != 0 { h.backing_file_offset as usize } else { cluster.len() };
        let list = HeaderExtension::parse_list(&cluster[hlen..ext_end]).unwrap();
        let items: Vec<_> = list.entries.iter().map(|(_, e)| e.clone()).collect();
        for e in &items {
            e.validate().unwrap_or_else(|err| panic!("{name}: {err}"));
        }
        if h.version >= 3 {
            assert!(list.terminated, "{name}: extensions end with tag 0");
            let encoded = HeaderExtension::write_list(&items).unwrap();
            assert_eq!(encoded, cluster[hlen..hlen + list.end as usize], "{name}: extensions");
            // qemu leaves the feature name table out when it does not fit in cluster 0.
            let has_table = items.iter().any(|e| matches!(e, HeaderExtension::FeatureNameTable(t) if t.len() == 8));
            assert_eq!(has_table, h.cluster_bits > 12, "{name}: 8-entry feature name table");
        }

        // L1 table entries decode and have no reserved bits set.
        let cs = 1u64 << h.cluster_bits;
        let l1 = read_at(&img.path, L1Table::file_offset(&h).unwrap(), L1Table::count(&h).unwrap() as usize * 8);
        for i in 0..L1Table::len(&l1) {
            let e = L1Table::get(&l1, i).unwrap();
            e.validate().unwrap_or_else(|err| panic!("{name}: L1[{i}]: {err}"));
            assert_eq!(e.l2_offset() % cs, 0, "{name}: L1[{i}] aligned");
        }

        // Refcount table entries point at cluster-aligned blocks.
        let rt_len = RefcountTable::count(&h).unwrap() as usize * 8;
        let rt = read_at(&img.path, RefcountTable::file_offset(&h).unwrap(), rt_len);
        let first = RefcountTable::get(&rt, 0).unwrap();
        assert_ne!(first.block_offset(), 0, "{name}: first refcount block allocated");
        assert_eq!(first.block_offset() % cs, 0);
        let bits = RefcountBlock::entry_bits(&h).unwrap();
        let block = read_at(&img.path, first.block_offset(), cs as usize);
        assert_eq!(RefcountBlock::get(&block, 0, bits), Some(1), "{name}: header cluster refcount");

        // Snapshot table.
        if h.nb_snapshots > 0 {
            let table = read_at(&img.path, h.snapshots_offset, 1 << 16);
            let snaps = qimg_formats::rt::read_sequence::<SnapshotHeader>(&table, h.nb_snapshots as u64).unwrap();
            for (off, s) in &snaps {
                let bytes = s.to_bytes().unwrap();
                assert_eq!(bytes, table[*off as usize..*off as usize + bytes.len()], "{name}: snapshot");
                assert_eq!(s.extra_data_size, 24, "{name}: qemu-img writes 24 bytes of extra data");
                assert_eq!(s.icount, 0);
            }
        }

        // Bitmap directory.
        for e in &items {
            if let HeaderExtension::Bitmaps(b) = e {
                let dir = read_at(&img.path, b.bitmap_directory_offset, b.bitmap_directory_size as usize);
                let entries = qimg_formats::rt::read_sequence::<BitmapDirectoryEntry>(&dir, b.nb_bitmaps as u64).unwrap();
                let mut encoded = Vec::new();
                for (_, d) in &entries {
                    encoded.extend(d.to_bytes().unwrap());
                }
                assert_eq!(encoded, dir, "{name}: bitmap directory");
            }
        }
    }
}

#[test]
fn compressed_descriptor_split_follows_cluster_bits() {
    // 64 KiB clusters: offset in bits 0..=53, extra sectors in 54..=61 (qcow2.rst).
    let d = CompressedDescriptor::from_raw(0x43400000000519c9);
    assert_eq!(d.compressed(16), Some(true));
    assert_eq!(d.host_offset(16), Some(0x519c9));
    assert_eq!(d.extra_sectors(16), Some(0xd));
    assert_eq!(CompressedDescriptor::host_offset_bits(9), Some((0, 60)));
    assert_eq!(CompressedDescriptor::host_offset_bits(21), Some((0, 48)));
    // A cluster_bits the format does not allow gives no split rather than a panic.
    assert_eq!(CompressedDescriptor::host_offset_bits(200), None);
    let back = CompressedDescriptor::default().with_compressed(16, true).and_then(|d| d.with_host_offset(16, 0x519c9));
    assert_eq!(back.and_then(|d| d.with_extra_sectors(16, 0xd)), Some(d));
}

#[test]
fn hostile_headers_fail_cleanly() {
    let mut h = Header { version: 3, cluster_bits: 16, header_length: 104, ..Default::default() };
    h.tail.clear();
    let good = h.to_bytes().unwrap();
    // Every truncation is an error, never a panic.
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    let mut bad = good.clone();
    bad[20..24].copy_from_slice(&40u32.to_be_bytes());
    let err = Header::parse(&bad).unwrap_err();
    assert_eq!(err.message(), "Unsupported cluster size: 2^40");
    // A huge header_length is refused by its rule before any allocation.
    bad = good.clone();
    bad[100..104].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Header::parse(&bad).is_err());
}
