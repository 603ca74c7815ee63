//! The size of a LUKS header as qemu creates it (for `measure -O luks` and
//! `-O qcow2 -o encrypt.format=luks`): the options are checked as qemu's
//! LUKS creation checks them, then the layout is computed, not made.
//!
//! qemu's layout: the header and key slot headers fill the first 4 KiB;
//! each of the key slots then has the key material of its anti-forensic
//! split (the master key times 4000 stripes), in whole sectors rounded up
//! to 4 KiB; the payload follows the last slot.

use super::{Input, Measurement};
use crate::crypto::block::CipherAlg;
use crate::crypto::hash::HashAlg;
use crate::crypto::sector::{IvGenAlg, Mode};
use crate::error::{Error, Result};
use crate::opts::Opts;
use crate::secret::SecretStore;
use qimg_formats::luks::{Header, KeySlot};

/// LUKS sectors are 512 bytes.
const SECTOR: u64 = 512;
/// qemu puts the first key material (and aligns each slot's) at 4 KiB.
const KEY_SLOT_ALIGN: u64 = 4096;
/// Anti-forensic stripes qemu creates (the only number it accepts).
const STRIPES: u64 = 4000;

/// qemu's cipher names (its `QCryptoCipherAlgo` enumeration).
const CIPHER_NAMES: &[&str] = &[
    "aes-128", "aes-192", "aes-256", "des", "3des", "cast5-128", "serpent-128", "serpent-192", "serpent-256",
    "twofish-128", "twofish-192", "twofish-256", "sm4",
];

/// Key slots of a LUKS1 header (the spec's array).
fn key_slots() -> u64 {
    ((Header::SIZE - Header::OFF_KEY_SLOTS) / KeySlot::SIZE) as u64
}

fn rejected(name: &str, value: &str) -> Error {
    Error::invalid(format!("Parameter '{name}' does not accept value '{value}'"))
}

/// An enumerated option: its value if given and known, qemu's message if not.
fn choice<T>(opts: &Opts, prefix: &str, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
    match opts.get_str(&format!("{prefix}{name}")) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| rejected(name, v)),
    }
}

/// The cipher qemu names `name` (`aes-256`), if qimg has it.
fn cipher(name: &str) -> Option<CipherAlg> {
    let (family, bits) = name.split_once('-')?;
    CipherAlg::lookup(family, bits.parse::<usize>().ok()? / 8).ok()
}

/// Bytes of the LUKS header (up to the payload) that the options would
/// create; `prefix` is how the options are named (`encrypt.` in qcow2).
pub fn luks_payload_size(opts: &Opts, prefix: &str, secrets: &SecretStore) -> Result<u64> {
    let alg_name = choice(opts, prefix, "cipher-alg", |v| CIPHER_NAMES.contains(&v).then(|| v.to_string()))?;
    let mode = choice(opts, prefix, "cipher-mode", Mode::from_name)?.unwrap_or(Mode::Xts);
    let ivgen = choice(opts, prefix, "ivgen-alg", IvGenAlg::from_name)?.unwrap_or(IvGenAlg::Plain64);
    let ivgen_hash = choice(opts, prefix, "ivgen-hash-alg", HashAlg::from_name)?.unwrap_or(HashAlg::Sha256);
    choice(opts, prefix, "hash-alg", HashAlg::from_name)?;
    if opts.get(&format!("{prefix}detached-header")).is_some() {
        return Err(Error::invalid("Parameter 'detached-header' is unexpected"));
    }
    let Some(secret) = opts.get_str(&format!("{prefix}key-secret")) else {
        return Err(Error::invalid(format!("Parameter '{prefix}key-secret' is required for cipher")));
    };
    secrets.lookup_utf8(secret)?;
    let alg_name = alg_name.unwrap_or_else(|| "aes-256".to_string());
    let alg = cipher(&alg_name).ok_or_else(|| Error::unsupported(format!("Algorithm '{alg_name}' not supported")))?;
    if ivgen == IvGenAlg::Essiv {
        alg.essiv(ivgen_hash)?;
    }
    if mode == Mode::Xts && alg.block_len() != 16 {
        return Err(Error::unsupported("Unsupported cipher mode xts"));
    }
    let key_len = alg.key_len() as u64 * if mode == Mode::Xts { 2 } else { 1 };
    let per_slot = (key_len * STRIPES).div_ceil(SECTOR).div_ceil(KEY_SLOT_ALIGN / SECTOR) * KEY_SLOT_ALIGN;
    Ok(KEY_SLOT_ALIGN + key_slots() * per_slot)
}

/// luks: the header, then the whole guest (every sector is encrypted, so
/// nothing is left unallocated).
pub(super) fn measure(input: &Input<'_>) -> Result<Measurement> {
    let size = match input.source {
        Some(s) => s.virtual_size(),
        None => input.opts.get_u64("size", 0),
    };
    let total = luks_payload_size(input.opts, "", input.secrets)? + size;
    Ok(Measurement { required: total, fully_allocated: total, bitmaps: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_layouts() {
        let secrets = {
            let mut s = SecretStore::new();
            let def = crate::secret::SecretDef::from_props("s", &[("data".into(), "x".into())]).unwrap();
            s.add_secret(&def).unwrap();
            s
        };
        let size = |list: &str| {
            let schema = crate::create_opts::create_schema_with_protocol("luks").unwrap();
            let opts = Opts::parse(&schema, list).unwrap();
            luks_payload_size(&opts, "", &secrets)
        };
        // Numbers from qemu-img 10.0.2 measure.
        assert_eq!(size("key-secret=s").unwrap(), 2068480);
        assert_eq!(size("key-secret=s,cipher-alg=aes-128,cipher-mode=cbc").unwrap(), 528384);
        assert_eq!(size("key-secret=s,cipher-alg=serpent-192").unwrap(), 1544192);
        assert_eq!(size("key-secret=s,cipher-alg=des").unwrap_err().message, "Algorithm 'des' not supported");
        assert_eq!(size("cipher-alg=bogus").unwrap_err().message, "Parameter 'cipher-alg' does not accept value 'bogus'");
        assert_eq!(size("key-secret=t").unwrap_err().message, "No secret with id 't'");
        assert_eq!(size("").unwrap_err().message, "Parameter 'key-secret' is required for cipher");
        assert_eq!(size("key-secret=s,cipher-alg=cast5-128").unwrap_err().message, "Unsupported cipher mode xts");
        assert_eq!(
            size("key-secret=s,ivgen-alg=essiv,ivgen-hash-alg=sha512").unwrap_err().message,
            "No AES cipher with key size 64 available"
        );
    }
}
