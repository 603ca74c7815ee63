//! `--image-opts`: an image named by block-layer options instead of a file
//! name (`driver=qcow2,file.filename=x.qcow2,encrypt.key-secret=sec0`).
//!
//! [`parse`] splits the string as qemu's QemuOpts does (`,` separates,
//! `,,` is a comma, a first bare word is the `file` option, later bare
//! words are deprecated `on`/`off` flags) and checks what needs no I/O, with
//! qemu's messages: a `file=NAME` reference to an existing node, a missing
//! driver or file, unknown drivers, bad values of typed options.
//! [`ImageOpts::check_format`] then refuses options the format (known only
//! after probing when no `driver=` was given) does not take, and
//! [`ImageOpts::display_name`] is the name qemu prints for the image: the
//! plain file name, or `json:{…}` when options that change what the image
//! is (`key-secret`, `encrypt.key-secret`, raw's `offset`/`size`) were given.
//!
//! Errors are the reason only; the caller prefixes `Could not open 'SOURCE'`
//! with the string as given.

use crate::error::{Error, Result};
use crate::opts::{take_value, well_formed_id};

/// A parsed `--image-opts` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOpts {
    /// The string as given.
    pub source: String,
    /// Every option in the order given; a repeated key keeps its last value
    /// in the place of its first.
    pub options: Vec<(String, String)>,
    /// The format driver (`driver=`); `None` means probe. `Some("file")`
    /// opens the host file itself as the image (qemu's format `file`).
    pub driver: Option<String>,
    /// The host file (`file.filename=`, or `filename=` with `driver=file`).
    pub filename: String,
    /// The secret holding the passphrase: `key-secret` (luks) or
    /// `encrypt.key-secret` (qcow, qcow2).
    pub key_secret: Option<String>,
    /// qcow/qcow2 `encrypt.format` (`aes` or `luks`), to be matched against
    /// the header (see [`ImageOpts::check_encrypt_format`]).
    pub encrypt_format: Option<String>,
    /// raw's `offset` and `size`, in bytes.
    pub raw_offset: Option<u64>,
    pub raw_size: Option<u64>,
    /// `read-only=on`.
    pub read_only: bool,
    /// `force-share=on`.
    pub force_share: bool,
    /// Warnings to print (deprecated short-form booleans), each a message
    /// line and a hint line.
    pub warnings: Vec<(String, String)>,
}

/// Formats that may be named by `driver=` (qemu knows more; qimg opens these).
const FORMATS: &[&str] =
    &["bochs", "cloop", "dmg", "luks", "parallels", "qcow", "qcow2", "qed", "raw", "vdi", "vhdx", "vmdk", "vpc"];

/// Options every node takes (qemu's `bdrv_runtime_opts` and friends).
const COMMON: &[&str] = &[
    "node-name",
    "driver",
    "read-only",
    "auto-read-only",
    "force-share",
    "discard",
    "detect-zeroes",
    "cache.direct",
    "cache.no-flush",
];

/// Options of the `file` protocol.
const FILE_OPTS: &[&str] = &["filename", "aio", "aio-max-batch", "locking", "pr-manager", "x-check-cache-dropped"];

const BOOLS: &[&str] = &[
    "read-only",
    "auto-read-only",
    "force-share",
    "cache.direct",
    "cache.no-flush",
    "lazy-refcounts",
    "pass-discard-request",
    "pass-discard-snapshot",
    "pass-discard-other",
    "discard-no-unref",
    "x-check-cache-dropped",
];

/// Options of each format beyond [`COMMON`] and the `file` child.
fn format_opts(format: &str) -> &'static [&'static str] {
    match format {
        "raw" => &["offset", "size"],
        "luks" => &["key-secret", "header"],
        "qcow" => &["encrypt.format", "encrypt.key-secret", "backing"],
        "qcow2" => &[
            "encrypt.format",
            "encrypt.key-secret",
            "lazy-refcounts",
            "pass-discard-request",
            "pass-discard-snapshot",
            "pass-discard-other",
            "discard-no-unref",
            "overlap-check",
            "cache-size",
            "l2-cache-size",
            "l2-cache-entry-size",
            "refcount-cache-size",
            "cache-clean-interval",
            "data-file",
        ],
        _ => &[],
    }
}

/// Whether `format` supports a `backing` option (qemu takes `backing=` only
/// on formats with backing files).
fn has_backing(format: &str) -> bool {
    matches!(format, "qcow" | "qcow2" | "qed" | "vmdk")
}

/// Key and value pairs (or warning and hint pairs).
type Pairs = Vec<(String, String)>;

/// Splits a QemuOpts string: (key, value) pairs and deprecation warnings.
fn split(s: &str) -> (Pairs, Pairs) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        let end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = &rest[..end];
        let (key, value) = if rest[end..].starts_with('=') {
            let (v, after) = take_value(&rest[end + 1..]);
            rest = after;
            (name.to_string(), v)
        } else {
            rest = rest[end..].strip_prefix(',').unwrap_or(&rest[end..]);
            if first {
                ("file".to_string(), name.to_string())
            } else {
                let (k, v) = match name.strip_prefix("no") {
                    Some(k) => (k.to_string(), "off"),
                    None => (name.to_string(), "on"),
                };
                warnings.push((
                    format!("short-form boolean option '{name}' deprecated"),
                    format!("Please use {k}={v} instead"),
                ));
                (k, v.to_string())
            }
        };
        first = false;
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => pairs.push((key, value)),
        }
    }
    (pairs, warnings)
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "on" | "yes" | "true" | "y" => Ok(true),
        "off" | "no" | "false" | "n" => Ok(false),
        _ => Err(Error::invalid(format!("Parameter '{key}' expects 'on' or 'off'"))),
    }
}

/// qemu's size syntax for option values: a number with an optional binary
/// suffix.
fn parse_size(key: &str, v: &str) -> Result<u64> {
    let bad = || {
        Error::invalid(format!("Parameter '{key}' expects a non-negative number below 2^64")).with_hint(
            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
        )
    };
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().map_err(|_| bad())?;
    let shift = match &v[digits..] {
        "" | "b" | "B" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        "p" | "P" => 50,
        "e" | "E" => 60,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Checks the value of one (common or file) option.
fn check_value(key: &str, value: &str) -> Result<()> {
    let leaf = key.strip_prefix("file.").unwrap_or(key);
    if BOOLS.contains(&leaf) {
        parse_bool(key, value)?;
    }
    let enum_ok = match leaf {
        "locking" => ["on", "off", "auto"].contains(&value),
        "detect-zeroes" => ["on", "off", "unmap"].contains(&value),
        "discard" => ["ignore", "off", "unmap", "on"].contains(&value),
        "aio" => ["threads", "native", "io_uring"].contains(&value),
        _ => true,
    };
    if !enum_ok {
        return Err(Error::invalid(format!("invalid parameter value: {value}")));
    }
    if leaf == "node-name" && !well_formed_id(value) {
        return Err(Error::invalid(format!("Invalid node-name: '{value}'")));
    }
    Ok(())
}

/// Parses an `--image-opts` string.
pub fn parse(source: &str) -> Result<ImageOpts> {
    let (options, warnings) = split(source);
    let get = |k: &str| options.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let driver = get("driver").map(str::to_string);
    let file_ref = get("file");
    let has_file_child = options.iter().any(|(k, _)| k.starts_with("file."));
    if driver.is_none() && file_ref.is_none() && !has_file_child {
        return Err(Error::invalid("Must specify either driver or file"));
    }
    if let Some(name) = file_ref {
        if has_file_child {
            return Err(Error::invalid(
                "Cannot reference an existing block device with additional options or a new filename",
            ));
        }
        return Err(Error::invalid(format!("Cannot find device='{name}' nor node-name='{name}'")));
    }
    if let Some(d) = &driver {
        if d != "file" && !FORMATS.contains(&d.as_str()) {
            return Err(Error::invalid(format!("Unknown driver '{d}'")));
        }
    }
    for (k, v) in &options {
        check_value(k, v)?;
    }
    let filename = if driver.as_deref() == Some("file") {
        if let Some((k, _)) =
            options.iter().find(|(k, _)| !COMMON.contains(&k.as_str()) && !FILE_OPTS.contains(&k.as_str()))
        {
            return Err(Error::invalid(format!("Block protocol 'file' doesn't support the option '{k}'")));
        }
        get("filename").ok_or_else(|| Error::invalid("The 'file' block driver requires a file name"))?.to_string()
    } else {
        if !has_file_child {
            return Err(Error::invalid("A block device must be specified for \"file\""));
        }
        match get("file.driver") {
            None | Some("file") => {}
            Some(p) if FORMATS.contains(&p) => {
                return Err(Error::unsupported(format!(
                    "qimg does not open '{p}' images as the file of another format"
                )))
            }
            Some(p) => return Err(Error::invalid(format!("Unknown driver '{p}'"))),
        }
        for (k, _) in &options {
            if let Some(leaf) = k.strip_prefix("file.") {
                if !COMMON.contains(&leaf) && !FILE_OPTS.contains(&leaf) {
                    return Err(Error::invalid(format!("Block protocol 'file' doesn't support the option '{leaf}'")));
                }
            }
        }
        get("file.filename").ok_or_else(|| Error::invalid("The 'file' block driver requires a file name"))?.to_string()
    };
    let key_secret = get("key-secret").or(get("encrypt.key-secret")).map(str::to_string);
    let raw_offset = get("offset").map(|v| parse_size("offset", v)).transpose()?;
    let raw_size = get("size").map(|v| parse_size("size", v)).transpose()?;
    Ok(ImageOpts {
        source: source.to_string(),
        driver,
        filename,
        key_secret,
        encrypt_format: get("encrypt.format").map(str::to_string),
        raw_offset,
        raw_size,
        read_only: get("read-only").is_some_and(|v| parse_bool("read-only", v).unwrap_or(false)),
        force_share: get("force-share").is_some_and(|v| parse_bool("force-share", v).unwrap_or(false)),
        options,
        warnings,
    })
}

impl ImageOpts {
    /// The format to open with: `driver=`, or `probed` (what probing the
    /// file found) when none was given.
    pub fn format<'a>(&'a self, probed: &'a str) -> &'a str {
        self.driver.as_deref().unwrap_or(probed)
    }

    /// Refuses options `format` does not take: `Block format 'F' does not
    /// support the option 'X'`; unknown `encrypt.` options of qcow/qcow2 are
    /// `Parameter 'X' is unexpected`.
    pub fn check_format(&self, format: &str) -> Result<()> {
        if format == "file" {
            return Ok(());
        }
        let own = format_opts(format);
        for (k, _) in &self.options {
            if k == "file" || k.starts_with("file.") || COMMON.contains(&k.as_str()) {
                continue;
            }
            if own.contains(&k.as_str()) || (k.starts_with("overlap-check.") && format == "qcow2") {
                continue;
            }
            if k == "backing" && has_backing(format) {
                continue;
            }
            if let Some(leaf) = k.strip_prefix("encrypt.") {
                if format == "qcow" || format == "qcow2" {
                    return Err(Error::invalid(format!("Parameter '{leaf}' is unexpected")));
                }
            }
            return Err(Error::invalid(format!("Block format '{format}' does not support the option '{k}'")));
        }
        Ok(())
    }

    /// qcow/qcow2: `encrypt.format` against the header's method; see
    /// [`check_encrypt_format`].
    pub fn check_encrypt_format(&self, header_format: Option<&str>) -> Result<()> {
        check_encrypt_format(self.encrypt_format.as_deref(), header_format)
    }

    /// The options that make qemu name the image in `json:` form, for the
    /// node of `format`, in the order given.
    fn strong_options(&self, format: &str) -> Vec<(&str, &str)> {
        let strong: &[&str] = match format {
            "luks" => &["key-secret"],
            "qcow" | "qcow2" => &["encrypt.key-secret"],
            "raw" => &["offset", "size"],
            _ => &[],
        };
        self.options
            .iter()
            .filter(|(k, _)| strong.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The name qemu shows for the image (`image:`, `"filename"`, the name
    /// in messages after opening): the file name, or
    /// `json:{"driver": "luks", "file": {"driver": "file", "filename": "d.luks"}, "key-secret": "sec0"}`
    /// with keys in QEMU's QDict order. `format` is the opened format.
    pub fn display_name(&self, format: &str) -> String {
        let strong = self.strong_options(format);
        if strong.is_empty() || format == "file" {
            return self.filename.clone();
        }
        let file = json_object(&[("driver", Json::Str("file")), ("filename", Json::Str(&self.filename))]);
        let mut top: Vec<(&str, Json<'_>)> = vec![("driver", Json::Str(format)), ("file", Json::Raw(&file))];
        top.extend(strong.into_iter().map(|(k, v)| (k, Json::Str(v))));
        format!("json:{}", json_object(&top))
    }
}

enum Json<'a> {
    Str(&'a str),
    Raw(&'a str),
}

/// QEMU's `tdb_hash` bucket of a QDict key (qobject/qdict.c: 512 buckets).
fn qdict_bucket(key: &str) -> u32 {
    let mut v = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    for (i, &b) in key.as_bytes().iter().enumerate() {
        v = v.wrapping_add(u32::from(b) << ((i * 5) % 24));
    }
    1_103_515_243u32.wrapping_mul(v).wrapping_add(12345) % 512
}

/// A compact JSON object as QEMU prints a QDict: buckets ascending, the
/// newest key first within a bucket, `{"k": v, …}`.
fn json_object(entries: &[(&str, Json<'_>)]) -> String {
    let mut order: Vec<(u32, usize)> = entries.iter().enumerate().map(|(i, (k, _))| (qdict_bucket(k), i)).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::from("{");
    for (n, (_, i)) in order.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        let (k, v) = &entries[*i];
        json_string(&mut out, k);
        out.push_str(": ");
        match v {
            Json::Str(s) => json_string(&mut out, s),
            Json::Raw(r) => out.push_str(r),
        }
    }
    out.push('}');
    out
}

/// A JSON string as QEMU escapes it (`\uXXXX` for what is not printable ASCII).
fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) > 0xFFFF => {
                let v = c as u32 - 0x1_0000;
                let _ = write!(out, "\\u{:04X}\\u{:04X}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            }
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out.push('"');
}

/// qcow/qcow2: the `encrypt.format` option (`want`) against the header's
/// method (`have`, `None` when not encrypted), with qemu's messages.
pub fn check_encrypt_format(want: Option<&str>, have: Option<&str>) -> Result<()> {
    match (want, have) {
        (None, _) => Ok(()),
        (Some(want), None) => {
            Err(Error::invalid(format!("No encryption in image header, but options specified format '{want}'")))
        }
        (Some(want), Some(have)) if want != have => {
            Err(Error::invalid(format!("Header reported '{have}' encryption format but options specify '{want}'")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse(s).unwrap_err().message
    }

    #[test]
    fn typical_strings() {
        let o = parse("driver=qcow2,file.filename=x.qcow2,encrypt.key-secret=sec0").unwrap();
        assert_eq!(o.driver.as_deref(), Some("qcow2"));
        assert_eq!(o.filename, "x.qcow2");
        assert_eq!(o.key_secret.as_deref(), Some("sec0"));
        o.check_format("qcow2").unwrap();
        assert_eq!(
            o.display_name("qcow2"),
            r#"json:{"encrypt.key-secret": "sec0", "driver": "qcow2", "file": {"driver": "file", "filename": "x.qcow2"}}"#
        );
        let o = parse("driver=luks,file.filename=d.luks,key-secret=sec0").unwrap();
        assert_eq!(
            o.display_name("luks"),
            r#"json:{"driver": "luks", "file": {"driver": "file", "filename": "d.luks"}, "key-secret": "sec0"}"#
        );
        let o = parse("driver=raw,file.driver=file,file.filename=d.raw,file.locking=off").unwrap();
        assert_eq!(o.display_name("raw"), "d.raw");
        let o = parse("file.filename=d.luks,key-secret=sec0").unwrap();
        assert_eq!(o.driver, None);
        assert_eq!(o.format("luks"), "luks");
        o.check_format("luks").unwrap();
        assert_eq!(
            o.check_format("raw").unwrap_err().message,
            "Block format 'raw' does not support the option 'key-secret'"
        );
        let o = parse("driver=raw,file.filename=d.raw,offset=512").unwrap();
        assert_eq!(o.raw_offset, Some(512));
        assert_eq!(
            o.display_name("raw"),
            r#"json:{"offset": "512", "driver": "raw", "file": {"driver": "file", "filename": "d.raw"}}"#
        );
        let o = parse("driver=raw,file.filename=d.raw,size=4096").unwrap();
        assert_eq!(
            o.display_name("raw"),
            r#"json:{"driver": "raw", "size": "4096", "file": {"driver": "file", "filename": "d.raw"}}"#
        );
        let o = parse("driver=luks,file.filename=d.luks,key-secret=s,key-secret=t").unwrap();
        assert_eq!(o.key_secret.as_deref(), Some("t"));
        let o = parse("driver=file,filename=d.raw,locking=off").unwrap();
        assert_eq!((o.driver.as_deref(), o.filename.as_str()), (Some("file"), "d.raw"));
        let o = parse("driver=luks,file.filename=d.luks,read-only").unwrap();
        assert!(o.read_only);
        assert_eq!(
            o.warnings,
            vec![("short-form boolean option 'read-only' deprecated".into(), "Please use read-only=on instead".into())]
        );
        let o = parse("driver=raw,file.filename=a,,b,").unwrap();
        assert_eq!(o.filename, "a,b");
        let o = parse(r#"driver=luks,file.filename=a"b,key-secret=s"#).unwrap();
        assert_eq!(
            o.display_name("luks"),
            r#"json:{"driver": "luks", "file": {"driver": "file", "filename": "a\"b"}, "key-secret": "s"}"#
        );
    }

    /// Messages of `qemu-img info --image-opts STRING` (10.0.2).
    #[test]
    fn errors_match_qemu() {
        assert_eq!(err("d.raw"), "Cannot find device='d.raw' nor node-name='d.raw'");
        assert_eq!(err("driver=raw,file=d.raw"), "Cannot find device='d.raw' nor node-name='d.raw'");
        assert_eq!(err("filename=d.raw"), "Must specify either driver or file");
        assert_eq!(err(""), "Must specify either driver or file");
        assert_eq!(err("driver=raw"), "A block device must be specified for \"file\"");
        assert_eq!(err("driver=bogus,file.filename=d.raw"), "Unknown driver 'bogus'");
        assert_eq!(err("driver=raw,,file.filename=d.raw"), "Unknown driver 'raw,file.filename=d.raw'");
        assert_eq!(err("driver=raw,file.driver=bogus,file.filename=d"), "Unknown driver 'bogus'");
        assert_eq!(err("driver=raw,file.driver=file"), "The 'file' block driver requires a file name");
        assert_eq!(err("driver=file"), "The 'file' block driver requires a file name");
        assert_eq!(
            err("driver=file,filename=d.raw,file.filename=x"),
            "Block protocol 'file' doesn't support the option 'file.filename'"
        );
        assert_eq!(
            err("driver=raw,file.filename=d.raw,file.bogus=1"),
            "Block protocol 'file' doesn't support the option 'bogus'"
        );
        assert_eq!(
            err("driver=raw,file.filename=d.raw,file=d.raw"),
            "Cannot reference an existing block device with additional options or a new filename"
        );
        assert_eq!(
            err("driver=raw,file.filename=d.raw,read-only=maybe"),
            "Parameter 'read-only' expects 'on' or 'off'"
        );
        assert_eq!(err("driver=raw,file.filename=d.raw,file.locking=maybe"), "invalid parameter value: maybe");
        assert_eq!(err("driver=raw,file.filename=d.raw,detect-zeroes=bogus"), "invalid parameter value: bogus");
        assert_eq!(err("driver=raw,file.filename=d.raw,node-name=1x"), "Invalid node-name: '1x'");
        assert_eq!(
            err("driver=raw,file.filename=d.raw,offset=abc"),
            "Parameter 'offset' expects a non-negative number below 2^64"
        );
        let check = |s: &str, f: &str| parse(s).unwrap().check_format(f).unwrap_err().message;
        assert_eq!(
            check("driver=raw,file.filename=d,bogus=1", "raw"),
            "Block format 'raw' does not support the option 'bogus'"
        );
        assert_eq!(check("driver=raw,file.filename=d,=x", "raw"), "Block format 'raw' does not support the option ''");
        assert_eq!(
            check("driver=raw,file.filename=d,id=foo", "raw"),
            "Block format 'raw' does not support the option 'id'"
        );
        assert_eq!(
            check("driver=raw,file.filename=d,backing=x", "raw"),
            "Block format 'raw' does not support the option 'backing'"
        );
        assert_eq!(
            check("driver=qcow2,file.filename=d,key-secret=s", "qcow2"),
            "Block format 'qcow2' does not support the option 'key-secret'"
        );
        assert_eq!(check("driver=qcow2,file.filename=d,encrypt.bogus=1", "qcow2"), "Parameter 'bogus' is unexpected");
        assert_eq!(
            check("driver=luks,file.filename=d,encrypt.key-secret=s", "luks"),
            "Block format 'luks' does not support the option 'encrypt.key-secret'"
        );
        let o = parse("driver=qcow2,file.filename=d,encrypt.format=aes").unwrap();
        assert_eq!(
            o.check_encrypt_format(Some("luks")).unwrap_err().message,
            "Header reported 'luks' encryption format but options specify 'aes'"
        );
        assert_eq!(
            o.check_encrypt_format(None).unwrap_err().message,
            "No encryption in image header, but options specified format 'aes'"
        );
        o.check_encrypt_format(Some("aes")).unwrap();
    }
}
