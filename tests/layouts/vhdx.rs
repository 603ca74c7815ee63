//! Golden round trips of vhdx structures in corpus images: file identifier,
//! both headers and region tables (CRC-32C), the metadata table and items,
//! the BAT, and the log entries qemu left behind.

use crate::{corpus, read_at};
use qimg_formats::rt::{FormatError, Guid};
use qimg_formats::vhdx::*;
use std::path::Path;

const BAT_REGION: &str = "2dc27766-f623-4200-9d64-115e9bfd4a08";
const METADATA_REGION: &str = "8b7ca206-4790-4b9a-b8fe-575f050f886e";
const FILE_PARAMETERS: &str = "caa16737-fa36-4d43-b3b6-33f0aa44e76b";
const VIRTUAL_DISK_SIZE: &str = "2fa54224-cd1b-4876-b211-5dbed83bf4b8";
const PAGE_83: &str = "beca12ab-b2e6-4523-93ef-c309e000c746";
const LOGICAL_SECTOR: &str = "8141bf1d-a96f-4709-ba47-f233a8faab5f";
const PHYSICAL_SECTOR: &str = "cda348c7-445d-4471-9cc9-e9885251c556";

fn guid(s: &str) -> Guid {
    Guid::parse(s).expect("GUID text")
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat image").len()
}

/// Parses a metadata item and checks it encodes back to its bytes.
fn item<T: qimg_formats::rt::Structure + std::fmt::Debug>(name: &str, raw: &[u8]) -> T {
    let v = T::read(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    v.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(v.encoded_len().unwrap(), raw.len() as u64, "{name}: item length");
    assert_eq!(v.to_bytes().unwrap(), raw, "{name}: item bytes");
    v
}

/// Walks the log region from its start, checking every entry qemu left there
/// (headers with their CRC over the whole entry, descriptors, data sectors).
/// Returns the number of entries.
fn walk_log(name: &str, log: &[u8]) -> usize {
    let mut pos = 0usize;
    let mut entries = 0;
    let mut last_seq = 0;
    while pos + LogEntryHeader::SIZE <= log.len() && log[pos..pos + 4] == LogEntryHeader::SIGNATURE {
        let h = LogEntryHeader::read(&log[pos..]).unwrap();
        let len = h.entry_length as usize;
        let entry = &log[pos..pos + len];
        let h = LogEntryHeader::parse(entry).unwrap_or_else(|e| panic!("{name}: log entry at {pos}: {e}"));
        // The checksum covers the whole entry, so to_bytes keeps the stored one.
        assert_eq!(h.to_bytes().unwrap(), entry[..LogEntryHeader::SIZE], "{name}: log entry header bytes");
        let mut recomputed = entry.to_vec();
        recomputed[LogEntryHeader::OFF_CHECKSUM..LogEntryHeader::OFF_CHECKSUM + 4].fill(0);
        h.fill_checksum(&mut recomputed).unwrap();
        assert_eq!(recomputed, entry, "{name}: fill_checksum over the entry");
        assert!(h.sequence_number > last_seq, "{name}: sequence numbers grow");
        last_seq = h.sequence_number;
        assert!(!h.log_guid.is_nil());
        let desc_sectors = (h.descriptor_count as usize + 2).div_ceil(128);
        let mut data = pos + desc_sectors * 4096;
        for i in 0..h.descriptor_count as usize {
            let d = &entry[64 + 32 * i..96 + 32 * i];
            if d[..4] == DataDescriptor::SIGNATURE {
                let dd = DataDescriptor::parse(d).unwrap_or_else(|e| panic!("{name}: descriptor {i}: {e}"));
                assert_eq!(dd.to_bytes().unwrap(), d);
                assert_eq!(dd.sequence_number, h.sequence_number);
                let sector = &log[data..data + 4096];
                let ds = DataSector::parse(sector).unwrap_or_else(|e| panic!("{name}: data sector: {e}"));
                assert_eq!(ds.to_bytes().unwrap(), sector);
                assert_eq!((ds.sequence_high as u64) << 32 | ds.sequence_low as u64, h.sequence_number);
                data += 4096;
            } else {
                let zd = ZeroDescriptor::parse(d).unwrap_or_else(|e| panic!("{name}: descriptor {i}: {e}"));
                assert_eq!(zd.to_bytes().unwrap(), d);
            }
        }
        assert_eq!(data, pos + len, "{name}: entry is its descriptors and data sectors");
        pos += len;
        entries += 1;
    }
    entries
}

#[test]
fn header_section_metadata_and_bat_round_trip() {
    let images = corpus::of_format("vhdx");
    assert!(images.len() >= 3, "corpus has the vhdx images");
    for img in images {
        let name = img.path.display().to_string();
        let len = file_len(&img.path);

        let raw = read_at(&img.path, FileIdentifier::FILE_OFFSET, FileIdentifier::SIZE);
        let id = FileIdentifier::parse(&raw).unwrap_or_else(|e| panic!("{name}: identifier: {e}"));
        assert_eq!(id.to_bytes().unwrap(), raw);
        assert_eq!(id.creator.to_string_lossy(), "QEMU v10.0.2", "{name}: creator");

        // Both headers are valid; the current one has the higher sequence number.
        let headers: Vec<Header> = Header::FILE_OFFSETS
            .iter()
            .map(|off| {
                let raw = read_at(&img.path, *off, Header::SIZE);
                let h = Header::parse(&raw).unwrap_or_else(|e| panic!("{name}: header at {off:#x}: {e}"));
                assert_eq!(h.to_bytes().unwrap(), raw, "{name}: header at {off:#x}");
                h
            })
            .collect();
        assert_eq!(Header::FILE_OFFSETS, [0x10000, 0x20000]);
        let current = headers.iter().max_by_key(|h| h.sequence_number).unwrap();
        assert_eq!(headers[0].sequence_number.abs_diff(headers[1].sequence_number), 1, "{name}: qemu updates both");
        assert!(current.log_guid.is_nil(), "{name}: clean image, nothing to replay");
        assert_eq!((current.log_version, current.version), (0, 1));
        assert_eq!((current.log_offset, current.log_length), (1 << 20, 1 << 20), "{name}: 1 MiB log at 1 MiB");
        assert_eq!(headers[0].file_write_guid, headers[1].file_write_guid);

        // Region tables: identical copies with the BAT and metadata regions.
        let rt_raw = read_at(&img.path, RegionTable::FILE_OFFSETS[0], RegionTable::SIZE);
        assert_eq!(rt_raw, read_at(&img.path, RegionTable::FILE_OFFSETS[1], RegionTable::SIZE), "{name}: region table copies");
        let rt = RegionTable::parse(&rt_raw).unwrap_or_else(|e| panic!("{name}: region table: {e}"));
        assert_eq!(rt.to_bytes().unwrap(), rt_raw, "{name}: region table bytes");
        assert_eq!(rt.entries.len(), 2);
        let region = |g: &str| rt.entries.iter().find(|e| e.guid == guid(g)).unwrap_or_else(|| panic!("{name}: region {g}"));
        let (bat_r, meta_r) = (region(BAT_REGION), region(METADATA_REGION));
        assert_eq!((bat_r.file_offset, meta_r.file_offset, meta_r.length), (2 << 20, 3 << 20, 1 << 20), "{name}");
        assert!(!bat_r.flags.required() && !meta_r.flags.required(), "{name}: qemu writes Required = 0");

        // Metadata table and items.
        let mt_raw = read_at(&img.path, meta_r.file_offset, MetadataTable::SIZE);
        let mt = MetadataTable::parse(&mt_raw).unwrap_or_else(|e| panic!("{name}: metadata table: {e}"));
        assert_eq!(mt.to_bytes().unwrap(), mt_raw, "{name}: metadata table bytes");
        assert_eq!(mt.entries.len(), 5, "{name}: the five required items");
        let payload = |g: &str| {
            let e = mt.entries.iter().find(|e| e.item_id == guid(g)).unwrap_or_else(|| panic!("{name}: item {g}"));
            assert!(e.flags.is_required(), "{name}: {g} required");
            assert!(e.offset >= 0x10000, "{name}: items after the table");
            read_at(&img.path, meta_r.file_offset + e.offset as u64, e.length as usize)
        };
        let fp: FileParameters = item(&name, &payload(FILE_PARAMETERS));
        let size: VirtualDiskSize = item(&name, &payload(VIRTUAL_DISK_SIZE));
        let page83: Page83Data = item(&name, &payload(PAGE_83));
        let lss: LogicalSectorSize = item(&name, &payload(LOGICAL_SECTOR));
        let pss: PhysicalSectorSize = item(&name, &payload(PHYSICAL_SECTOR));
        assert_eq!(size.virtual_disk_size, img.virtual_size, "{name}: size item");
        assert!(!page83.page_83_data.is_nil());
        assert_eq!((lss.logical_sector_size, pss.physical_sector_size), (512, 512), "{name}");
        assert!(!fp.flags.has_parent());
        let fixed = name.ends_with("fixed.vhdx");
        assert_eq!(fp.flags.leave_blocks_allocated(), fixed, "{name}: fixed flag");
        let expect_block = if name.ends_with("block1M.vhdx") { 1 << 20 } else { 8 << 20 };
        assert_eq!(fp.block_size, expect_block, "{name}: block size");

        // BAT: payload entries interleaved with sector bitmap entries.
        let bs = fp.block_size as u64;
        let chunk_ratio = (1u64 << 23) * lss.logical_sector_size as u64 / bs;
        let payload_blocks = size.virtual_disk_size.div_ceil(bs);
        let entries = payload_blocks + (payload_blocks - 1) / chunk_ratio;
        assert!(entries * 8 <= bat_r.length as u64);
        let bat = read_at(&img.path, bat_r.file_offset, bat_r.length as usize);
        let mut present = Vec::new();
        for i in 0..entries as usize {
            let e = Bat::get(&bat, i).unwrap();
            assert_eq!(BatEntry::from_raw(e.raw()).raw(), u64::from_le_bytes(bat[i * 8..i * 8 + 8].try_into().unwrap()));
            if (i as u64 + 1).is_multiple_of(chunk_ratio + 1) {
                assert_eq!(e.state(), BlockState::NotPresent, "{name}: sector bitmap entry {i}");
                continue;
            }
            let block = i as u64 - i as u64 / (chunk_ratio + 1);
            match e.state() {
                BlockState::FullyPresent => {
                    let off = e.file_offset();
                    assert_eq!(off % (1 << 20), 0, "{name}: block {block} on a MiB");
                    assert!(off >= 8 << 20 && off + bs <= len, "{name}: block {block} at {off:#x} inside the file");
                    present.push(block);
                }
                // qemu's default block_state_zero=on marks untouched blocks Zero, fixed disks too.
                BlockState::Zero => assert!(!name.ends_with("block1M.vhdx"), "{name}: Zero with block_state_zero=off"),
                BlockState::NotPresent => assert!(name.ends_with("block1M.vhdx"), "{name}: NotPresent block {block}"),
                other => panic!("{name}: block {block} state {other:?}"),
            }
            assert_eq!(e.raw() & 0xf_fff8, 0, "{name}: reserved bits clear");
        }
        // The standard data touches guest offsets 0, 1M, 3146240 and 48M.
        let mut expect: Vec<u64> = [0u64, 1 << 20, 3146240, 48 << 20].iter().map(|o| o / bs).collect();
        expect.dedup();
        assert_eq!(present, expect, "{name}: allocated blocks");
        let mut copy = bat.clone();
        assert!(Bat::set(&mut copy, 0, Bat::get(&bat, 0).unwrap()));
        assert_eq!(copy, bat);

        // The log keeps the (already applied) entries of qemu's BAT updates.
        let log = read_at(&img.path, current.log_offset, current.log_length as usize);
        let n = walk_log(&name, &log);
        assert!(n >= 1, "{name}: log entries");
    }
}

#[test]
fn bat_entries_and_sector_bitmaps() {
    let e = BatEntry::from_raw(0x0480_0006);
    assert_eq!((e.state(), e.file_offset()), (BlockState::FullyPresent, 0x0480_0000));
    assert_eq!(BatEntry::FILE_OFFSET_MASK, 0xffff_ffff_fff0_0000);
    assert_eq!(BatEntry::STATE_MASK, 7);
    let e2 = BatEntry::default().with_state(BlockState::PartiallyPresent).with_file_offset(5 << 20);
    assert_eq!(e2.raw(), 5 << 20 | 7);
    // Reserved bits are kept (qemu ignores them), unknown states too.
    let odd = BatEntry::from_raw(0x0080_0008 | 4);
    assert_eq!(odd.raw(), 0x0080_000c);
    assert_eq!(odd.state(), BlockState::Unknown(4));
    assert!(odd.validate().is_ok());
    assert_eq!(BatEntry::from_raw(5).state(), BlockState::UnmappedV095);

    // Sector bitmaps are one bit per sector, least significant bit first.
    let mut bitmap = vec![0u8; 4];
    let bits = SectorBitmap::entry_bits().unwrap();
    assert!(SectorBitmap::set(&mut bitmap, 9, bits, 1));
    assert_eq!(bitmap, [0, 0b10, 0, 0]);
    assert_eq!(SectorBitmap::get(&bitmap, 9, bits), Some(1));
    assert_eq!(SectorBitmap::len(&bitmap, bits), 32);
}

/// A valid header and region table from the corpus.
fn sample() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let images = corpus::of_format("vhdx");
    let img = images.iter().find(|e| e.path.ends_with("vhdx/dynamic.vhdx")).expect("dynamic.vhdx");
    let log_entry = read_at(&img.path, 1 << 20, 8192);
    (read_at(&img.path, 0x10000, 4096), read_at(&img.path, 0x30000, 65536), log_entry)
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
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
    let (header, region, log_entry) = sample();
    // Any changed byte breaks the CRC.
    for i in [0x8usize, 0x40, 0x100, 4095] {
        let mut bad = header.clone();
        bad[i] ^= 1;
        assert!(matches!(Header::parse(&bad), Err(FormatError::Checksum { .. })), "header byte {i}");
    }
    let mut bad = region.clone();
    bad[0xfff0] ^= 1;
    assert!(matches!(RegionTable::parse(&bad), Err(FormatError::Checksum { .. })));
    // A version-2 header is invalid even with a good checksum.
    let mut h = Header::read(&header).unwrap();
    h.version = 2;
    assert!(Header::parse(&h.to_bytes().unwrap()).is_err());
    h.version = 1;
    h.log_offset = 0x180000;
    assert!(Header::parse(&h.to_bytes().unwrap()).is_err(), "log offset off a MiB");
    // entry_count beyond 2047 is refused before reading entries.
    let mut rt = RegionTable::read(&region).unwrap();
    rt.entry_count = 2048;
    assert!(rt.validate().is_err());
    let mut big = region.clone();
    big[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(RegionTable::parse(&big).is_err());
    // A log entry whose length runs past the buffer.
    let mut le = log_entry.clone();
    le[8..12].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
    assert!(LogEntryHeader::parse(&le).is_err());
    assert!(LogEntryHeader::parse(&log_entry).is_ok());

    for n in 0..header.len() {
        assert!(Header::parse(&header[..n]).is_err(), "header truncated to {n}");
    }
    for n in (0..region.len()).step_by(61) {
        assert!(RegionTable::parse(&region[..n]).is_err(), "region table truncated to {n}");
    }
    for n in 0..log_entry.len() {
        assert!(LogEntryHeader::parse(&log_entry[..n]).is_err(), "log entry truncated to {n}");
    }
    for seed in 0..100u64 {
        let mut g = noise(seed, 65536 + seed as usize);
        let _ = (FileIdentifier::parse(&g), Header::parse(&g), RegionTable::parse(&g), MetadataTable::parse(&g));
        let _ = (LogEntryHeader::parse(&g), ZeroDescriptor::parse(&g), DataDescriptor::parse(&g), DataSector::parse(&g));
        g[..4].copy_from_slice(b"regi");
        if let Ok(r) = RegionTable::read(&g) {
            let _ = (r.validate(), r.to_bytes());
        }
        g[..8].copy_from_slice(b"metadata");
        if let Ok(m) = MetadataTable::read(&g) {
            let _ = (m.validate(), m.to_bytes());
        }
        g[..4].copy_from_slice(b"loge");
        if let Ok(l) = LogEntryHeader::read(&g) {
            let _ = (l.validate(), l.to_bytes(), l.verify_checksum(&g));
        }
        let _ = Bat::get(&g, usize::MAX);
    }
}
