//! Sector encryption: a block cipher in a mode (ECB, CBC, CTR, XTS) with an
//! IV generator (plain, plain64, essiv), applied 512 bytes at a time with the
//! sector number as the IV source, as qemu's block encryption does.

use super::block::{BlockCipher, CipherAlg};
use super::hash::HashAlg;
use super::{SecretBuf, SectorCipher, SECTOR_SIZE};
use crate::error::{Error, Result};

/// A cipher mode (qemu's `QCryptoCipherMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ecb,
    Cbc,
    Xts,
    Ctr,
}

impl Mode {
    /// The mode qemu knows by `name`.
    pub fn from_name(name: &str) -> Option<Mode> {
        Some(match name {
            "ecb" => Mode::Ecb,
            "cbc" => Mode::Cbc,
            "xts" => Mode::Xts,
            "ctr" => Mode::Ctr,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Ecb => "ecb",
            Mode::Cbc => "cbc",
            Mode::Xts => "xts",
            Mode::Ctr => "ctr",
        }
    }
}

/// How the IV of a sector is made from its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvGenAlg {
    /// The low 32 bits of the sector number, little-endian, then zeros.
    Plain,
    /// The sector number as a little-endian u64, then zeros.
    Plain64,
    /// The plain64 block encrypted with a cipher keyed by the hash of the key.
    Essiv,
}

impl IvGenAlg {
    pub fn from_name(name: &str) -> Option<IvGenAlg> {
        Some(match name {
            "plain" => IvGenAlg::Plain,
            "plain64" => IvGenAlg::Plain64,
            "essiv" => IvGenAlg::Essiv,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            IvGenAlg::Plain => "plain",
            IvGenAlg::Plain64 => "plain64",
            IvGenAlg::Essiv => "essiv",
        }
    }
}

/// Everything that says how sectors are encrypted, but the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSpec {
    /// The cipher (for XTS, of each half of the key).
    pub alg: CipherAlg,
    pub mode: Mode,
    pub ivgen: IvGenAlg,
    /// ESSIV's hash and cipher.
    pub essiv: Option<(HashAlg, CipherAlg)>,
}

impl CipherSpec {
    /// The key length this spec needs (twice the cipher's for XTS).
    pub fn key_len(&self) -> usize {
        if self.mode == Mode::Xts {
            self.alg.key_len() * 2
        } else {
            self.alg.key_len()
        }
    }
}

enum IvGen {
    Plain,
    Plain64,
    Essiv(Box<BlockCipher>),
}

/// A [`SectorCipher`] built from a [`CipherSpec`] and a key.
pub struct ModeCipher {
    mode: Mode,
    cipher: BlockCipher,
    /// XTS's tweak cipher (the second half of the key).
    tweak: Option<BlockCipher>,
    ivgen: IvGen,
    block: usize,
}

const MAX_BLOCK: usize = 16;
const BLOCKS_PER_SECTOR: usize = SECTOR_SIZE as usize / 8;

impl ModeCipher {
    /// Keys `spec` with `key`. qemu's message for a mode the cipher cannot
    /// do: `Unsupported cipher mode xts` (XTS needs 16-byte blocks).
    pub fn new(spec: &CipherSpec, key: &[u8]) -> Result<ModeCipher> {
        if key.len() != spec.key_len() {
            return Err(Error::invalid(format!("Cipher key length {} should be {}", key.len(), spec.key_len())));
        }
        if spec.mode == Mode::Xts && spec.alg.block_len() != 16 {
            return Err(Error::unsupported("Unsupported cipher mode xts"));
        }
        let (cipher, tweak) = if spec.mode == Mode::Xts {
            let half = spec.alg.key_len();
            (BlockCipher::new(spec.alg, &key[..half])?, Some(BlockCipher::new(spec.alg, &key[half..])?))
        } else {
            (BlockCipher::new(spec.alg, key)?, None)
        };
        let ivgen = match (spec.ivgen, spec.essiv) {
            (IvGenAlg::Plain, _) => IvGen::Plain,
            (IvGenAlg::Plain64, _) => IvGen::Plain64,
            (IvGenAlg::Essiv, Some((hash, alg))) => {
                let salt = SecretBuf::new(hash.digest(&[key]));
                IvGen::Essiv(Box::new(BlockCipher::new(alg, &salt)?))
            }
            (IvGenAlg::Essiv, None) => return Err(Error::invalid("Missing IV generator hash specification")),
        };
        let block = spec.alg.block_len();
        Ok(ModeCipher { mode: spec.mode, cipher, tweak, ivgen, block })
    }

    /// The IV of `sector` (`self.block` bytes of `iv` are used).
    fn iv(&self, sector: u64, iv: &mut [u8; MAX_BLOCK]) {
        *iv = [0; MAX_BLOCK];
        let n = self.block;
        match &self.ivgen {
            IvGen::Plain => iv[..4].copy_from_slice(&(sector as u32).to_le_bytes()),
            IvGen::Plain64 => iv[..8].copy_from_slice(&sector.to_le_bytes()),
            IvGen::Essiv(c) => {
                iv[..8].copy_from_slice(&sector.to_le_bytes());
                c.encrypt_blocks(&mut iv[..n]);
            }
        }
    }

    /// Encrypts or decrypts `data` from `sector` on, one sector at a time;
    /// the last piece may be shorter than a sector (key material is), but
    /// must be whole blocks.
    fn run(&self, sector: u64, data: &mut [u8], encrypt: bool) -> Result<()> {
        if !data.len().is_multiple_of(self.block) {
            return Err(Error::invalid(format!(
                "Length {} must be a multiple of block size {}",
                data.len(),
                self.block
            )));
        }
        let mut iv = [0u8; MAX_BLOCK];
        for (i, chunk) in data.chunks_mut(SECTOR_SIZE as usize).enumerate() {
            let s = sector.wrapping_add(i as u64);
            match self.mode {
                Mode::Ecb if encrypt => self.cipher.encrypt_blocks(chunk),
                Mode::Ecb => self.cipher.decrypt_blocks(chunk),
                Mode::Cbc => {
                    self.iv(s, &mut iv);
                    if encrypt {
                        self.cbc_encrypt(&iv, chunk)
                    } else {
                        self.cbc_decrypt(&iv, chunk)
                    }
                }
                Mode::Ctr => {
                    self.iv(s, &mut iv);
                    self.ctr(&iv, chunk)
                }
                Mode::Xts => {
                    self.iv(s, &mut iv);
                    self.xts(&mut iv, chunk, encrypt)
                }
            }
        }
        Ok(())
    }

    fn cbc_encrypt(&self, iv: &[u8; MAX_BLOCK], chunk: &mut [u8]) {
        let n = self.block;
        let mut prev = *iv;
        for b in chunk.chunks_exact_mut(n) {
            xor(b, &prev[..n]);
            self.cipher.encrypt_blocks(b);
            prev[..n].copy_from_slice(b);
        }
    }

    fn cbc_decrypt(&self, iv: &[u8; MAX_BLOCK], chunk: &mut [u8]) {
        let n = self.block;
        let mut saved = [0u8; SECTOR_SIZE as usize];
        let saved = &mut saved[..chunk.len()];
        saved.copy_from_slice(chunk);
        self.cipher.decrypt_blocks(chunk);
        for (i, b) in chunk.chunks_exact_mut(n).enumerate() {
            let prev = if i == 0 { &iv[..n] } else { &saved[(i - 1) * n..i * n] };
            xor(b, prev);
        }
    }

    /// Counter mode: the IV is the first counter block, incremented as a
    /// big-endian integer of the block's width.
    fn ctr(&self, iv: &[u8; MAX_BLOCK], chunk: &mut [u8]) {
        let n = self.block;
        let mut stream = [0u8; SECTOR_SIZE as usize];
        let stream = &mut stream[..chunk.len()];
        let mut counter = *iv;
        for b in stream.chunks_exact_mut(n) {
            b.copy_from_slice(&counter[..n]);
            for byte in counter[..n].iter_mut().rev() {
                *byte = byte.wrapping_add(1);
                if *byte != 0 {
                    break;
                }
            }
        }
        self.cipher.encrypt_blocks(stream);
        xor(chunk, stream);
    }

    /// XTS (IEEE 1619) without ciphertext stealing: the tweak is the IV
    /// encrypted with the second key, multiplied by x in GF(2^128) per block.
    fn xts(&self, iv: &mut [u8; MAX_BLOCK], chunk: &mut [u8], encrypt: bool) {
        let Some(tweak_cipher) = &self.tweak else { return };
        tweak_cipher.encrypt_blocks(iv);
        let mut tweaks = [0u8; SECTOR_SIZE as usize];
        let tweaks = &mut tweaks[..chunk.len()];
        let mut t = u128::from_le_bytes(*iv);
        for b in tweaks.chunks_exact_mut(16) {
            b.copy_from_slice(&t.to_le_bytes());
            let carry = (t >> 127) as u8;
            t = (t << 1) ^ (0x87 * carry as u128);
        }
        xor(chunk, tweaks);
        if encrypt {
            self.cipher.encrypt_blocks(chunk);
        } else {
            self.cipher.decrypt_blocks(chunk);
        }
        xor(chunk, tweaks);
    }
}

fn xor(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

const _: () = assert!(BLOCKS_PER_SECTOR * 8 == SECTOR_SIZE as usize);

impl SectorCipher for ModeCipher {
    fn decrypt(&self, sector: u64, data: &mut [u8]) -> Result<()> {
        self.run(sector, data, false)
    }

    fn encrypt(&self, sector: u64, data: &mut [u8]) -> Result<()> {
        self.run(sector, data, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn spec(alg: CipherAlg, mode: Mode, ivgen: IvGenAlg) -> CipherSpec {
        CipherSpec { alg, mode, ivgen, essiv: None }
    }

    /// IEEE 1619-2007 XTS-AES vectors 1, 2 and 4 (the data unit number is
    /// the tweak, which is what plain64 of the sector number makes).
    #[test]
    fn xts_aes128_ieee1619() {
        let s = spec(CipherAlg::Aes128, Mode::Xts, IvGenAlg::Plain64);
        // Vector 1: zero keys, sector 0, 32 zero bytes.
        let c = ModeCipher::new(&s, &[0u8; 32]).unwrap();
        let mut d = vec![0u8; 32];
        c.encrypt(0, &mut d).unwrap();
        assert_eq!(d, unhex("917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e"));
        c.decrypt(0, &mut d).unwrap();
        assert_eq!(d, vec![0u8; 32]);
        // Vector 2.
        let key = unhex("11111111111111111111111111111111 22222222222222222222222222222222");
        let c = ModeCipher::new(&s, &key).unwrap();
        let mut d = vec![0x44u8; 32];
        c.encrypt(0x3333333333, &mut d).unwrap();
        assert_eq!(d, unhex("c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"));
        // Vector 4: 512 bytes 00..ff twice, sector 0.
        let key = unhex("27182818284590452353602874713526 31415926535897932384626433832795");
        let c = ModeCipher::new(&s, &key).unwrap();
        let plain: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut d = plain.clone();
        c.encrypt(0, &mut d).unwrap();
        assert_eq!(&d[..32], &unhex("27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c")[..]);
        assert_eq!(&d[480..], &unhex("eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568")[..]);
        // Vector 5 is vector 4's ciphertext encrypted again with sector 1.
        let mut d5 = d.clone();
        c.encrypt(1, &mut d5).unwrap();
        assert_eq!(&d5[..32], &unhex("264d3ca8512194fec312c8c9891f279fefdd608d0c027b60483a3fa811d65ee5")[..]);
        c.decrypt(0, &mut d).unwrap();
        assert_eq!(d, plain);
    }

    /// IEEE 1619-2007 vector 10: XTS-AES-256 with data unit 0xff.
    #[test]
    fn xts_aes256_ieee1619() {
        let s = spec(CipherAlg::Aes256, Mode::Xts, IvGenAlg::Plain64);
        let key = unhex(
            "2718281828459045235360287471352662497757247093699959574966967627
             3141592653589793238462643383279502884197169399375105820974944592",
        );
        let c = ModeCipher::new(&s, &key).unwrap();
        let plain: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut d = plain.clone();
        c.encrypt(0xff, &mut d).unwrap();
        assert_eq!(&d[..32], &unhex("1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b")[..]);
        c.decrypt(0xff, &mut d).unwrap();
        assert_eq!(d, plain);
    }

    /// NIST SP 800-38A F.2.1 (CBC-AES128) and F.5.1 (CTR-AES128): the IV is
    /// set through the plain64 generator's low bytes where possible, so
    /// these check the modes with an explicit IV.
    #[test]
    fn cbc_and_ctr_sp800_38a() {
        let key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
        let plain = unhex(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51
             30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        );
        let c = ModeCipher::new(&spec(CipherAlg::Aes128, Mode::Cbc, IvGenAlg::Plain64), &key).unwrap();
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&unhex("000102030405060708090a0b0c0d0e0f"));
        let mut d = plain.clone();
        c.cbc_encrypt(&iv, &mut d);
        assert_eq!(
            d,
            unhex(
                "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2
                 73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
            )
        );
        c.cbc_decrypt(&iv, &mut d);
        assert_eq!(d, plain);
        let c = ModeCipher::new(&spec(CipherAlg::Aes128, Mode::Ctr, IvGenAlg::Plain64), &key).unwrap();
        iv.copy_from_slice(&unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
        let mut d = plain.clone();
        c.ctr(&iv, &mut d);
        assert_eq!(
            d,
            unhex(
                "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff
                 5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
            )
        );
    }

    /// The IV generators: plain truncates to 32 bits, plain64 does not,
    /// essiv encrypts the plain64 block with the key's digest.
    #[test]
    fn iv_generators() {
        let key = [7u8; 16];
        let sector = 0x1_0000_0002u64;
        let mut iv = [0u8; 16];
        let c = ModeCipher::new(&spec(CipherAlg::Aes128, Mode::Cbc, IvGenAlg::Plain), &key).unwrap();
        c.iv(sector, &mut iv);
        assert_eq!(iv[..], unhex("02000000000000000000000000000000")[..]);
        let c = ModeCipher::new(&spec(CipherAlg::Aes128, Mode::Cbc, IvGenAlg::Plain64), &key).unwrap();
        c.iv(sector, &mut iv);
        assert_eq!(iv[..], unhex("02000000010000000000000000000000")[..]);
        let essiv = CipherSpec {
            essiv: Some((HashAlg::Sha256, CipherAlg::Aes256)),
            ..spec(CipherAlg::Aes128, Mode::Cbc, IvGenAlg::Essiv)
        };
        let c = ModeCipher::new(&essiv, &key).unwrap();
        c.iv(sector, &mut iv);
        let salt = HashAlg::Sha256.digest(&[&key]);
        let mut want = unhex("02000000010000000000000000000000");
        BlockCipher::new(CipherAlg::Aes256, &salt).unwrap().encrypt_blocks(&mut want);
        assert_eq!(iv[..], want[..]);
    }

    #[test]
    fn sectors_advance_and_round_trip() {
        for (alg, mode) in [
            (CipherAlg::Aes256, Mode::Cbc),
            (CipherAlg::Aes256, Mode::Ecb),
            (CipherAlg::Aes256, Mode::Ctr),
            (CipherAlg::Twofish128, Mode::Xts),
            (CipherAlg::Serpent256, Mode::Cbc),
            (CipherAlg::Cast5_128, Mode::Cbc),
            (CipherAlg::Cast5_128, Mode::Ctr),
        ] {
            let s = spec(alg, mode, IvGenAlg::Plain64);
            let c = ModeCipher::new(&s, &vec![3u8; s.key_len()]).unwrap();
            let plain: Vec<u8> = (0..2048u32).map(|i| (i * 7) as u8).collect();
            let mut all = plain.clone();
            c.encrypt(10, &mut all).unwrap();
            let mut third = plain[1024..1536].to_vec();
            c.encrypt(12, &mut third).unwrap();
            assert_eq!(third, all[1024..1536], "{} {}", alg.name(), mode.name());
            c.decrypt(10, &mut all).unwrap();
            assert_eq!(all, plain, "{} {}", alg.name(), mode.name());
        }
        let s = spec(CipherAlg::Cast5_128, Mode::Xts, IvGenAlg::Plain64);
        assert_eq!(ModeCipher::new(&s, &[0; 32]).err().unwrap().message, "Unsupported cipher mode xts");
        let c = ModeCipher::new(&spec(CipherAlg::Aes128, Mode::Cbc, IvGenAlg::Plain64), &[0; 16]).unwrap();
        assert_eq!(c.decrypt(0, &mut [0u8; 24]).unwrap_err().message, "Length 24 must be a multiple of block size 16");
    }
}
