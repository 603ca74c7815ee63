//! LUKS1 headers: reading them and describing them as qemu does (the
//! `encrypt` block of qcow2 images and the format data of raw LUKS images).

use crate::error::{Error, Result};
use crate::info::{LuksInfo, LuksSlot};
use crate::storage::Storage;
use qimg_formats::luks::{Header, KeySlotState};
use qimg_formats::rt::FormatError;

/// Reads and checks the LUKS header at `offset`.
pub fn read_header(storage: &Storage, offset: u64) -> Result<Header> {
    let mut buf = vec![0u8; Header::SIZE];
    storage.read_zero_padded(&mut buf, offset)?;
    Header::parse(&buf).map_err(|e| match e {
        FormatError::BadMagic { .. } => Error::invalid("Volume is not in LUKS format"),
        e => e.into(),
    })
}

/// qemu's name for a cipher and key size (`aes-256`, `cast5-128`, …).
fn cipher_alg(name: &str, key_bytes: u32, xts: bool) -> Result<String> {
    let bits = if xts { key_bytes / 2 * 8 } else { key_bytes * 8 };
    let known = match name {
        "aes" | "serpent" | "twofish" => matches!(bits, 128 | 192 | 256),
        "cast5" => bits == 128,
        "sm4" => bits == 128,
        _ => false,
    };
    if !known {
        return Err(Error::unsupported(format!("Unsupported cipher algorithm '{name}' with key size {bits}")));
    }
    Ok(if name == "sm4" { "sm4".into() } else { format!("{name}-{bits}") })
}

/// What qemu reports about a LUKS header.
pub fn info(h: &Header) -> Result<LuksInfo> {
    let mode_text = h.cipher_mode.to_string_lossy();
    let (mode, ivgen) = mode_text.split_once('-').unwrap_or((mode_text.as_str(), "plain"));
    let (ivgen_alg, ivgen_hash) = match ivgen.split_once(':') {
        Some((alg, hash)) => (alg.to_string(), Some(hash.to_string())),
        None => (ivgen.to_string(), None),
    };
    let slots = h
        .key_slots
        .iter()
        .map(|s| {
            let active = s.active == KeySlotState::Enabled;
            LuksSlot {
                active,
                iters: active.then_some(s.iterations as u64),
                stripes: active.then_some(s.stripes as u64),
                key_offset: s.key_offset as u64 * 512,
            }
        })
        .collect();
    Ok(LuksInfo {
        cipher_alg: cipher_alg(&h.cipher_name.to_string_lossy(), h.key_bytes, mode == "xts")?,
        cipher_mode: mode.to_string(),
        ivgen_alg,
        ivgen_hash_alg: ivgen_hash,
        hash_alg: h.hash_spec.to_string_lossy(),
        detached_header: false,
        payload_offset: h.payload_offset as u64 * 512,
        master_key_iters: h.mk_digest_iterations as u64,
        uuid: h.uuid.to_string_lossy(),
        slots,
    })
}
