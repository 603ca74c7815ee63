//! Encryption against qemu: the corpus LUKS images decrypt to the guest data
//! the manifest records; data qimg writes through the LUKS driver reads back
//! with qemu-io (and the reverse) for every cipher, mode, IV generator and
//! hash this qemu supports; the qcow2/qcow ciphers decrypt the corpus'
//! encrypted qcow2 and qcow clusters with the right sector numbers.

#[path = "../../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use qimg_runtime::crypto::{self, SectorCipher};
use qimg_runtime::format::luks;
use qimg_runtime::image::{Image, Keys, OpenOptions};
use qimg_runtime::image_opts;
use qimg_runtime::secret::{SecretDef, SecretStore};
use qimg_runtime::storage::{Mode, Storage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "corpus-secret";

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("encryption-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn open_luks(path: &Path, write: bool, pw: Option<&str>) -> qimg_runtime::Result<Box<dyn Image>> {
    let mode = if write { Mode::ReadWrite } else { Mode::ReadOnly };
    let storage = Storage::open(path.to_str().unwrap(), mode)?;
    let mut store = SecretStore::new();
    if let Some(pw) = pw {
        store.add_secret(&SecretDef { id: "key".into(), data: Some(pw.into()), ..SecretDef::default() })?;
    }
    let mut opts = if write { OpenOptions::write(Some("luks")) } else { OpenOptions::read(Some("luks"), false) };
    opts.keys = Keys { secrets: Some(&store), key_secret: pw.map(|_| "key"), encrypt_format: None };
    luks::open(storage, &opts, 0)
}

fn guest_sha256(img: &dyn Image) -> String {
    let mut h = Sha256::new();
    let size = img.virtual_size();
    let mut buf = vec![0u8; 4 << 20];
    let mut off = 0;
    while off < size {
        let n = (size - off).min(buf.len() as u64) as usize;
        img.read_at(&mut buf[..n], off).unwrap();
        h.update(&buf[..n]);
        off += n as u64;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run qemu tool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Runs qemu-io commands on a raw LUKS image and asserts that none failed
/// (qemu-io exits 0 even when a pattern does not match).
fn qemu_io(path: &Path, cmds: &[String]) {
    let mut c = Command::new("qemu-io");
    c.args(["--object", &format!("secret,id=sec0,data={SECRET}"), "--image-opts"]);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    c.arg(format!("driver=luks,file.filename={},key-secret=sec0", path.display()));
    let text = run(&mut c);
    assert!(!text.contains("Pattern verification failed") && !text.contains("failed:"), "{cmds:?}: {text}");
}

fn create_luks(path: &Path, size: &str, opts: &str) {
    let _ = std::fs::remove_file(path);
    run(Command::new("qemu-img").args([
        "create",
        "-q",
        "-f",
        "luks",
        "--object",
        &format!("secret,id=sec0,data={SECRET}"),
        "-o",
        &format!("key-secret=sec0,iter-time=10{opts}"),
        path.to_str().unwrap(),
        size,
    ]));
}

#[test]
fn corpus_luks_images_match_manifest() {
    let entries = corpus::of_format("luks");
    assert!(entries.len() >= 2, "the corpus has raw LUKS images");
    for e in entries {
        let img = open_luks(&e.path, false, e.secret.as_deref()).unwrap();
        assert_eq!(img.virtual_size(), e.virtual_size, "{}", e.path.display());
        assert_eq!(Some(guest_sha256(img.as_ref())), e.guest_sha256, "{}", e.path.display());
        let ext = img.block_status(0, u64::MAX).unwrap();
        assert_eq!(ext.len, e.virtual_size);
        assert_eq!(ext.status, qimg_runtime::image::Status::Data { host: None, zero: false });
    }
}

#[test]
fn luks_open_errors() {
    let dir = corpus::dir();
    let std_luks = dir.join("luks/std.luks");
    let e = open_luks(&std_luks, false, Some("wrong")).err().unwrap();
    assert_eq!(e.message, "Invalid password, cannot unlock any keyslot");
    let e = open_luks(&std_luks, false, None).err().unwrap();
    assert_eq!(e.message, "Parameter 'key-secret' is required for cipher");
    // The key-secret check comes before the header check, as in qemu.
    let raw = dir.join("raw/std.raw");
    if raw.exists() {
        let e = open_luks(&raw, false, None).err().unwrap();
        assert_eq!(e.message, "Parameter 'key-secret' is required for cipher");
        let e = open_luks(&raw, false, Some(SECRET)).err().unwrap();
        assert_eq!(e.message, "Volume is not in LUKS format");
    }
    // info needs no key.
    let storage = Storage::open(std_luks.to_str().unwrap(), Mode::ReadOnly).unwrap();
    let img = luks::open(storage, &OpenOptions::info(Some("luks"), false), 0).unwrap();
    let info = img.info().unwrap();
    assert!(info.encrypted);
    assert_eq!(info.virtual_size, 64 << 20);
}

/// What qimg writes, qemu reads; partial sectors keep their neighbours.
#[test]
fn luks_writes_read_back_with_qemu_io() {
    let path = scratch("w.luks");
    std::fs::copy(corpus::dir().join("luks/std.luks"), &path).unwrap();
    {
        let img = open_luks(&path, true, Some(SECRET)).unwrap();
        img.write_at(&vec![0x11u8; 64 << 10], 0).unwrap();
        img.write_at(&vec![0x22u8; 1000], (1 << 20) + 100).unwrap();
        img.write_at(&vec![0x33u8; 3 << 20], 5 << 20).unwrap();
        img.write_zeroes(10 << 20, 4096, Default::default()).unwrap();
        img.flush().unwrap();
        let mut b = vec![0u8; 1200];
        img.read_at(&mut b, 1 << 20).unwrap();
        assert!(b[..100].iter().all(|x| *x == 0xcd) && b[100..1100].iter().all(|x| *x == 0x22));
        assert!(b[1100..].iter().all(|x| *x == 0xcd));
    }
    qemu_io(
        &path,
        &[
            "read -P 0x11 0 64k".into(),
            "read -P 0xcd 1M 100".into(),
            "read -P 0x22 1048676 1000".into(),
            "read -P 0xcd 1049676 64436".into(),
            "read -P 0x33 5M 3M".into(),
            "read -P 0 10M 4k".into(),
            "read -P 0xef 48M 128k".into(),
        ],
    );
}

/// Every algorithm family qemu 10.0.2 creates: qemu writes, qimg reads and
/// writes, qemu reads.
#[test]
fn luks_algorithms_interoperate() {
    let cases = [
        ",cipher-alg=aes-128,cipher-mode=xts,hash-alg=sha1",
        ",cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=plain,hash-alg=sha512",
        ",cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha224",
        ",cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=md5,hash-alg=sha384",
        ",cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=sm3,hash-alg=ripemd160",
        ",cipher-alg=aes-256,cipher-mode=ecb,hash-alg=md5",
        ",cipher-alg=aes-256,cipher-mode=ctr,hash-alg=sm3",
        ",cipher-alg=aes-192,cipher-mode=xts",
        ",cipher-alg=twofish-128,cipher-mode=xts",
        ",cipher-alg=twofish-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256",
        ",cipher-alg=serpent-192,cipher-mode=xts,ivgen-alg=plain",
        ",cipher-alg=serpent-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256",
        ",cipher-alg=cast5-128,cipher-mode=cbc",
        ",cipher-alg=cast5-128,cipher-mode=ctr",
    ];
    // qemu-img create spends seconds timing PBKDF2: make the images in parallel.
    let paths: Vec<PathBuf> = (0..cases.len()).map(|i| scratch(&format!("alg{i}.luks"))).collect();
    std::thread::scope(|s| {
        for (path, opts) in paths.iter().zip(cases) {
            s.spawn(move || {
                create_luks(path, "2M", opts);
                qemu_io(path, &["write -P 0x5c 0 8k".into(), "write -P 0x6d 1M 4k".into()]);
            });
        }
    });
    for (path, opts) in paths.iter().zip(cases) {
        let path = path.as_path();
        let img = open_luks(path, true, Some(SECRET)).unwrap_or_else(|e| panic!("{opts}: {}", e.message));
        let mut b = vec![0u8; 4096];
        img.read_at(&mut b, 4096).unwrap();
        assert!(b.iter().all(|x| *x == 0x5c), "{opts}");
        img.read_at(&mut b, 1 << 20).unwrap();
        assert!(b.iter().all(|x| *x == 0x6d), "{opts}");
        img.write_at(&vec![0x7eu8; 12288], 512 * 1001).unwrap();
        img.flush().unwrap();
        drop(img);
        qemu_io(path, &["read -P 0x7e 512512 12k".into(), "read -P 0x5c 0 8k".into()]);
    }
}

/// Reads guest cluster `guest` of a qcow2 image by hand (no backing, not
/// compressed): the host offset of its data.
fn qcow2_host_offset(s: &Storage, guest: u64) -> u64 {
    let mut h = [0u8; 48];
    s.read_exact_at(&mut h, 0).unwrap();
    let be64 = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap());
    let cluster_bits = u32::from_be_bytes(h[20..24].try_into().unwrap());
    let l1_off = be64(&h[40..48]);
    let l2_entries = 1u64 << (cluster_bits - 3);
    let cluster = guest >> cluster_bits;
    let mut e = [0u8; 8];
    s.read_exact_at(&mut e, l1_off + cluster / l2_entries * 8).unwrap();
    let l2 = be64(&e) & 0x00ff_ffff_ffff_fe00;
    s.read_exact_at(&mut e, l2 + cluster % l2_entries * 8).unwrap();
    (be64(&e) & 0x00ff_ffff_ffff_fe00) + (guest & ((1 << cluster_bits) - 1))
}

/// The offset of the CRYPTO header extension's LUKS header in a qcow2 file.
fn qcow2_luks_offset(s: &Storage) -> u64 {
    let mut buf = vec![0u8; 4096];
    s.read_exact_at(&mut buf, 0).unwrap();
    let mut at = u32::from_be_bytes(buf[100..104].try_into().unwrap()) as usize; // header_length
    loop {
        let tag = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
        let len = u32::from_be_bytes(buf[at + 4..at + 8].try_into().unwrap()) as usize;
        if tag == 0x0537be77 {
            return u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap());
        }
        assert_ne!(tag, 0, "no CRYPTO extension");
        at += 8 + len.div_ceil(8) * 8;
    }
}

fn decrypt_at(c: &dyn SectorCipher, s: &Storage, host: u64, sector: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    s.read_exact_at(&mut b, host).unwrap();
    c.decrypt(sector, &mut b).unwrap();
    b
}

#[test]
fn qcow2_and_qcow_ciphers_decrypt_corpus_clusters() {
    let dir = corpus::dir();
    // qcow2 LUKS: IVs from host sectors.
    let s = Storage::open(dir.join("qcow2/luks.qcow2").to_str().unwrap(), Mode::ReadOnly).unwrap();
    let off = qcow2_luks_offset(&s);
    let c = crypto::qcow2_cipher(crypto::CRYPT_LUKS, Some((&s, off)), SECRET.as_bytes()).unwrap();
    for (guest, pattern) in [(0u64, 0xabu8), (1 << 20, 0xcd), (48 << 20, 0xef)] {
        let host = qcow2_host_offset(&s, guest);
        let b = decrypt_at(c.as_ref(), &s, host, host / 512, 4096);
        assert!(b.iter().all(|x| *x == pattern), "qcow2 luks at {guest}");
    }
    let e = crypto::qcow2_cipher(crypto::CRYPT_LUKS, Some((&s, off)), b"nope").err().unwrap();
    assert_eq!(e.message, "Invalid password, cannot unlock any keyslot");
    // qcow2 AES: IVs from guest sectors.
    let s = Storage::open(dir.join("qcow2/aes.qcow2").to_str().unwrap(), Mode::ReadOnly).unwrap();
    let c = crypto::qcow2_cipher(crypto::CRYPT_AES, None, SECRET.as_bytes()).unwrap();
    for (guest, pattern) in [(0u64, 0xabu8), (1 << 20, 0xcd), (48 << 20, 0xef)] {
        let host = qcow2_host_offset(&s, guest);
        let b = decrypt_at(c.as_ref(), &s, host, guest / 512, 4096);
        assert!(b.iter().all(|x| *x == pattern), "qcow2 aes at {guest}");
    }
    // qcow v1 AES: 48-byte header, L1 at l1_table_offset, guest sectors.
    let s = Storage::open(dir.join("qcow/aes.qcow").to_str().unwrap(), Mode::ReadOnly).unwrap();
    let mut h = [0u8; 48];
    s.read_exact_at(&mut h, 0).unwrap();
    let (cluster_bits, l2_bits) = (h[32] as u64, h[33] as u64);
    let l1 = u64::from_be_bytes(h[40..48].try_into().unwrap());
    let c = crypto::qcow_cipher(u32::from_be_bytes(h[36..40].try_into().unwrap()), SECRET.as_bytes()).unwrap();
    for (guest, pattern) in [(0u64, 0xabu8), (1 << 20, 0xcd), (48 << 20, 0xef)] {
        let mut e = [0u8; 8];
        s.read_exact_at(&mut e, l1 + (guest >> (cluster_bits + l2_bits)) * 8).unwrap();
        let l2 = u64::from_be_bytes(e);
        s.read_exact_at(&mut e, l2 + ((guest >> cluster_bits) & ((1 << l2_bits) - 1)) * 8).unwrap();
        let host = u64::from_be_bytes(e);
        let b = decrypt_at(c.as_ref(), &s, host, guest / 512, 1 << cluster_bits);
        assert!(b.iter().all(|x| *x == pattern), "qcow aes at {guest}");
    }
}

/// The CLI's path: `--object` definitions into a store, `--image-opts` into
/// a spec, the secret into the driver.
#[test]
fn image_opts_and_secrets_open_luks() {
    let path = corpus::dir().join("luks/std.luks");
    let mut store = SecretStore::new();
    let props = vec![("data".to_string(), "Y29ycHVzLXNlY3JldA==".to_string()), ("format".into(), "base64".into())];
    store.add_secret(&SecretDef::from_props("sec0", &props).unwrap()).unwrap();
    let spec = image_opts::parse(&format!("driver=luks,file.filename={},key-secret=sec0", path.display())).unwrap();
    spec.check_format("luks").unwrap();
    let pw = store.lookup_utf8(spec.key_secret.as_deref().unwrap()).unwrap();
    let img = open_luks(Path::new(&spec.filename), false, Some(pw)).unwrap();
    let mut b = vec![0u8; 65536];
    img.read_at(&mut b, 0).unwrap();
    assert!(b.iter().all(|x| *x == 0xab));
    assert_eq!(
        spec.display_name("luks"),
        format!(
            r#"json:{{"driver": "luks", "file": {{"driver": "file", "filename": "{}"}}, "key-secret": "sec0"}}"#,
            path.display()
        )
    );
}

/// Opens an image through the registry with `pw` as its key secret.
fn open_keyed(path: &Path, format: &str, write: bool, pw: &str) -> qimg_runtime::Result<Box<dyn Image>> {
    let mut store = SecretStore::new();
    store.add_secret(&SecretDef { id: "key".into(), data: Some(pw.into()), ..SecretDef::default() })?;
    let mut opts = if write { OpenOptions::write(Some(format)) } else { OpenOptions::read(Some(format), false) };
    opts.keys = Keys { secrets: Some(&store), key_secret: Some("key"), encrypt_format: None };
    qimg_runtime::image::open(path.to_str().unwrap(), &opts)
}

#[test]
fn encrypted_qcow2_corpus_images_match_manifest() {
    for name in ["qcow2/aes.qcow2", "qcow2/luks.qcow2"] {
        let e = corpus::entries().into_iter().find(|e| e.path.ends_with(name)).unwrap();
        let img = open_keyed(&e.path, "qcow2", false, e.secret.as_deref().unwrap()).unwrap();
        assert_eq!(Some(guest_sha256(img.as_ref())), e.guest_sha256, "{name}");
        let ext = img.block_status(0, 1 << 20).unwrap();
        assert!(matches!(ext.status, qimg_runtime::image::Status::Data { host: None, .. }), "{name}: {ext:?}");
    }
    let e = qimg_runtime::image::open(
        corpus::dir().join("qcow2/luks.qcow2").to_str().unwrap(),
        &OpenOptions::read(Some("qcow2"), false),
    )
    .err()
    .unwrap();
    assert!(e.message.ends_with("': Parameter 'encrypt.key-secret' is required for cipher"), "{}", e.message);
}

#[test]
fn qcow2_encrypted_writes_read_back_with_qemu_io() {
    for (name, fmt) in [("aes.qcow2", "aes"), ("luks.qcow2", "luks")] {
        let path = scratch(&format!("w-{name}"));
        std::fs::copy(corpus::dir().join("qcow2").join(name), &path).unwrap();
        {
            let img = open_keyed(&path, "qcow2", true, SECRET).unwrap();
            img.write_at(&vec![0x11u8; 64 << 10], 0).unwrap();
            img.write_at(&vec![0x22u8; 1000], (1 << 20) + 100).unwrap();
            img.write_at(&vec![0x33u8; 3 << 20], 5 << 20).unwrap();
            img.write_at(&vec![0x44u8; 700], (40 << 20) + 33).unwrap();
            img.flush().unwrap();
        }
        let mut c = Command::new("qemu-io");
        c.args(["--object", &format!("secret,id=sec0,data={SECRET}"), "--image-opts"]);
        for cmd in [
            "read -P 0x11 0 64k",
            "read -P 0x22 1048676 1000",
            "read -P 0x33 5M 3M",
            "read -P 0 40M 33",
            "read -P 0x44 41943073 700",
            "read -P 0 41943773 1000",
        ] {
            c.args(["-c", cmd]);
        }
        let spec = format!("driver=qcow2,file.filename={},encrypt.key-secret=sec0,encrypt.format={fmt}", path.display());
        c.arg(&spec);
        let text = run(&mut c);
        assert!(!text.contains("Pattern verification failed") && !text.contains("failed:"), "{name}: {text}");
        let object = format!("secret,id=sec0,data={SECRET}");
        let check = run(Command::new("qemu-img").args(["check", "-q", "--object", &object, "--image-opts", &spec]));
        assert!(check.is_empty(), "{name}: {check}");
    }
}
