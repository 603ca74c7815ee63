//! The human dump of QObjects used for "Format specific information:" in `qemu-img info`
//! (QEMU's `dump_qobject`, `dump_qdict`, `dump_qlist` and `bdrv_image_info_specific_dump`).
//!
//! Rules, verified against qemu-img 10.0.2 on qcow2 (bitmaps, LUKS), vmdk and luks images:
//!
//! * dictionary members come in [`QDict`] order; each `-` in a key becomes a space;
//! * a scalar member is `<indent><key>: <value>` ⏎ (an empty string leaves `key: ` with the
//!   trailing space); booleans are `true` / `false`, integers decimal, strings raw bytes;
//! * a dictionary or list member is `<indent><key>:` ⏎ followed by its contents one level
//!   deeper, so an empty one prints only the `key:` line;
//! * list elements are `[i]: value` or `[i]:` ⏎ + contents, numbered from 0;
//! * the indentation is 4 spaces per level.
//!
//! The output is bytes, because strings (file names, for one) are printed as they are.

use super::json::c_string;
use super::qobject::{QDict, QObject};

/// `dump_qobject(indentation, obj)`: appends the dump of `obj`, whose members are indented
/// by `indentation` levels. A scalar is written bare, without a newline.
pub fn dump_qobject(out: &mut Vec<u8>, indentation: usize, obj: &QObject) {
    match obj {
        QObject::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        QObject::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        QObject::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        QObject::Str(s) => out.extend_from_slice(c_string(s)),
        QObject::Dict(dict) => dump_qdict(out, indentation, dict),
        QObject::List(list) => dump_qlist(out, indentation, list),
    }
}

/// `dump_qdict`: one `key: value` line (or `key:` line and nested block) per member.
pub fn dump_qdict(out: &mut Vec<u8>, indentation: usize, dict: &QDict) {
    for (key, value) in dict.iter() {
        push_indent(out, indentation);
        out.extend(
            c_string(key.as_bytes())
                .iter()
                .map(|&b| if b == b'-' { b' ' } else { b }),
        );
        dump_member(out, indentation, value);
    }
}

/// `dump_qlist`: one `[i]: value` line (or `[i]:` line and nested block) per element.
pub fn dump_qlist(out: &mut Vec<u8>, indentation: usize, list: &[QObject]) {
    for (i, value) in list.iter().enumerate() {
        push_indent(out, indentation);
        out.extend_from_slice(format!("[{i}]").as_bytes());
        dump_member(out, indentation, value);
    }
}

/// `bdrv_image_info_specific_dump(info, prefix, indentation)`: dumps the `data` member of
/// a format-specific value (`{"type": ..., "data": ...}`'s `data`), preceded by `prefix`
/// indented by `indentation` levels, with the contents one level deeper.
///
/// Prints nothing at all, not even the prefix, when `data` is an empty dictionary or list.
/// qemu-img calls it with the prefix `"Format specific information:\n"`.
pub fn format_specific_dump(data: &QObject, prefix: &str, indentation: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let empty = match data {
        QObject::Dict(d) => d.is_empty(),
        QObject::List(l) => l.is_empty(),
        _ => false,
    };
    if !empty {
        push_indent(&mut out, indentation);
        out.extend_from_slice(prefix.as_bytes());
        dump_qobject(&mut out, indentation + 1, data);
    }
    out
}

/// After a key or `[i]`: `: value` ⏎ for a scalar, `:` ⏎ and the nested dump otherwise.
fn dump_member(out: &mut Vec<u8>, indentation: usize, value: &QObject) {
    if value.is_composite() {
        out.extend_from_slice(b":\n");
        dump_qobject(out, indentation + 1, value);
    } else {
        out.extend_from_slice(b": ");
        dump_qobject(out, indentation + 1, value);
        out.push(b'\n');
    }
}

/// 4 spaces per level.
fn push_indent(out: &mut Vec<u8>, indentation: usize) {
    out.extend(std::iter::repeat_n(b' ', indentation * 4));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "Format specific information:\n";

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    /// A qcow2 v3 `data` dict, members inserted in QAPI schema order.
    fn qcow2_data(encrypt: Option<QDict>, bitmaps: Option<Vec<QObject>>) -> QDict {
        let mut d = QDict::new();
        d.put_str("compat", "1.1")
            .put_bool("extended-l2", false)
            .put_bool("lazy-refcounts", false)
            .put_bool("corrupt", false)
            .put_int("refcount-bits", 16);
        if let Some(e) = encrypt {
            d.put_dict("encrypt", e);
        }
        if let Some(b) = bitmaps {
            d.put_list("bitmaps", b);
        }
        d.put_str("compression-type", "zlib");
        d
    }

    fn bitmap(name: &str, granularity: i64, flags: &[&str]) -> QObject {
        let mut b = QDict::new();
        b.put_str("name", name)
            .put_int("granularity", granularity)
            .put_list("flags", flags.iter().map(|&f| QObject::str(f)).collect());
        b.into()
    }

    /// LUKS info (QCryptoBlockInfoLUKS) in schema order, with 8 key slots.
    fn luks(format: Option<&str>, uuid: &str, iters: i64, master_iters: i64) -> QDict {
        let mut d = QDict::new();
        if let Some(f) = format {
            d.put_str("format", f);
        }
        d.put_str("cipher-alg", "aes-256")
            .put_str("cipher-mode", "xts")
            .put_str("ivgen-alg", "plain64")
            .put_str("hash-alg", "sha256")
            .put_bool("detached-header", false)
            .put_int("payload-offset", 2068480)
            .put_int("master-key-iters", master_iters)
            .put_str("uuid", uuid);
        let slots = (0..8)
            .map(|i| {
                let mut s = QDict::new();
                s.put_bool("active", i == 0);
                if i == 0 {
                    s.put_int("iters", iters).put_int("stripes", 4000);
                }
                s.put_int("key-offset", 4096 + i * 258048);
                QObject::from(s)
            })
            .collect();
        d.put_list("slots", slots);
        d
    }

    /// `qemu-img info a.qcow2` (plain v3): the format-specific block, verbatim.
    #[test]
    fn qcow2_plain() {
        let out = format_specific_dump(&qcow2_data(None, None).into(), PREFIX, 0);
        assert_eq!(
            text(out),
            "Format specific information:
    compat: 1.1
    compression type: zlib
    lazy refcounts: false
    refcount bits: 16
    corrupt: false
    extended l2: false
"
        );
    }

    /// `qemu-img info -U bm2.qcow2`: bitmaps with flags lists, one of them empty; verbatim.
    #[test]
    fn qcow2_bitmaps() {
        let bitmaps = vec![
            bitmap("bm-enabled", 65536, &["in-use", "auto"]),
            bitmap("bm-disabled", 131072, &[]),
        ];
        let out = format_specific_dump(&qcow2_data(None, Some(bitmaps)).into(), PREFIX, 0);
        assert_eq!(
            text(out),
            "Format specific information:
    compat: 1.1
    compression type: zlib
    lazy refcounts: false
    bitmaps:
        [0]:
            flags:
                [0]: in-use
                [1]: auto
            name: bm-enabled
            granularity: 65536
        [1]:
            flags:
            name: bm-disabled
            granularity: 131072
    refcount bits: 16
    corrupt: false
    extended l2: false
"
        );
    }

    const SLOTS_1_TO_7: &str = "            [1]:
                active: false
                key offset: 262144
            [2]:
                active: false
                key offset: 520192
            [3]:
                active: false
                key offset: 778240
            [4]:
                active: false
                key offset: 1036288
            [5]:
                active: false
                key offset: 1294336
            [6]:
                active: false
                key offset: 1552384
            [7]:
                active: false
                key offset: 1810432
";

    /// `qemu-img info l.qcow2` (LUKS-encrypted qcow2): verbatim.
    #[test]
    fn qcow2_luks() {
        let enc = luks(
            Some("luks"),
            "0ba6e7e3-4251-4087-a294-9ec8b5ace471",
            48188,
            12003,
        );
        let out = format_specific_dump(&qcow2_data(Some(enc), None).into(), PREFIX, 0);
        let expect = format!(
            "Format specific information:
    compat: 1.1
    compression type: zlib
    lazy refcounts: false
    refcount bits: 16
    encrypt:
        ivgen alg: plain64
        detached header: false
        hash alg: sha256
        cipher alg: aes-256
        uuid: 0ba6e7e3-4251-4087-a294-9ec8b5ace471
        format: luks
        cipher mode: xts
        slots:
            [0]:
                active: true
                iters: 48188
                key offset: 4096
                stripes: 4000
{SLOTS_1_TO_7}        payload offset: 2068480
        master key iters: 12003
    corrupt: false
    extended l2: false
"
        );
        assert_eq!(text(out), expect);
    }

    /// `qemu-img info l.luks` (raw LUKS): verbatim.
    #[test]
    fn raw_luks() {
        let data = luks(None, "3b4b943e-04a8-476d-8de1-3abcab83a1e7", 47906, 12047);
        let out = format_specific_dump(&data.into(), PREFIX, 0);
        // The same slot lines, one level shallower.
        let slots: String = SLOTS_1_TO_7
            .lines()
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let expect = format!(
            "Format specific information:
    ivgen alg: plain64
    detached header: false
    hash alg: sha256
    cipher alg: aes-256
    uuid: 3b4b943e-04a8-476d-8de1-3abcab83a1e7
    cipher mode: xts
    slots:
        [0]:
            active: true
            iters: 47906
            key offset: 4096
            stripes: 4000
{slots}    payload offset: 2068480
    master key iters: 12047
"
        );
        assert_eq!(text(out), expect);
    }

    fn extent(
        filename: &str,
        format: &str,
        size: i64,
        cluster: Option<i64>,
        compressed: bool,
    ) -> QObject {
        let mut e = QDict::new();
        e.put_str("filename", filename)
            .put_str("format", format)
            .put_int("virtual-size", size);
        if let Some(c) = cluster {
            e.put_int("cluster-size", c);
        }
        if compressed {
            e.put_bool("compressed", true);
        }
        e.into()
    }

    fn vmdk(create_type: &str, cid: u64, extents: Vec<QObject>) -> QObject {
        let mut d = QDict::new();
        d.put_str("create-type", create_type)
            .put_uint("cid", cid)
            .put_uint("parent-cid", 4294967295)
            .put_list("extents", extents);
        d.into()
    }

    /// `qemu-img info` of streamOptimized, monolithicFlat and twoGbMaxExtentSparse vmdk
    /// images (3 GiB): verbatim, including `format: ` with its trailing space.
    #[test]
    fn vmdk_extents() {
        let stream = vmdk(
            "streamOptimized",
            72074707,
            vec![extent(
                "v-streamOptimized.vmdk",
                "",
                3221225472,
                Some(65536),
                true,
            )],
        );
        assert_eq!(
            text(format_specific_dump(&stream, PREFIX, 0)),
            "Format specific information:
    cid: 72074707
    parent cid: 4294967295
    create type: streamOptimized
    extents:
        [0]:
            compressed: true
            virtual size: 3221225472
            filename: v-streamOptimized.vmdk
            cluster size: 65536
            format: 
"
        );
        let flat = vmdk(
            "monolithicFlat",
            3958044678,
            vec![extent(
                "v-monolithicFlat-flat.vmdk",
                "FLAT",
                3221225472,
                None,
                false,
            )],
        );
        assert_eq!(
            text(format_specific_dump(&flat, PREFIX, 0)),
            "Format specific information:
    cid: 3958044678
    parent cid: 4294967295
    create type: monolithicFlat
    extents:
        [0]:
            virtual size: 3221225472
            filename: v-monolithicFlat-flat.vmdk
            format: FLAT
"
        );
        let split = vmdk(
            "twoGbMaxExtentSparse",
            1007928082,
            vec![
                extent(
                    "v-twoGbMaxExtentSparse-s001.vmdk",
                    "SPARSE",
                    2147483648,
                    Some(65536),
                    false,
                ),
                extent(
                    "v-twoGbMaxExtentSparse-s002.vmdk",
                    "SPARSE",
                    1073741824,
                    Some(65536),
                    false,
                ),
            ],
        );
        assert_eq!(
            text(format_specific_dump(&split, PREFIX, 0)),
            "Format specific information:
    cid: 1007928082
    parent cid: 4294967295
    create type: twoGbMaxExtentSparse
    extents:
        [0]:
            virtual size: 2147483648
            filename: v-twoGbMaxExtentSparse-s001.vmdk
            cluster size: 65536
            format: SPARSE
        [1]:
            virtual size: 1073741824
            filename: v-twoGbMaxExtentSparse-s002.vmdk
            cluster size: 65536
            format: SPARSE
"
        );
    }

    #[test]
    fn empty_data_prints_nothing() {
        assert!(format_specific_dump(&QDict::new().into(), PREFIX, 0).is_empty());
        assert!(format_specific_dump(&QObject::List(vec![]), PREFIX, 1).is_empty());
    }

    #[test]
    fn nested_indentation_and_raw_bytes() {
        let mut inner = QDict::new();
        inner.put_dict("empty-dict", QDict::new());
        let mut d = QDict::new();
        d.put_str("file-name", b"a\xffb\0ignored".as_slice())
            .put_dict("x", inner)
            .put_list(
                "l",
                vec![QObject::List(vec![QObject::Int(-1)]), QObject::UInt(7)],
            );
        let out = format_specific_dump(&d.into(), PREFIX, 1);
        // Keys come in bucket order; strings print raw up to a NUL.
        let mut expect = b"    Format specific information:\n".to_vec();
        for key in QDict::from_iter([("file-name", 0), ("x", 0), ("l", 0)]).iter().map(|(k, _)| k) {
            expect.extend_from_slice(match key {
                "file-name" => b"        file name: a\xffb\n".as_slice(),
                "x" => b"        x:\n            empty dict:\n",
                _ => b"        l:\n            [0]:\n                [0]: -1\n            [1]: 7\n",
            });
        }
        assert_eq!(out, expect);
    }
}
