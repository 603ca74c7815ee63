//! A faithful model of glibc's `getopt_long`, the option scanner qemu-img uses.
//!
//! qemu-img's observable behaviour depends on details no general-purpose argument
//! parser reproduces, so this module implements the algorithm itself:
//!
//! * options are handled strictly left to right, and the caller acts on each one before
//!   the next is scanned (the first error wins, even a value error in an earlier option);
//! * by default non-options are skipped and returned afterwards in their original order
//!   ("permutation"); `+` in front of the short option string stops at the first
//!   non-option, `-` returns non-options in order as they come (`resize` uses this);
//!   the environment variable `POSIXLY_CORRECT` turns permutation off;
//! * `--` ends the options; `-` alone is a non-option;
//! * long options: `--name value`, `--name=value`, exact names win, otherwise any
//!   unambiguous prefix; a prefix matching options that differ is ambiguous and glibc
//!   lists the candidates (those that differ from the first match, in table order);
//! * short options cluster (`-qp`), take an attached value (`-fqcow2`) or the next
//!   argument whatever it looks like (`-f -q` sets the format to `-q`); a negative
//!   number is a cluster of (usually invalid) options.
//!
//! Error messages are glibc's, prefixed with the program name the caller gives.
//!
//! The scanner knows nothing about clap: [`scan`](super::scan) derives its short-option
//! strings and long-option tables from the clap declaration and maps the values it
//! reports back to clap arg ids.

/// Whether a long option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// A flag.
    No,
    /// Requires a value (`--name=value` or `--name value`).
    Required,
}

/// One entry of a long option table. `id` is what the scanner reports: the character
/// of the equivalent short option, or a number from 256 up for long-only options.
#[derive(Debug, Clone, Copy)]
pub struct LongOpt {
    /// Name without the leading `--`.
    pub name: &'static str,
    /// Whether a value is required.
    pub has_arg: HasArg,
    /// Reported option id.
    pub id: u32,
}

/// Shorthand for a [`LongOpt`] table entry.
pub const fn long(name: &'static str, has_arg: HasArg, id: u32) -> LongOpt {
    LongOpt { name, has_arg, id }
}

/// What the scanner found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An option and its value, if it takes one.
    Opt(u32, Option<Vec<u8>>),
    /// A non-option, reported in place (only with a `-` option string).
    NonOpt(Vec<u8>),
}

/// A scanning error; [`GetoptError::message`] renders glibc's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetoptError {
    /// `unrecognized option '--<text>'` (text includes any `=value`).
    Unrecognized(Vec<u8>),
    /// `option '--<text>' is ambiguous; possibilities: '--a' '--b'`.
    Ambiguous(Vec<u8>, Vec<&'static str>),
    /// `option '--<name>' doesn't allow an argument`.
    NoArgAllowed(&'static str),
    /// `option '--<name>' requires an argument`.
    LongNeedsArg(&'static str),
    /// `invalid option -- '<c>'`.
    InvalidShort(u8),
    /// `option requires an argument -- '<c>'`.
    ShortNeedsArg(u8),
}

impl GetoptError {
    /// glibc's message, `<prog>: ...` without the trailing newline.
    pub fn message(&self, prog: &str) -> String {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            GetoptError::Unrecognized(t) => format!("{prog}: unrecognized option '--{}'", s(t)),
            GetoptError::Ambiguous(t, names) => {
                let list: String = names.iter().map(|n| format!(" '--{n}'")).collect();
                format!(
                    "{prog}: option '--{}' is ambiguous; possibilities:{list}",
                    s(t)
                )
            }
            GetoptError::NoArgAllowed(n) => {
                format!("{prog}: option '--{n}' doesn't allow an argument")
            }
            GetoptError::LongNeedsArg(n) => format!("{prog}: option '--{n}' requires an argument"),
            GetoptError::InvalidShort(c) => format!("{prog}: invalid option -- '{}'", s(&[*c])),
            GetoptError::ShortNeedsArg(c) => {
                format!("{prog}: option requires an argument -- '{}'", s(&[*c]))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Permute,
    RequireOrder,
    ReturnInOrder,
}

/// The scanner. Create it, call [`Getopt::next`] until it returns `None` (or an
/// error), then take the non-options from [`Getopt::into_operands`].
pub struct Getopt<'a> {
    args: &'a [Vec<u8>],
    shorts: &'static [u8],
    longs: &'static [LongOpt],
    ordering: Ordering,
    /// Index of the next argument to look at.
    optind: usize,
    /// Position inside a short option cluster (`args[optind][pos]`), if in one.
    cluster: Option<usize>,
    /// Non-options skipped while permuting.
    skipped: Vec<Vec<u8>>,
    done: bool,
}

impl<'a> Getopt<'a> {
    /// A scanner over `args` (without the program name) for the short option string
    /// `shorts` (getopt syntax: `f:` takes a value, a leading `+` or `-` selects the
    /// ordering) and the long option table `longs`. `posixly_correct` mirrors the
    /// environment variable of that name.
    pub fn new(
        args: &'a [Vec<u8>],
        shorts: &'static str,
        longs: &'static [LongOpt],
        posixly_correct: bool,
    ) -> Self {
        let (ordering, shorts) = match shorts.as_bytes() {
            [b'+', rest @ ..] => (Ordering::RequireOrder, rest),
            [b'-', rest @ ..] => (Ordering::ReturnInOrder, rest),
            rest if posixly_correct => (Ordering::RequireOrder, rest),
            rest => (Ordering::Permute, rest),
        };
        Getopt {
            args,
            shorts,
            longs,
            ordering,
            optind: 0,
            cluster: None,
            skipped: Vec::new(),
            done: false,
        }
    }

    /// The argument after the last one consumed, if any (qemu-img's `resize` peeks at
    /// it). Only meaningful between options, not inside a short option cluster.
    pub fn peek(&self) -> Option<&'a [u8]> {
        self.args.get(self.optind).map(|a| a.as_slice())
    }

    /// Consume the argument [`Getopt::peek`] returned.
    pub fn skip(&mut self) {
        if self.optind < self.args.len() {
            self.optind += 1;
        }
    }

    /// The non-options in order: those skipped while permuting, then everything from
    /// the stopping point on (after `--`, or from the first non-option when not
    /// permuting).
    pub fn into_operands(self) -> Vec<Vec<u8>> {
        let mut out = self.skipped;
        out.extend(
            self.args[self.optind.min(self.args.len())..]
                .iter()
                .cloned(),
        );
        out
    }

    /// Whether an argument is an option (starts with `-` and is not just `-`).
    fn is_option(arg: &[u8]) -> bool {
        arg.len() > 1 && arg[0] == b'-'
    }

    /// The next option, `None` when options are exhausted.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Event, GetoptError>> {
        if self.done {
            return None;
        }
        if let Some(pos) = self.cluster {
            return Some(self.short(pos));
        }
        loop {
            let Some(arg) = self.args.get(self.optind) else {
                self.done = true;
                return None;
            };
            if arg.as_slice() == b"--" {
                self.optind += 1;
                self.done = true;
                return None;
            }
            if Self::is_option(arg) {
                break;
            }
            match self.ordering {
                Ordering::Permute => {
                    self.skipped.push(arg.clone());
                    self.optind += 1;
                }
                Ordering::RequireOrder => {
                    self.done = true;
                    return None;
                }
                Ordering::ReturnInOrder => {
                    self.optind += 1;
                    return Some(Ok(Event::NonOpt(arg.clone())));
                }
            }
        }
        let arg = &self.args[self.optind];
        if arg.starts_with(b"--") {
            Some(self.long())
        } else {
            Some(self.short(1))
        }
    }

    fn long(&mut self) -> Result<Event, GetoptError> {
        let arg = &self.args[self.optind];
        self.optind += 1;
        let text = &arg[2..];
        let (name, value) = match text.iter().position(|&b| b == b'=') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let found = match self.longs.iter().find(|o| o.name.as_bytes() == name) {
            Some(exact) => exact,
            None => {
                let mut matches = self
                    .longs
                    .iter()
                    .filter(|o| o.name.as_bytes().starts_with(name));
                let Some(first) = matches.next() else {
                    return Err(GetoptError::Unrecognized(text.to_vec()));
                };
                let differing: Vec<&LongOpt> = matches
                    .filter(|o| o.has_arg != first.has_arg || o.id != first.id)
                    .collect();
                if !differing.is_empty() {
                    // glibc lists the first match and every differing one, in table order.
                    let names = self
                        .longs
                        .iter()
                        .filter(|o| {
                            std::ptr::eq(*o, first)
                                || differing.iter().any(|d| std::ptr::eq(*d, *o))
                        })
                        .map(|o| o.name)
                        .collect();
                    return Err(GetoptError::Ambiguous(text.to_vec(), names));
                }
                first
            }
        };
        match (found.has_arg, value) {
            (HasArg::No, Some(_)) => Err(GetoptError::NoArgAllowed(found.name)),
            (HasArg::No, None) => Ok(Event::Opt(found.id, None)),
            (HasArg::Required, Some(v)) => Ok(Event::Opt(found.id, Some(v.to_vec()))),
            (HasArg::Required, None) => match self.args.get(self.optind) {
                Some(v) => {
                    self.optind += 1;
                    Ok(Event::Opt(found.id, Some(v.clone())))
                }
                None => Err(GetoptError::LongNeedsArg(found.name)),
            },
        }
    }

    fn short(&mut self, pos: usize) -> Result<Event, GetoptError> {
        let arg = &self.args[self.optind];
        let c = arg[pos];
        let at_end = pos + 1 >= arg.len();
        if at_end {
            self.cluster = None;
            self.optind += 1;
        } else {
            self.cluster = Some(pos + 1);
        }
        let spec = self
            .shorts
            .iter()
            .position(|&s| s == c)
            .filter(|_| c != b':' && c != b';');
        let Some(i) = spec else {
            return Err(GetoptError::InvalidShort(c));
        };
        if self.shorts.get(i + 1) != Some(&b':') {
            return Ok(Event::Opt(u32::from(c), None));
        }
        if !at_end {
            self.cluster = None;
            self.optind += 1;
            return Ok(Event::Opt(u32::from(c), Some(arg[pos + 1..].to_vec())));
        }
        match self.args.get(self.optind) {
            Some(v) => {
                self.optind += 1;
                Ok(Event::Opt(u32::from(c), Some(v.clone())))
            }
            None => Err(GetoptError::ShortNeedsArg(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONGS: &[LongOpt] = &[
        long("help", HasArg::No, b'h' as u32),
        long("format", HasArg::Required, b'f' as u32),
        long("output", HasArg::Required, 256),
        long("object", HasArg::Required, 257),
        long("force-share", HasArg::No, b'U' as u32),
        long("source-format", HasArg::Required, b'f' as u32),
    ];

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn scan(shorts: &'static str, v: &[&str]) -> (Vec<Result<Event, String>>, Vec<String>) {
        let a = args(v);
        let mut g = Getopt::new(&a, shorts, LONGS, false);
        let mut evs = Vec::new();
        while let Some(e) = g.next() {
            let stop = e.is_err();
            evs.push(e.map_err(|e| e.message("p")));
            if stop {
                break;
            }
        }
        let ops = g
            .into_operands()
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        (evs, ops)
    }

    fn opt(c: u8, v: Option<&str>) -> Result<Event, String> {
        Ok(Event::Opt(u32::from(c), v.map(|s| s.as_bytes().to_vec())))
    }

    #[test]
    fn permutes_and_clusters() {
        let (evs, ops) = scan(
            "hf:U",
            &["a", "-Uf", "raw", "b", "-fqcow2", "--", "-c", "d"],
        );
        assert_eq!(
            evs,
            vec![
                opt(b'U', None),
                opt(b'f', Some("raw")),
                opt(b'f', Some("qcow2"))
            ]
        );
        assert_eq!(ops, vec!["a", "b", "-c", "d"]);
    }

    #[test]
    fn values_may_look_like_options() {
        let (evs, _) = scan("hf:U", &["-f", "-U", "--format", "--", "--output=", "x"]);
        assert_eq!(
            evs,
            vec![
                opt(b'f', Some("-U")),
                opt(b'f', Some("--")),
                Ok(Event::Opt(256, Some(vec![])))
            ]
        );
    }

    #[test]
    fn long_prefixes_and_ambiguity() {
        let (evs, _) = scan("hf:U", &["--out=json", "--fo"]);
        assert_eq!(evs[0], Ok(Event::Opt(256, Some(b"json".to_vec()))));
        assert_eq!(
            evs[1],
            Err("p: option '--fo' is ambiguous; possibilities: '--format' '--force-share'".into())
        );
        // Options with the same meaning do not make a prefix ambiguous.
        let (evs, _) = scan("hf:U", &["--f=x"]);
        assert_eq!(
            evs[0],
            Err("p: option '--f=x' is ambiguous; possibilities: '--format' '--force-share'".into())
        );
        let (evs, _) = scan("hf:U", &["--so=x"]);
        assert_eq!(evs[0], opt(b'f', Some("x")));
    }

    #[test]
    fn glibc_error_messages() {
        let e = |v: &[&str]| scan("hf:U", v).0.pop().unwrap().unwrap_err();
        assert_eq!(e(&["--bogus=1"]), "p: unrecognized option '--bogus=1'");
        assert_eq!(
            e(&["--help=1"]),
            "p: option '--help' doesn't allow an argument"
        );
        assert_eq!(e(&["--outp"]), "p: option '--output' requires an argument");
        assert_eq!(e(&["-z"]), "p: invalid option -- 'z'");
        assert_eq!(e(&["-1k"]), "p: invalid option -- '1'");
        assert_eq!(e(&["-U:"]), "p: invalid option -- ':'");
        assert_eq!(e(&["-Uf"]), "p: option requires an argument -- 'f'");
    }

    #[test]
    fn orderings() {
        let (evs, ops) = scan("+hf:", &["-h", "info", "-f", "x"]);
        assert_eq!(evs, vec![opt(b'h', None)]);
        assert_eq!(ops, vec!["info", "-f", "x"]);
        let (evs, ops) = scan("-f:", &["a", "-f", "x", "b", "--", "-c"]);
        assert_eq!(
            evs,
            vec![
                Ok(Event::NonOpt(b"a".to_vec())),
                opt(b'f', Some("x")),
                Ok(Event::NonOpt(b"b".to_vec()))
            ]
        );
        assert_eq!(ops, vec!["-c"]);
        let a = args(&["a", "-f", "x"]);
        let mut g = Getopt::new(&a, "f:", LONGS, true);
        assert!(g.next().is_none());
        assert_eq!(g.into_operands().len(), 3);
    }

    #[test]
    fn dash_alone_is_an_operand() {
        let (evs, ops) = scan("hf:U", &["-", "-U"]);
        assert_eq!(evs, vec![opt(b'U', None)]);
        assert_eq!(ops, vec!["-"]);
    }
}
