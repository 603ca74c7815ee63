//! Secrets: qemu's `secret` objects (`--object secret,id=ID,data=…`), which
//! hold the passphrases of encrypted images, loaded the way qemu loads them.
//!
//! A secret's bytes come from `data=` or from the whole of `file=` (no
//! newline is stripped); `format=base64` decodes them; `keyid=ID,iv=IV`
//! decrypts them with AES-256-CBC, with the 32-byte secret `ID` as the key
//! and the base64 `IV`, then drops the number of bytes the last byte says
//! (PKCS#7-style padding, only its count checked). qemu loads a secret when
//! the object is created, so every error below comes out of
//! [`SecretStore::add_secret`], in qemu's order and words; a `keyid=` must
//! name a secret defined earlier.
//!
//! Secret bytes are wiped on drop and never appear in messages or `Debug`.

use crate::crypto::{CipherAlg, CipherSpec, IvGenAlg, Mode, ModeCipher, SecretBuf, SectorCipher};
use crate::error::{Error, Result};

/// How `data=` (or the file) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretFormat {
    #[default]
    Raw,
    Base64,
}

/// A `secret` object definition.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretDef {
    pub id: String,
    /// Inline data (`data=`); exclusive with `file`.
    pub data: Option<String>,
    /// A file holding the data (`file=`).
    pub file: Option<String>,
    pub format: SecretFormat,
    /// The secret that decrypts this one (`keyid=`).
    pub keyid: Option<String>,
    /// The base64 AES IV for `keyid` (`iv=`).
    pub iv: Option<String>,
}

impl std::fmt::Debug for SecretDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretDef")
            .field("id", &self.id)
            .field("data", &self.data.as_ref().map(|_| "<hidden>"))
            .field("file", &self.file)
            .field("format", &self.format)
            .field("keyid", &self.keyid)
            .field("iv", &self.iv)
            .finish()
    }
}

impl SecretDef {
    /// A definition from an object's id and properties (the CLI's
    /// `ObjectDef { id, props, .. }` of type `secret`), with qemu's messages
    /// for what the CLI has not already refused.
    pub fn from_props(id: &str, props: &[(String, String)]) -> Result<SecretDef> {
        let mut def = SecretDef { id: id.to_string(), ..SecretDef::default() };
        for (k, v) in props {
            match k.as_str() {
                "data" => def.data = Some(v.clone()),
                "file" => def.file = Some(v.clone()),
                "keyid" => def.keyid = Some(v.clone()),
                "iv" => def.iv = Some(v.clone()),
                "format" => {
                    def.format = match v.as_str() {
                        "raw" => SecretFormat::Raw,
                        "base64" => SecretFormat::Base64,
                        _ => return Err(Error::invalid(format!("Parameter 'format' does not accept value '{v}'"))),
                    }
                }
                _ => return Err(Error::invalid(format!("Parameter '{k}' is unexpected"))),
            }
        }
        match (&def.data, &def.file) {
            (Some(_), Some(_)) => Err(Error::invalid("'file' and 'data' are mutually exclusive")),
            (None, None) => Err(Error::invalid("Either 'file' or 'data' must be provided")),
            _ => Ok(def),
        }
    }
}

/// The objects created with `--object`: secrets with their loaded bytes,
/// and the ids of other objects (which are "not a secret").
#[derive(Debug, Default)]
pub struct SecretStore {
    objects: Vec<(String, Option<SecretBuf>)>,
}

impl SecretStore {
    pub fn new() -> SecretStore {
        SecretStore::default()
    }

    /// Loads a secret and adds it.
    pub fn add_secret(&mut self, def: &SecretDef) -> Result<()> {
        let value = self.load(def)?;
        self.insert(&def.id, Some(value))
    }

    /// Adds an object of another type (its id can then not name a secret).
    pub fn add_object(&mut self, id: &str) -> Result<()> {
        self.insert(id, None)
    }

    fn insert(&mut self, id: &str, value: Option<SecretBuf>) -> Result<()> {
        if self.objects.iter().any(|(i, _)| i == id) {
            return Err(Error::invalid(format!(
                "attempt to add duplicate property '{id}' to object (type 'container')"
            )));
        }
        self.objects.push((id.to_string(), value));
        Ok(())
    }

    /// The bytes of secret `id`: `No secret with id 'ID'`, `Object with id
    /// 'ID' is not a secret`.
    pub fn lookup(&self, id: &str) -> Result<&[u8]> {
        match self.objects.iter().find(|(i, _)| i == id) {
            None => Err(Error::invalid(format!("No secret with id '{id}'"))),
            Some((_, None)) => Err(Error::invalid(format!("Object with id '{id}' is not a secret"))),
            Some((_, Some(v))) => Ok(v),
        }
    }

    /// Secret `id` as text, as passphrases are used: `Data from secret ID is
    /// not valid UTF-8` (a NUL byte counts as invalid, as in qemu).
    pub fn lookup_utf8(&self, id: &str) -> Result<&str> {
        let bytes = self.lookup(id)?;
        match std::str::from_utf8(bytes) {
            Ok(s) if !bytes.contains(&0) => Ok(s),
            _ => Err(Error::invalid(format!("Data from secret {id} is not valid UTF-8"))),
        }
    }

    fn load(&self, def: &SecretDef) -> Result<SecretBuf> {
        let input = match (&def.data, &def.file) {
            (Some(d), _) => SecretBuf::new(d.as_bytes().to_vec()),
            (None, Some(f)) => read_file(f)?,
            (None, None) => return Err(Error::invalid("Either 'file' or 'data' must be provided")),
        };
        let Some(keyid) = &def.keyid else {
            return match def.format {
                SecretFormat::Raw => Ok(input),
                SecretFormat::Base64 => base64_decode(&input),
            };
        };
        let key = self.lookup(keyid)?;
        if key.len() != 32 {
            return Err(Error::invalid("Key should be 32 bytes in length"));
        }
        let Some(iv_text) = &def.iv else {
            return Err(Error::invalid("IV is required to decrypt secret"));
        };
        let iv = base64_decode(iv_text.as_bytes())?;
        if iv.len() != 16 {
            return Err(Error::invalid(format!("IV should be 16 bytes in length not {}", iv.len())));
        }
        let mut data = match def.format {
            SecretFormat::Raw => input,
            SecretFormat::Base64 => base64_decode(&input)?,
        };
        if !data.len().is_multiple_of(16) {
            return Err(Error::invalid(format!("Length {} must be a multiple of block size 16", data.len())));
        }
        // AES-256-CBC with one IV over the whole text is the ECB mode cipher
        // chained by hand: decrypt, then XOR each block with the one before.
        let ecb = CipherSpec { alg: CipherAlg::Aes256, mode: Mode::Ecb, ivgen: IvGenAlg::Plain64, essiv: None };
        let cipher = ModeCipher::new(&ecb, key)?;
        let saved = SecretBuf::new(data.to_vec());
        cipher.decrypt(0, data.as_mut_slice())?;
        for (i, block) in data.as_mut_slice().chunks_exact_mut(16).enumerate() {
            let prev = if i == 0 { &iv[..] } else { &saved[(i - 1) * 16..i * 16] };
            for (b, p) in block.iter_mut().zip(prev) {
                *b ^= p;
            }
        }
        let mut len = data.len();
        if let Some(&pad) = data.last() {
            if pad as usize > len {
                return Err(Error::invalid(format!(
                    "Incorrect number of padding bytes ({pad}) found on decrypted data"
                )));
            }
            len -= pad as usize;
        }
        Ok(SecretBuf::new(data[..len].to_vec()))
    }
}

/// Reads a whole secret file, with glib's messages under qemu's prefix.
fn read_file(name: &str) -> Result<SecretBuf> {
    use std::io::Read;
    let prefix = |e: std::io::Error, what: &str| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        Error::invalid(format!(
            "Unable to read {name}: {what} file \u{201c}{name}\u{201d}: {}",
            crate::error::strerror(errno)
        ))
    };
    let mut f = std::fs::File::open(name).map_err(|e| prefix(e, "Failed to open"))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| {
        crate::crypto::wipe(&mut buf);
        prefix(e, "Error reading")
    })?;
    Ok(SecretBuf::new(buf))
}

fn b64_rank(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => return None,
    })
}

/// Decodes base64 as qemu does: NULs and characters other than the
/// alphabet, `=` and newline are refused; newlines are skipped; `=` counts
/// as a zero digit that suppresses the output byte it ends; an incomplete
/// last group of four is dropped.
pub fn base64_decode(input: &[u8]) -> Result<SecretBuf> {
    if input.contains(&0) {
        return Err(Error::invalid("Base64 data contains embedded NUL characters"));
    }
    if input.iter().any(|&c| c != b'\n' && b64_rank(c).is_none()) {
        return Err(Error::invalid("Base64 data contains invalid characters"));
    }
    let mut out = SecretBuf::zeroed(input.len() / 4 * 3);
    let mut n = 0;
    let mut group = [0u8; 4];
    let mut have = 0;
    for &c in input {
        let Some(_) = b64_rank(c) else { continue };
        group[have] = c;
        have += 1;
        if have == 4 {
            let v = group.iter().fold(0u32, |v, &c| (v << 6) | b64_rank(c).unwrap_or(0) as u32);
            let o = out.as_mut_slice();
            o[n] = (v >> 16) as u8;
            n += 1;
            if group[2] != b'=' {
                o[n] = (v >> 8) as u8;
                n += 1;
            }
            if group[3] != b'=' {
                o[n] = v as u8;
                n += 1;
            }
            have = 0;
        }
    }
    crate::crypto::wipe(&mut group);
    Ok(SecretBuf::new(out[..n].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(props: &[(&str, &str)]) -> SecretDef {
        let props: Vec<(String, String)> = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SecretDef::from_props("sec0", &props).unwrap()
    }

    fn err(store: &SecretStore, props: &[(&str, &str)]) -> String {
        let props: Vec<(String, String)> = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match SecretDef::from_props("s", &props) {
            Err(e) => e.message,
            Ok(d) => store.load(&d).unwrap_err().message,
        }
    }

    #[test]
    fn base64_as_qemu() {
        let d = |s: &str| base64_decode(s.as_bytes()).map(|b| b.to_vec());
        assert_eq!(d("Y29ycHVzLXNlY3JldA==").unwrap(), b"corpus-secret");
        assert_eq!(d("Y29ycHVz\nLXNlY3JldA==").unwrap(), b"corpus-secret");
        assert_eq!(d("Y29ycHVzLXNlY3JldA==Y").unwrap(), b"corpus-secret");
        assert_eq!(d("Y29ycHVzLXNlY3JldA=").unwrap(), b"corpus-secre");
        assert_eq!(d("").unwrap(), b"");
        assert_eq!(d("YWJj").unwrap(), b"abc");
        for bad in ["!!", "a b", "a\tb", "YWJj\r\n"] {
            assert_eq!(d(bad).unwrap_err().message, "Base64 data contains invalid characters", "{bad:?}");
        }
        assert_eq!(d("YWJj\0ZA==").unwrap_err().message, "Base64 data contains embedded NUL characters");
    }

    #[test]
    fn store_lookups() {
        let mut s = SecretStore::new();
        s.add_secret(&def(&[("data", "corpus-secret")])).unwrap();
        s.add_object("tg").unwrap();
        assert_eq!(s.lookup("sec0").unwrap(), b"corpus-secret");
        assert_eq!(s.lookup_utf8("sec0").unwrap(), "corpus-secret");
        assert_eq!(s.lookup("nope").unwrap_err().message, "No secret with id 'nope'");
        assert_eq!(s.lookup("tg").unwrap_err().message, "Object with id 'tg' is not a secret");
        assert_eq!(
            s.add_secret(&def(&[("data", "x")])).unwrap_err().message,
            "attempt to add duplicate property 'sec0' to object (type 'container')"
        );
        let mut bad =
            SecretDef::from_props("b", &[("data".into(), "/w==".into()), ("format".into(), "base64".into())]).unwrap();
        s.add_secret(&bad).unwrap();
        assert_eq!(s.lookup_utf8("b").unwrap_err().message, "Data from secret b is not valid UTF-8");
        bad.id = "n".into();
        bad.data = Some("YQBi".into());
        s.add_secret(&bad).unwrap();
        assert_eq!(s.lookup_utf8("n").unwrap_err().message, "Data from secret n is not valid UTF-8");
        assert!(!format!("{s:?}").contains("corpus"));
        assert!(!format!("{:?}", def(&[("data", "corpus-secret")])).contains("corpus"));
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir().join(format!("qimg-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, b"corpus-secret\n").unwrap();
        let s = SecretStore::new();
        let v = s.load(&def(&[("file", f.to_str().unwrap())])).unwrap();
        assert_eq!(&v[..], b"corpus-secret\n");
        assert_eq!(
            err(&s, &[("file", "/nonexistent")]),
            "Unable to read /nonexistent: Failed to open file \u{201c}/nonexistent\u{201d}: No such file or directory"
        );
        let d = dir.to_str().unwrap();
        assert_eq!(
            err(&s, &[("file", d)]),
            format!("Unable to read {d}: Error reading file \u{201c}{d}\u{201d}: Is a directory")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err(&s, &[("format", "hex"), ("data", "x")]), "Parameter 'format' does not accept value 'hex'");
        assert_eq!(err(&s, &[("data", "x"), ("file", "y")]), "'file' and 'data' are mutually exclusive");
        assert_eq!(err(&s, &[]), "Either 'file' or 'data' must be provided");
        assert_eq!(err(&s, &[("data", "x"), ("bogus", "1")]), "Parameter 'bogus' is unexpected");
    }

    /// Secrets encrypted with another secret; the ciphertexts were made with
    /// `openssl enc -aes-256-cbc` (PKCS#7 padding) and checked with qemu-img.
    #[test]
    fn keyid_decryption() {
        let key = "1N0xNJD0/oAcfX2fLWFVOeKBZwiYkNnnoBxEtf5NvIc=";
        let iv = "GiyyfTA6rORylG8bla0Z1w==";
        let mut s = SecretStore::new();
        s.add_secret(&SecretDef {
            id: "k".into(),
            data: Some(key.into()),
            format: SecretFormat::Base64,
            ..Default::default()
        })
        .unwrap();
        let enc = |data: &str, format: &str, iv: Option<&str>| {
            let mut p = vec![("data", data), ("format", format), ("keyid", "k")];
            if let Some(iv) = iv {
                p.push(("iv", iv));
            }
            let d = def(&p);
            s.load(&d).map(|b| b.to_vec()).map_err(|e| e.message)
        };
        assert_eq!(enc("OtS9pBQ+OiKoII3oqweSlQ==", "base64", Some(iv)).unwrap(), b"corpus-secret");
        assert_eq!(enc("GAafxFwOxVAZtOQqe6YDPQ==", "base64", Some(iv)).unwrap(), b"corpus-secret");
        assert_eq!(enc("lOmeHMItoLNydKvPVeFRCA==", "base64", Some(iv)).unwrap(), b"corpus-secret\0\0\0");
        assert_eq!(enc("nGX0jR81kCNzB0AgRPTAVg==", "base64", Some(iv)).unwrap(), b"");
        assert_eq!(enc("", "base64", Some(iv)).unwrap(), b"");
        assert_eq!(
            enc("FxQnxLcavTNe1YnNNh6Qtw==", "base64", Some(iv)).unwrap_err(),
            "Incorrect number of padding bytes (33) found on decrypted data"
        );
        assert_eq!(
            enc("OtS9pBQ+OiKoII3oqweSlQ==", "raw", Some(iv)).unwrap_err(),
            "Length 24 must be a multiple of block size 16"
        );
        assert_eq!(enc("OtS9pBQ+OiKoII3oqweSlQ==", "base64", None).unwrap_err(), "IV is required to decrypt secret");
        assert_eq!(enc("x", "base64", Some("AAAA")).unwrap_err(), "IV should be 16 bytes in length not 3");
        assert_eq!(enc("AA!A", "base64", Some(iv)).unwrap_err(), "Base64 data contains invalid characters");
        assert_eq!(enc("AAAA", "base64", Some(iv)).unwrap_err(), "Length 3 must be a multiple of block size 16");
        let short = SecretDef { id: "short".into(), data: Some("short".into()), ..Default::default() };
        s.add_secret(&short).unwrap();
        let d = SecretDef { keyid: Some("short".into()), ..def(&[("data", "x")]) };
        assert_eq!(s.load(&d).unwrap_err().message, "Key should be 32 bytes in length");
        let d = SecretDef { keyid: Some("nokey".into()), ..def(&[("data", "x")]) };
        assert_eq!(s.load(&d).unwrap_err().message, "No secret with id 'nokey'");
    }
}
