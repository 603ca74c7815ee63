//! Golden round trips of vmdk structures in corpus images: sparse extent
//! headers, grain directories (both copies), grain tables and stream-optimized
//! grain markers; plus synthetic VMware stream tails, COWD and seSparse
//! headers, which qemu-img does not write.

use crate::{corpus, read_at};
use qimg_formats::rt::FormatError;
use qimg_formats::vmdk::*;
use std::path::{Path, PathBuf};

const GD_AT_END: u64 = u64::MAX;

/// The sparse extent files of a corpus image: the image itself when it starts
/// with "KDMV", else the SPARSE extents its descriptor names.
fn sparse_extents(image: &Path) -> Vec<PathBuf> {
    let head = read_at(image, 0, 4);
    if head == Header::MAGIC {
        return vec![image.to_path_buf()];
    }
    let text = String::from_utf8_lossy(&read_at(image, 0, 64 << 10)).into_owned();
    let dir = image.parent().expect("image has a directory");
    text.lines()
        .filter(|l| l.starts_with("RW ") && l.split_whitespace().nth(2) == Some("SPARSE"))
        .filter_map(|l| l.split('"').nth(1))
        .map(|f| dir.join(f))
        .collect()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat extent").len()
}

#[test]
fn sparse_extents_round_trip() {
    let images = corpus::of_format("vmdk");
    assert!(images.len() >= 10, "corpus has the vmdk images");
    let mut extents = 0;
    let (mut stream, mut zeroed_grains, mut split) = (0, 0, 0);
    for img in &images {
        for path in sparse_extents(&img.path) {
            extents += 1;
            let name = path.display().to_string();
            split += name.contains("-s00") as usize;
            let len = file_len(&path);
            let raw = read_at(&path, Header::FILE_OFFSET, Header::SIZE);
            let h = Header::parse(&raw).unwrap_or_else(|e| panic!("{name}: header: {e}"));
            assert_eq!(h.to_bytes().unwrap(), raw, "{name}: header bytes");
            assert_eq!(h.check_bytes, *b"\n \r\n", "{name}: newline check bytes");
            assert!(h.flags.valid_newline_test() && h.flags.redundant_grain_table(), "{name}: flags {:?}", h.flags);
            assert_eq!((h.granularity, h.num_gtes_per_gt), (128, 512), "{name}: 64 KiB grains, 512-entry tables");
            assert_eq!((h.descriptor_offset, h.descriptor_size), (1, 20), "{name}: embedded descriptor");
            assert_ne!(h.gd_offset, GD_AT_END, "{name}: qemu writes the real grain directory offset");
            assert_eq!(h.overhead % h.granularity, 0, "{name}: grains start on a grain boundary");
            assert!(h.overhead * 512 <= len, "{name}: the file holds the metadata");
            let compressed = h.compress_algorithm == CompressAlgorithm::Deflate;
            assert_eq!(compressed, h.flags.compressed_grains() && h.flags.markers(), "{name}");
            let expect_version = if compressed {
                3
            } else if h.flags.zeroed_grain_gte() {
                2
            } else {
                1
            };
            assert_eq!(h.version, expect_version, "{name}: version");
            stream += compressed as usize;

            // Both grain directories: same count, inside the file, pointing at
            // grain tables inside the file; the tables hold the same entries.
            let count = GrainDirectory::count(&h).unwrap() as usize;
            assert_eq!(RedundantGrainDirectory::count(&h), Some(count as u64));
            assert_eq!(count as u64, h.capacity.div_ceil(512 * 128), "{name}: one entry per 32 MiB");
            let gd = read_at(&path, GrainDirectory::file_offset(&h).unwrap(), count * 4);
            let rgd = read_at(&path, RedundantGrainDirectory::file_offset(&h).unwrap(), count * 4);
            assert_eq!(GrainDirectory::len(&gd), count, "{name}: whole directory read");
            let grain_bytes = h.granularity * 512;
            let gt_bytes = GrainTable::count(&h).unwrap() as usize * GrainTable::ENTRY_SIZE;
            let mut allocated = 0;
            for i in 0..count {
                let (g, r) = (GrainDirectory::get(&gd, i).unwrap(), RedundantGrainDirectory::get(&rgd, i).unwrap());
                assert!(g != 0 && r != 0 && g != r, "{name}: GD[{i}] = {g}, RGD[{i}] = {r} (qemu preallocates both)");
                for t in [g, r] {
                    assert!(t as u64 * 512 + gt_bytes as u64 <= h.overhead * 512, "{name}: GT at sector {t} inside the metadata");
                }
                let gt = read_at(&path, g as u64 * 512, gt_bytes);
                assert_eq!(gt, read_at(&path, r as u64 * 512, gt_bytes), "{name}: GT {i} and its copy");
                for j in 0..GrainTable::len(&gt) {
                    let e = GrainTable::get(&gt, j).unwrap();
                    if e == 0 {
                        continue;
                    }
                    if e == 1 && h.flags.zeroed_grain_gte() {
                        zeroed_grains += 1;
                        continue;
                    }
                    allocated += 1;
                    let start = e as u64 * 512;
                    assert!(start >= h.overhead * 512, "{name}: grain {i}/{j} after the metadata");
                    let lba = (i as u64 * 512 + j as u64) * h.granularity;
                    if compressed {
                        // A grain marker names its grain and is padded to a sector.
                        let buf = read_at(&path, start, 2 * grain_bytes as usize + 512);
                        let m = GrainMarker::parse(&buf).unwrap_or_else(|err| panic!("{name}: marker at {start}: {err}"));
                        assert_eq!(m.lba, lba, "{name}: marker lba");
                        let bytes = m.to_bytes().unwrap();
                        assert_eq!(bytes.len() % 512, 0);
                        assert_eq!(bytes, buf[..bytes.len()], "{name}: grain marker bytes");
                        assert_eq!(m.data[..2], [0x78, 0x9c], "{name}: zlib stream");
                        assert!(start + bytes.len() as u64 <= len);
                    } else {
                        assert!(start + grain_bytes <= len, "{name}: grain {i}/{j} inside the file");
                    }
                }
            }
            if !name.ends_with("hwversion6.vmdk") {
                assert!(allocated > 0, "{name}: some grains allocated");
            }
            let mut copy = gd.clone();
            assert!(GrainDirectory::set(&mut copy, 0, GrainDirectory::get(&gd, 0).unwrap()));
            assert_eq!(copy, gd);
        }
    }
    assert!(extents >= 9, "found {extents} sparse extents");
    assert!(stream >= 1 && zeroed_grains >= 1 && split >= 3, "stream {stream}, zeroed {zeroed_grains}, split {split}");
}

/// A sparse header like qemu's, for synthetic tests.
fn qemu_like_header() -> Header {
    let images = corpus::of_format("vmdk");
    let img = images.iter().find(|e| e.path.ends_with("vmdk/monolithicSparse.vmdk")).expect("monolithicSparse");
    Header::parse(&read_at(&img.path, 0, 512)).expect("header parses")
}

#[test]
fn vmware_stream_tail_with_footer() {
    // VMware's stream-optimized layout ends with a footer marker, the footer
    // (the header with the real gd_offset) and an end-of-stream marker.
    let mut h = qemu_like_header();
    h.version = 3;
    h.flags = HeaderFlags::VALID_NEWLINE_TEST.union(HeaderFlags::COMPRESSED_GRAINS).union(HeaderFlags::MARKERS);
    h.compress_algorithm = CompressAlgorithm::Deflate;
    let mut header = h.clone();
    header.gd_offset = GD_AT_END;
    h.gd_offset = 150;
    let mut file = header.to_bytes().unwrap();
    file.resize(200 * 512, 0);
    let footer_marker = MetadataMarker { num_sectors: 1, marker_type: MarkerType::Footer, ..Default::default() };
    let eos = MetadataMarker { marker_type: MarkerType::EndOfStream, ..Default::default() };
    file.extend(footer_marker.to_bytes().unwrap());
    file.extend(Footer { header: h.clone() }.to_bytes().unwrap());
    file.extend(eos.to_bytes().unwrap());
    let len = file.len() as u64;

    let read_header = Header::read(&file).unwrap();
    assert_eq!(read_header.gd_offset, GD_AT_END);
    let at = Footer::file_offset(len).unwrap() as usize;
    assert_eq!(at, file.len() - 1024);
    let footer = Footer::parse(&file[at..]).unwrap();
    assert_eq!(footer.header, h);
    assert_eq!(GrainDirectory::file_offset(&footer.header), Some(150 * 512));
    let before = MetadataMarker::parse(&file[at - MetadataMarker::SIZE..]).unwrap();
    assert_eq!(before.marker_type, MarkerType::Footer);
    let after = MetadataMarker::parse(&file[at + Footer::SIZE..]).unwrap();
    assert_eq!((after.marker_type, after.num_sectors), (MarkerType::EndOfStream, 0));
    assert_eq!(after.to_bytes().unwrap(), file[file.len() - 512..]);

    // A grain marker (size > 0) is not a metadata marker, and vice versa.
    let grain = GrainMarker { lba: 128, size: 3, data: vec![0x78, 0x9c, 0x03] };
    let gbytes = grain.to_bytes().unwrap();
    assert_eq!(gbytes.len(), 512, "padded to a sector");
    assert!(MetadataMarker::parse(&gbytes).is_err());
    assert!(GrainMarker::parse(&eos.to_bytes().unwrap()).is_err());
    assert_eq!(GrainMarker::parse(&gbytes).unwrap(), grain);
    let mut unknown = eos.to_bytes().unwrap();
    unknown[12] = 7;
    assert!(MetadataMarker::parse(&unknown).is_err(), "unknown marker type");
}

#[test]
fn header_rules_use_qemu_words() {
    let h = qemu_like_header();
    let msg = |h: &Header| h.validate().unwrap_err().message();
    let mut b = h.clone();
    b.version = 4;
    assert_eq!(msg(&b), "Unsupported VMDK version 4");
    b = h.clone();
    b.num_gtes_per_gt = 513;
    assert_eq!(b.check_num_gtes_per_gt().unwrap_err().message(), "L2 table size too big");
    b = h.clone();
    b.granularity = 0x400000;
    assert_eq!(b.check_granularity().unwrap_err().message(), "Invalid granularity, image may be corrupt");
    // 32 Mi directory entries are allowed, one more is not.
    b = h.clone();
    (b.granularity, b.num_gtes_per_gt, b.capacity) = (1, 1, 33554432);
    assert!(b.validate().is_ok());
    b.capacity += 1;
    assert_eq!(msg(&b), "L1 size too big");
    // qemu opens what it does not check: unknown flags, compression values, check bytes.
    b = h.clone();
    b.flags = HeaderFlags::from_bits(u32::MAX);
    b.compress_algorithm = CompressAlgorithm::Unknown(2);
    b.check_bytes = [0; 4];
    assert!(b.validate().is_ok());
    assert_eq!(Header::parse(&b.to_bytes().unwrap()).unwrap(), b);
}

#[test]
fn cowd_header_layout() {
    assert_eq!(CowdHeader::SIZE, 2048);
    assert_eq!((CowdHeader::OFF_GD_OFFSET, CowdHeader::OFF_GD_ENTRIES, CowdHeader::OFF_CYLINDERS), (20, 24, 32));
    assert_eq!((CowdHeader::OFF_GENERATION, CowdHeader::OFF_NAME, CowdHeader::OFF_DESCRIPTION), (1060, 1064, 1124));
    assert_eq!((CowdHeader::OFF_SAVED_GENERATION, CowdHeader::OFF_UNCLEAN_SHUTDOWN, CowdHeader::OFF_PAD), (1636, 1648, 1652));
    let h = CowdHeader { version: 1, flags: 3, capacity: 8192, granularity: 16, gd_offset: 4, gd_entries: 1, ..Default::default() };
    let bytes = h.to_bytes().unwrap();
    assert_eq!(&bytes[..8], b"COWD\x01\x00\x00\x00");
    assert_eq!(CowdHeader::parse(&bytes).unwrap(), h);
    assert_eq!(CowdGrainDirectory::file_offset(&h), Some(2048));
    assert_eq!((CowdGrainDirectory::count(&h), CowdGrainTable::COUNT), (Some(1), 4096));
    let mut b = h.clone();
    b.granularity = 0x400000;
    assert_eq!(b.validate().unwrap_err().message(), "Invalid granularity, image may be corrupt");
    b = h.clone();
    b.gd_entries = 0x2000001;
    assert_eq!(b.validate().unwrap_err().message(), "L1 size too big");
}

#[test]
fn sesparse_headers_and_entries() {
    let c = SeSparseConstHeader {
        version: 0x2_0000_0001,
        capacity: 8192,
        grain_size: 8,
        grain_table_size: 64,
        volatile_header_offset: 1,
        volatile_header_size: 1,
        grain_dir_offset: 2,
        grain_dir_size: 1,
        grain_tables_offset: 3,
        grain_tables_size: 64,
        grains_offset: 100,
        ..Default::default()
    };
    let bytes = c.to_bytes().unwrap();
    assert_eq!(bytes.len(), 512);
    assert_eq!(bytes[..8], 0xcafebabeu64.to_le_bytes());
    assert_eq!(SeSparseConstHeader::parse(&bytes).unwrap(), c);
    assert_eq!(SeSparseVolatileHeader::file_offset(&c), Some(512));
    assert_eq!((SeSparseGrainDirectory::file_offset(&c), SeSparseGrainDirectory::count(&c)), (Some(1024), Some(64)));
    let msg = |c: &SeSparseConstHeader| c.validate().unwrap_err().message();
    // The wording qemu-img 10.0.2 prints for each broken field.
    let mut b = c.clone();
    b.version = 0x2_0000_0002;
    assert_eq!(msg(&b), "Unsupported version: 0x0000000200000002");
    b = c.clone();
    b.grain_size = 16;
    assert_eq!(msg(&b), "Unsupported grain size: 16");
    b = c.clone();
    b.grain_table_size = 32;
    assert_eq!(msg(&b), "Unsupported grain table size: 32");
    b = c.clone();
    b.flags = 5;
    assert_eq!(msg(&b), "Unsupported flags: 0x0000000000000005");
    b = c.clone();
    b.pad[303] = 1;
    assert_eq!(msg(&b), "Unsupported non-zero const header padding");
    let mut wrong = bytes.clone();
    wrong[0] = 0xbf;
    assert!(matches!(SeSparseConstHeader::parse(&wrong), Err(FormatError::BadMagic { .. })));

    let v = SeSparseVolatileHeader { next_txn_seq_number: 1, ..Default::default() };
    let vb = v.to_bytes().unwrap();
    assert_eq!(vb[..8], 0xcafecafeu64.to_le_bytes());
    assert_eq!(SeSparseVolatileHeader::parse(&vb).unwrap(), v);
    let mut dirty = v.clone();
    dirty.replay_journal = 1;
    assert_eq!(dirty.validate().unwrap_err().message(), "Image is dirty, Replaying journal not supported");
    let mut padded = v.clone();
    padded.pad[479] = 1;
    assert_eq!(padded.validate().unwrap_err().message(), "Unsupported non-zero volatile header padding");

    // Grain directory and table entries.
    let gd = SeSparseGdEntry::from_raw(0x1000_0000_0000_0005);
    assert_eq!((gd.allocated(), gd.table_index()), (1, 5));
    assert!(gd.validate().is_ok());
    assert!(SeSparseGdEntry::from_raw(0x1000_0001_0000_0005).validate().is_err(), "bits 32..=59 must be zero");
    let gt = SeSparseGtEntry::from_raw(0x3abc_0000_0000_0012);
    assert_eq!(gt.kind(), SeSparseGrainType::Allocated);
    assert_eq!(gt.index_low() as u64 | gt.index_high() << 12, 0xabc | 0x12 << 12);
    assert_eq!(SeSparseGtEntry::from_raw(0x2000_0000_0000_0000).kind(), SeSparseGrainType::Zero);
    let mut table = vec![0u8; 16];
    assert!(SeSparseGrainTable::set(&mut table, 1, gt));
    assert_eq!(table[8..], 0x3abc_0000_0000_0012u64.to_le_bytes());
    assert_eq!(SeSparseGrainTable::get(&table, 1), Some(gt));
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let good = qemu_like_header().to_bytes().unwrap();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "header truncated to {n}");
        assert!(Footer::parse(&good[..n]).is_err());
    }
    let marker = GrainMarker { lba: 0, size: 600, data: vec![7; 600] }.to_bytes().unwrap();
    for n in 0..marker.len() {
        assert!(GrainMarker::parse(&marker[..n]).is_err(), "grain marker truncated to {n}");
    }
    for seed in 0..300u64 {
        let mut g = noise(seed, 2048 + seed as usize);
        let _ = Header::parse(&g);
        let _ = MetadataMarker::parse(&g);
        let _ = GrainMarker::parse(&g);
        let _ = CowdHeader::parse(&g);
        let _ = SeSparseConstHeader::parse(&g);
        g[..4].copy_from_slice(&Header::MAGIC);
        if let Ok(h) = Header::read(&g) {
            let _ = h.validate();
            let _ = h.to_bytes();
            let _ = (GrainDirectory::count(&h), GrainDirectory::file_offset(&h), RedundantGrainDirectory::file_offset(&h));
            let _ = GrainTable::count(&h);
        }
        // A grain marker whose size runs past the buffer is refused before allocating.
        let mut m = g.clone();
        m[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(GrainMarker::parse(&m).is_err());
        g[..4].copy_from_slice(b"COWD");
        if let Ok(c) = CowdHeader::read(&g) {
            let _ = c.validate();
            let _ = (CowdGrainDirectory::count(&c), CowdGrainDirectory::file_offset(&c));
        }
        g[..8].copy_from_slice(&0xcafebabeu64.to_le_bytes());
        if let Ok(c) = SeSparseConstHeader::read(&g) {
            let _ = c.validate();
            let _ = (SeSparseGrainDirectory::count(&c), SeSparseVolatileHeader::file_offset(&c));
        }
        let _ = (GrainTable::get(&g, usize::MAX), SeSparseGrainTable::get(&g, usize::MAX / 2));
    }
    assert_eq!(Footer::file_offset(1000), None);
}
