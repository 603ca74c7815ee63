//! Hash functions by qemu's names, with PBKDF2-HMAC over each.

use sha2::Digest;

/// A hash algorithm LUKS headers may name (qemu's `QCryptoHashAlgo` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Ripemd160,
    Sm3,
}

/// Runs `$body` with `$H` bound to the RustCrypto type of `$alg`.
macro_rules! with_hash {
    ($alg:expr, $H:ident => $body:expr) => {
        match $alg {
            HashAlg::Md5 => {
                type $H = md5::Md5;
                $body
            }
            HashAlg::Sha1 => {
                type $H = sha1::Sha1;
                $body
            }
            HashAlg::Sha224 => {
                type $H = sha2::Sha224;
                $body
            }
            HashAlg::Sha256 => {
                type $H = sha2::Sha256;
                $body
            }
            HashAlg::Sha384 => {
                type $H = sha2::Sha384;
                $body
            }
            HashAlg::Sha512 => {
                type $H = sha2::Sha512;
                $body
            }
            HashAlg::Ripemd160 => {
                type $H = ripemd::Ripemd160;
                $body
            }
            HashAlg::Sm3 => {
                type $H = sm3::Sm3;
                $body
            }
        }
    };
}

impl HashAlg {
    /// Every algorithm, in qemu's enumeration order.
    pub const ALL: [HashAlg; 8] = [
        HashAlg::Md5,
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Ripemd160,
        HashAlg::Sm3,
    ];

    /// The algorithm qemu knows by `name` (case-sensitive, as qemu matches it).
    pub fn from_name(name: &str) -> Option<HashAlg> {
        HashAlg::ALL.into_iter().find(|h| h.name() == name)
    }

    /// qemu's name of the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Md5 => "md5",
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Ripemd160 => "ripemd160",
            HashAlg::Sm3 => "sm3",
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 | HashAlg::Ripemd160 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 | HashAlg::Sm3 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The digest of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        with_hash!(self, H => {
            let mut h = H::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        })
    }

    /// PBKDF2 with HMAC over this hash (RFC 8018), filling `out`.
    pub fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        with_hash!(self, H => pbkdf2::pbkdf2_hmac::<H>(password, salt, iterations, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 6070 PBKDF2-HMAC-SHA1 test vectors (the 16777216-iteration one is
    /// left out: it takes seconds).
    #[test]
    fn pbkdf2_sha1_rfc6070() {
        let cases: &[(&[u8], &[u8], u32, &str)] = &[
            (b"password", b"salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
            (b"password", b"salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
            (b"password", b"salt", 4096, "4b007901b765489abead49d926f721d065a429c1"),
            (
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038",
            ),
            (b"pass\0word", b"sa\0lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"),
        ];
        for (pw, salt, iters, want) in cases {
            let mut out = vec![0u8; want.len() / 2];
            HashAlg::Sha1.pbkdf2(pw, salt, *iters, &mut out);
            assert_eq!(hex(&out), *want, "{iters}");
        }
    }

    /// PBKDF2-HMAC-SHA256 vectors (RFC 7914 section 11).
    #[test]
    fn pbkdf2_sha256_rfc7914() {
        let mut out = [0u8; 64];
        HashAlg::Sha256.pbkdf2(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        HashAlg::Sha256.pbkdf2(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn digests_and_names() {
        assert_eq!(
            hex(&HashAlg::Sha256.digest(&[b"a", b"bc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&HashAlg::Md5.digest(&[b"abc"])), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex(&HashAlg::Ripemd160.digest(&[b"abc"])), "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc");
        for h in HashAlg::ALL {
            assert_eq!(HashAlg::from_name(h.name()), Some(h));
            assert_eq!(h.digest(&[b"x"]).len(), h.digest_len());
        }
        assert_eq!(HashAlg::from_name("SHA256"), None);
    }
}
