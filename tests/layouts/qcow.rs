//! Golden round trips of qcow (v1) metadata: the header, L1 and L2 tables and
//! compressed descriptors of every corpus image qemu-img wrote.

use crate::{corpus, read_at};
use qimg_formats::qcow::*;

#[test]
fn headers_and_tables_round_trip() {
    let images = corpus::of_format("qcow");
    assert!(images.len() >= 4, "corpus has the qcow images");
    let mut compressed_seen = 0;
    for img in images {
        let name = img.path.display().to_string();
        let file_len = std::fs::metadata(&img.path).unwrap().len();
        let head = read_at(&img.path, 0, Header::SIZE);
        let h = Header::parse(&head).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.to_bytes().unwrap(), head, "{name}: header");
        assert_eq!(h.version, 1);
        assert_eq!(h.size, img.virtual_size, "{name}: size");
        assert_eq!(h.padding, 0);

        // qemu writes the backing file name right after the header, and the L1
        // table after that, rounded up to 8 bytes: never cluster aligned.
        if h.backing_file_offset != 0 {
            assert_eq!(h.backing_file_offset, Header::SIZE as u64, "{name}");
            let backing = read_at(&img.path, h.backing_file_offset, h.backing_file_size as usize);
            assert_eq!(backing, b"../raw/std.raw", "{name}: backing name");
            assert_eq!((h.cluster_bits, h.l2_bits), (9, 12), "{name}: geometry with a backing file");
            assert_eq!(h.l1_table_offset, (48 + h.backing_file_size as u64).next_multiple_of(8));
        } else {
            assert_eq!((h.cluster_bits, h.l2_bits), (12, 9), "{name}: default geometry");
            assert_eq!(h.l1_table_offset, Header::SIZE as u64, "{name}: L1 follows the header");
        }
        let aes = name.contains("aes");
        assert_eq!(h.crypt_method, if aes { CryptMethod::Aes } else { CryptMethod::None }, "{name}");

        let cs = 1u64 << h.cluster_bits;
        let l1_count = L1Table::count(&h).unwrap();
        assert_eq!(l1_count, h.size.div_ceil(cs << h.l2_bits), "{name}: L1 entries");
        let l1 = read_at(&img.path, L1Table::file_offset(&h).unwrap(), l1_count as usize * 8);
        assert_eq!(L1Table::len(&l1) as u64, l1_count);
        let l2_count = L2Table::count(&h).unwrap() as usize;
        assert_eq!(l2_count, 1 << h.l2_bits);
        let mut allocated = 0;
        for i in 0..L1Table::len(&l1) {
            let l2_offset = L1Table::get(&l1, i).unwrap();
            if l2_offset == 0 {
                continue;
            }
            assert_eq!(l2_offset % cs, 0, "{name}: L1[{i}] cluster aligned");
            assert!(l2_offset + l2_count as u64 * 8 <= file_len, "{name}: L1[{i}] inside the file");
            let l2 = read_at(&img.path, l2_offset, l2_count * 8);
            let mut copy = vec![0u8; l2.len()];
            for j in 0..L2Table::len(&l2) {
                let e = L2Table::get(&l2, j).unwrap();
                assert!(L2Table::set(&mut copy, j, e));
                if e.raw() == 0 {
                    continue;
                }
                allocated += 1;
                if e.compressed() {
                    let d = CompressedDescriptor::from_raw(e.raw());
                    let cb = h.cluster_bits as u32;
                    assert_eq!(d.compressed(cb), Some(true));
                    let off = d.host_offset(cb).unwrap();
                    let len = d.compressed_size(cb).unwrap();
                    assert!(len > 0 && len < cs, "{name}: compressed length {len} in bytes, under a cluster");
                    assert!(off + len <= file_len, "{name}: compressed data inside the file");
                    // The descriptor splits at 63 - cluster_bits (qemu block/qcow.c).
                    assert_eq!(e.raw(), 1 << 63 | len << (63 - cb) | off);
                    assert_eq!(CompressedDescriptor::default().with_compressed(cb, true).and_then(|x| x.with_host_offset(cb, off)).and_then(|x| x.with_compressed_size(cb, len)), Some(d));
                    compressed_seen += 1;
                } else {
                    assert_eq!(e.host_offset(), e.raw(), "{name}: a plain entry is an offset");
                    assert_eq!(e.host_offset() % cs, 0, "{name}: data clusters are cluster aligned");
                    assert!(e.host_offset() + cs <= file_len, "{name}: data cluster inside the file");
                }
            }
            assert_eq!(copy, l2, "{name}: L2 table at {l2_offset:#x} re-encodes");
        }
        assert!(allocated > 0, "{name}: some clusters are allocated");
    }
    // compressed.qcow: guest clusters 0, 1 and 256 (4 KiB clusters).
    assert_eq!(compressed_seen, 3, "compressed descriptors in the corpus");
}

fn good_header() -> Vec<u8> {
    Header { version: 1, size: 64 << 20, cluster_bits: 12, l2_bits: 9, l1_table_offset: 48, ..Default::default() }.to_bytes().unwrap()
}

fn message(buf: &[u8]) -> String {
    Header::parse(buf).unwrap_err().message()
}

#[test]
fn qemu_messages_for_broken_headers() {
    let good = good_header();
    assert_eq!(good.len(), 48);
    Header::parse(&good).unwrap();
    let patch = |off: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[off..off + bytes.len()].copy_from_slice(bytes);
        b
    };
    assert_eq!(message(&patch(Header::OFF_VERSION, &2u32.to_be_bytes())), "qcow (v1) does not support qcow version 2");
    assert_eq!(message(&patch(Header::OFF_SIZE, &1u64.to_be_bytes())), "Image size is too small (must be at least 2 bytes)");
    assert_eq!(message(&patch(Header::OFF_CLUSTER_BITS, &[17])), "Cluster size must be between 512 and 64k");
    assert_eq!(message(&patch(Header::OFF_L2_BITS, &[5])), "L2 table size must be between 512 and 64k");
    assert_eq!(message(&patch(Header::OFF_CRYPT_METHOD, &2u32.to_be_bytes())), "invalid encryption method in qcow header");
    // The L1 table would need more than 0x0fffffff entries.
    let too_large = patch(Header::OFF_SIZE, &(0x1000_0000u64 << 21).to_be_bytes());
    assert_eq!(message(&too_large), "Image too large");
    let h = Header::read(&too_large).unwrap();
    assert_eq!(h.check_size_l1_fits().unwrap_err().message(), "Image too large");
    assert!(Header::parse(&patch(Header::OFF_SIZE, &(0xfff_ffffu64 << 21).to_be_bytes())).is_ok());
    // A shift out of range is reported as such, not as an oversized image.
    let bad_bits = patch(Header::OFF_CLUSTER_BITS, &[200]);
    assert_eq!(message(&bad_bits), "Cluster size must be between 512 and 64k");
    assert!(Header::read(&bad_bits).unwrap().check_size_l1_fits().is_ok());
    // The name length is only checked when there is a backing file (qemu-img
    // info accepts 0x800 with offset 0).
    let long_name = patch(Header::OFF_BACKING_FILE_SIZE, &0x800u32.to_be_bytes());
    assert!(Header::parse(&long_name).is_ok());
    let mut with_backing = long_name.clone();
    with_backing[Header::OFF_BACKING_FILE_OFFSET..][..8].copy_from_slice(&48u64.to_be_bytes());
    assert_eq!(message(&with_backing), "Backing file name too long");
    // Padding is reserved but not checked (qemu ignores it).
    assert!(Header::parse(&patch(Header::OFF_PADDING, &[0xff, 0xff])).is_ok());
    // Not a qcow header at all.
    assert!(matches!(Header::parse(&patch(0, b"QFI\0")), Err(qimg_formats::rt::FormatError::BadMagic { .. })));
}

#[test]
fn hostile_input_fails_cleanly() {
    let good = good_header();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    let h = Header::read(&good).unwrap();
    for buf in garbage(0x9c0f) {
        let _ = Header::parse(&buf);
        let mut b = buf.clone();
        if b.len() >= 4 {
            b[..4].copy_from_slice(b"QFI\xfb");
        }
        if let Ok(h) = Header::read(&b) {
            let _ = h.validate();
            let _ = (L1Table::count(&h), L1Table::file_offset(&h), L2Table::count(&h));
        }
        for i in 0..buf.len() / 8 + 2 {
            if let Some(e) = L2Table::get(&buf, i) {
                let d = CompressedDescriptor::from_raw(e.raw());
                for cb in [0, 9, 12, 16, 62, 63, 64, 200, u32::MAX] {
                    let _ = (d.host_offset(cb), d.compressed_size(cb), d.with_compressed_size(cb, u64::MAX));
                }
            }
        }
    }
    // Hostile geometry never overflows the L1 count computation.
    let huge = Header { size: u64::MAX, cluster_bits: 255, l2_bits: 255, ..h };
    assert_eq!(L1Table::count(&huge), None);
    assert_eq!(CompressedDescriptor::host_offset_bits(64), None);
}

/// Hostile buffers for the other formats' tests too (main.rs is shared, so
/// the helper lives here): random bytes, constant fills and mutated copies of
/// `seed_bytes`, from empty to a few KiB, deterministic for a given `seed`.
pub fn garbage_from(seed: u64, seed_bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    for len in [0usize, 1, 3, 4, 7, 8, 15, 16, 24, 47, 48, 63, 64, 100, 511, 512, 592, 1024, 4096] {
        out.push(vec![0u8; len]);
        out.push(vec![0xffu8; len]);
        out.push((0..len).map(|_| next() as u8).collect());
    }
    for _ in 0..200 {
        let mut b = seed_bytes.to_vec();
        for _ in 0..1 + next() % 6 {
            if b.is_empty() {
                break;
            }
            let i = (next() % b.len() as u64) as usize;
            b[i] = match next() % 3 {
                0 => 0xff,
                1 => 0,
                _ => next() as u8,
            };
        }
        let cut = (next() % (b.len() as u64 + 1)) as usize;
        if next() % 4 == 0 {
            b.truncate(cut);
        }
        out.push(b);
    }
    out
}

fn garbage(seed: u64) -> Vec<Vec<u8>> {
    garbage_from(seed, &good_header())
}
