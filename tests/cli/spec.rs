//! `qimg spec [FORMAT [ITEM]]`, a qimg-only command: the layout tables generated
//! from `formats/*.spec`. There is no qemu-img output to compare with, so these
//! tests check the content itself.

use std::path::Path;

use crate::support::{qimg, scratch};

/// The formats that have a spec file, sorted.
fn spec_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read formats/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".spec")?.to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn lists_every_spec_file() {
    let dir = scratch("spec_list");
    let run = qimg(&dir, &["spec"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let listed: Vec<&str> = run.stdout.lines().collect();
    let files = spec_files();
    assert!(files.len() >= 9 && files.iter().any(|f| f == "qcow2"), "{files:?}");
    assert_eq!(listed, files);
}

#[test]
fn prints_one_item() {
    let dir = scratch("spec_item");
    let run = qimg(&dir, &["spec", "qcow2", "Header"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().starts_with("qcow2::Header  big endian"), "{}", run.stdout);
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["off", "size", "field", "type", "when", "rule"]);
    let row = |field: &str| -> Vec<String> {
        let line = run.stdout.lines().find(|l| l.split_whitespace().nth(2) == Some(field));
        line.unwrap_or_else(|| panic!("no {field} row in\n{}", run.stdout))
            .split_whitespace()
            .take(4)
            .map(String::from)
            .collect()
    };
    assert_eq!(row("magic"), ["0", "4", "magic", "[u8;"]);
    assert_eq!(row("l1_table_offset"), ["40", "8", "l1_table_offset", "u64be"]);
    assert_eq!(row("refcount_table_offset"), ["48", "8", "refcount_table_offset", "u64be"]);
    // Item names match without regard to case.
    assert_eq!(qimg(&dir, &["spec", "qcow2", "header"]).stdout, run.stdout);
}

#[test]
fn prints_a_whole_format() {
    let dir = scratch("spec_format");
    let run = qimg(&dir, &["spec", "qcow2"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert!(run.stdout.starts_with("qcow2: big endian\n\nqcow2::"), "{}", run.stdout);
    let item = qimg(&dir, &["spec", "qcow2", "Header"]).stdout;
    assert!(run.stdout.contains(&format!("\n\n{item}")), "{}", run.stdout);
    for format in spec_files() {
        let run = qimg(&dir, &["spec", &format]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "spec {format}");
        assert!(run.stdout.starts_with(&format!("{format}: ")), "{}", run.stdout);
        assert!(run.stdout.contains(&format!("\n{format}::")), "{}", run.stdout);
    }
}

#[test]
fn errors() {
    let dir = scratch("spec_errors");
    let run = qimg(&dir, &["spec", "qcow3"]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (1, "", "qemu-img: Unknown format 'qcow3'\n"));
    let run = qimg(&dir, &["spec", "qcow2", "Footer"]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "qemu-img: Format 'qcow2' has no item 'Footer'\n")
    );
    let run = qimg(&dir, &["spec", "qcow2", "Header", "x"]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "qemu-img: Expecting at most a format and an item name\nTry 'qemu-img spec --help' for more info\n")
    );
    let run = qimg(&dir, &["spec", "--bogus"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "qemu-img spec: unrecognized option '--bogus'\nTry 'qemu-img spec --help' for more info\n")
    );
}

#[test]
fn help() {
    let dir = scratch("spec_help");
    let run = qimg(&dir, &["spec", "--help"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert!(run.stdout.starts_with("Usage: qemu-img spec [FORMAT [ITEM]]\n"), "{}", run.stdout);
    let top = qimg(&dir, &["--help"]);
    assert!(top.stdout.lines().any(|l| l.trim_start().starts_with("spec ")), "{}", top.stdout);
}
