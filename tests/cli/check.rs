//! `check` prints what qemu-img prints (stdout, stderr, exit code) on every
//! corpus image, on corruptions made here by editing images through the
//! generated layouts, on lazy-refcount images left dirty by a killed writer,
//! and on hostile images; `check -r` leaves the same file as qemu-img's and
//! a clean one wherever qemu's is.

use crate::corpus;
use crate::support::{qemu_img, qimg, same, scratch, tool, Run};
use qimg_formats::qcow2::{
    Header, L1Entry, L1Table, L2Entry, L2Table, L2TableExtended, RefcountBlock, RefcountTable, RefcountTableEntry,
    SnapshotHeader,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A qcow2 file held in memory for editing through the generated layouts.
struct Qcow2File {
    path: PathBuf,
    bytes: Vec<u8>,
    header: Header,
}

impl Qcow2File {
    fn open(path: &Path) -> Qcow2File {
        let bytes = std::fs::read(path).unwrap();
        let header = Header::read(&bytes).unwrap();
        Qcow2File { path: path.to_path_buf(), bytes, header }
    }

    fn cluster_size(&self) -> u64 {
        1 << self.header.cluster_bits
    }

    fn at(&self, offset: u64) -> &[u8] {
        &self.bytes[offset as usize..]
    }

    fn at_mut(&mut self, offset: u64) -> &mut [u8] {
        &mut self.bytes[offset as usize..]
    }

    fn l1(&self, i: usize) -> L1Entry {
        L1Table::get(self.at(self.header.l1_table_offset), i).unwrap()
    }

    fn set_l1(&mut self, i: usize, e: L1Entry) {
        let at = self.header.l1_table_offset;
        assert!(L1Table::set(self.at_mut(at), i, e));
    }

    /// The L2 table offset of L1 entry 0.
    fn l2_table(&self) -> u64 {
        self.l1(0).l2_offset()
    }

    fn l2(&self, i: usize) -> L2Entry {
        L2Table::get(self.at(self.l2_table()), i).unwrap()
    }

    fn set_l2(&mut self, i: usize, e: L2Entry) {
        let at = self.l2_table();
        assert!(L2Table::set(self.at_mut(at), i, e));
    }

    fn reftable(&self, i: usize) -> RefcountTableEntry {
        RefcountTable::get(self.at(self.header.refcount_table_offset), i).unwrap()
    }

    fn set_reftable(&mut self, i: usize, e: RefcountTableEntry) {
        let at = self.header.refcount_table_offset;
        assert!(RefcountTable::set(self.at_mut(at), i, e));
    }

    fn refcount_bits(&self) -> u32 {
        1 << self.header.refcount_order
    }

    /// Sets the refcount of a cluster covered by the first refcount block.
    fn set_refcount(&mut self, cluster: usize, value: u64) {
        let block = self.reftable(0).block_offset();
        let bits = self.refcount_bits();
        assert!(RefcountBlock::set(self.at_mut(block), cluster, bits, value));
    }

    fn refcount(&self, cluster: usize) -> u64 {
        RefcountBlock::get(self.at(self.reftable(0).block_offset()), cluster, self.refcount_bits()).unwrap()
    }

    /// Rewrites the header (not the extensions) from `self.header`.
    fn write_header(&mut self) {
        let h = self.header.to_bytes().unwrap();
        self.bytes[..h.len()].copy_from_slice(&h);
    }

    fn save_as(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }

    fn save(&self) {
        self.save_as(&self.path);
    }
}

/// Runs `check ARGS IMAGE` with qemu-img and qimg on their own copies of
/// `image` (in `dir`): same stdout, stderr, exit code and resulting file.
/// Returns qimg's run.
fn same_on_copies(dir: &Path, image: &str, args: &[&str]) -> Run {
    let (a, b) = (dir.join("qemu"), dir.join("qimg"));
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
        std::fs::copy(dir.join(image), d.join(image)).unwrap();
    }
    let mut argv = vec!["check"];
    argv.extend_from_slice(args);
    argv.push(image);
    let theirs = qemu_img(&a, &argv);
    let ours = qimg(&b, &argv);
    assert_eq!(ours, theirs, "`qemu-img {}` on {image}", argv.join(" "));
    let (fa, fb) = (std::fs::read(a.join(image)).unwrap(), std::fs::read(b.join(image)).unwrap());
    assert!(fa == fb, "`qemu-img {}` left a different {image}", argv.join(" "));
    ours
}

/// Every variant of check on copies of `image`.
fn all_variants(dir: &Path, image: &str) {
    for args in [
        &[][..],
        &["--output=json"],
        &["-q"],
        &["-r", "leaks"],
        &["-r", "all"],
        &["-r", "all", "--output=json"],
        &["-q", "-r", "all"],
    ] {
        same_on_copies(dir, image, args);
    }
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned()
}

#[test]
fn every_corpus_image_read_only() {
    let dir = corpus::dir();
    let mut checked = 0;
    for e in corpus::entries() {
        // Formats qimg cannot open yet are left out.
        if !matches!(e.format.as_str(), "raw" | "qcow2") {
            continue;
        }
        let name = rel(&dir, &e.path);
        let r = same(&dir, &["check", &name]);
        // (Encrypted images need their secret, which qemu-img is not given here.)
        if e.secret.is_none() {
            assert_eq!(r.code, e.check_rc, "{name}");
        }
        checked += 1;
        if e.format == "qcow2" {
            same(&dir, &["check", "--output=json", &name]);
            same(&dir, &["check", "-q", &name]);
            same(&dir, &["check", "-f", "qcow2", "--output", "json", &name]);
            same(&dir, &["check", "-U", &name]);
        }
    }
    assert!(checked > 45);
}

#[test]
fn repairs_of_the_broken_corpus_images() {
    let dir = scratch("check-broken");
    for name in ["leaked", "refcount-zero", "unaligned-l2", "corrupt-bit", "dirty-bit", "lazy-crashed"] {
        let image = format!("{name}.qcow2");
        std::fs::copy(corpus::dir().join("broken").join(&image), dir.join(&image)).unwrap();
        all_variants(&dir, &image);
    }
    // Repairs make the broken images clean again, except what qemu cannot repair either.
    for (name, rc) in [("leaked", 0), ("refcount-zero", 0), ("lazy-crashed", 0), ("unaligned-l2", 2)] {
        let image = format!("{name}.qcow2");
        let r = same_on_copies(&dir, &image, &["-r", "all"]);
        assert_eq!(r.code, rc, "{name}");
        assert_eq!(qemu_img(&dir.join("qimg"), &["check", &image]).code, rc, "{name} after repair");
    }
}

#[test]
fn repairs_of_healthy_corpus_images_change_nothing() {
    let dir = scratch("check-healthy");
    for e in corpus::of_format("qcow2") {
        let name = e.path.file_name().unwrap().to_string_lossy().into_owned();
        // Repairs open read-write: skip what needs a secret or a backing file
        // (checked read-only above) and bitmaps (qemu rewrites them on close).
        if e.secret.is_some() || name.contains("bitmaps") || e.path.parent() != Some(&corpus::dir().join("qcow2")) {
            continue;
        }
        if tool(&corpus::dir(), "qemu-img", &["info", "-U", "--output=json", &rel(&corpus::dir(), &e.path)])
            .contains("backing-filename")
        {
            continue;
        }
        std::fs::copy(&e.path, dir.join(&name)).unwrap();
        same_on_copies(&dir, &name, &["-r", "all"]);
        same_on_copies(&dir, &name, &["-r", "leaks"]);
    }
}

/// A fresh 64 MiB image with data in a few clusters (64 KiB clusters:
/// header, refcount table, refcount block, L1, L2, then data).
fn fresh(dir: &Path, name: &str, opts: &str) -> Qcow2File {
    tool(dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", opts, name, "64M"]);
    for cmd in ["write -P 0xab 0 64k", "write -P 0xcd 1M 64k", "write -P 0x5a 3146240 4k", "write -P 0xef 48M 128k"] {
        tool(dir, "qemu-io", &["-f", "qcow2", "-c", cmd, name]);
    }
    Qcow2File::open(&dir.join(name))
}

#[test]
fn corruptions_made_through_the_layouts() {
    let dir = scratch("check-corrupt");
    let base = fresh(&dir, "base.qcow2", "cluster_size=64k");
    let cs = base.cluster_size();
    let data0 = base.l2(0).host_offset();
    let mut cases: Vec<(&str, Qcow2File)> = Vec::new();
    let mut edit = |name: &'static str, f: &dyn Fn(&mut Qcow2File)| {
        let mut img = Qcow2File::open(&base.path);
        f(&mut img);
        cases.push((name, img));
    };
    edit("l1-reserved", &|i| {
        let e = i.l1(0);
        i.set_l1(0, L1Entry::from_raw(e.raw() | 1));
    });
    edit("l1-unaligned", &|i| {
        let e = i.l1(0);
        i.set_l1(0, e.with_l2_offset(e.l2_offset() + 512));
    });
    edit("l1-copied-missing", &|i| {
        let e = i.l1(0);
        i.set_l1(0, e.with_copied(false));
    });
    edit("l2-reserved", &|i| {
        let e = i.l2(0);
        i.set_l2(0, L2Entry::from_raw(e.raw() | 2));
    });
    edit("l2-past-eof", &|i| i.set_l2(100, L2Entry::new().with_host_offset(4096 * cs).with_copied(true)));
    edit("l2-copied-missing", &|i| {
        let e = i.l2(0);
        i.set_l2(0, e.with_copied(false));
    });
    edit("l2-shared-data", &|i| {
        let e = i.l2(0);
        i.set_l2(200, e);
    });
    edit("l2-points-at-l1", &|i| {
        let l1 = i.header.l1_table_offset;
        i.set_l2(300, L2Entry::new().with_host_offset(l1).with_copied(true));
    });
    edit("zero-unaligned", &|i| i.set_l2(300, L2Entry::new().with_host_offset(9 * cs + 512).with_zero(true).with_copied(true)));
    edit("refcount-zero", &|i| i.set_refcount((data0 / cs) as usize, 0));
    edit("refcount-two", &|i| i.set_refcount((data0 / cs) as usize, 2));
    edit("leak", &|i| {
        let n = i.bytes.len() as u64 / cs;
        i.set_refcount(n as usize + 1, 1);
    });
    edit("reftable-reserved", &|i| {
        let e = i.reftable(0);
        i.set_reftable(0, RefcountTableEntry::from_raw(e.raw() | 1));
    });
    edit("reftable-unaligned", &|i| {
        let e = i.reftable(0);
        i.set_reftable(0, e.with_block_offset(e.block_offset() + 512));
    });
    edit("refblock-outside", &|i| i.set_reftable(1, RefcountTableEntry::new().with_block_offset(256 * cs)));
    edit("refblock-shared", &|i| {
        let e = i.reftable(0);
        i.set_reftable(1, e);
    });
    edit("reftable-empty", &|i| {
        i.header.refcount_table_clusters = 0;
        i.write_header();
    });
    edit("truncated", &|i| i.bytes.truncate(6 * cs as usize));
    edit("dirty-and-leaky", &|i| {
        i.header.incompatible_features.set_dirty(true);
        i.write_header();
        let n = i.bytes.len() as u64 / cs;
        i.set_refcount(n as usize, 1);
    });
    for (name, img) in &cases {
        let image = format!("{name}.qcow2");
        img.save_as(&dir.join(&image));
        all_variants(&dir, &image);
    }
    assert_eq!(base.refcount((data0 / cs) as usize), 1);
}

#[test]
fn refcount_widths_and_overflow() {
    let dir = scratch("check-widths");
    for bits in [1, 2, 8, 32, 64] {
        let name = format!("rc{bits}.qcow2");
        let mut img = fresh(&dir, &name, &format!("refcount_bits={bits}"));
        all_variants(&dir, &name);
        // A data cluster referenced twice: an overflow for one-bit refcounts.
        let e = img.l2(0);
        img.set_l2(400, e);
        img.save();
        all_variants(&dir, &name);
    }
}

#[test]
fn extended_l2_and_compressed_entries() {
    let dir = scratch("check-extended");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "x.qcow2", "64M"]);
    for cmd in ["write -P 1 0 4k", "write -P 2 1M 64k", "write -z 2M 64k", "write -P 3 3M 2k"] {
        tool(&dir, "qemu-io", &["-f", "qcow2", "-c", cmd, "x.qcow2"]);
    }
    let base = Qcow2File::open(&dir.join("x.qcow2"));
    let l2 = base.l2_table();
    let cases: [(&str, usize, u32, u32); 3] = [
        ("x-alloc-and-zero", 0, 0x3, 0x1),
        ("x-unallocated-with-bits", 100, 0x1, 0),
        ("x-zero-only", 200, 0, 0xffff_ffff),
    ];
    for (name, index, alloc, zero) in cases {
        let mut img = Qcow2File::open(&base.path);
        let e = L2TableExtended::get(img.at(l2), index).unwrap().with_alloc_bitmap(alloc).with_zero_bitmap(zero);
        assert!(L2TableExtended::set(img.at_mut(l2), index, e));
        let image = format!("{name}.qcow2");
        img.save_as(&dir.join(&image));
        all_variants(&dir, &image);
    }
    // A compressed cluster with the COPIED flag, which must never be set there.
    std::fs::copy(corpus::dir().join("qcow2/compressed-zlib.qcow2"), dir.join("c.qcow2")).unwrap();
    let mut img = Qcow2File::open(&dir.join("c.qcow2"));
    let e = img.l2(0);
    assert!(e.compressed());
    img.set_l2(0, e.with_copied(true));
    img.save();
    all_variants(&dir, "c.qcow2");
}

#[test]
fn snapshot_table_problems() {
    let dir = scratch("check-snapshots");
    let src = corpus::dir().join("qcow2/snapshots.qcow2");
    let base = Qcow2File::open(&src);
    let first = base.header.snapshots_offset;
    let edit = |name: &str, f: &dyn Fn(&mut Qcow2File)| {
        let mut img = Qcow2File::open(&src);
        f(&mut img);
        let image = format!("{name}.qcow2");
        img.save_as(&dir.join(&image));
        // (qemu takes half a minute to repair the last one: two variants do.)
        if name == "snap-offset-past-eof" {
            same_on_copies(&dir, &image, &[]);
            same_on_copies(&dir, &image, &["-r", "all"]);
        } else {
            all_variants(&dir, &image);
        }
    };
    let entry = |i: &Qcow2File| SnapshotHeader::read(i.at(first)).unwrap();
    let put = |i: &mut Qcow2File, h: &SnapshotHeader| {
        let b = h.to_bytes().unwrap();
        i.at_mut(first)[..b.len()].copy_from_slice(&b);
    };
    edit("snap-l1-unaligned", &|i| {
        let mut h = entry(i);
        h.l1_table_offset += 512;
        put(i, &h);
    });
    edit("snap-l1-too-large", &|i| {
        let mut h = entry(i);
        h.l1_size = 0x50_0000;
        put(i, &h);
    });
    edit("snap-extra-too-big", &|i| {
        let mut h = entry(i);
        h.extra_data_size = 5000;
        i.at_mut(first)[SnapshotHeader::OFF_EXTRA_DATA_SIZE..SnapshotHeader::OFF_EXTRA_DATA_SIZE + 4]
            .copy_from_slice(&h.extra_data_size.to_be_bytes());
    });
    edit("snap-incomplete", &|i| {
        // One snapshot, without the extra data version 3 requires.
        let mut h = entry(i);
        h.extra_data_size = 0;
        h.extra_tail.clear();
        put(i, &h);
        i.header.nb_snapshots = 1;
        i.write_header();
    });
    edit("snap-count-huge", &|i| {
        i.header.nb_snapshots = 70000;
        i.write_header();
    });
    edit("snap-offset-unaligned", &|i| {
        i.header.snapshots_offset += 8;
        i.write_header();
    });
    edit("snap-offset-past-eof", &|i| {
        i.header.snapshots_offset = 0x1_0000_0000;
        i.header.nb_snapshots = 70000;
        i.write_header();
    });
}

#[test]
fn lazy_refcounts_killed_writer() {
    let dir = scratch("check-lazy");
    tool(&dir, "qemu-img", &["create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "l.qcow2", "4M"]);
    let status = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5c 0 64k", "-c", "write -P 0x5d 2M 128k", "-c", "sigraise 9", "l.qcow2"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "qemu-io was to kill itself");
    assert!(tool(&dir, "qemu-img", &["info", "--output=json", "l.qcow2"]).contains("\"dirty-flag\": true"));
    all_variants(&dir, "l.qcow2");
    // Opening it for writing repairs it first, with qemu's diagnostics.
    std::fs::write(dir.join("d.raw"), vec![0x77u8; 4 << 20]).unwrap();
    let (a, b) = (dir.join("qemu"), dir.join("qimg"));
    for d in [&a, &b] {
        std::fs::copy(dir.join("l.qcow2"), d.join("l.qcow2")).unwrap();
        std::fs::copy(dir.join("d.raw"), d.join("d.raw")).unwrap();
    }
    let args = ["convert", "-n", "-f", "raw", "-O", "qcow2", "d.raw", "l.qcow2"];
    let ours = qimg(&b, &args);
    assert_eq!(ours, qemu_img(&a, &args));
    assert!(ours.stderr.contains("Rebuilding refcount structure"), "{ours:?}");
    assert!(std::fs::read(a.join("l.qcow2")).unwrap() == std::fs::read(b.join("l.qcow2")).unwrap());
    assert_eq!(qemu_img(&b, &["check", "l.qcow2"]).code, 0);
}

#[test]
fn corrupt_bit() {
    let dir = scratch("check-corrupt-bit");
    std::fs::copy(corpus::dir().join("broken/unaligned-l2.qcow2"), dir.join("u.qcow2")).unwrap();
    std::fs::write(dir.join("d.raw"), vec![7u8; 64 << 20]).unwrap();
    let (a, b) = (dir.join("qemu"), dir.join("qimg"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::copy(dir.join("u.qcow2"), d.join("u.qcow2")).unwrap();
        std::fs::copy(dir.join("d.raw"), d.join("d.raw")).unwrap();
    }
    // A corruption found while writing marks the image corrupt...
    let args = ["convert", "-n", "-f", "raw", "-O", "qcow2", "d.raw", "u.qcow2"];
    assert_eq!(qimg(&b, &args), qemu_img(&a, &args));
    assert!(std::fs::read(a.join("u.qcow2")).unwrap() == std::fs::read(b.join("u.qcow2")).unwrap());
    assert!(tool(&b, "qemu-img", &["info", "u.qcow2"]).contains("corrupt: true"));
    // ...after which it cannot be opened for writing, but can be read and checked.
    assert_eq!(qimg(&b, &args), qemu_img(&a, &args));
    same(&b, &["check", "u.qcow2"]);
    same(&b, &["convert", "-O", "raw", "u.qcow2", "out.raw"]);
    std::fs::copy(b.join("u.qcow2"), dir.join("marked.qcow2")).unwrap();
    all_variants(&dir, "marked.qcow2");
}

#[test]
fn arguments_and_unsupported_formats() {
    let dir = corpus::dir();
    same(&dir, &["check", "raw/std.raw"]);
    same(&dir, &["check", "--output=json", "raw/std.raw"]);
    same(&dir, &["check", "-f", "raw", "qcow2/v3-std.qcow2"]);
    same(&dir, &["check", "nonexistent.qcow2"]);
    same(&dir, &["check", "qcow2/backing-missing.qcow2"]);
    same(&dir, &["check", "-U", "-r", "all", "qcow2/v3-std.qcow2"]);
    same(&dir, &["check", "-r", "bogus", "qcow2/v3-std.qcow2"]);
    same(&dir, &["check", "-T", "bogus", "qcow2/v3-std.qcow2"]);
    same(&dir, &["check", "qcow2/aes.qcow2"]);
}

/// Runs qimg's check on a hostile image: it must end quickly, within the
/// address space qemu-img users allow, without a panic.
fn hostile(dir: &Path, image: &str, args: &[&str]) -> Run {
    let started = Instant::now();
    let mut argv = vec!["--as=1073741824", crate::support::qimg_path(), "check"];
    argv.extend_from_slice(args);
    argv.push(image);
    let out = std::process::Command::new("prlimit").args(&argv).current_dir(dir).output().unwrap();
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    };
    assert!(started.elapsed() < Duration::from_secs(20), "{image}: took {:?}", started.elapsed());
    assert!(matches!(run.code, 0..=3), "{image}: {run:?}");
    assert!(!run.stderr.contains("panicked"), "{image}: {}", run.stderr);
    run
}

#[test]
fn hostile_images_end_quickly_in_bounded_memory() {
    let dir = scratch("check-hostile");
    let base = fresh(&dir, "h.qcow2", "cluster_size=64k");
    let cs = base.cluster_size();
    let l2 = base.l2_table();
    let mut n = 0;
    let mut case = |f: &dyn Fn(&mut Qcow2File), compare: bool| {
        let mut img = Qcow2File::open(&base.path);
        f(&mut img);
        n += 1;
        let image = format!("hostile{n}.qcow2");
        img.save_as(&dir.join(&image));
        for args in [&[][..], &["-r", "all"]] {
            let copy = format!("run-{image}");
            std::fs::copy(dir.join(&image), dir.join(&copy)).unwrap();
            hostile(&dir, &copy, args);
        }
        if compare {
            all_variants(&dir, &image);
        }
    };
    // The largest L1 table qemu accepts, past the end of the file.
    case(
        &|i| {
            i.header.l1_size = 0x40_0000;
            i.header.l1_table_offset = 0x1000 * cs;
            i.write_header();
        },
        true,
    );
    // The largest refcount table, pointing at blocks everywhere.
    case(
        &|i| {
            i.header.refcount_table_clusters = (8 << 20) / cs as u32;
            i.header.refcount_table_offset = 0x100 * cs;
            i.write_header();
            i.bytes.resize(0x101 * cs as usize, 0);
            for k in 0..1024 {
                let at = i.header.refcount_table_offset;
                assert!(RefcountTable::set(i.at_mut(at), k, RefcountTableEntry::new().with_block_offset((k as u64 + 1) * cs)));
            }
        },
        true,
    );
    // Every L2 entry past the end of the file.
    case(
        &|i| {
            for k in 0..(cs as usize / 8) {
                i.set_l2(k, L2Entry::new().with_host_offset((1 << 40) + k as u64 * cs).with_copied(true));
            }
        },
        true,
    );
    // Loops: the L2 table maps itself, the L1 table and the header, and
    // every entry of a big L1 table names the same L2 table.
    case(
        &|i| {
            i.set_l2(1, L2Entry::new().with_host_offset(l2).with_copied(true));
            i.set_l2(2, L2Entry::new().with_host_offset(0).with_copied(true).with_zero(true));
            let l1 = i.header.l1_table_offset;
            i.set_l2(3, L2Entry::new().with_host_offset(l1).with_copied(true));
            i.header.l1_size = (cs / 8) as u32;
            i.write_header();
            let e = i.l1(0);
            for k in 0..(cs as usize / 8) {
                i.set_l1(k, e);
            }
        },
        true,
    );
}
