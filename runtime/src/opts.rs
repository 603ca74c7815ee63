//! Option strings (`-o key=value,...`) parsed against a format's option schema, the
//! way QEMU's `QemuOpts` does it (qemu 10.0.2, `util/qemu-option.c`).
//!
//! Syntax of an option string:
//!
//! * elements are separated by `,`; inside a value `,,` stands for one `,`
//!   (`backing_file=a,,b` is the file `a,b`); names cannot contain `,` or `=`;
//! * `key=value` sets a value; a bare `key` means `key=on` and a bare `nokey` means
//!   `key=off` (the `no` is stripped from *any* bare word: `nocow` is the option `cow`);
//! * a key may repeat: every occurrence is validated, the last one wins;
//! * the key `id` is silently ignored;
//! * several `-o` arguments are joined with `,` ([`accumulate`]), after checking that
//!   each one can be joined safely ([`is_valid_option_list`]);
//! * `help` or `?` anywhere ([`has_help_option`]) asks for the option list instead.
//!
//! Values are checked against the option's [`OptKind`] as they are parsed, and the
//! first bad element is reported with QEMU's exact wording ([`OptsError`]).
//! [`render_help`] prints a schema as `-o help` does, and [`Opts::format_line`] renders
//! the option part of `create`'s `Formatting ...` line.

use std::fmt;

use crate::units::{parse_size, parse_u64, NumError};

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// `on`/`yes`/`true`/`y` or `off`/`no`/`false`/`n` (case-sensitive).
    Bool,
    /// A size as [`parse_size`] reads it (`64k`, `1.5G`).
    Size,
    /// A C integer as [`parse_u64`] reads it (decimal, `0x` hex, `0` octal).
    Number,
    /// Any text.
    String,
}

impl OptKind {
    /// The type name `-o help` prints between `<` and `>`.
    pub fn help_name(self) -> &'static str {
        match self {
            OptKind::Bool => "bool (on/off)",
            OptKind::Size => "size",
            OptKind::Number => "num",
            OptKind::String => "str",
        }
    }
}

/// One option a format (or protocol) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptDesc {
    /// Name as written in the option string.
    pub name: &'static str,
    /// Value type.
    pub kind: OptKind,
    /// Text shown by `-o help` (`None`: the line has no ` - ...` part).
    pub help: Option<&'static str>,
    /// Default as QEMU stores it (a string); shown in the `Formatting` line.
    pub default: Option<&'static str>,
}

impl OptDesc {
    /// A described option without default.
    pub const fn new(name: &'static str, kind: OptKind, help: &'static str) -> OptDesc {
        OptDesc {
            name,
            kind,
            help: Some(help),
            default: None,
        }
    }

    /// The same option with a default value.
    pub const fn with_default(self, default: &'static str) -> OptDesc {
        OptDesc {
            default: Some(default),
            ..self
        }
    }
}

/// Look an option up by exact name.
pub fn find_desc<'a>(schema: &'a [OptDesc], name: &str) -> Option<&'a OptDesc> {
    schema.iter().find(|d| d.name == name)
}

/// `qemu_opts_append`: `base` followed by the options of `more` whose names are new.
pub fn append_schema(base: &[OptDesc], more: &[OptDesc]) -> Vec<OptDesc> {
    let mut out = base.to_vec();
    for d in more {
        if find_desc(&out, d.name).is_none() {
            out.push(*d);
        }
    }
    out
}

/// A rejected option string; `Display` is QEMU's message without a trailing newline
/// (the size message spans three lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptsError {
    /// `Invalid option list: <list>` (an `-o` argument that cannot be joined).
    InvalidOptionList(String),
    /// `Invalid parameter '<name>'`.
    InvalidParameter(String),
    /// `Parameter '<name>' expects 'on' or 'off'`.
    ExpectsBool(String),
    /// `Parameter '<name>' expects a number`.
    ExpectsNumber(String),
    /// `Value '<value>' is too large for parameter '<name>'`.
    NumberTooLarge {
        /// Option name.
        name: String,
        /// The value as given.
        value: String,
    },
    /// `Parameter '<name>' expects a non-negative number below 2^64` plus QEMU's
    /// two-line hint about suffixes.
    ExpectsSize(String),
    /// `Value '<value>' is out of range for parameter '<name>'`.
    SizeOutOfRange {
        /// Option name.
        name: String,
        /// The value as given.
        value: String,
    },
}

impl fmt::Display for OptsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptsError::InvalidOptionList(list) => write!(f, "Invalid option list: {list}"),
            OptsError::InvalidParameter(name) => write!(f, "Invalid parameter '{name}'"),
            OptsError::ExpectsBool(name) => write!(f, "Parameter '{name}' expects 'on' or 'off'"),
            OptsError::ExpectsNumber(name) => write!(f, "Parameter '{name}' expects a number"),
            OptsError::NumberTooLarge { name, value } => {
                write!(f, "Value '{value}' is too large for parameter '{name}'")
            }
            OptsError::ExpectsSize(name) => write!(
                f,
                "Parameter '{name}' expects a non-negative number below 2^64\n\
                 Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\
                 and exabytes, respectively."
            ),
            OptsError::SizeOutOfRange { name, value } => {
                write!(f, "Value '{value}' is out of range for parameter '{name}'")
            }
        }
    }
}

impl std::error::Error for OptsError {}

/// Whether `list` can be joined with other `-o` arguments: it must be non-empty, must
/// not start with `,` and must not end in an odd number of commas.
pub fn is_valid_option_list(list: &str) -> bool {
    if list.is_empty() || list.starts_with(',') {
        return false;
    }
    let trailing = list.bytes().rev().take_while(|&b| b == b',').count();
    trailing % 2 == 0
}

/// Join one more `-o` argument onto `acc` (`a` then `b` gives `a,b`).
pub fn accumulate(acc: &mut Option<String>, list: &str) -> Result<(), OptsError> {
    if !is_valid_option_list(list) {
        return Err(OptsError::InvalidOptionList(list.to_string()));
    }
    match acc {
        Some(s) => {
            s.push(',');
            s.push_str(list);
        }
        None => *acc = Some(list.to_string()),
    }
    Ok(())
}

/// Whether an option string asks for help: some `,`-separated piece (commas are not
/// unescaped here, so `a,,help` counts) is exactly `help` or `?`.
pub fn has_help_option(list: &str) -> bool {
    list.split(',').any(is_help_word)
}

/// `help` or `?`.
pub fn is_help_word(s: &str) -> bool {
    s == "help" || s == "?"
}

/// One element of an option string, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOpt {
    /// The key (for a bare `nokey`, without the `no`).
    pub name: String,
    /// The value with `,,` unescaped; `on`/`off` for a bare word.
    pub value: String,
    /// How the element was written.
    pub form: RawForm,
}

/// How an element of an option string was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawForm {
    /// `key=value`.
    KeyValue,
    /// A value for the implied first key (see [`split`]).
    Implied,
    /// A bare `key` (meaning `key=on`).
    Flag,
    /// A bare `nokey` (meaning `key=off`).
    NegatedFlag,
}

/// Split an option string into its elements. `implied`, if given, names the key of a
/// first element that has no `=` (QEMU's "implied option name").
pub fn split(list: &str, implied: Option<&str>) -> Vec<RawOpt> {
    let mut out = Vec::new();
    let mut rest = list;
    let mut implied = implied;
    while !rest.is_empty() {
        let len = rest.find(['=', ',']).unwrap_or(rest.len());
        let (opt, after) = if rest[len..].starts_with('=') {
            let (value, after) = take_value(&rest[len + 1..]);
            (
                RawOpt {
                    name: rest[..len].to_string(),
                    value,
                    form: RawForm::KeyValue,
                },
                after,
            )
        } else if let Some(key) = implied {
            let (value, after) = take_value(rest);
            (
                RawOpt {
                    name: key.to_string(),
                    value,
                    form: RawForm::Implied,
                },
                after,
            )
        } else {
            let word = &rest[..len];
            let opt = match word.strip_prefix("no") {
                Some(name) => RawOpt {
                    name: name.to_string(),
                    value: "off".into(),
                    form: RawForm::NegatedFlag,
                },
                None => RawOpt {
                    name: word.to_string(),
                    value: "on".into(),
                    form: RawForm::Flag,
                },
            };
            (opt, &rest[len..])
        };
        implied = None;
        out.push(opt);
        rest = after.strip_prefix(',').unwrap_or(after);
    }
    out
}

/// Reads a value of an option string up to a single `,` (`,,` is an
/// escaped comma, as QEMU's option parsers read it); returns the value and
/// the text after that separator (never starting with a `,`).
pub fn take_value(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut rest = s;
    loop {
        match rest.find(',') {
            None => {
                value.push_str(rest);
                return (value, "");
            }
            Some(i) if rest[i + 1..].starts_with(',') => {
                value.push_str(&rest[..=i]);
                rest = &rest[i + 2..];
            }
            Some(i) => {
                value.push_str(&rest[..i]);
                return (value, &rest[i + 1..]);
            }
        }
    }
}

/// QEMU's `id_wellformed`: a letter, then letters, digits, `-`, `.` and `_`.
pub fn well_formed_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphabetic)
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// A validated option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A [`OptKind::Bool`] option.
    Bool(bool),
    /// A [`OptKind::Size`] option, in bytes.
    Size(u64),
    /// A [`OptKind::Number`] option.
    Number(u64),
    /// A [`OptKind::String`] option (the text is in [`Opt::raw`]).
    Str,
}

/// One validated option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    /// Option name.
    pub name: String,
    /// The value as written (after `,,` unescaping).
    pub raw: String,
    /// The typed value.
    pub value: Value,
}

/// Validate `raw` for an option of type `kind` named `name`.
pub fn parse_value(name: &str, kind: OptKind, raw: &str) -> Result<Value, OptsError> {
    match kind {
        OptKind::String => Ok(Value::Str),
        OptKind::Bool => match raw {
            "on" | "yes" | "true" | "y" => Ok(Value::Bool(true)),
            "off" | "no" | "false" | "n" => Ok(Value::Bool(false)),
            _ => Err(OptsError::ExpectsBool(name.to_string())),
        },
        OptKind::Number => match parse_u64(raw) {
            Ok(v) => Ok(Value::Number(v)),
            Err(NumError::OutOfRange) => Err(OptsError::NumberTooLarge {
                name: name.to_string(),
                value: raw.to_string(),
            }),
            Err(NumError::Invalid) => Err(OptsError::ExpectsNumber(name.to_string())),
        },
        OptKind::Size => match parse_size(raw) {
            Ok(v) => Ok(Value::Size(v)),
            Err(NumError::OutOfRange) => Err(OptsError::SizeOutOfRange {
                name: name.to_string(),
                value: raw.to_string(),
            }),
            Err(NumError::Invalid) => Err(OptsError::ExpectsSize(name.to_string())),
        },
    }
}

/// A set of validated options in the order they were given (`QemuOpts`). Repeated
/// names are kept; lookups return the last occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    items: Vec<Opt>,
}

impl Opts {
    /// An empty set.
    pub fn new() -> Opts {
        Opts::default()
    }

    /// Parse `list` against `schema` (`qemu_opts_do_parse`).
    pub fn parse(schema: &[OptDesc], list: &str) -> Result<Opts, OptsError> {
        let mut opts = Opts::new();
        opts.parse_more(schema, list)?;
        Ok(opts)
    }

    /// Parse `list` and add its options after the ones already present. Elements are
    /// validated left to right; on error the elements before the bad one stay added.
    pub fn parse_more(&mut self, schema: &[OptDesc], list: &str) -> Result<(), OptsError> {
        for raw in split(list, None) {
            if raw.name == "id" {
                continue;
            }
            self.set(schema, &raw.name, &raw.value)?;
        }
        Ok(())
    }

    /// Set one option from text (`qemu_opt_set`).
    pub fn set(&mut self, schema: &[OptDesc], name: &str, raw: &str) -> Result<(), OptsError> {
        let desc =
            find_desc(schema, name).ok_or_else(|| OptsError::InvalidParameter(name.to_string()))?;
        let value = parse_value(name, desc.kind, raw)?;
        self.items.push(Opt {
            name: name.to_string(),
            raw: raw.to_string(),
            value,
        });
        Ok(())
    }

    /// Set a size or number option from a value (`qemu_opt_set_number`).
    pub fn set_number(
        &mut self,
        schema: &[OptDesc],
        name: &str,
        value: u64,
    ) -> Result<(), OptsError> {
        let desc =
            find_desc(schema, name).ok_or_else(|| OptsError::InvalidParameter(name.to_string()))?;
        let value = match desc.kind {
            OptKind::Size => Value::Size(value),
            _ => Value::Number(value),
        };
        let raw = match value {
            Value::Size(v) | Value::Number(v) => (v as i64).to_string(),
            _ => String::new(),
        };
        self.items.push(Opt {
            name: name.to_string(),
            raw,
            value,
        });
        Ok(())
    }

    /// Remove every occurrence of `name`; returns the last one (`qemu_opt_get_del`).
    pub fn take(&mut self, name: &str) -> Option<Opt> {
        let last = self.get(name).cloned();
        self.items.retain(|o| o.name != name);
        last
    }

    /// The last occurrence of `name`.
    pub fn get(&self, name: &str) -> Option<&Opt> {
        self.items.iter().rev().find(|o| o.name == name)
    }

    /// The text of `name` as given.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).map(|o| o.raw.as_str())
    }

    /// A bool option, or `default` if absent.
    pub fn get_bool(&self, name: &str, default: bool) -> bool {
        match self.get(name).map(|o| o.value) {
            Some(Value::Bool(b)) => b,
            _ => default,
        }
    }

    /// A size or number option, or `default` if absent.
    pub fn get_u64(&self, name: &str, default: u64) -> u64 {
        match self.get(name).map(|o| o.value) {
            Some(Value::Size(v)) | Some(Value::Number(v)) => v,
            _ => default,
        }
    }

    /// Every option in the order given (duplicates included).
    pub fn iter(&self) -> impl Iterator<Item = &Opt> {
        self.items.iter()
    }

    /// The options as `create` prints them after `Formatting '<file>', fmt=<fmt> `
    /// (`qemu_opts_print(opts, " ")`): in schema order, each option that was given or
    /// has a default; sizes and numbers given by the user as signed 64-bit integers,
    /// strings with `,` doubled, everything else as written.
    pub fn format_line(&self, schema: &[OptDesc]) -> String {
        let mut parts = Vec::new();
        for desc in schema {
            let given = self.get(desc.name);
            let Some(text) = given.map(|o| o.raw.as_str()).or(desc.default) else {
                continue;
            };
            let shown = match (desc.kind, given.map(|o| o.value)) {
                (OptKind::String, _) => text.replace(',', ",,"),
                (_, Some(Value::Size(v))) | (_, Some(Value::Number(v))) => (v as i64).to_string(),
                _ => text.to_string(),
            };
            parts.push(format!("{}={}", desc.name, shown));
        }
        parts.join(" ")
    }
}

/// The option list as `-o help` prints it (`qemu_opts_print_help`): one line per
/// option, `  name=<type>`, padded to 24 columns, then ` - help`; sorted bytewise.
/// Each line ends with a newline; an empty schema yields `No options.`.
pub fn render_help(schema: &[OptDesc]) -> String {
    let mut lines: Vec<String> = schema
        .iter()
        .map(|d| {
            let mut line = format!("  {}=<{}>", d.name, d.kind.help_name());
            if let Some(help) = d.help {
                while line.len() < 24 {
                    line.push(' ');
                }
                line.push_str(" - ");
                line.push_str(help);
            }
            line
        })
        .collect();
    if lines.is_empty() {
        return "No options.\n".to_string();
    }
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create_opts;

    fn qcow2() -> Vec<OptDesc> {
        create_opts::create_schema_with_protocol("qcow2").unwrap()
    }

    fn err(schema: &[OptDesc], list: &str) -> String {
        Opts::parse(schema, list).unwrap_err().to_string()
    }

    /// Messages from `qemu-img create -f qcow2 -o LIST /nonexist/x 1M` (10.0.2), after
    /// the `qemu-img: /nonexist/x: ` prefix.
    #[test]
    fn qcow2_errors_match_qemu_img() {
        let s = qcow2();
        assert_eq!(
            err(&s, "lazy_refcounts=bogus"),
            "Parameter 'lazy_refcounts' expects 'on' or 'off'"
        );
        assert_eq!(
            err(&s, "lazy_refcounts=ON"),
            "Parameter 'lazy_refcounts' expects 'on' or 'off'"
        );
        assert_eq!(
            err(&s, "lazy_refcounts="),
            "Parameter 'lazy_refcounts' expects 'on' or 'off'"
        );
        assert_eq!(
            err(&s, "refcount_bits=abc"),
            "Parameter 'refcount_bits' expects a number"
        );
        assert_eq!(
            err(&s, "refcount_bits="),
            "Parameter 'refcount_bits' expects a number"
        );
        assert_eq!(
            err(&s, "refcount_bits=99999999999999999999"),
            "Value '99999999999999999999' is too large for parameter 'refcount_bits'"
        );
        assert_eq!(
            err(&s, "cluster_size=20E"),
            "Value '20E' is out of range for parameter 'cluster_size'"
        );
        assert_eq!(
            err(&s, "cluster_size=-1"),
            "Value '-1' is out of range for parameter 'cluster_size'"
        );
        assert_eq!(
            err(&s, "cluster_size=abc"),
            "Parameter 'cluster_size' expects a non-negative number below 2^64\n\
             Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\
             and exabytes, respectively."
        );
        assert_eq!(
            err(&s, "cluster_size=bad,cluster_size=64k"),
            "Parameter 'cluster_size' expects a non-negative number below 2^64\n\
             Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\
             and exabytes, respectively."
        );
        assert_eq!(err(&s, "foo"), "Invalid parameter 'foo'");
        assert_eq!(err(&s, "nofoo"), "Invalid parameter 'foo'");
        assert_eq!(err(&s, "foo=1"), "Invalid parameter 'foo'");
        assert_eq!(err(&s, "=5"), "Invalid parameter ''");
        assert_eq!(
            err(&s, "Lazy_refcounts=on"),
            "Invalid parameter 'Lazy_refcounts'"
        );
        assert_eq!(
            err(&s, "size="),
            OptsError::ExpectsSize("size".into()).to_string()
        );
        // `-o help` is only special where qemu-img looks for it (measure does not).
        assert_eq!(err(&s, "help"), "Invalid parameter 'help'");
        let raw = create_opts::create_schema_with_protocol("raw").unwrap();
        assert_eq!(err(&raw, "nocow"), "Invalid parameter 'cow'");
    }

    /// `Formatting` lines printed by `qemu-img create` (10.0.2) for these `-o` values.
    #[test]
    fn format_lines_match_qemu_img() {
        let s = qcow2();
        let line = |list: &str| {
            let mut o = Opts::parse(&s, list).unwrap();
            if o.get("size").is_none() {
                o.set_number(&s, "size", 1048576).unwrap();
            }
            o.format_line(&s)
        };
        let dflt = "cluster_size=65536 extended_l2=off compression_type=zlib size=1048576 lazy_refcounts=off refcount_bits=16";
        assert_eq!(line(""), dflt);
        assert_eq!(line("id=foo"), dflt);
        assert_eq!(
            line("lazy_refcounts=yes,backing_file=a,,b,backing_fmt=qcow2"),
            "cluster_size=65536 extended_l2=off compression_type=zlib size=1048576 backing_file=a,,b backing_fmt=qcow2 lazy_refcounts=yes refcount_bits=16"
        );
        assert_eq!(
            line("lazy_refcounts"),
            dflt.replace("lazy_refcounts=off", "lazy_refcounts=on")
        );
        assert_eq!(line("nolazy_refcounts"), dflt);
        assert_eq!(
            line("refcount_bits=-1"),
            dflt.replace("refcount_bits=16", "refcount_bits=-1")
        );
        assert_eq!(line("refcount_bits=0x10"), dflt);
        assert_eq!(
            line("refcount_bits=010"),
            dflt.replace("refcount_bits=16", "refcount_bits=8")
        );
        assert_eq!(
            line("cluster_size=4k,cluster_size=8k"),
            dflt.replace("65536", "8192")
        );
        assert_eq!(
            line("size=8E"),
            dflt.replace("size=1048576", "size=-9223372036854775808")
        );
        assert_eq!(
            line("compat=1.1,,"),
            "cluster_size=65536 extended_l2=off compression_type=zlib size=1048576 compat=1.1,, lazy_refcounts=off refcount_bits=16"
        );
        assert_eq!(
            line("lazy_refcounts=true,extended_l2=no"),
            "cluster_size=65536 extended_l2=no compression_type=zlib size=1048576 lazy_refcounts=true refcount_bits=16"
        );
        assert_eq!(
            line("encryption=off,encrypt.format=luks,encrypt.key-secret=s,encrypt.cipher-alg=a,encrypt.cipher-mode=m,encrypt.ivgen-alg=i,encrypt.ivgen-hash-alg=h,encrypt.hash-alg=h2,encrypt.iter-time=5,cluster_size=4k,extended_l2=on,preallocation=off,compression_type=zlib,size=1M,compat=1.1,backing_file=b,backing_fmt=f,data_file=d,data_file_raw=on,lazy_refcounts=on,refcount_bits=16,nocow=on,extent_size_hint=1M"),
            "encryption=off encrypt.format=luks encrypt.key-secret=s encrypt.cipher-alg=a encrypt.cipher-mode=m encrypt.ivgen-alg=i encrypt.ivgen-hash-alg=h encrypt.hash-alg=h2 encrypt.iter-time=5 cluster_size=4096 extended_l2=on preallocation=off compression_type=zlib size=1048576 compat=1.1 backing_file=b backing_fmt=f data_file=d data_file_raw=on lazy_refcounts=on refcount_bits=16 nocow=on extent_size_hint=1048576"
        );
    }

    #[test]
    fn option_lists_join_like_qemu_img() {
        assert!(!is_valid_option_list(""));
        assert!(!is_valid_option_list(","));
        assert!(!is_valid_option_list(",a"));
        assert!(!is_valid_option_list("a,"));
        assert!(is_valid_option_list("a,,"));
        assert!(!is_valid_option_list("a,,,"));
        let mut acc = None;
        accumulate(&mut acc, "compat=1.1").unwrap();
        accumulate(&mut acc, "lazy_refcounts=on").unwrap();
        assert_eq!(acc.as_deref(), Some("compat=1.1,lazy_refcounts=on"));
        assert_eq!(
            accumulate(&mut acc, "a,").unwrap_err().to_string(),
            "Invalid option list: a,"
        );
    }

    #[test]
    fn help_detection_matches_qemu_img() {
        // `qemu-img create -o LIST x`: these print the option list ...
        for list in [
            "help",
            "?",
            "backing_file=b,help",
            "help,,",
            "a,,help",
            "compat=1.1,?",
        ] {
            assert!(has_help_option(list), "{list}");
        }
        // ... and these do not.
        for list in ["a=help", "nohelp", "helpx", "size=1M"] {
            assert!(!has_help_option(list), "{list}");
        }
    }

    #[test]
    fn split_handles_escapes_flags_and_implied_keys() {
        let v = split("a=x,,y,b,noc,=d,e=", None);
        let names: Vec<_> = v
            .iter()
            .map(|o| (o.name.as_str(), o.value.as_str(), o.form))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a", "x,y", RawForm::KeyValue),
                ("b", "on", RawForm::Flag),
                ("c", "off", RawForm::NegatedFlag),
                ("", "d", RawForm::KeyValue),
                ("e", "", RawForm::KeyValue),
            ]
        );
        let v = split("foo,,bar,events=x", Some("enable"));
        assert_eq!(v[0].name, "enable");
        assert_eq!(v[0].value, "foo,bar");
        assert_eq!(v[0].form, RawForm::Implied);
        assert_eq!(v[1].name, "events");
    }

    /// `qemu-img create -f raw -o help x` (10.0.2).
    #[test]
    fn raw_help_matches_qemu_img() {
        let raw = create_opts::create_schema_with_protocol("raw").unwrap();
        assert_eq!(
            render_help(&raw),
            "  extent_size_hint=<size> - Extent size hint for the image file, 0 to disable\n\
             \x20 nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)\n\
             \x20 preallocation=<str>    - Preallocation mode (allowed values: off, falloc, full)\n\
             \x20 size=<size>            - Virtual disk size\n"
        );
    }

    #[test]
    fn typed_getters() {
        let s = qcow2();
        let mut o = Opts::parse(
            &s,
            "cluster_size=2M,lazy_refcounts,compat=v3,refcount_bits=64",
        )
        .unwrap();
        assert_eq!(o.get_u64("cluster_size", 0), 2 << 20);
        assert!(o.get_bool("lazy_refcounts", false));
        assert!(!o.get_bool("extended_l2", false));
        assert_eq!(o.get_str("compat"), Some("v3"));
        assert_eq!(o.get_u64("refcount_bits", 16), 64);
        assert_eq!(o.take("compat").map(|x| x.raw), Some("v3".into()));
        assert_eq!(o.get("compat"), None);
    }
}
