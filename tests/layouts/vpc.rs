//! Golden round trips of vpc (VHD) structures in corpus images: footers (both
//! copies), dynamic disk headers with their parent locators, and the BAT.

use crate::{corpus, read_at};
use qimg_formats::vpc::*;

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("stat image").len()
}

#[test]
fn footers_headers_and_bats_round_trip() {
    let images = corpus::of_format("vpc");
    assert!(images.len() >= 3, "corpus has the vpc images");
    let (mut fixed, mut dynamic) = (0, 0);
    for img in images {
        let name = img.path.display().to_string();
        let len = file_len(&img.path);
        let off = Footer::file_offset(len).expect("file holds a footer");
        assert_eq!(off, len - 512);
        let raw = read_at(&img.path, off, Footer::SIZE);
        let f = Footer::parse(&raw).unwrap_or_else(|e| panic!("{name}: footer: {e}"));
        assert_eq!(f.to_bytes().unwrap(), raw, "{name}: footer bytes");
        assert!(f.features.reserved(), "{name}: reserved feature bit set");
        assert_eq!(f.format_version, 0x0001_0000);
        assert_eq!(f.creator_host_os.as_bytes(), b"Wi2k", "{name}");
        assert_eq!(f.original_size, f.current_size, "{name}");
        // The guest size: from the CHS geometry, unless the creator says
        // `current_size` counts (qemu's force_size writes "qem2").
        let chs = f.cylinders as u64 * f.heads as u64 * f.sectors_per_track as u64 * 512;
        match f.creator_application.as_bytes() {
            b"qem2" => {
                assert_eq!(f.current_size, img.virtual_size, "{name}: force_size keeps the exact size");
                assert_eq!((f.cylinders, f.heads, f.sectors_per_track), (65535, 16, 255));
            }
            b"qemu" => assert_eq!(chs, img.virtual_size, "{name}: size from the geometry"),
            other => panic!("{name}: creator {other:?}"),
        }

        match f.disk_type {
            DiskType::Fixed => {
                fixed += 1;
                assert_eq!(f.data_offset, u64::MAX, "{name}: no dynamic header");
                assert_eq!(len, f.current_size + 512, "{name}: raw data then the footer");
                assert_ne!(&read_at(&img.path, 0, 8)[..], &Footer::COOKIE[..], "{name}: no copy at 0");
            }
            DiskType::Dynamic => {
                dynamic += 1;
                // The copy at offset 0 is the same footer.
                assert_eq!(read_at(&img.path, 0, 512), raw, "{name}: footer copy at 0");
                let hoff = DynamicHeader::file_offset(&f).unwrap();
                assert_eq!(hoff, 512, "{name}: qemu puts the header right after the copy");
                let hraw = read_at(&img.path, hoff, DynamicHeader::SIZE);
                let h = DynamicHeader::parse(&hraw).unwrap_or_else(|e| panic!("{name}: dynamic header: {e}"));
                assert_eq!(h.to_bytes().unwrap(), hraw, "{name}: dynamic header bytes");
                assert_eq!(h.data_offset, u64::MAX);
                assert_eq!(h.header_version, 0x0001_0000);
                assert_eq!(h.block_size, 2 << 20, "{name}: default 2 MiB blocks");
                assert_eq!(h.table_offset, 1536, "{name}: BAT after the header");
                assert!(h.parent_unique_id.is_nil() && h.parent_unicode_name.units().is_empty(), "{name}: no parent");
                for (i, pl) in h.parent_locators.iter().enumerate() {
                    assert_eq!(pl.platform_code, PlatformCode::None, "{name}: locator {i}");
                    assert_eq!(pl.to_bytes().unwrap(), hraw[576 + 24 * i..600 + 24 * i]);
                }
                assert!(h.max_table_entries as u64 * h.block_size as u64 >= f.current_size, "{name}: BAT covers the disk");

                // BAT: allocated blocks (bitmap sector(s) + data) lie inside the file, before the footer.
                let count = Bat::count(&h).unwrap() as usize;
                let bat = read_at(&img.path, Bat::file_offset(&h).unwrap(), count * Bat::ENTRY_SIZE);
                assert_eq!(Bat::len(&bat), count);
                let bitmap = (h.block_size as u64 / 512).div_ceil(8).next_multiple_of(512);
                let mut allocated = Vec::new();
                for i in 0..count {
                    let e = Bat::get(&bat, i).unwrap();
                    if e != u32::MAX {
                        let start = e as u64 * 512;
                        assert!(start >= 1536 + count as u64 * 4, "{name}: BAT[{i}] after the BAT");
                        assert!(start + bitmap + h.block_size as u64 <= len - 512, "{name}: BAT[{i}] inside the file");
                        // qemu writes the sector bitmap all ones.
                        assert!(read_at(&img.path, start, bitmap as usize).iter().all(|b| *b == 0xff), "{name}: bitmap {i}");
                        allocated.push(i);
                    }
                }
                // The standard data touches guest offsets 0, 1M, 3146240 and 48M.
                assert_eq!(allocated, vec![0, 1, 24], "{name}: allocated blocks");
                let mut copy = bat.clone();
                assert!(Bat::set(&mut copy, 0, Bat::get(&bat, 0).unwrap()));
                assert!(!Bat::set(&mut copy, count, 0), "{name}: set past the end");
                assert_eq!(copy, bat);
            }
            other => panic!("{name}: unexpected disk type {other:?}"),
        }
    }
    assert!(fixed >= 1 && dynamic >= 2);
}

/// A dynamic disk's footer and header as qemu would write them, for the
/// hostile-input tests.
fn sample() -> (Vec<u8>, Vec<u8>) {
    let images = corpus::of_format("vpc");
    let img = images.iter().find(|e| e.path.ends_with("vpc/dynamic.vpc")).expect("dynamic.vpc");
    (read_at(&img.path, 0, 512), read_at(&img.path, 512, 1024))
}

#[test]
fn checksums_and_qemu_messages() {
    let (footer, header) = sample();
    // A damaged footer checksum reads as qemu words it.
    let mut bad = footer.clone();
    bad[Footer::OFF_CHECKSUM + 3] ^= 1;
    let err = Footer::parse(&bad).unwrap_err();
    assert!(matches!(err, qimg_formats::rt::FormatError::Checksum { .. }), "{err}");
    assert_eq!(err.message(), "Incorrect header checksum");
    // Any other changed byte breaks the checksum too; `read` does not look at it.
    bad = footer.clone();
    bad[Footer::OFF_DISK_TYPE + 3] = 9;
    assert_eq!(Footer::parse(&bad).unwrap_err().message(), "Incorrect header checksum");
    let f = Footer::read(&bad).unwrap();
    assert_eq!(f.disk_type, DiskType::Unknown(9));
    assert!(f.validate().is_ok(), "qemu opens unknown disk types");
    // to_bytes recomputes the checksum.
    assert_eq!(Footer::parse(&f.to_bytes().unwrap()).unwrap().disk_type, DiskType::Unknown(9));

    // qemu does not verify the dynamic header's checksum: `read` + `validate` accept it.
    let mut bad = header.clone();
    bad[DynamicHeader::OFF_CHECKSUM] ^= 0x80;
    assert!(DynamicHeader::parse(&bad).is_err());
    let h = DynamicHeader::read(&bad).unwrap();
    assert!(h.validate().is_ok());
    assert_eq!(h.to_bytes().unwrap(), header, "to_bytes restores the checksum");

    // Block size and BAT size rules use qemu's words.
    let mut h2 = h.clone();
    h2.block_size = 256;
    assert_eq!(h2.validate().unwrap_err().message(), "Invalid block size 256");
    h2.block_size = 3 << 20;
    assert_eq!(h2.validate().unwrap_err().message(), "Invalid block size 3145728");
    h2.block_size = 0;
    assert_eq!(h2.validate().unwrap_err().message(), "Invalid block size 0");
    let mut h3 = h.clone();
    h3.max_table_entries = 0x7fff_ffff;
    assert_eq!(h3.validate().unwrap_err().message(), "Max Table Entries too large (2147483647)");
    h3.max_table_entries = 0x1fff_ffff;
    assert!(h3.validate().is_ok());
}

#[test]
fn layout_constants_match_the_spec() {
    assert_eq!((Footer::OFF_DATA_OFFSET, Footer::OFF_CURRENT_SIZE, Footer::OFF_DISK_TYPE), (16, 48, 60));
    assert_eq!((Footer::OFF_CHECKSUM, Footer::OFF_UNIQUE_ID, Footer::OFF_SAVED_STATE), (64, 68, 84));
    assert_eq!((DynamicHeader::OFF_TABLE_OFFSET, DynamicHeader::OFF_BLOCK_SIZE, DynamicHeader::OFF_CHECKSUM), (16, 32, 36));
    assert_eq!((DynamicHeader::OFF_PARENT_UNICODE_NAME, DynamicHeader::OFF_PARENT_LOCATORS), (64, 576));
    assert_eq!(ParentLocator::SIZE, 24);
    // The parent name is UTF-16 big-endian.
    let h = DynamicHeader { parent_unicode_name: qimg_formats::rt::Utf16Str::new("base.vhd").unwrap(), ..Default::default() };
    let bytes = h.to_bytes().unwrap();
    assert_eq!(bytes[64..68], [0, b'b', 0, b'a']);
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
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
    let (footer, header) = sample();
    for n in 0..footer.len() {
        assert!(Footer::parse(&footer[..n]).is_err(), "footer truncated to {n}");
    }
    for n in 0..header.len() {
        assert!(DynamicHeader::parse(&header[..n]).is_err(), "header truncated to {n}");
    }
    for seed in 0..200u64 {
        let g = noise(seed, 1024 + seed as usize);
        let _ = Footer::parse(&g);
        let _ = DynamicHeader::parse(&g);
        // Garbage behind valid magics: rules and checksums fail, nothing panics.
        let mut f = g.clone();
        f[..8].copy_from_slice(&Footer::COOKIE);
        if let Ok(v) = Footer::read(&f) {
            let _ = v.validate();
            let _ = v.to_bytes();
            let _ = DynamicHeader::file_offset(&v);
        }
        let mut d = g.clone();
        d[..8].copy_from_slice(&DynamicHeader::COOKIE);
        if let Ok(v) = DynamicHeader::read(&d) {
            let _ = v.validate();
            let _ = v.to_bytes();
            let _ = (Bat::count(&v), Bat::file_offset(&v));
        }
        let _ = Bat::get(&g, usize::MAX);
        let _ = Bat::get(&g, g.len() / 4);
    }
    assert_eq!(Footer::file_offset(100), None, "a file shorter than a footer has none");
}
