//! LUKS1 key handling (cryptsetup's "LUKS On-Disk Format Specification"
//! version 1.2): the algorithms a header names, PBKDF2 key derivation, the
//! anti-forensic merge of key material, and the master key digest check.

use super::block::CipherAlg;
use super::hash::HashAlg;
use super::sector::{CipherSpec, IvGenAlg, Mode, ModeCipher};
use super::{ct_eq, SecretBuf, SectorCipher};
use crate::error::{Error, Result};
use qimg_formats::luks::{Header, KeySlotState};

/// Length of the master key digest (`mk_digest`).
pub const DIGEST_LEN: usize = 20;

/// What a LUKS header says about its encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LuksParams {
    /// How the payload (and key material) sectors are encrypted.
    pub spec: CipherSpec,
    /// The hash of PBKDF2 and of the AF diffuser.
    pub hash: HashAlg,
    /// The master key length.
    pub key_bytes: usize,
}

fn text(s: &qimg_formats::rt::FixedStr<32>) -> String {
    s.to_string_lossy()
}

impl LuksParams {
    /// Parses the cipher name, cipher mode and hash spec of `h`, with qemu's
    /// messages, checked in qemu's order: the mode string's shape and mode,
    /// the cipher with its key size, the hash, the IV generator, ESSIV's
    /// cipher.
    pub fn parse(h: &Header) -> Result<LuksParams> {
        let mode_text = text(&h.cipher_mode);
        let Some((mode_name, ivgen_text)) = mode_text.split_once('-') else {
            return Err(Error::unsupported(format!("Unexpected cipher mode string format '{mode_text}'")));
        };
        let mode = Mode::from_name(mode_name)
            .ok_or_else(|| Error::unsupported(format!("Cipher mode '{mode_name}' not supported")))?;
        let key_bytes = h.key_bytes as usize;
        let cipher_key = if mode == Mode::Xts { key_bytes / 2 } else { key_bytes };
        let alg = CipherAlg::lookup(&text(&h.cipher_name), cipher_key)?;
        let hash_name = text(&h.hash_spec);
        let hash = HashAlg::from_name(&hash_name)
            .ok_or_else(|| Error::unsupported(format!("Hash algorithm '{hash_name}' not supported")))?;
        let (ivgen_name, ivgen_hash) = match ivgen_text.split_once(':') {
            Some((n, hsh)) => (n, Some(hsh)),
            None => (ivgen_text, None),
        };
        let ivgen = IvGenAlg::from_name(ivgen_name)
            .ok_or_else(|| Error::unsupported(format!("IV generator '{ivgen_name}' not supported")))?;
        let essiv = if ivgen == IvGenAlg::Essiv {
            let Some(hname) = ivgen_hash else {
                return Err(Error::unsupported("Missing IV generator hash specification"));
            };
            let ihash = HashAlg::from_name(hname)
                .ok_or_else(|| Error::unsupported(format!("Hash algorithm '{hname}' not supported")))?;
            Some((ihash, alg.essiv(ihash)?))
        } else {
            None
        };
        Ok(LuksParams { spec: CipherSpec { alg, mode, ivgen, essiv }, hash, key_bytes })
    }
}

/// XORs `src` into `dst`.
fn xor(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// The AF diffuser: each digest-sized piece `i` of `buf` (the last may be
/// shorter) becomes the hash of the big-endian `i` and the piece, cut to
/// the piece's length.
fn diffuse(hash: HashAlg, buf: &mut [u8]) {
    for (i, piece) in buf.chunks_mut(hash.digest_len()).enumerate() {
        let mut d = hash.digest(&[&(i as u32).to_be_bytes(), piece]);
        piece.copy_from_slice(&d[..piece.len()]);
        super::wipe(&mut d);
    }
}

/// Merges anti-forensic split key material of `stripes` stripes of
/// `key_len` bytes back into the key.
pub fn af_merge(hash: HashAlg, material: &[u8], key_len: usize, stripes: usize) -> SecretBuf {
    let mut key = SecretBuf::zeroed(key_len);
    if key_len == 0 || stripes == 0 {
        return key;
    }
    let mut stripes_iter = material.chunks_exact(key_len).take(stripes);
    for _ in 0..stripes - 1 {
        if let Some(s) = stripes_iter.next() {
            xor(key.as_mut_slice(), s);
        }
        diffuse(hash, key.as_mut_slice());
    }
    if let Some(last) = stripes_iter.next() {
        xor(key.as_mut_slice(), last);
    }
    key
}

/// Reads `buf.len()` bytes of the LUKS area at an offset from the start of
/// the LUKS header (zeros past the end of the file).
pub type ReadFn<'a> = dyn Fn(&mut [u8], u64) -> Result<()> + 'a;

/// Tries `passphrase` on every active key slot of `h` in order and returns
/// the master key of the first one it opens; qemu's message when none does:
/// `Invalid password, cannot unlock any keyslot`.
pub fn unlock(h: &Header, params: &LuksParams, passphrase: &[u8], read: &ReadFn<'_>) -> Result<SecretBuf> {
    let key_len = params.key_bytes;
    for slot in h.key_slots.iter().filter(|s| s.active == KeySlotState::Enabled) {
        let stripes = slot.stripes as usize;
        // The spec file limits stripes to 4000 and the cipher lookup limits
        // key_len to 64, so this stays under 256 KB.
        let Some(len) = key_len.checked_mul(stripes).filter(|l| *l <= 64 * 4000) else {
            return Err(Error::corrupt("LUKS key material is too large"));
        };
        let mut slot_key = SecretBuf::zeroed(key_len);
        params.hash.pbkdf2(passphrase, &slot.salt, slot.iterations, slot_key.as_mut_slice());
        let mut material = SecretBuf::zeroed(len);
        read(material.as_mut_slice(), slot.key_offset as u64 * 512)?;
        ModeCipher::new(&params.spec, &slot_key)?.decrypt(0, material.as_mut_slice())?;
        let candidate = af_merge(params.hash, &material, key_len, stripes);
        let mut digest = SecretBuf::zeroed(DIGEST_LEN);
        params.hash.pbkdf2(&candidate, &h.mk_digest_salt, h.mk_digest_iterations, digest.as_mut_slice());
        if ct_eq(&digest, &h.mk_digest) {
            return Ok(candidate);
        }
    }
    Err(Error::invalid("Invalid password, cannot unlock any keyslot"))
}

/// The payload cipher of a LUKS volume whose master key is `key`.
pub fn payload_cipher(params: &LuksParams, key: &[u8]) -> Result<ModeCipher> {
    ModeCipher::new(&params.spec, key)
}

/// Unlocks the volume and returns its payload cipher (sector 0 is the first
/// payload sector for raw LUKS; qcow2 passes host sectors).
pub fn open_cipher(h: &Header, passphrase: &[u8], read: &ReadFn<'_>) -> Result<std::sync::Arc<dyn SectorCipher>> {
    let params = LuksParams::parse(h)?;
    let key = unlock(h, &params, passphrase, read)?;
    Ok(std::sync::Arc::new(payload_cipher(&params, &key)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With two stripes the merge is `diffuse(s0) ^ s1`; with one it is the
    /// stripe itself.
    #[test]
    fn af_merge_by_hand() {
        let s0: Vec<u8> = (0..40u8).collect();
        let s1: Vec<u8> = (100..140u8).collect();
        assert_eq!(&af_merge(HashAlg::Sha1, &s0, 40, 1)[..], &s0[..]);
        let mut want = s0.clone();
        // 40 bytes with SHA-1: pieces of 20, 20.
        let d0 = HashAlg::Sha1.digest(&[&0u32.to_be_bytes(), &s0[..20]]);
        let d1 = HashAlg::Sha1.digest(&[&1u32.to_be_bytes(), &s0[20..]]);
        want[..20].copy_from_slice(&d0);
        want[20..].copy_from_slice(&d1);
        xor(&mut want, &s1);
        let material = [s0, s1].concat();
        assert_eq!(&af_merge(HashAlg::Sha1, &material, 40, 2)[..], &want[..]);
        // A short last piece (SHA-256 over 40 bytes: 32 + 8).
        let mut buf: Vec<u8> = (0..40u8).collect();
        diffuse(HashAlg::Sha256, &mut buf);
        let d1 = HashAlg::Sha256.digest(&[&1u32.to_be_bytes(), &(32..40u8).collect::<Vec<_>>()]);
        assert_eq!(&buf[32..], &d1[..8]);
    }
}
