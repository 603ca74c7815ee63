//! Golden round trips of parallels metadata: the header and BAT of the corpus
//! image, and the format extension cluster with its feature list (qemu-img
//! cannot create one, so the test builds it from the spec's types).

use crate::qcow::garbage_from;
use crate::{corpus, read_at};
use qimg_formats::parallels::*;
use qimg_formats::rt::{FormatError, Uuid};

#[test]
fn header_and_bat_round_trip() {
    let images = corpus::of_format("parallels");
    assert!(!images.is_empty(), "corpus has a parallels image");
    for img in images {
        let name = img.path.display().to_string();
        let file_len = std::fs::metadata(&img.path).unwrap().len();
        let head = read_at(&img.path, 0, Header::SIZE);
        let h = Header::parse(&head).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.to_bytes().unwrap(), head, "{name}: header");
        // qemu-img create: the extended magic, 1 MiB clusters, data at 1 MiB,
        // in_use left 0 and no format extension.
        assert_eq!(h.magic, Header::MAGIC_1, "{name}: WithouFreSpacExt");
        assert_eq!(Header::MAGIC_VALUES[1], *b"WithouFreSpacExt");
        assert_eq!((h.version, h.tracks, h.data_off, h.ext_off), (2, 2048, 2048, 0), "{name}");
        assert_eq!(h.in_use, InUse::Legacy);
        assert!(!h.flags.empty());
        assert_eq!(h.nb_sectors * 512, img.virtual_size, "{name}");
        let cluster = h.tracks as u64 * 512;
        assert_eq!(h.nb_bat_entries as u64, img.virtual_size.div_ceil(cluster));

        let count = Bat::count(&h).unwrap() as usize;
        let bat = read_at(&img.path, Bat::FILE_OFFSET, count * 4);
        let mut copy = vec![0u8; bat.len()];
        let mut allocated = Vec::new();
        for i in 0..Bat::len(&bat) {
            let e = Bat::get(&bat, i).unwrap();
            assert!(Bat::set(&mut copy, i, e));
            if e != 0 {
                // Extended images count clusters from the start of the file.
                let off = e as u64 * cluster;
                assert!(off >= h.data_off as u64 * 512 && off + cluster <= file_len, "{name}: BAT[{i}] = {e}");
                allocated.push((i, e));
            }
        }
        assert_eq!(copy, bat, "{name}: BAT re-encodes");
        // Clusters are allocated in write order at 1, 2, 3, ...: guest MiB 0, 1, 3 and 48.
        assert_eq!(allocated, [(0, 1), (1, 2), (3, 3), (48, 4)], "{name}");
    }
}

fn bitmap_feature() -> (FeatureHeader, Feature) {
    let f = DirtyBitmapFeature {
        size: 131072,
        id: Uuid::parse("11111111-2222-3333-4444-555555555555").unwrap(),
        granularity: 128,
        l1_size: 2,
        l1_table: vec![0, 10240],
    };
    (FeatureHeader::default(), Feature::DirtyBitmap(f))
}

#[test]
fn format_extension_features_round_trip() {
    let unknown = FeatureHeader { flags: FeatureFlags::TRANSIT, ..Default::default() };
    let items = vec![bitmap_feature(), (unknown, Feature::Unknown { tag: 0x1234, data: b"abc".to_vec() })];
    let list = Feature::write_list(&items).unwrap();
    // 24-byte header + 48 bytes of bitmap data; 24 + 3 bytes padded to 8; the zero end header.
    assert_eq!(list.len(), 24 + 48 + 32 + 24);
    assert_eq!(list[..8], 0x20385fae252cb34au64.to_le_bytes());
    assert_eq!(list[16..20], 48u32.to_le_bytes());
    assert_eq!(list[72 + 8..72 + 16], 2u64.to_le_bytes(), "flags kept");
    assert!(list[list.len() - 24..].iter().all(|b| *b == 0), "end of features: all zero");

    let ext = FormatExtension { magic: 0xab23_4cef_23dc_ea87, check_sum: [0x5a; 16] };
    let mut cluster = ext.to_bytes().unwrap();
    cluster.extend_from_slice(&list);
    cluster.resize(1 << 20, 0);

    let back = FormatExtension::parse(&cluster).unwrap();
    assert_eq!(back, ext);
    let h = Header { ext_off: 10240, ..Default::default() };
    assert_eq!(FormatExtension::file_offset(&h), Some(10240 * 512));
    assert_eq!(Feature::file_offset(&h), Some(10240 * 512 + 24));
    let parsed = Feature::parse_list(&cluster[FormatExtension::SIZE..]).unwrap();
    assert!(parsed.terminated);
    assert_eq!(parsed.end, list.len() as u64);
    let entries: Vec<_> = parsed.entries.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(entries[0].1, items[0].1);
    assert_eq!(entries[0].0.data_size, 48, "the header read keeps its length");
    assert_eq!(entries[1].1, items[1].1);
    assert_eq!(Feature::write_list(&entries).unwrap(), list, "feature list re-encodes");
    for (_, f) in &entries {
        f.validate().unwrap();
    }
    entries[0].0.validate().unwrap();
    // qemu refuses any feature flag.
    assert_eq!(entries[1].0.check_flags_qemu_unsupported().unwrap_err().message(), "Flags for extension feature are unsupported");
    entries[0].0.check_flags_qemu_unsupported().unwrap();
    assert_eq!(Feature::parse_raw(&cluster[24..]).unwrap().entries[1].tag, 0x1234);
}

fn good() -> Vec<u8> {
    let h = Header {
        magic: Header::MAGIC_1,
        version: 2,
        heads: 16,
        cylinders: 260,
        tracks: 2048,
        nb_bat_entries: 64,
        nb_sectors: 131072,
        data_off: 2048,
        ..Default::default()
    };
    h.to_bytes().unwrap()
}

fn message(off: usize, bytes: &[u8]) -> String {
    let mut b = good();
    b[off..off + bytes.len()].copy_from_slice(bytes);
    Header::parse(&b).unwrap_err().message()
}

#[test]
fn qemu_messages_for_broken_headers() {
    Header::parse(&good()).unwrap();
    let w = |v: u32| v.to_le_bytes();
    // Both magics are accepted; anything else is not a parallels image.
    let mut old = good();
    old[..16].copy_from_slice(b"WithoutFreeSpace");
    assert_eq!(Header::parse(&old).unwrap().magic, Header::MAGIC_0);
    old[0] = b'X';
    assert!(matches!(Header::parse(&old), Err(FormatError::BadMagic { item: "parallels::Header", offset: 0 })));
    let by_hand = Header { magic: *b"WithoutFreeSpacX", ..Header::parse(&good()).unwrap() };
    assert!(matches!(by_hand.check_magic(), Err(FormatError::BadMagic { .. })));
    assert_eq!(message(Header::OFF_VERSION, &w(3)), "Image not in Parallels format");
    assert_eq!(message(Header::OFF_TRACKS, &w(0)), "Invalid image: Zero sectors per track");
    assert_eq!(message(Header::OFF_TRACKS, &w(4186128)), "Invalid image: Too big cluster");
    Header::parse(&{
        let mut b = good();
        b[Header::OFF_TRACKS..][..4].copy_from_slice(&w(4186127));
        b
    })
    .unwrap();
    assert_eq!(message(Header::OFF_NB_BAT_ENTRIES, &w(0x2000_0000)), "Catalog too large");
    // qemu-img info accepts any in_use, flags and data_off.
    for (off, v) in [(Header::OFF_IN_USE, 1), (Header::OFF_FLAGS, 0xfe), (Header::OFF_DATA_OFF, 0)] {
        let mut b = good();
        b[off..off + 4].copy_from_slice(&w(v));
        Header::parse(&b).unwrap_or_else(|e| panic!("{off}: {e}"));
    }
    let ext = FormatExtension::parse(&[0u8; 24]).unwrap_err();
    assert_eq!(ext.message(), "Wrong parallels Format Extension magic: 0x0, expected: 0xab234cef23dcea87");
}

#[test]
fn hostile_input_fails_cleanly() {
    let good = good();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    let list = Feature::write_list(&[bitmap_feature()]).unwrap();
    for n in 0..list.len() {
        // A cut-off list is an error or an unterminated list, never a panic.
        if let Ok(l) = Feature::parse_list(&list[..n]) {
            assert!(!l.terminated && (n == 0 || n == 72), "{n} bytes");
        }
    }
    for buf in garbage_from(0x9a7, &good).into_iter().chain(garbage_from(0x11, &list)) {
        if let Ok(h) = Header::read(&buf) {
            let _ = (h.validate(), Bat::count(&h), FormatExtension::file_offset(&h), Feature::file_offset(&h));
        }
        let _ = FormatExtension::parse(&buf);
        if let Ok(l) = Feature::parse_list(&buf) {
            for (_, (fh, f)) in &l.entries {
                let _ = (fh.validate(), f.validate(), f.payload());
            }
        }
        let _ = Feature::parse_raw(&buf);
        let _ = DirtyBitmapFeature::parse(&buf);
    }
    // A huge l1_size fails before allocating.
    let mut huge = list.clone();
    huge[24 + 28..24 + 32].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Feature::parse_list(&huge).is_err());
    let h = Header { ext_off: u64::MAX, ..Default::default() };
    assert_eq!(FormatExtension::file_offset(&h), None);
}
