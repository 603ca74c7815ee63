//! Disk encryption: LUKS1 (raw `luks` images and qcow2's `encrypt.format=luks`)
//! and the legacy qcow/qcow2 AES scheme, as qemu 10.0.2 reads and writes them.
//!
//! * [`SectorCipher`] encrypts and decrypts whole 512-byte sectors; the
//!   sector number feeds the IV generator.
//! * [`luks`] parses a LUKS1 header's algorithms ([`luks::LuksParams`]) and
//!   unlocks its master key from a passphrase ([`luks::unlock`]).
//! * [`qcow2_cipher`] and [`qcow_cipher`] are what the qcow2 and qcow drivers
//!   call to get the cipher of an encrypted image.
//!
//! Secrets are kept in [`SecretBuf`]s, wiped when dropped, compared in
//! constant time, and never formatted into messages or logs.

pub mod block;
pub mod hash;
pub mod luks;
pub mod sector;

use crate::error::{Error, Result};
use crate::storage::Storage;
use std::sync::Arc;

pub use block::CipherAlg;
pub use hash::HashAlg;
pub use sector::{CipherSpec, IvGenAlg, Mode, ModeCipher};

/// The unit of encryption: every sector has its own IV.
pub const SECTOR_SIZE: u64 = 512;

/// Encrypts or decrypts data in place, sector by sector.
///
/// `sector` is the number of the first 512-byte sector of `data` (the IV
/// source; which sector numbering applies depends on the format: see
/// [`qcow2_cipher`]); `data.len()` is a multiple of 512 (a shorter last
/// piece of whole cipher blocks is accepted, for LUKS key material).
pub trait SectorCipher: Send + Sync {
    fn decrypt(&self, sector: u64, data: &mut [u8]) -> Result<()>;
    fn encrypt(&self, sector: u64, data: &mut [u8]) -> Result<()>;
}

/// Bytes that are secret (passphrases, keys): zeroed when dropped, never
/// shown by `Debug`.
#[derive(Clone, Default)]
pub struct SecretBuf(Vec<u8>);

impl SecretBuf {
    pub fn new(bytes: Vec<u8>) -> SecretBuf {
        SecretBuf(bytes)
    }

    /// A zero-filled buffer of `len` bytes.
    pub fn zeroed(len: usize) -> SecretBuf {
        SecretBuf(vec![0; len])
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl std::ops::Deref for SecretBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBuf({} bytes)", self.0.len())
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites `buf` with zeros in a way the optimiser keeps.
pub fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use ctutils::CtEq;
    a.ct_eq(b).to_bool()
}

/// qcow2's `crypt_method` values.
pub const CRYPT_NONE: u32 = 0;
pub const CRYPT_AES: u32 = 1;
pub const CRYPT_LUKS: u32 = 2;

/// The legacy qcow/qcow2 AES cipher: AES-128-CBC with plain64 IVs, keyed
/// with the passphrase's first 16 bytes, zero-padded.
pub fn legacy_aes_cipher(passphrase: &[u8]) -> Result<Arc<dyn SectorCipher>> {
    let mut key = SecretBuf::zeroed(16);
    let n = passphrase.len().min(16);
    key.as_mut_slice()[..n].copy_from_slice(&passphrase[..n]);
    let spec = CipherSpec { alg: CipherAlg::Aes128, mode: Mode::Cbc, ivgen: IvGenAlg::Plain64, essiv: None };
    Ok(Arc::new(ModeCipher::new(&spec, &key)?))
}

/// The cipher of an encrypted qcow2 image.
///
/// * `crypt_method` is the header's: 1 (AES) or 2 (LUKS); 0 is an error.
/// * `luks_header`: for LUKS, the image file and the offset of the LUKS
///   header (the CRYPTO header extension's offset). The key material offsets
///   in that header count from there; its payload offset is ignored.
/// * `passphrase`: the secret named by `encrypt.key-secret` (see
///   [`crate::secret::SecretStore::lookup_utf8`]).
///
/// Which sector number to pass to the cipher:
/// * AES (1): the **guest** sector, `guest_offset / 512`;
/// * LUKS (2): the **host** sector, `host_offset / 512` (the offset in the
///   image file, or in the external data file, where the data is stored).
///
/// Errors are qemu's: `Invalid password, cannot unlock any keyslot`, and the
/// LUKS header's algorithm errors.
pub fn qcow2_cipher(
    crypt_method: u32,
    luks_header: Option<(&Storage, u64)>,
    passphrase: &[u8],
) -> Result<Arc<dyn SectorCipher>> {
    match crypt_method {
        CRYPT_AES => legacy_aes_cipher(passphrase),
        CRYPT_LUKS => {
            let Some((storage, offset)) = luks_header else {
                return Err(Error::invalid("Missing CRYPTO header for crypt method 2"));
            };
            let header = crate::format::luks::read_header(storage, offset)?;
            let params = luks::LuksParams::parse(&header)?;
            let key = luks::unlock(&header, &params, passphrase, &|buf, at| {
                storage.read_zero_padded(buf, offset.checked_add(at).ok_or_else(|| Error::errno(libc::EINVAL))?)
            })?;
            Ok(Arc::new(ModeCipher::new(&params.spec, &key)?))
        }
        other => Err(Error::invalid(format!("Unsupported encryption method: {other}"))),
    }
}

/// The cipher of an encrypted qcow (v1) image (`crypt_method` 1, AES): pass
/// the **guest** sector, `guest_offset / 512`.
pub fn qcow_cipher(crypt_method: u32, passphrase: &[u8]) -> Result<Arc<dyn SectorCipher>> {
    match crypt_method {
        CRYPT_AES => legacy_aes_cipher(passphrase),
        other => Err(Error::invalid(format!("Unsupported encryption method: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_aes_key_is_padded_and_truncated() {
        let plain = vec![0x5au8; 1024];
        let mut a = plain.clone();
        legacy_aes_cipher(b"abc").unwrap().encrypt(7, &mut a).unwrap();
        let mut key = [0u8; 16];
        key[..3].copy_from_slice(b"abc");
        let spec = CipherSpec { alg: CipherAlg::Aes128, mode: Mode::Cbc, ivgen: IvGenAlg::Plain64, essiv: None };
        let mut b = plain.clone();
        ModeCipher::new(&spec, &key).unwrap().encrypt(7, &mut b).unwrap();
        assert_eq!(a, b);
        let mut c = plain.clone();
        let mut d = plain.clone();
        legacy_aes_cipher(b"0123456789abcdefEXTRA").unwrap().encrypt(7, &mut c).unwrap();
        legacy_aes_cipher(b"0123456789abcdef").unwrap().encrypt(7, &mut d).unwrap();
        assert_eq!(c, d);
        assert!(ct_eq(b"same", b"same") && !ct_eq(b"same", b"diff") && !ct_eq(b"a", b"ab"));
        assert_eq!(format!("{:?}", SecretBuf::new(b"pw".to_vec())), "SecretBuf(2 bytes)");
    }
}
