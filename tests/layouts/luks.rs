//! Golden round trips of LUKS1 headers and key slots in corpus images.

use crate::qcow::garbage_from;
use crate::{corpus, read_at};
use qimg_formats::luks::*;
use qimg_formats::rt::Uuid;

/// Sectors of key material per slot as qemu lays them out: `key_bytes *
/// stripes` bytes, rounded up to 4 KiB (crypto/block-luks.c).
fn slot_sectors(key_bytes: u32) -> u32 {
    (key_bytes * 4000).div_ceil(4096) * 8
}

#[test]
fn headers_and_key_slots_round_trip() {
    let images = corpus::of_format("luks");
    assert!(images.len() >= 2, "corpus has the luks images");
    for img in images {
        let name = img.path.display().to_string();
        let head = read_at(&img.path, 0, 4096);
        let h = Header::parse(&head).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.to_bytes().unwrap(), head[..Header::SIZE], "{name}: header");
        assert!(head[Header::SIZE..].iter().all(|b| *b == 0), "{name}: zeros up to the first key material");
        assert_eq!(h.version, 1);
        assert!(Uuid::parse(&h.uuid.to_string_lossy()).is_some(), "{name}: UUID text {:?}", h.uuid);
        assert!(h.mk_digest_iterations > 0);
        let (cipher, mode, hash, key_bytes) = if name.contains("aes128") {
            ("aes", "cbc-essiv:sha256", "sha1", 16)
        } else {
            ("aes", "xts-plain64", "sha256", 64)
        };
        assert_eq!(h.cipher_name.to_string_lossy(), cipher, "{name}");
        assert_eq!(h.cipher_mode.to_string_lossy(), mode, "{name}");
        assert_eq!(h.hash_spec.to_string_lossy(), hash, "{name}");
        assert_eq!(h.key_bytes, key_bytes, "{name}");

        // Slot 0 holds the key; slots' material follows the first 4 KiB, one
        // after another, and the payload follows the last one.
        let step = slot_sectors(h.key_bytes);
        for (i, slot) in h.key_slots.iter().enumerate() {
            let state = if i == 0 { KeySlotState::Enabled } else { KeySlotState::Disabled };
            assert_eq!(slot.active, state, "{name}: slot {i}");
            assert_eq!(slot.key_offset, 8 + i as u32 * step, "{name}: slot {i} key material");
            assert_eq!(slot.stripes, 4000);
            if i == 0 {
                assert!(slot.iterations > 0 && slot.salt != [0; 32]);
            } else {
                assert_eq!((slot.iterations, slot.salt), (0, [0; 32]), "{name}: qemu leaves disabled slots empty");
            }
            let raw = &head[Header::OFF_KEY_SLOTS + i * KeySlot::SIZE..][..KeySlot::SIZE];
            assert_eq!(slot.to_bytes().unwrap(), raw, "{name}: slot {i}");
            assert_eq!(KeySlot::parse(raw).unwrap(), *slot);
        }
        assert_eq!(h.payload_offset, 8 + 8 * step, "{name}: payload after the last slot");
        if key_bytes == 64 {
            assert_eq!(h.key_slots.map(|s| s.key_offset)[..3], [8, 512, 1016], "{name}");
            assert_eq!(h.payload_offset, 4040);
        }
        let file_len = std::fs::metadata(&img.path).unwrap().len();
        assert_eq!(file_len, h.payload_offset as u64 * 512 + img.virtual_size, "{name}: payload runs to the end");
    }
}

fn good() -> Vec<u8> {
    let slot = |i: u32, active| KeySlot { active, iterations: if i == 0 { 1000 } else { 0 }, salt: [0; 32], key_offset: 8 + i * 504, stripes: 4000 };
    let h = Header {
        version: 1,
        cipher_name: qimg_formats::rt::FixedStr::new(b"aes").unwrap(),
        cipher_mode: qimg_formats::rt::FixedStr::new(b"xts-plain64").unwrap(),
        hash_spec: qimg_formats::rt::FixedStr::new(b"sha256").unwrap(),
        payload_offset: 4040,
        key_bytes: 64,
        mk_digest_iterations: 1000,
        key_slots: std::array::from_fn(|i| slot(i as u32, if i == 0 { KeySlotState::Enabled } else { KeySlotState::Disabled })),
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
fn qemu_messages_and_slot_rules() {
    let good = good();
    assert_eq!(good.len(), 592);
    Header::parse(&good).unwrap();
    assert_eq!(message(Header::OFF_VERSION, &2u16.to_be_bytes()), "LUKS version 2 is not supported");
    assert_eq!(message(Header::OFF_VERSION, &0u16.to_be_bytes()), "LUKS version 0 is not supported");
    assert_eq!(message(Header::OFF_PAYLOAD_OFFSET, &7u32.to_be_bytes()), "LUKS payload is overlapping with the header");
    assert_eq!(message(Header::OFF_MK_DIGEST_ITERATIONS, &0u32.to_be_bytes()), "LUKS key iteration count is zero");
    assert!(matches!(Header::parse(&[b"LUKS\xba\xbf".as_slice(), &good[6..]].concat()), Err(qimg_formats::rt::FormatError::BadMagic { .. })));

    // Slot rules (qemu's slot messages name the slot index, so these carry none).
    let slot_err = |i: usize, off: usize, v: u32| {
        let mut b = good.clone();
        b[Header::OFF_KEY_SLOTS + i * KeySlot::SIZE + off..][..4].copy_from_slice(&v.to_be_bytes());
        Header::parse(&b).err()
    };
    let e = slot_err(1, KeySlot::OFF_ACTIVE, 1).unwrap();
    assert_eq!((e.field(), e.message().contains("KeySlotState")), (Some("active"), true));
    assert_eq!(slot_err(0, KeySlot::OFF_STRIPES, 4001).unwrap().field(), Some("stripes"));
    assert_eq!(slot_err(1, KeySlot::OFF_STRIPES, 0).unwrap().field(), Some("stripes"));
    assert_eq!(slot_err(0, KeySlot::OFF_KEY_OFFSET, 7).unwrap().field(), Some("key_offset"));
    assert_eq!(slot_err(0, KeySlot::OFF_ITERATIONS, 0).unwrap().field(), Some("iterations"));
    // A disabled slot may have no iterations (qemu accepts it), an enabled one may not.
    assert!(slot_err(1, KeySlot::OFF_ITERATIONS, 0).is_none());
    assert!(slot_err(1, KeySlot::OFF_ITERATIONS, 1).is_none());
}

#[test]
fn hostile_input_fails_cleanly() {
    let good = good();
    for n in 0..good.len() {
        assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
    }
    for buf in garbage_from(0x1a5, &good) {
        if let Ok(h) = Header::read(&buf) {
            let _ = (h.validate(), h.to_bytes());
        }
        let _ = KeySlot::parse(&buf);
    }
}
