//! `snapshot -l/-c/-a/-d` against qemu-img on copies of the same images:
//! the same output and exit code, then the same guest data (of the active
//! image and of every snapshot), the same `info` (but for sizes of the file,
//! which differ because qimg never updates metadata in place) and a
//! `qemu-img check` as clean.

use crate::corpus;
use crate::support::{qemu_img, qimg, same, same_env, scratch, tool, Run};
use std::path::{Path, PathBuf};

/// Two copies of a set of files: `q/` for qemu-img, `m/` for qimg.
struct Pair {
    root: PathBuf,
}

impl Pair {
    /// Copies `files` (source, name) into both sides.
    fn new(test: &str, files: &[(PathBuf, &str)]) -> Pair {
        let root = scratch(&format!("snapshot/{test}"));
        for side in ["q", "m"] {
            std::fs::create_dir_all(root.join(side)).expect("create side");
            for (src, name) in files {
                let to = root.join(side).join(name);
                std::fs::create_dir_all(to.parent().expect("file in a folder")).expect("create folder");
                std::fs::copy(src, to).expect("copy image");
            }
        }
        Pair { root }
    }

    /// A pair holding one new qcow2 image made by `setup` (commands run in both sides).
    fn made(test: &str, setup: &[(&str, &[&str])]) -> Pair {
        let pair = Pair::new(test, &[]);
        for (program, args) in setup {
            pair.both(program, args);
        }
        pair
    }

    fn q(&self) -> PathBuf {
        self.root.join("q")
    }

    fn m(&self) -> PathBuf {
        self.root.join("m")
    }

    /// Runs a fixture command in both sides.
    fn both(&self, program: &str, args: &[&str]) {
        tool(&self.q(), program, args);
        tool(&self.m(), program, args);
    }

    /// Runs `qemu-img ARGS` in `q/` and qimg in `m/`: same stdout, stderr
    /// (with dates masked) and exit code.
    fn run(&self, args: &[&str]) -> Run {
        let want = qemu_img(&self.q(), args);
        let got = qimg(&self.m(), args);
        let what = format!("`qemu-img {}` in {}", args.join(" "), self.root.display());
        assert_eq!(mask_dates(&got.stdout), mask_dates(&want.stdout), "stdout of {what}");
        assert_eq!(got.stderr, want.stderr, "stderr of {what}");
        assert_eq!(got.code, want.code, "exit code of {what}");
        got
    }

    /// Runs `snapshot ARGS IMAGE` in both and compares the images.
    fn snapshot(&self, args: &[&str], image: &str) -> Run {
        let mut all = vec!["snapshot"];
        all.extend_from_slice(args);
        all.push(image);
        let r = self.run(&all);
        self.same_image(image);
        r
    }

    /// The two copies of `image` agree: snapshot lists (each printed the
    /// same by both tools), guest data of the active image and of each
    /// snapshot, `info` but for file sizes, and `qemu-img check`.
    fn same_image(&self, image: &str) {
        let (q, m) = (self.q(), self.m());
        let lq = same(&q, &["snapshot", "-l", "-U", image]).stdout;
        let lm = same(&m, &["snapshot", "-l", "-U", image]).stdout;
        assert_eq!(mask_dates(&lm), mask_dates(&lq), "snapshot lists of {image}");
        assert_eq!(info(&m, image), info(&q, image), "info of {image}");
        // Each in its own directory: qemu opens a relative data file name
        // from the working directory.
        assert_eq!(data(&m, image, None), data(&q, image, None), "active data of {image}");
        for id in ids(&lq) {
            assert_eq!(data(&m, image, Some(&id)), data(&q, image, Some(&id)), "data of snapshot {id} of {image}");
        }
        let (cq, cm) = (qemu_img(&q, &["check", image]), qemu_img(&m, &["check", image]));
        // qemu-img leaks clusters when a snapshot cannot be taken; qimg does not.
        assert!(cm.code == cq.code || (cq.code == 3 && cm.code == 0), "check of {image}: qemu-img {cq:?}, qimg {cm:?}");
    }
}

/// Snapshot dates differ between the two runs: `YYYY-MM-DD HH:MM:SS` becomes `DATE`.
fn mask_dates(s: &str) -> String {
    let b = s.as_bytes();
    let shape = b"dddd-dd-dd dd:dd:dd";
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len()
            && shape.iter().zip(&b[i..]).all(|(p, c)| if *p == b'd' { c.is_ascii_digit() } else { p == c });
        if fits {
            out.push_str("DATE");
            i += shape.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `qemu-img info` without what depends on the file's layout or the side.
fn info(dir: &Path, image: &str) -> String {
    let text = tool(dir, "qemu-img", &["info", "-U", image]);
    mask_dates(&text)
        .lines()
        .filter(|l| !l.contains("disk size:") && !l.contains("file length:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// SHA-256 of the guest data of the active image or of snapshot `id`.
fn data(dir: &Path, image: &str, id: Option<&str>) -> String {
    let sel = id.map(|id| format!("snapshot.id={id}"));
    let mut args = vec!["convert", "-U", "-O", "raw"];
    if let Some(sel) = &sel {
        args.extend(["-l", sel.as_str()]);
    }
    args.extend([image, "data.raw"]);
    tool(dir, "qemu-img", &args);
    let sum = tool(dir, "sha256sum", &["data.raw"]);
    let _ = std::fs::remove_file(dir.join("data.raw"));
    sum.split_whitespace().next().unwrap_or("").to_string()
}

/// The IDs of a `snapshot -l` listing.
fn ids(listing: &str) -> Vec<String> {
    listing.lines().skip(2).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect()
}

/// The files of an image's backing chain (the image first), relative to `dir`.
fn backing_chain(dir: &Path, image: &str) -> Vec<String> {
    let json = tool(dir, "qemu-img", &["info", "-U", "--backing-chain", "--output=json", image]);
    let mut files = Vec::new();
    for line in json.lines() {
        let Some(rest) = line.trim().strip_prefix("\"filename\": \"") else { continue };
        let name = rest.trim_end_matches(',').trim_end_matches('"');
        let path = dir.join(name);
        let canon = path.canonicalize().unwrap_or(path);
        let rel = canon.strip_prefix(dir.canonicalize().unwrap()).map(|p| p.to_string_lossy().into_owned());
        if let Ok(rel) = rel {
            if !files.contains(&rel) {
                files.push(rel);
            }
        }
    }
    files
}

fn corpus_file(rel: &str) -> PathBuf {
    corpus::dir().join(rel)
}

const IMG: &str = "t.qcow2";

/// Every qcow2 image of the corpus that qimg opens for writing: take a
/// snapshot, write over it, take another, revert to the first, delete both.
#[test]
fn corpus_images_through_a_snapshot_cycle() {
    let skip = ["backing-missing", "data-file", "aes", "luks", "corrupt-bit", "dirty-bit", "lazy-crashed"];
    let images: Vec<_> = corpus::of_format("qcow2")
        .into_iter()
        .filter(|e| e.path.parent().and_then(|p| p.file_name()).is_some_and(|d| d == "qcow2"))
        .filter(|e| !skip.iter().any(|s| e.path.to_string_lossy().contains(s)))
        .collect();
    assert!(images.len() > 20);
    let dir = corpus::dir();
    for e in &images {
        let name = e.path.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        let chain = backing_chain(&dir, &name);
        let files: Vec<(PathBuf, &str)> = chain.iter().map(|n| (dir.join(n), n.as_str())).collect();
        let pair = Pair::new(&format!("cycle-{}", name.replace('/', "-")), &files);
        let size = e.virtual_size;
        pair.snapshot(&["-c", "one"], &name);
        let at = format!("{}", (size / 2) / 65536 * 65536);
        pair.both("qemu-io", &["-f", "qcow2", "-c", &format!("write -P 0x5a {at} 64k"), "-c", "write -P 0x5b 0 4k", &name]);
        pair.snapshot(&["-c", "two"], &name);
        pair.both("qemu-io", &["-f", "qcow2", "-c", "write -P 0x6c 0 8k", &name]);
        pair.snapshot(&["-a", "one"], &name);
        pair.snapshot(&["-d", "one"], &name);
        pair.snapshot(&["-a", "two"], &name);
        pair.snapshot(&["-d", "two"], &name);
    }
}

/// Snapshots taken by qemu-img and by qimg, mixed, with writes in between,
/// on v2 and v3 images, plain and with compressed, zeroed and discarded clusters.
#[test]
fn long_sequences_on_v2_and_v3() {
    for compat in ["0.10", "1.1"] {
        let opts = format!("compat={compat},cluster_size=4k");
        let pair = Pair::made(
            &format!("sequence-{compat}"),
            &[
                ("qemu-img", &["create", "-q", "-f", "qcow2", "-o", &opts, IMG, "24M"]),
                ("qemu-io", &["-f", "qcow2", "-c", "write -P 1 0 5M", "-c", "write -c -P 2 6M 256k", IMG]),
            ],
        );
        pair.snapshot(&["-c", "a"], IMG);
        pair.both("qemu-io", &["-f", "qcow2", "-c", "write -P 3 1M 1M", "-c", "write -z 3M 512k", IMG]);
        pair.snapshot(&["-c", "b"], IMG);
        pair.both("qemu-img", &["snapshot", "-c", "by-qemu", IMG]);
        pair.both("qemu-io", &["-f", "qcow2", "-c", "discard 0 64k", "-c", "write -P 4 20M 1M", IMG]);
        pair.snapshot(&["-a", "a"], IMG);
        pair.both("qemu-io", &["-f", "qcow2", "-c", "write -P 5 2M 8k", IMG]);
        pair.snapshot(&["-c", "c"], IMG);
        pair.snapshot(&["-d", "b"], IMG);
        pair.snapshot(&["-a", "by-qemu"], IMG);
        pair.snapshot(&["-d", "a"], IMG);
        pair.snapshot(&["-a", "c"], IMG);
        pair.snapshot(&["-d", "c"], IMG);
        pair.snapshot(&["-d", "by-qemu"], IMG);
        pair.snapshot(&["-l"], IMG);
    }
}

/// IDs and names: duplicate and empty names, a name that is another
/// snapshot's ID, names longer than qemu keeps, `-d` by ID (refused).
#[test]
fn ids_and_names() {
    let pair = Pair::made("names", &[("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "4M"])]);
    let long = "n".repeat(300);
    let cut = "n".repeat(255);
    for name in ["A", "1", "", "A", "é-ü", long.as_str()] {
        pair.snapshot(&["-c", name], IMG);
    }
    pair.snapshot(&["-a", "1"], IMG);
    pair.snapshot(&["-a", "2"], IMG);
    pair.snapshot(&["-a", "A"], IMG);
    pair.snapshot(&["-d", "3"], IMG);
    pair.snapshot(&["-d", &long], IMG);
    pair.snapshot(&["-d", &cut], IMG);
    pair.snapshot(&["-d", "A"], IMG);
    pair.snapshot(&["-d", ""], IMG);
    pair.snapshot(&["-a", "nope"], IMG);
    pair.snapshot(&["-d", "nope"], IMG);
    pair.snapshot(&["-c", "after"], IMG);
    pair.snapshot(&["--apply"], IMG);
    // With snapshots present, qemu-img crashes on `--delete` and `--create`
    // without a name; so does qimg (the image is untouched).
    pair.snapshot(&["--delete"], IMG);
    pair.snapshot(&["--create"], IMG);
}

/// `snapshot -l` prints the same bytes for images qemu-img made, whatever the time zone.
#[test]
fn list_is_byte_identical() {
    let dir = corpus::dir();
    for image in ["qcow2/snapshots.qcow2", "qcow2/snapshots-v2.qcow2", "qcow2/v3-std.qcow2", "raw/std.raw"] {
        same(&dir, &["snapshot", image]);
        same(&dir, &["snapshot", "-l", "-U", image]);
        same(&dir, &["snapshot", "-q", "-l", image]);
        for tz in ["UTC", "Asia/Kolkata"] {
            same_env(&dir, &["snapshot", "-l", image], &[("TZ", tz)]);
        }
    }
    same(&dir, &["snapshot", "-l", "qcow2/backing-missing.qcow2"]);
    same(&dir, &["snapshot", "-l", "nonexistent.qcow2"]);
}

/// Formats without internal snapshots, probed or named, and images qemu
/// refuses to change.
#[test]
fn errors_of_other_formats_and_refused_images() {
    let pair = Pair::new(
        "formats",
        &[
            (corpus_file("raw/std.raw"), "std.raw"),
            (corpus_file("qcow/std.qcow"), "std.qcow"),
            (corpus_file("qcow2/v3-std.qcow2"), IMG),
            (corpus_file("broken/corrupt-bit.qcow2"), "corrupt.qcow2"),
        ],
    );
    for image in ["std.raw", "std.qcow"] {
        for op in [&["-c", "s"][..], &["-a", "s"], &["-d", "s"], &["-l"], &["--apply"], &["--delete"]] {
            pair.snapshot(op, image);
        }
    }
    for op in [&["-f", "raw", "-c", "s"][..], &["-f", "raw", "-a", "s"], &["-f", "raw", "-d", "s"]] {
        pair.snapshot(op, "std.raw");
    }
    pair.run(&["snapshot", "-U", "-c", "s", IMG]);
    pair.run(&["snapshot", "-c", "s", "corrupt.qcow2"]);
    pair.run(&["snapshot", "-c", "s", "missing.qcow2"]);
}

/// An external data file: no snapshots can be listed, taken, applied or deleted.
#[test]
fn external_data_file() {
    let pair = Pair::made(
        "data-file",
        &[
            ("qemu-img", &["create", "-q", "-f", "qcow2", "-o", "data_file=t.data", IMG, "4M"]),
            ("qemu-io", &["-f", "qcow2", "-c", "write -P 1 0 64k", IMG]),
        ],
    );
    for op in [&["-l"][..], &["-c", "s"], &["-a", "s"], &["-d", "s"]] {
        pair.snapshot(op, IMG);
    }
}

/// Persistent bitmaps stay as they are; reverting is refused while they exist.
#[test]
fn bitmaps() {
    let pair = Pair::new("bitmaps", &[(corpus_file("qcow2/bitmaps.qcow2"), IMG)]);
    pair.snapshot(&["-c", "s"], IMG);
    pair.snapshot(&["-a", "s"], IMG);
    pair.snapshot(&["-d", "s"], IMG);
}

/// Reverting to a snapshot of another disk size resizes the image, both ways.
#[test]
fn apply_across_resizes() {
    let pair = Pair::made(
        "resize",
        &[
            ("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "64M"]),
            ("qemu-io", &["-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "write -P 2 60M 64k", IMG]),
        ],
    );
    pair.snapshot(&["-c", "small"], IMG);
    pair.both("qemu-img", &["resize", "-q", IMG, "1G"]);
    pair.both("qemu-io", &["-f", "qcow2", "-c", "write -P 3 700M 64k", IMG]);
    pair.snapshot(&["-c", "big"], IMG);
    pair.snapshot(&["-a", "small"], IMG);
    pair.snapshot(&["-a", "big"], IMG);
    pair.both("qemu-img", &["resize", "-q", "--shrink", IMG, "32M"]);
    pair.snapshot(&["-a", "small"], IMG);
    pair.snapshot(&["-d", "big"], IMG);
}

/// A zero-size image has an empty L1 table.
#[test]
fn empty_l1_table() {
    let pair = Pair::made("zero-size", &[("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "0"])]);
    pair.snapshot(&["-c", "s"], IMG);
    pair.snapshot(&["-a", "s"], IMG);
    pair.snapshot(&["-d", "s"], IMG);
}

/// A qcow2 image whose refcounts are 1 bit wide cannot count a second reference.
#[test]
fn refcount_overflow() {
    let pair = Pair::new("refcount-1", &[(corpus_file("qcow2/refcount-1.qcow2"), IMG)]);
    pair.snapshot(&["-c", "s"], IMG);
}

// Hostile and broken snapshot tables: the entries are rewritten in place
// (qemu-img check calls some of these images corrupt; both tools must
// still agree on what they do with them).

/// Offset of the header's `nb_snapshots` and of the first entry.
fn table_offset(path: &Path) -> (u32, u64) {
    let b = std::fs::read(path).expect("read image");
    let nb = u32::from_be_bytes(b[60..64].try_into().unwrap());
    let off = u64::from_be_bytes(b[64..72].try_into().unwrap());
    (nb, off)
}

/// Replaces the first snapshot entry's bytes at `at` (relative to the entry) in both sides.
fn patch_entry(pair: &Pair, at: u64, bytes: &[u8]) {
    for side in [pair.q(), pair.m()] {
        let path = side.join(IMG);
        let (_, off) = table_offset(&path);
        let mut b = std::fs::read(&path).unwrap();
        let start = (off + at) as usize;
        b[start..start + bytes.len()].copy_from_slice(bytes);
        std::fs::write(&path, b).unwrap();
    }
}

#[test]
fn snapshot_l1_table_out_of_bounds() {
    let make = |test: &str| {
        Pair::made(
            test,
            &[
                ("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "4M"]),
                ("qemu-io", &["-f", "qcow2", "-c", "write -P 1 0 64k", IMG]),
                ("qemu-img", &["snapshot", "-c", "s", IMG]),
                ("qemu-img", &["snapshot", "-c", "t", IMG]),
            ],
        )
    };
    let unaligned = make("l1-unaligned");
    patch_entry(&unaligned, 0, &0x10200u64.to_be_bytes());
    // A table of 16M entries: qemu-img then refuses (with its overlap
    // checks, which qimg does not have) to write anything past its start.
    let large = make("l1-large");
    patch_entry(&large, 8, &0x0100_0000u32.to_be_bytes());
    large.run(&["snapshot", "-a", "s", IMG]);
    large.run(&["snapshot", "-d", "s", IMG]);
    let pair = unaligned;
    pair.run(&["snapshot", "-a", "s", IMG]);
    pair.run(&["snapshot", "-d", "s", IMG]);
    pair.run(&["snapshot", "-d", "t", IMG]);
    pair.run(&["snapshot", "-c", "u", IMG]);
    // The broken snapshot cannot be read; everything else agrees.
    same(&pair.m(), &["snapshot", "-l", IMG]);
    assert_eq!(info(&pair.m(), IMG), info(&pair.q(), IMG));
    assert_eq!(data(&pair.m(), IMG, None), data(&pair.q(), IMG, None));
    assert_eq!(data(&pair.m(), IMG, Some("2")), data(&pair.q(), IMG, Some("2")));
}

/// Entries with less extra data than qemu writes now (none, 8 or 12 bytes)
/// and with more (unknown extra data, kept): listed alike, rewritten alike.
#[test]
fn extra_data_of_other_sizes() {
    for (extra, tail) in [(0u32, 0usize), (8, 0), (12, 0), (16, 0), (32, 8)] {
        let test = format!("extra-{extra}");
        let pair = Pair::made(&test, &[("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "4M"])]);
        for side in [pair.q(), pair.m()] {
            write_entry(&side.join(IMG), extra, tail);
        }
        pair.run(&["snapshot", "-l", IMG]);
        pair.snapshot(&["-c", "next"], IMG);
        pair.snapshot(&["-a", "old"], IMG);
        pair.snapshot(&["-d", "old"], IMG);
    }
}

/// Gives the image (fresh, without snapshots, 4M) one snapshot "old" (ID 7)
/// with `extra` bytes of extra data, `tail` of them unknown ones, at the end
/// of the file, sharing the active L1 table's clusters (refcounts raised).
fn write_entry(path: &Path, extra: u32, tail: usize) {
    let mut b = std::fs::read(path).unwrap();
    let cs = 65536usize;
    let l1_off = u64::from_be_bytes(b[40..48].try_into().unwrap());
    let l1_size = u32::from_be_bytes(b[36..40].try_into().unwrap());
    // A copy of the (empty) active L1 table, then the table, each in a new cluster.
    let end = b.len().div_ceil(cs) * cs;
    let (sn_l1, table) = (end, end + cs);
    b.resize(table + cs, 0);
    b.copy_within(l1_off as usize..l1_off as usize + 8 * l1_size as usize, sn_l1);
    let mut e = Vec::new();
    e.extend((sn_l1 as u64).to_be_bytes());
    e.extend(l1_size.to_be_bytes());
    e.extend(1u16.to_be_bytes());
    e.extend(3u16.to_be_bytes());
    e.extend(1_700_000_000u32.to_be_bytes());
    e.extend(5u32.to_be_bytes());
    e.extend(3_725_123_456_789u64.to_be_bytes());
    e.extend(1536u32.to_be_bytes());
    e.extend(extra.to_be_bytes());
    let mut ext = Vec::new();
    ext.extend(2048u64.to_be_bytes());
    ext.extend((4u64 << 20).to_be_bytes());
    ext.extend(77i64.to_be_bytes());
    ext.resize(extra as usize - tail.min(extra as usize), 0);
    ext.extend(std::iter::repeat_n(0xab, tail));
    e.extend(&ext[..extra as usize]);
    e.extend(b"7old");
    b[table..table + e.len()].copy_from_slice(&e);
    b[60..64].copy_from_slice(&1u32.to_be_bytes());
    b[64..72].copy_from_slice(&(table as u64).to_be_bytes());
    // Count the two new clusters in the (single) refcount block.
    let rt = u64::from_be_bytes(b[48..56].try_into().unwrap()) as usize;
    let block = u64::from_be_bytes(b[rt..rt + 8].try_into().unwrap()) as usize;
    for c in [sn_l1 / cs, table / cs] {
        b[block + 2 * c..block + 2 * c + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// A corrupt L2 entry found while counting references: the image is
/// marked corrupt and the command fails, as qemu-img does.
#[test]
fn corruption_found_on_the_way() {
    let pair = Pair::new("unaligned-l2", &[(corpus_file("broken/unaligned-l2.qcow2"), IMG)]);
    pair.run(&["snapshot", "-c", "s", IMG]);
    assert_eq!(info(&pair.m(), IMG), info(&pair.q(), IMG));
    pair.run(&["snapshot", "-c", "s", IMG]);
}

/// The snapshot table is full at 65536 entries.
#[test]
fn too_many_snapshots() {
    let pair = Pair::made("full-table", &[("qemu-img", &["create", "-q", "-f", "qcow2", IMG, "1M"])]);
    for side in [pair.q(), pair.m()] {
        let path = side.join(IMG);
        let mut b = std::fs::read(&path).unwrap();
        let table = b.len().div_ceil(65536) * 65536;
        let mut t = Vec::new();
        for i in 1..=65536u32 {
            let id = i.to_string();
            let mut e = vec![0u8; 40];
            e[12..14].copy_from_slice(&(id.len() as u16).to_be_bytes());
            e.extend(id.as_bytes());
            e.resize(e.len().div_ceil(8) * 8, 0);
            t.extend(e);
        }
        b.resize(table, 0);
        b.extend(t);
        b[60..64].copy_from_slice(&65536u32.to_be_bytes());
        b[64..72].copy_from_slice(&(table as u64).to_be_bytes());
        std::fs::write(&path, b).unwrap();
    }
    pair.run(&["snapshot", "-c", "one-more", IMG]);
}
