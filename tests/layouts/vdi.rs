//! Golden round trips of vdi metadata: the header and the block map of every
//! corpus image qemu-img wrote.

use crate::qcow::garbage_from;
use crate::{corpus, read_at};
use qimg_formats::rt::Guid;
use qimg_formats::vdi::*;

const FREE: u32 = 0xffff_ffff;
const ZERO: u32 = 0xffff_fffe;

#[test]
fn headers_and_block_maps_round_trip() {
    let images = corpus::of_format("vdi");
    assert!(images.len() >= 2, "corpus has the vdi images");
    for img in images {
        let name = img.path.display().to_string();
        let file_len = std::fs::metadata(&img.path).unwrap().len();
        let sector = read_at(&img.path, 0, 512);
        let h = Header::parse(&sector).unwrap_or_else(|e| panic!("{name}: {e}"));
        let len = h.encoded_len().unwrap() as usize;
        // qemu writes header_size 0x180 (version 1.1 without the LCHS part).
        assert_eq!(h.header_size, 0x180, "{name}");
        assert_eq!(len, 0x1c8, "{name}: header ends after the parent UUID");
        assert_eq!(h.to_bytes().unwrap(), sector[..len], "{name}: header");
        assert!(sector[len..].iter().all(|b| *b == 0), "{name}: qemu pads the sector with zeros");
        assert_eq!(h.text.as_bytes(), b"<<< QEMU VM Virtual Disk Image >>>\n");
        assert_eq!(h.version, 0x0001_0001);
        assert_eq!(h.disk_size, img.virtual_size, "{name}");
        assert_eq!((h.block_size, h.block_extra, h.sector_size), (1 << 20, 0, 512));
        assert_eq!(h.blocks_in_image as u64, h.disk_size.div_ceil(1 << 20));
        assert_eq!((h.offset_bmap, h.offset_data), (0x200, 0x400), "{name}: qemu's layout for a 64-block map");
        assert!(!h.uuid_image.is_nil() && !h.uuid_last_snap.is_nil(), "{name}: qemu generates UUIDs");
        assert!(h.uuid_link.is_nil() && h.uuid_parent.is_nil());
        // IPRT order: the first three groups are little-endian on disk.
        let raw = &sector[Header::OFF_UUID_IMAGE..Header::OFF_UUID_IMAGE + 16];
        assert_eq!(h.uuid_image.to_uuid().0[..4], [raw[3], raw[2], raw[1], raw[0]]);
        assert_eq!(Guid::parse(&h.uuid_image.to_string()), Some(h.uuid_image));

        let count = BlockMap::count(&h).unwrap() as usize;
        let map = read_at(&img.path, BlockMap::file_offset(&h).unwrap(), count * 4);
        let mut copy = vec![0u8; map.len()];
        let mut allocated = Vec::new();
        for i in 0..BlockMap::len(&map) {
            let e = BlockMap::get(&map, i).unwrap();
            assert!(BlockMap::set(&mut copy, i, e));
            if e < ZERO {
                allocated.push(e);
                let data = h.offset_data as u64 + e as u64 * (h.block_size + h.block_extra) as u64;
                assert!(data + h.block_size as u64 <= file_len, "{name}: block {i} inside the file");
            }
        }
        assert_eq!(copy, map, "{name}: block map re-encodes");
        assert_eq!(allocated.len(), h.blocks_allocated as usize, "{name}: allocated blocks");
        if name.contains("static") {
            assert_eq!(h.image_type, ImageType::Static);
            assert_eq!(allocated, (0..count as u32).collect::<Vec<_>>(), "{name}: a static map is 0, 1, 2, ...");
        } else {
            assert_eq!(h.image_type, ImageType::Dynamic);
            // Blocks are appended in write order: 0 MiB, 1 MiB, 3 MiB, 48 MiB.
            assert_eq!(allocated, [0, 1, 2, 3], "{name}");
            let first = |i: usize| BlockMap::get(&map, i).unwrap();
            assert_eq!((first(0), first(1), first(2), first(3), first(48)), (0, 1, FREE, 2, 3));
        }
    }
}

#[test]
fn plus_header_has_lchs_geometry() {
    let mut h = Header::parse(&qemu_like()).unwrap();
    assert_eq!(h.lchs, Geometry::default(), "absent below header_size 0x190");
    h.header_size = 0x190;
    h.lchs = Geometry { cylinders: 1024, heads: 16, sectors: 63, sector_size: 512 };
    let bytes = h.to_bytes().unwrap();
    assert_eq!(bytes.len(), 0x1d8);
    assert_eq!(bytes[0x1c8..0x1cc], 1024u32.to_le_bytes());
    let back = Header::parse(&bytes).unwrap();
    assert_eq!(back, h);
    // qemu ignores header_size entirely.
    for size in [0, 0x17f, u32::MAX] {
        let mut b = qemu_like();
        b[Header::OFF_HEADER_SIZE..][..4].copy_from_slice(&size.to_le_bytes());
        b.resize(0x200, 0);
        Header::parse(&b).unwrap_or_else(|e| panic!("header_size {size:#x}: {e}"));
    }
}

/// A header as qemu-img creates it for a 64 MiB image.
fn qemu_like() -> Vec<u8> {
    let h = Header {
        text: qimg_formats::rt::FixedStr::new(b"<<< QEMU VM Virtual Disk Image >>>\n").unwrap(),
        version: 0x0001_0001,
        header_size: 0x180,
        image_type: ImageType::Dynamic,
        offset_bmap: 0x200,
        offset_data: 0x400,
        sector_size: 512,
        disk_size: 64 << 20,
        block_size: 1 << 20,
        blocks_in_image: 64,
        uuid_image: Guid::parse("b7886b79-b7a6-49d7-8f6a-ef1baf31abbf").unwrap(),
        ..Default::default()
    };
    h.to_bytes().unwrap()
}

fn message(off: usize, bytes: &[u8]) -> String {
    let mut b = qemu_like();
    b[off..off + bytes.len()].copy_from_slice(bytes);
    Header::parse(&b).unwrap_err().message()
}

#[test]
fn qemu_messages_for_broken_headers() {
    Header::parse(&qemu_like()).unwrap();
    let w = |v: u32| v.to_le_bytes();
    assert_eq!(message(Header::OFF_OFFSET_BMAP, &w(0x201)), "unsupported VDI image (unaligned block map offset 0x201)");
    assert_eq!(message(Header::OFF_OFFSET_DATA, &w(0x401)), "unsupported VDI image (unaligned data offset 0x401)");
    assert_eq!(message(Header::OFF_SECTOR_SIZE, &w(4096)), "unsupported VDI image (sector size 4096 is not 512)");
    assert_eq!(message(Header::OFF_BLOCK_SIZE, &w(2 << 20)), "unsupported VDI image (block size 2097152 is not 1048576)");
    assert_eq!(message(Header::OFF_BLOCKS_IN_IMAGE, &w(0x4000_0000)), "unsupported VDI image (too many blocks 1073741824, max is 536870784)");
    assert_eq!(
        message(Header::OFF_DISK_SIZE, &(1u64 << 49).to_le_bytes()),
        "Unsupported VDI image size (size is 0x2000000000000, max supported is 0x1fffff8000000)"
    );
    assert_eq!(message(Header::OFF_UUID_LINK, &[1]), "unsupported VDI image (non-NULL link UUID)");
    assert_eq!(message(Header::OFF_UUID_PARENT + 15, &[1]), "unsupported VDI image (non-NULL parent UUID)");
    // The map must cover the size rounded up to a sector: qemu refuses 64 MiB + 1.
    let room = |disk_size: u64| {
        let mut b = qemu_like();
        b[Header::OFF_DISK_SIZE..][..8].copy_from_slice(&disk_size.to_le_bytes());
        Header::parse(&b)
    };
    room(64 << 20).unwrap();
    room((64 << 20) - 1).unwrap();
    let err = room((64 << 20) + 1).unwrap_err();
    assert_eq!(err.field(), Some("disk_size"));
    assert!(err.to_string().contains("blocks_in_image * block_size"), "{err}");
    // qemu accepts any image type and flags, and unknown types are kept.
    let h = Header::parse(&{
        let mut b = qemu_like();
        b[Header::OFF_IMAGE_TYPE..][..4].copy_from_slice(&w(7));
        b
    })
    .unwrap();
    assert_eq!(h.image_type, ImageType::Unknown(7));
    assert!(Header::parse(&{
        let mut b = qemu_like();
        b[Header::OFF_VERSION..][..4].copy_from_slice(&w(0x0002_0000));
        b
    })
    .is_err());
}

#[test]
fn hostile_input_fails_cleanly() {
    let good = qemu_like();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    for buf in garbage_from(0x7d1, &good) {
        if let Ok(h) = Header::read(&buf) {
            let _ = (h.validate(), h.to_bytes(), BlockMap::count(&h), BlockMap::file_offset(&h));
        }
        for i in 0..buf.len() / 4 + 2 {
            let _ = BlockMap::get(&buf, i);
        }
    }
    let worst = Header { header_size: u32::MAX, disk_size: u64::MAX, blocks_in_image: u32::MAX, block_size: u32::MAX, ..Default::default() };
    assert!(worst.validate().is_err());
}
