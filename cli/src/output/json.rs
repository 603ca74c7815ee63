//! QEMU's JSON writer: `qobject_to_json_pretty` and `qobject_to_json`, byte for byte.
//!
//! Pretty form (what `--output=json` prints), verified against qemu-img 10.0.2:
//!
//! * a member or element starts on a new line indented 4 spaces per open container; members
//!   are `"key": value`, separated by `,` at the end of the line;
//! * a closing bracket goes on its own line at the indentation of its opening line, so an
//!   empty container takes two lines: `"data": {` ⏎ `<indent>}`, `"children": [` ⏎ `<indent>]`;
//! * nothing follows the top-level value: qemu-img adds exactly one `\n` when it prints it
//!   (see [`to_json_output`]). A `--backing-chain` array is the same printer applied to a
//!   list, so it opens with `[` and ends `}` ⏎ `]` ⏎.
//!
//! Compact form (used for `json:{...}` file names): `{"a": 1, "b": [1, 2]}`, `{}`, `[]`.
//!
//! Strings (keys and values) are escaped the QEMU way, which differs from most JSON
//! libraries, so nothing here may be replaced by serde_json:
//!
//! * `"` → `\"`, `\` → `\\`, and `\b`, `\f`, `\n`, `\r`, `\t` for those control characters;
//! * `/` is not escaped;
//! * every other code point below U+0020 or from U+007F up is written as `\uXXXX` with
//!   UPPERCASE hex, and above U+FFFF as a UTF-16 surrogate pair (`😀` → `\uD83D\uDE00`),
//!   so the output is always pure ASCII;
//! * the input is decoded as QEMU's modified UTF-8 ([`decode_mod_utf8`]); each invalid
//!   sequence becomes `\uFFFD`, and `C0 80` becomes `\u0000`;
//! * a string ends at its first NUL byte, as a C string does.

use super::mod_utf8::decode_mod_utf8;
use super::qobject::QObject;
use std::fmt::Write as _;

/// `qobject_to_json_pretty(obj, true)`: the multi-line form, without a trailing newline.
pub fn to_json_pretty(obj: &QObject) -> String {
    let mut out = String::new();
    write_value(&mut out, obj, 0, true);
    out
}

/// What qemu-img prints for `--output=json` (`printf("%s\n", pretty_json)`): the pretty form
/// followed by exactly one newline.
pub fn to_json_output(obj: &QObject) -> String {
    let mut out = to_json_pretty(obj);
    out.push('\n');
    out
}

/// Appends `s` as a quoted JSON string, escaped exactly as QEMU escapes it.
pub fn push_json_string(out: &mut String, s: &[u8]) {
    out.push('"');
    let mut rest = c_string(s);
    while !rest.is_empty() {
        let (cp, used) = decode_mod_utf8(rest);
        rest = &rest[used.min(rest.len())..];
        match cp {
            Some(0x22) => out.push_str("\\\""),
            Some(0x5C) => out.push_str("\\\\"),
            Some(0x08) => out.push_str("\\b"),
            Some(0x0C) => out.push_str("\\f"),
            Some(0x0A) => out.push_str("\\n"),
            Some(0x0D) => out.push_str("\\r"),
            Some(0x09) => out.push_str("\\t"),
            Some(cp @ 0x20..=0x7E) => out.push(cp as u8 as char),
            Some(cp) if cp > 0xFFFF => {
                let v = cp - 0x1_0000;
                let _ = write!(
                    out,
                    "\\u{:04X}\\u{:04X}",
                    0xD800 + (v >> 10),
                    0xDC00 + (v & 0x3FF)
                );
            }
            Some(cp) => {
                let _ = write!(out, "\\u{cp:04X}");
            }
            None => out.push_str("\\uFFFD"),
        }
    }
    out.push('"');
}

/// The bytes of `s` up to (not including) its first NUL, as C would see them.
pub(super) fn c_string(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(nul) => &s[..nul],
        None => s,
    }
}

/// Newline plus 4 spaces per level (pretty), or `sep` (compact).
fn push_break(out: &mut String, depth: usize, pretty: bool, sep: &str) {
    if pretty {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 4));
    } else {
        out.push_str(sep);
    }
}

/// Writes `obj`, which sits inside `depth` open containers.
fn write_value(out: &mut String, obj: &QObject, depth: usize, pretty: bool) {
    match obj {
        QObject::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        QObject::Int(i) => {
            let _ = write!(out, "{i}");
        }
        QObject::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        QObject::Str(s) => push_json_string(out, s),
        QObject::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_break(out, depth + 1, pretty, if i > 0 { " " } else { "" });
                write_value(out, item, depth + 1, pretty);
            }
            push_break(out, depth, pretty, "");
            out.push(']');
        }
        QObject::Dict(dict) => {
            out.push('{');
            for (i, (key, value)) in dict.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_break(out, depth + 1, pretty, if i > 0 { " " } else { "" });
                push_json_string(out, key.as_bytes());
                out.push_str(": ");
                write_value(out, value, depth + 1, pretty);
            }
            push_break(out, depth, pretty, "");
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::qobject::QDict;
    use super::*;

    fn escaped(s: &[u8]) -> String {
        let mut out = String::new();
        push_json_string(&mut out, s);
        out
    }

    /// `"filename"` values printed by `qemu-img info --output=json` for files with these
    /// names (captured from qemu-img 10.0.2).
    #[test]
    fn escaping_matches_qemu_img() {
        let cases: &[(&[u8], &str)] = &[
            (b"q\"uote", r#""q\"uote""#),
            (b"back\\slash", r#""back\\slash""#),
            (b"tab\tx", r#""tab\tx""#),
            (b"nl\nx", r#""nl\nx""#),
            (b"cr\rbs\x08ff\x0c", r#""cr\rbs\bff\f""#),
            (b"ctl\x01\x1f\x7f", r#""ctl\u0001\u001F\u007F""#),
            ("ünï€😀".as_bytes(), r#""\u00FCn\u00EF\u20AC\uD83D\uDE00""#),
            (
                b"bad\xff\xc3(\xed\xa0\x80\xc0\x80z",
                r#""bad\uFFFD\uFFFD(\uFFFD\u0000z""#,
            ),
            (b"sub/x.raw", r#""sub/x.raw""#),
            (b"", r#""""#),
        ];
        for &(input, expect) in cases {
            assert_eq!(escaped(input), expect, "input {input:?}");
        }
    }

    #[test]
    fn strings_end_at_nul_like_c() {
        assert_eq!(escaped(b"ab\0cd"), r#""ab""#);
        // A truncated multi-byte sequence at the very end reads the terminator.
        assert_eq!(escaped(b"a\xe2\x82"), r#""a\uFFFD""#);
    }

    fn file_child(virtual_size: i64, filename: &str, actual: i64) -> QObject {
        let mut data_wrapper = QDict::new();
        data_wrapper
            .put_str("type", "file")
            .put_dict("data", QDict::new());
        let mut info = QDict::new();
        info.put_str("filename", filename)
            .put_str("format", "file")
            .put_bool("dirty-flag", false)
            .put_int("actual-size", actual)
            .put_int("virtual-size", virtual_size)
            .put_dict("format-specific", data_wrapper)
            .put_list("children", vec![]);
        let mut child = QDict::new();
        child.put_str("name", "file").put_dict("info", info);
        child.into()
    }

    /// `qemu-img info --output=json sub/x.raw` (1 KiB raw image), captured verbatim.
    #[test]
    fn raw_info_pretty() {
        let mut top = QDict::new();
        top.put_str("filename", "sub/x.raw")
            .put_str("format", "raw")
            .put_bool("dirty-flag", false)
            .put_int("actual-size", 4096)
            .put_int("virtual-size", 1024)
            .put_list("children", vec![file_child(1024, "sub/x.raw", 4096)]);
        let expect = r#"{
    "children": [
        {
            "name": "file",
            "info": {
                "children": [
                ],
                "virtual-size": 1024,
                "filename": "sub/x.raw",
                "format": "file",
                "actual-size": 4096,
                "format-specific": {
                    "type": "file",
                    "data": {
                    }
                },
                "dirty-flag": false
            }
        }
    ],
    "virtual-size": 1024,
    "filename": "sub/x.raw",
    "format": "raw",
    "actual-size": 4096,
    "dirty-flag": false
}
"#;
        assert_eq!(to_json_output(&top.into()), expect);
    }

    /// `qemu-img info --output=json bm.qcow2` (two bitmaps, one with no flags), the
    /// format-specific part, captured verbatim; plus the `--backing-chain` array framing.
    #[test]
    fn qcow2_bitmaps_and_chain_framing() {
        let bitmap = |name: &str, granularity: i64, flags: Vec<QObject>| -> QObject {
            let mut b = QDict::new();
            b.put_str("name", name)
                .put_int("granularity", granularity)
                .put_list("flags", flags);
            b.into()
        };
        let mut data = QDict::new();
        data.put_str("compat", "1.1")
            .put_bool("extended-l2", false)
            .put_bool("lazy-refcounts", false)
            .put_bool("corrupt", false)
            .put_int("refcount-bits", 16)
            .put_list(
                "bitmaps",
                vec![
                    bitmap("bm-enabled", 65536, vec![QObject::str("auto")]),
                    bitmap("bm-disabled", 131072, vec![]),
                ],
            )
            .put_str("compression-type", "zlib");
        let mut spec = QDict::new();
        spec.put_str("type", "qcow2").put_dict("data", data);
        let mut top = QDict::new();
        top.put_dict("format-specific", spec);
        let expect = r#"{
    "format-specific": {
        "type": "qcow2",
        "data": {
            "compat": "1.1",
            "compression-type": "zlib",
            "lazy-refcounts": false,
            "bitmaps": [
                {
                    "flags": [
                        "auto"
                    ],
                    "name": "bm-enabled",
                    "granularity": 65536
                },
                {
                    "flags": [
                    ],
                    "name": "bm-disabled",
                    "granularity": 131072
                }
            ],
            "refcount-bits": 16,
            "corrupt": false,
            "extended-l2": false
        }
    }
}
"#;
        let top = QObject::from(top);
        assert_eq!(to_json_output(&top), expect);

        // --backing-chain: a list of such objects, one level deeper.
        let chain = QObject::List(vec![top.clone(), top]);
        let out = to_json_output(&chain);
        assert!(out.starts_with("[\n    {\n        \"format-specific\": {\n"));
        assert!(out.contains("\n    },\n    {\n"));
        assert!(out.ends_with("\n        }\n    }\n]\n"));
    }

    /// `qemu-img check --output=json base.qcow2` (clean, empty 1 MiB qcow2) and
    /// `qemu-img measure --output=json -O qcow2 --size 1G`, captured verbatim.
    #[test]
    fn check_and_measure() {
        let mut check = QDict::new();
        check
            .put_str("filename", "base.qcow2")
            .put_str("format", "qcow2")
            .put_int("check-errors", 0)
            .put_int("image-end-offset", 262144)
            .put_int("total-clusters", 16);
        let expect = r#"{
    "image-end-offset": 262144,
    "total-clusters": 16,
    "check-errors": 0,
    "filename": "base.qcow2",
    "format": "qcow2"
}
"#;
        assert_eq!(to_json_output(&check.into()), expect);

        let mut measure = QDict::new();
        measure
            .put_uint("required", 393216)
            .put_uint("fully-allocated", 1074135040);
        assert_eq!(
            to_json_output(&measure.into()),
            "{\n    \"required\": 393216,\n    \"fully-allocated\": 1074135040\n}\n"
        );
    }

    #[test]
    fn scalars_and_empty_containers() {
        assert_eq!(to_json_pretty(&QObject::Int(-5)), "-5");
        assert_eq!(
            to_json_pretty(&QObject::UInt(u64::MAX)),
            "18446744073709551615"
        );
        assert_eq!(
            to_json_pretty(&QObject::Int(i64::MIN)),
            "-9223372036854775808"
        );
        assert_eq!(to_json_pretty(&QObject::Bool(true)), "true");
        assert_eq!(to_json_pretty(&QObject::List(vec![])), "[\n]");
        assert_eq!(to_json_pretty(&QDict::new().into()), "{\n}");
        let nested = QObject::List(vec![QObject::List(vec![]), QDict::new().into()]);
        assert_eq!(to_json_pretty(&nested), "[\n    [\n    ],\n    {\n    }\n]");
    }
}
