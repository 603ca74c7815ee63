//! `bitmap` does what qemu-img does: same output and exit codes, and the
//! same image afterwards (byte for byte, so the same `qemu-img info` and
//! `qemu-img check`), for every action, merges between images, bitmaps left
//! in use by a crash, guest writes into images with bitmaps, and images
//! whose bitmap metadata is broken.

use crate::support::{create, qemu_img, qemu_io, qimg, same, scratch, tool, Run};
use qimg_formats::qcow2::{BitmapDirectoryEntry, BitmapsExtension, Header, HeaderExtension};
use std::path::{Path, PathBuf};

/// qemu names the image's node `#block` + a counter + two random digits.
fn without_node_names(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("#block") {
        out.push_str(&rest[..i + 6]);
        rest = rest[i + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out + rest
}

/// `qemu-img info` without the host's allocation (which hole punching and
/// the file system decide).
fn info(dir: &Path, image: &str) -> String {
    let r = qemu_img(dir, &["info", "--output=json", image]);
    r.stdout.lines().filter(|l| !l.contains("actual-size")).collect::<Vec<_>>().join("\n") + &r.stderr
}

/// The same files in two directories: qemu-img works in one, qimg in the other.
struct Twin {
    qemu: PathBuf,
    ours: PathBuf,
}

impl Twin {
    fn new(label: &str, from: &Path, files: &[&str]) -> Twin {
        let twin = Twin { qemu: scratch(&format!("{label}-qemu")), ours: scratch(&format!("{label}-qimg")) };
        for f in files {
            for d in [&twin.qemu, &twin.ours] {
                std::fs::copy(from.join(f), d.join(f)).unwrap();
            }
        }
        twin
    }

    /// Runs both: same stdout, stderr (node names aside) and exit code.
    fn run(&self, args: &[&str]) -> Run {
        let expected = qemu_img(&self.qemu, args);
        let got = qimg(&self.ours, args);
        assert_eq!(got.stdout, expected.stdout, "stdout of {args:?}");
        assert_eq!(without_node_names(&got.stderr), without_node_names(&expected.stderr), "stderr of {args:?}");
        assert_eq!(got.code, expected.code, "exit code of {args:?}");
        got
    }

    /// The image is the same in both: bytes, `info`, `check`.
    fn same_image(&self, image: &str, context: &[&str]) {
        let (a, b) = (std::fs::read(self.qemu.join(image)).unwrap(), std::fs::read(self.ours.join(image)).unwrap());
        assert_eq!(info(&self.ours, image), info(&self.qemu, image), "info of {image} after {context:?}");
        let (ca, cb) = (qemu_img(&self.qemu, &["check", image]), qemu_img(&self.ours, &["check", image]));
        assert_eq!((cb.stdout, cb.stderr, cb.code), (ca.stdout, ca.stderr, ca.code), "check of {image} after {context:?}");
        assert!(a == b, "{image} differs from qemu-img's after {context:?}");
    }

    /// Runs `args` on fresh copies of `image` and compares everything.
    fn case(label: &str, from: &Path, image: &str, extra: &[&str], args: &[&str]) {
        let mut files = vec![image];
        files.extend_from_slice(extra);
        let twin = Twin::new(label, from, &files);
        twin.run(args);
        twin.same_image(image, args);
    }
}

/// Images made with qemu-img and qemu-io: `plain.qcow2` has an enabled
/// bitmap `b0` and a disabled 4 KiB one `b1`, both with bits set.
fn fixtures(label: &str) -> PathBuf {
    let dir = scratch(label);
    create(&dir, &["-f", "qcow2", "plain.qcow2", "64M"]);
    tool(&dir, "qemu-img", &["bitmap", "--add", "plain.qcow2", "b0"]);
    tool(&dir, "qemu-img", &["bitmap", "--add", "-g", "4k", "plain.qcow2", "b1"]);
    qemu_io(&dir, "qcow2", "plain.qcow2", &["write -P 1 0 64k", "write -P 2 10M 1M", "write -z 20M 64k"]);
    tool(&dir, "qemu-img", &["bitmap", "--disable", "plain.qcow2", "b1"]);
    qemu_io(&dir, "qcow2", "plain.qcow2", &["write -P 3 30M 4k"]);
    create(&dir, &["-f", "qcow2", "empty.qcow2", "64M"]);
    create(&dir, &["-f", "qcow2", "s32.qcow2", "32M"]);
    tool(&dir, "qemu-img", &["bitmap", "--add", "s32.qcow2", "sb"]);
    create(&dir, &["-f", "qcow2", "s64.qcow2", "64M"]);
    tool(&dir, "qemu-img", &["bitmap", "--add", "-g", "4k", "s64.qcow2", "sb"]);
    qemu_io(&dir, "qcow2", "s64.qcow2", &["write 1M 8k", "write 5M 1k", "write 63M 1M"]);
    create(&dir, &["-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "64M"]);
    create(&dir, &["-f", "raw", "r.raw", "64M"]);
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=512", "c512.qcow2", "1M"]);
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=2M", "c2m.qcow2", "64M"]);
    create(&dir, &["-f", "qcow2", "big.qcow2", "4T"]);
    create(&dir, &["-f", "qcow2", "-o", "cluster_size=512,extended_l2=off", "odd.qcow2", "1000000"]);
    tool(&dir, "qemu-img", &["convert", "-O", "qcow2", "plain.qcow2", "in-use.qcow2"]);
    for b in ["bad", "good"] {
        tool(&dir, "qemu-img", &["bitmap", "--add", "in-use.qcow2", b]);
    }
    // qemu-io opens the image read-write (marking the bitmaps in use) and dies.
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 4 0 64k", "-c", "abort", "in-use.qcow2"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    dir
}

#[test]
fn actions() {
    let dir = fixtures("bitmap-actions");
    let long = "x".repeat(1023);
    let too_long = "x".repeat(1024);
    let cases: &[(&str, &[&str])] = &[
        ("plain.qcow2", &["bitmap", "--add", "IMG", "new"]),
        ("plain.qcow2", &["bitmap", "--add", "IMG", "b0"]),
        ("plain.qcow2", &["bitmap", "--add", "IMG", ""]),
        ("plain.qcow2", &["bitmap", "--add", "IMG", &long]),
        ("plain.qcow2", &["bitmap", "--add", "IMG", &too_long]),
        ("plain.qcow2", &["bitmap", "--add", "--disable", "IMG", "new"]),
        ("plain.qcow2", &["bitmap", "--add", "--add", "IMG", "new"]),
        ("plain.qcow2", &["bitmap", "--add", "--remove", "IMG", "new"]),
        ("plain.qcow2", &["bitmap", "--remove", "--add", "IMG", "new"]),
        ("plain.qcow2", &["bitmap", "--remove", "IMG", "b0"]),
        ("plain.qcow2", &["bitmap", "--remove", "IMG", "b1"]),
        ("plain.qcow2", &["bitmap", "--remove", "IMG", "nope"]),
        ("plain.qcow2", &["bitmap", "--clear", "IMG", "b0"]),
        ("plain.qcow2", &["bitmap", "--clear", "IMG", "nope"]),
        ("plain.qcow2", &["bitmap", "--enable", "IMG", "b1"]),
        ("plain.qcow2", &["bitmap", "--disable", "IMG", "b0"]),
        ("plain.qcow2", &["bitmap", "--enable", "IMG", "nope"]),
        ("plain.qcow2", &["bitmap", "--disable", "IMG", "nope"]),
        ("plain.qcow2", &["bitmap", "--remove", "--remove", "IMG", "b0"]),
        ("plain.qcow2", &["bitmap", "--clear", "--disable", "--enable", "IMG", "b1"]),
        ("empty.qcow2", &["bitmap", "--add", "IMG", "b"]),
        ("empty.qcow2", &["bitmap", "--remove", "IMG", "b"]),
        ("empty.qcow2", &["bitmap", "--add", "--remove", "IMG", "b"]),
        ("v2.qcow2", &["bitmap", "--add", "IMG", "b"]),
        ("r.raw", &["bitmap", "--add", "IMG", "b"]),
        ("r.raw", &["bitmap", "-f", "raw", "--add", "IMG", "b"]),
        ("r.raw", &["bitmap", "-f", "raw", "--remove", "IMG", "b"]),
        ("r.raw", &["bitmap", "-f", "raw", "--merge", "b", "IMG", "b"]),
        ("c512.qcow2", &["bitmap", "--add", "IMG", "default-granularity"]),
        ("c2m.qcow2", &["bitmap", "--add", "IMG", "default-granularity"]),
        ("odd.qcow2", &["bitmap", "--add", "-g", "512", "IMG", "b"]),
        ("big.qcow2", &["bitmap", "--add", "-g", "512", "IMG", "b"]),
        ("big.qcow2", &["bitmap", "--add", "-g", "1k", "IMG", "b"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "1000", "IMG", "g"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "256", "IMG", "g"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "4G", "IMG", "g"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "2G", "IMG", "g"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "4294967808", "IMG", "g"]),
        ("plain.qcow2", &["bitmap", "--add", "-g", "0", "IMG", "g"]),
        ("nonexistent.qcow2", &["bitmap", "--add", "IMG", "g"]),
    ];
    for (image, args) in cases {
        if *image == "nonexistent.qcow2" {
            same(&dir, &["bitmap", "--add", image, "g"]);
            continue;
        }
        let args: Vec<&str> = args.iter().map(|a| if *a == "IMG" { *image } else { a }).collect();
        Twin::case("bitmap-actions-case", &dir, image, &[], &args);
    }
}

#[test]
fn image_opts_and_encryption() {
    let dir = fixtures("bitmap-image-opts");
    std::fs::copy(crate::corpus::dir().join("qcow2/luks.qcow2"), dir.join("luks.qcow2")).unwrap();
    let s = "secret,id=sec0,data=corpus-secret";
    let cases: &[(&str, &[&str])] = &[
        ("plain.qcow2", &["bitmap", "--image-opts", "--add", "driver=qcow2,file.filename=plain.qcow2", "new"]),
        ("plain.qcow2", &["bitmap", "--image-opts", "--remove", "file.filename=plain.qcow2", "b0"]),
        ("plain.qcow2", &["bitmap", "--image-opts", "--clear", "plain.qcow2", "b1"]),
        ("plain.qcow2", &["bitmap", "--image-opts", "-f", "qcow2", "--clear", "plain.qcow2", "b1"]),
        ("luks.qcow2", &["bitmap", "--add", "luks.qcow2", "new"]),
        ("luks.qcow2", &["bitmap", "--object", s, "--image-opts", "--add", "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=sec0", "new"]),
        ("luks.qcow2", &["bitmap", "--object", s, "--image-opts", "--add", "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=nope", "new"]),
    ];
    for (image, args) in cases {
        Twin::case("bitmap-image-opts-case", &dir, image, &[], args);
    }
}

#[test]
fn merges() {
    let dir = fixtures("bitmap-merges");
    let others = ["s32.qcow2", "s64.qcow2", "in-use.qcow2", "r.raw"];
    let cases: &[&[&str]] = &[
        &["bitmap", "--merge", "b1", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b0", "plain.qcow2", "b1"],
        &["bitmap", "--merge", "b0", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "nope", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b0", "plain.qcow2", "nope"],
        &["bitmap", "--merge", "sb", "-b", "s64.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "sb", "-b", "s64.qcow2", "-F", "qcow2", "plain.qcow2", "b1"],
        &["bitmap", "--merge", "sb", "-b", "s64.qcow2", "-F", "raw", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "sb", "-b", "s32.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "sb", "-b", "nonexistent.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b0", "-b", "plain.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "bad", "-b", "in-use.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b0", "-b", "in-use.qcow2", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b", "-b", "r.raw", "plain.qcow2", "b0"],
        &["bitmap", "--add", "-g", "512", "--merge", "b0", "--merge", "b1", "plain.qcow2", "new"],
        &["bitmap", "--add", "-g", "2M", "--merge", "sb", "-b", "s64.qcow2", "plain.qcow2", "new"],
        &["bitmap", "--add", "--merge", "sb", "-b", "s64.qcow2", "--clear", "plain.qcow2", "new"],
        &["bitmap", "--merge", "b1", "--remove", "plain.qcow2", "b0"],
        &["bitmap", "--merge", "b1", "--disable", "plain.qcow2", "b0"],
        // Usage errors.
        &["bitmap", "plain.qcow2", "b0"],
        &["bitmap", "--add", "-F", "qcow2", "plain.qcow2", "x"],
        &["bitmap", "-g", "64k", "--remove", "plain.qcow2", "x"],
        &["bitmap", "-b", "s64.qcow2", "--remove", "plain.qcow2", "x"],
        &["bitmap", "--add", "plain.qcow2"],
    ];
    for args in cases {
        let mut files = vec!["plain.qcow2"];
        files.extend_from_slice(&others);
        let twin = Twin::new("bitmap-merges-case", &dir, &files);
        twin.run(args);
        for f in files {
            twin.same_image(f, args);
        }
    }
}

#[test]
fn bitmaps_left_in_use() {
    let dir = fixtures("bitmap-in-use");
    let cases: &[&[&str]] = &[
        &["--clear", "bad"],
        &["--enable", "bad"],
        &["--disable", "good"],
        &["--remove", "bad"],
        &["--add", "bad"],
        &["--add", "new"],
        &["--merge", "bad", "good"],
        &["--merge", "nonexist", "good"],
        &["--merge", "b0", "bad"],
        &["--clear", "b0"],
    ];
    for args in cases {
        let (last, first) = (args[args.len() - 1], &args[..args.len() - 1]);
        let mut a = vec!["bitmap"];
        a.extend_from_slice(first);
        a.extend(["in-use.qcow2", last]);
        Twin::case("bitmap-in-use-case", &dir, "in-use.qcow2", &[], &a);
    }
    same(&dir, &["info", "in-use.qcow2"]);
}

/// Every bitmap of a qcow2 file as stored: name, flags, granularity bits,
/// and the bits (data clusters in table order; all-zero clusters empty).
fn stored_bitmaps(path: &Path) -> Vec<(String, u32, u8, Vec<Vec<u8>>)> {
    let b = std::fs::read(path).unwrap();
    let cs = 1usize << Header::read(&b).unwrap().cluster_bits;
    let (_, mut at) = directory(&b);
    let h = Header::read(&b).unwrap();
    let area = &b[h.header_length as usize..cs];
    let raw = HeaderExtension::parse_raw(area).unwrap();
    let e = raw.entries.iter().find(|e| e.tag == HeaderExtension::TAG_BITMAPS as u64).unwrap();
    let n = BitmapsExtension::read(&area[e.data.clone()]).unwrap().nb_bitmaps;
    let mut out = Vec::new();
    for _ in 0..n {
        let d = BitmapDirectoryEntry::read(&b[at..]).unwrap();
        let data = (0..d.bitmap_table_size as usize)
            .map(|i| {
                let t = d.bitmap_table_offset as usize + i * 8;
                let entry = u64::from_be_bytes(b[t..t + 8].try_into().unwrap()) & !0x1ff;
                if entry == 0 { Vec::new() } else { b[entry as usize..entry as usize + cs].to_vec() }
            })
            .collect();
        out.push((String::from_utf8_lossy(&d.name).into_owned(), d.flags.bits(), d.granularity_bits, data));
        at += d.encoded_len().unwrap() as usize;
    }
    out
}

#[test]
fn guest_writes_set_bits_in_enabled_bitmaps() {
    let dir = fixtures("bitmap-writes");
    create(&dir, &["-f", "raw", "src.raw", "64M"]);
    qemu_io(&dir, "raw", "src.raw", &["write -P 7 0 1M", "write -P 8 33M 64k", "write -P 9 63M 4k"]);
    tool(&dir, "qemu-img", &["convert", "-O", "qcow2", "-f", "raw", "src.raw", "src.qcow2"]);
    // Images with bitmaps and no guest data yet: qimg lays out guest data as
    // qemu does, so the whole file must match.
    create(&dir, &["-f", "qcow2", "fresh.qcow2", "64M"]);
    for (g, name) in [("64k", "on"), ("4k", "off"), ("512", "fine")] {
        tool(&dir, "qemu-img", &["bitmap", "--add", "-g", g, "fresh.qcow2", name]);
    }
    tool(&dir, "qemu-img", &["bitmap", "--disable", "fresh.qcow2", "off"]);
    let sources: &[&[&str]] = &[
        &["-f", "raw", "src.raw"],
        &["src.qcow2"],
        &["-S", "0", "-f", "raw", "src.raw"],
        &["-c", "-f", "raw", "src.raw"],
        &["--target-is-zero", "-f", "raw", "src.raw"],
    ];
    for src in sources {
        let mut args = vec!["convert", "-n", "-O", "qcow2"];
        args.extend_from_slice(src);
        args.push("fresh.qcow2");
        Twin::case("bitmap-writes-case", &dir, "fresh.qcow2", &["src.raw", "src.qcow2"], &args);
    }
    // Over old guest data (where qimg may place clusters elsewhere than
    // qemu): the same bits, a clean image, the same guest data.
    for target in ["plain.qcow2", "in-use.qcow2"] {
        let args = ["convert", "-n", "-O", "qcow2", "-f", "raw", "src.raw", target];
        let twin = Twin::new("bitmap-writes-data", &dir, &[target, "src.raw"]);
        twin.run(&args);
        assert_eq!(stored_bitmaps(&twin.ours.join(target)), stored_bitmaps(&twin.qemu.join(target)), "{target}");
        let check = qemu_img(&twin.ours, &["check", target]);
        assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
        let cmp = qemu_img(&twin.ours, &["compare", "src.raw", target]);
        assert_eq!(cmp.code, 0, "{}{}", cmp.stdout, cmp.stderr);
    }
}

/// Where the bitmap directory of a qcow2 file is: (offset of the
/// extension's payload in the file, directory offset).
fn directory(bytes: &[u8]) -> (usize, usize) {
    let h = Header::read(bytes).unwrap();
    let start = h.header_length as usize;
    let area = &bytes[start..1 << h.cluster_bits];
    let raw = HeaderExtension::parse_raw(area).unwrap();
    let e = raw.entries.iter().find(|e| e.tag == HeaderExtension::TAG_BITMAPS as u64).unwrap();
    let ext = BitmapsExtension::read(&area[e.data.clone()]).unwrap();
    (start + e.data.start, ext.bitmap_directory_offset as usize)
}

/// A copy of `plain.qcow2` with `edit` applied to its bytes.
fn hostile(dir: &Path, name: &str, edit: &dyn Fn(&mut Vec<u8>, usize, usize)) -> String {
    let mut b = std::fs::read(dir.join("plain.qcow2")).unwrap();
    let (ext, dir_offset) = directory(&b);
    edit(&mut b, ext, dir_offset);
    std::fs::write(dir.join(name), b).unwrap();
    name.to_string()
}

fn put(b: &mut [u8], at: usize, value: &[u8]) {
    b[at..at + value.len()].copy_from_slice(value);
}

/// Offset of the first bitmap's first table entry.
fn first_table_entry(b: &[u8], dir_offset: usize) -> usize {
    let at = dir_offset + BitmapDirectoryEntry::OFF_BITMAP_TABLE_OFFSET;
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap()) as usize
}

#[test]
fn broken_bitmap_metadata() {
    let dir = fixtures("bitmap-broken");
    type Edit = Box<dyn Fn(&mut Vec<u8>, usize, usize)>;
    let e = |off: usize, v: Vec<u8>| -> Edit { Box::new(move |b, _, d| put(b, d + off, &v)) };
    let x = |off: usize, v: Vec<u8>| -> Edit { Box::new(move |b, x, _| put(b, x + off, &v)) };
    let t = |v: u64| -> Edit {
        Box::new(move |b, _, d| {
            let at = first_table_entry(b, d);
            put(b, at, &v.to_be_bytes())
        })
    };
    let cases: Vec<(&str, Edit)> = vec![
        ("granularity-8", e(BitmapDirectoryEntry::OFF_GRANULARITY_BITS, vec![8])),
        ("granularity-40", e(BitmapDirectoryEntry::OFF_GRANULARITY_BITS, vec![40])),
        ("granularity-32", e(BitmapDirectoryEntry::OFF_GRANULARITY_BITS, vec![32])),
        ("extra-data", e(BitmapDirectoryEntry::OFF_EXTRA_DATA_SIZE, 8u32.to_be_bytes().to_vec())),
        ("flag-bit-2", e(BitmapDirectoryEntry::OFF_FLAGS, 6u32.to_be_bytes().to_vec())),
        ("flag-bit-8", e(BitmapDirectoryEntry::OFF_FLAGS, 0x102u32.to_be_bytes().to_vec())),
        ("type-2", e(BitmapDirectoryEntry::OFF_KIND, vec![2])),
        ("name-size-0", e(BitmapDirectoryEntry::OFF_NAME_SIZE, 0u16.to_be_bytes().to_vec())),
        ("name-size-2000", e(BitmapDirectoryEntry::OFF_NAME_SIZE, 2000u16.to_be_bytes().to_vec())),
        ("table-size-0", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_SIZE, 0u32.to_be_bytes().to_vec())),
        ("table-size-2", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_SIZE, 2u32.to_be_bytes().to_vec())),
        ("table-size-huge", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_SIZE, 0x900_0000u32.to_be_bytes().to_vec())),
        ("table-offset-0", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_OFFSET, 0u64.to_be_bytes().to_vec())),
        ("table-offset-odd", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_OFFSET, 0x40200u64.to_be_bytes().to_vec())),
        ("table-past-eof", e(BitmapDirectoryEntry::OFF_BITMAP_TABLE_OFFSET, (1u64 << 40).to_be_bytes().to_vec())),
        ("in-use-flag", e(BitmapDirectoryEntry::OFF_FLAGS, 3u32.to_be_bytes().to_vec())),
        ("same-names", Box::new(|b: &mut Vec<u8>, _, d| {
            let first = BitmapDirectoryEntry::read(&b[d..]).unwrap();
            let second = d + first.encoded_len().unwrap() as usize;
            put(b, second + BitmapDirectoryEntry::OFF_EXTRA_DATA + 1, b"0");
        })),
        ("entry-reserved-bit", t(1 << 60)),
        ("entry-unaligned", t(0x40200)),
        ("entry-ones-and-offset", t(0x40001)),
        ("entry-all-ones", t(1)),
        ("entry-zero", t(0)),
        ("more-bitmaps", x(BitmapsExtension::OFF_NB_BITMAPS, 1u32.to_be_bytes().to_vec())),
        ("fewer-bitmaps", x(BitmapsExtension::OFF_NB_BITMAPS, 3u32.to_be_bytes().to_vec())),
        ("directory-size-0", x(BitmapsExtension::OFF_BITMAP_DIRECTORY_SIZE, 0u64.to_be_bytes().to_vec())),
        ("directory-size-31", x(BitmapsExtension::OFF_BITMAP_DIRECTORY_SIZE, 31u64.to_be_bytes().to_vec())),
        ("directory-size-huge", x(BitmapsExtension::OFF_BITMAP_DIRECTORY_SIZE, (64u64 << 20).to_be_bytes().to_vec())),
        ("directory-unaligned", x(BitmapsExtension::OFF_BITMAP_DIRECTORY_OFFSET, 0x200u64.to_be_bytes().to_vec())),
        ("directory-past-eof", x(BitmapsExtension::OFF_BITMAP_DIRECTORY_OFFSET, (1u64 << 40).to_be_bytes().to_vec())),
        ("no-bitmaps", x(BitmapsExtension::OFF_NB_BITMAPS, 0u32.to_be_bytes().to_vec())),
        ("autoclear-clear", Box::new(|b: &mut Vec<u8>, _, _| put(b, Header::OFF_AUTOCLEAR_FEATURES, &[0; 8]))),
    ];
    for (name, edit) in &cases {
        let image = hostile(&dir, &format!("{name}.qcow2"), edit.as_ref());
        same(&dir, &["info", &image]);
        same(&dir, &["info", "--output=json", &image]);
        same(&dir, &["measure", "-O", "qcow2", &image]);
        if *name != "autoclear-clear" {
            // (convert does not print open warnings yet.)
            same(&dir, &["convert", "-O", "raw", &image, "out.raw"]);
        }
        if *name == "entry-all-ones" {
            continue;
        }
        for args in [["--add", "new"], ["--remove", "b1"], ["--clear", "b0"]] {
            Twin::case("bitmap-broken-case", &dir, &image, &[], &["bitmap", args[0], &image, args[1]]);
        }
    }
}

/// qemu never writes all-ones table entries, but reads them; qimg keeps
/// them as they are when it stores a bitmap (where qemu writes a cluster of
/// ones): the image has the same bitmaps and the same check result.
#[test]
fn all_ones_entries_stay() {
    let dir = fixtures("bitmap-all-ones");
    let image = hostile(&dir, "ones.qcow2", &|b, _, d| {
        let at = first_table_entry(b, d);
        put(b, at, &1u64.to_be_bytes())
    });
    let twin = Twin::new("bitmap-all-ones-case", &dir, &[&image]);
    twin.run(&["bitmap", "--add", &image, "new"]);
    let names = |d: &Path| stored_bitmaps(&d.join(&image)).into_iter().map(|b| (b.0, b.1, b.2)).collect::<Vec<_>>();
    assert_eq!(names(&twin.ours), names(&twin.qemu));
    // The patch leaked b0's old data cluster in both.
    let (ours, theirs) = (qemu_img(&twin.ours, &["check", &image]), qemu_img(&twin.qemu, &["check", &image]));
    assert_eq!((ours.code, ours.stderr), (theirs.code, theirs.stderr));
    let b = std::fs::read(twin.ours.join(&image)).unwrap();
    let (_, d) = directory(&b);
    let at = first_table_entry(&b, d);
    assert_eq!(u64::from_be_bytes(b[at..at + 8].try_into().unwrap()), 1, "b0's first entry is all ones");
}
