//! Block ciphers by qemu's names: AES, Twofish, Serpent and CAST5, each at
//! the key sizes qemu accepts for LUKS.

use super::hash::HashAlg;
use crate::error::{Error, Result};
use aes::cipher::array::Array;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, KeyInit};

/// A cipher algorithm with its key size (qemu's `QCryptoCipherAlgo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherAlg {
    Aes128,
    Aes192,
    Aes256,
    Cast5_128,
    Serpent128,
    Serpent192,
    Serpent256,
    Twofish128,
    Twofish192,
    Twofish256,
}

impl CipherAlg {
    const ALL: [CipherAlg; 10] = [
        CipherAlg::Aes128,
        CipherAlg::Aes192,
        CipherAlg::Aes256,
        CipherAlg::Cast5_128,
        CipherAlg::Serpent128,
        CipherAlg::Serpent192,
        CipherAlg::Serpent256,
        CipherAlg::Twofish128,
        CipherAlg::Twofish192,
        CipherAlg::Twofish256,
    ];

    /// qemu's name (`aes-256`, `cast5-128`, …), as `info` reports it.
    pub fn name(self) -> &'static str {
        match self {
            CipherAlg::Aes128 => "aes-128",
            CipherAlg::Aes192 => "aes-192",
            CipherAlg::Aes256 => "aes-256",
            CipherAlg::Cast5_128 => "cast5-128",
            CipherAlg::Serpent128 => "serpent-128",
            CipherAlg::Serpent192 => "serpent-192",
            CipherAlg::Serpent256 => "serpent-256",
            CipherAlg::Twofish128 => "twofish-128",
            CipherAlg::Twofish192 => "twofish-192",
            CipherAlg::Twofish256 => "twofish-256",
        }
    }

    /// The family name a LUKS header uses (`aes`, `cast5`, …).
    pub fn luks_name(self) -> &'static str {
        match self {
            CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256 => "aes",
            CipherAlg::Cast5_128 => "cast5",
            CipherAlg::Serpent128 | CipherAlg::Serpent192 | CipherAlg::Serpent256 => "serpent",
            CipherAlg::Twofish128 | CipherAlg::Twofish192 | CipherAlg::Twofish256 => "twofish",
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            CipherAlg::Aes128 | CipherAlg::Cast5_128 | CipherAlg::Serpent128 | CipherAlg::Twofish128 => 16,
            CipherAlg::Aes192 | CipherAlg::Serpent192 | CipherAlg::Twofish192 => 24,
            CipherAlg::Aes256 | CipherAlg::Serpent256 | CipherAlg::Twofish256 => 32,
        }
    }

    /// Block length in bytes.
    pub fn block_len(self) -> usize {
        if self == CipherAlg::Cast5_128 {
            8
        } else {
            16
        }
    }

    /// The algorithm a LUKS header names with `name` and a (per-cipher) key
    /// of `key_len` bytes. qemu's message when there is none:
    /// `Algorithm 'NAME' with key size N bytes not supported` (this build of
    /// qemu has no SM4, so `sm4` gets that message too).
    pub fn lookup(name: &str, key_len: usize) -> Result<CipherAlg> {
        CipherAlg::ALL.into_iter().find(|a| a.luks_name() == name && a.key_len() == key_len).ok_or_else(|| {
            Error::unsupported(format!("Algorithm '{name}' with key size {key_len} bytes not supported"))
        })
    }

    /// The cipher ESSIV uses for IVs of this cipher with `hash`: the same
    /// family, keyed with the digest of the key, so its key size is the
    /// digest length. qemu's messages when there is none.
    pub fn essiv(self, hash: HashAlg) -> Result<CipherAlg> {
        let len = hash.digest_len();
        let family = match self.luks_name() {
            "aes" => "AES",
            "serpent" => "Serpent",
            "twofish" => "Twofish",
            _ => return Err(Error::unsupported(format!("Cipher {} not supported with essiv", self.name()))),
        };
        CipherAlg::lookup(self.luks_name(), len)
            .map_err(|_| Error::unsupported(format!("No {family} cipher with key size {len} available")))
    }
}

/// A keyed block cipher.
pub(crate) enum BlockCipher {
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
    Cast5(cast5::Cast5),
    Serpent(serpent::Serpent),
    Twofish(twofish::Twofish),
}

macro_rules! with_cipher {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            BlockCipher::Aes128($c) => $body,
            BlockCipher::Aes192($c) => $body,
            BlockCipher::Aes256($c) => $body,
            BlockCipher::Cast5($c) => $body,
            BlockCipher::Serpent($c) => $body,
            BlockCipher::Twofish($c) => $body,
        }
    };
}

fn keyed<C: KeyInit>(key: &[u8]) -> Result<C> {
    C::new_from_slice(key).map_err(|_| Error::invalid(format!("Invalid key length {}", key.len())))
}

fn enc<C: BlockCipherEncrypt>(c: &C, data: &mut [u8]) {
    let (blocks, tail) = Array::<u8, <C as BlockSizeUser>::BlockSize>::slice_as_chunks_mut(data);
    debug_assert!(tail.is_empty(), "callers pass whole blocks");
    c.encrypt_blocks(blocks);
}

fn dec<C: BlockCipherDecrypt>(c: &C, data: &mut [u8]) {
    let (blocks, tail) = Array::<u8, <C as BlockSizeUser>::BlockSize>::slice_as_chunks_mut(data);
    debug_assert!(tail.is_empty(), "callers pass whole blocks");
    c.decrypt_blocks(blocks);
}

impl BlockCipher {
    /// Keys `alg` with `key` (of the algorithm's key length).
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<BlockCipher> {
        if key.len() != alg.key_len() {
            return Err(Error::invalid(format!("Cipher key length {} should be {}", key.len(), alg.key_len())));
        }
        Ok(match alg {
            CipherAlg::Aes128 => BlockCipher::Aes128(keyed(key)?),
            CipherAlg::Aes192 => BlockCipher::Aes192(keyed(key)?),
            CipherAlg::Aes256 => BlockCipher::Aes256(keyed(key)?),
            CipherAlg::Cast5_128 => BlockCipher::Cast5(keyed(key)?),
            CipherAlg::Serpent128 | CipherAlg::Serpent192 | CipherAlg::Serpent256 => BlockCipher::Serpent(keyed(key)?),
            CipherAlg::Twofish128 | CipherAlg::Twofish192 | CipherAlg::Twofish256 => BlockCipher::Twofish(keyed(key)?),
        })
    }

    /// Encrypts whole blocks in place (ECB); `data.len()` is a multiple of
    /// the block length.
    pub fn encrypt_blocks(&self, data: &mut [u8]) {
        with_cipher!(self, c => enc(c, data))
    }

    /// Decrypts whole blocks in place (ECB).
    pub fn decrypt_blocks(&self, data: &mut [u8]) {
        with_cipher!(self, c => dec(c, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// FIPS-197 appendix C and the other ciphers' reference vectors.
    #[test]
    fn known_answers() {
        let cases = [
            (
                CipherAlg::Aes128,
                "000102030405060708090a0b0c0d0e0f",
                "00112233445566778899aabbccddeeff",
                "69c4e0d86a7b0430d8cdb78070b4c55a",
            ),
            (
                CipherAlg::Aes192,
                "000102030405060708090a0b0c0d0e0f1011121314151617",
                "00112233445566778899aabbccddeeff",
                "dda97ca4864cdfe06eaf70a0ec0d7191",
            ),
            (
                CipherAlg::Aes256,
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "00112233445566778899aabbccddeeff",
                "8ea2b7ca516745bfeafc49904b496089",
            ),
            // RFC 2144 appendix B.1.
            (CipherAlg::Cast5_128, "0123456712345678234567893456789a", "0123456789abcdef", "238b4fe5847e44b2"),
            // Twofish paper, 128-bit key of zeros.
            (
                CipherAlg::Twofish128,
                "00000000000000000000000000000000",
                "00000000000000000000000000000000",
                "9f589f5cf6122c32b6bfec2f2ae8c35a",
            ),
        ];
        for (alg, key, pt, ct) in cases {
            let c = BlockCipher::new(alg, &unhex(key)).unwrap();
            let mut b = unhex(pt);
            c.encrypt_blocks(&mut b);
            assert_eq!(b, unhex(ct), "{}", alg.name());
            c.decrypt_blocks(&mut b);
            assert_eq!(b, unhex(pt), "{}", alg.name());
        }
    }

    #[test]
    fn lookups_and_essiv() {
        assert_eq!(CipherAlg::lookup("aes", 32).unwrap(), CipherAlg::Aes256);
        assert_eq!(
            CipherAlg::lookup("aes", 20).unwrap_err().message,
            "Algorithm 'aes' with key size 20 bytes not supported"
        );
        assert_eq!(
            CipherAlg::lookup("sm4", 16).unwrap_err().message,
            "Algorithm 'sm4' with key size 16 bytes not supported"
        );
        assert_eq!(CipherAlg::Aes128.essiv(HashAlg::Sha256).unwrap(), CipherAlg::Aes256);
        assert_eq!(CipherAlg::Aes128.essiv(HashAlg::Md5).unwrap(), CipherAlg::Aes128);
        assert_eq!(
            CipherAlg::Aes256.essiv(HashAlg::Sha512).unwrap_err().message,
            "No AES cipher with key size 64 available"
        );
        assert_eq!(
            CipherAlg::Serpent256.essiv(HashAlg::Sha1).unwrap_err().message,
            "No Serpent cipher with key size 20 available"
        );
        assert_eq!(
            CipherAlg::Cast5_128.essiv(HashAlg::Sha256).unwrap_err().message,
            "Cipher cast5-128 not supported with essiv"
        );
    }
}
