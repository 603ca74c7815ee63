//! From the clap declaration to getopt: each command's option tables are derived from
//! its [`decl`] entry, and scanned options are reported by clap arg id.
//!
//! For every arg with a short or long name, in declaration order:
//!
//! * a short name `c` adds `c` to the short-option string, `c:` when the arg's action
//!   takes values;
//! * the long name and then every long alias add a [`LongOpt`] entry, `Required` when
//!   the action takes values;
//! * the arg gets one getopt value, shared by its short and long forms: the short
//!   character, or a number from 256 up for long-only args (as qemu-img's `OPTION_*`
//!   constants). glibc treats two long entries with the same value as one option when
//!   judging abbreviations, which is exactly "two names of one clap arg".
//!
//! The short-option string starts with `+` for a command that requires a subcommand
//! (stop at the first operand, the command name) and with `-` for a command that has
//! an operand allowing negative numbers (operands reported in place, so the parser can
//! tell `resize FILE -1G` from an option cluster).
//!
//! Declarations and tables are built once per process, on first use, and only for the
//! top level and the command being run; the whole tree only for `--help`.

use std::sync::OnceLock;

use clap::Arg;

use super::decl;
use super::getopt::{long, Event, Getopt, GetoptError, HasArg, LongOpt};

/// One command's getopt tables, derived from its clap declaration.
#[derive(Debug)]
pub struct OptionTable {
    /// The getopt short-option string, with its ordering prefix (`+`, `-`) if any.
    pub shorts: String,
    /// The long-option table, in declaration order.
    pub longs: Vec<LongOpt>,
    /// getopt value to clap arg id.
    ids: Vec<(u32, &'static str)>,
}

/// First getopt value of long-only options (above every byte).
const FIRST_LONG_ONLY: u32 = 256;

impl OptionTable {
    /// Derive the tables of `cmd` (see the module documentation).
    pub fn derive(cmd: &'static clap::Command) -> OptionTable {
        let mut shorts = String::new();
        if cmd.is_subcommand_required_set() {
            shorts.push('+');
        } else if cmd
            .get_positionals()
            .any(Arg::is_allow_negative_numbers_set)
        {
            shorts.push('-');
        }
        let (mut longs, mut ids) = (Vec::new(), Vec::new());
        let mut next_long_only = FIRST_LONG_ONLY;
        for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
            let takes_value = arg.get_action().takes_values();
            let val = match arg.get_short() {
                Some(c) => {
                    assert!(
                        c.is_ascii_graphic() && c != '-' && c != ':',
                        "{c:?}: not a getopt option character"
                    );
                    shorts.push(c);
                    if takes_value {
                        shorts.push(':');
                    }
                    u32::from(c)
                }
                None => {
                    next_long_only += 1;
                    next_long_only - 1
                }
            };
            ids.push((val, arg.get_id().as_str()));
            let has_arg = if takes_value {
                HasArg::Required
            } else {
                HasArg::No
            };
            let names = arg
                .get_long()
                .into_iter()
                .chain(arg.get_all_aliases().unwrap_or_default());
            longs.extend(names.map(|name| long(name, has_arg, val)));
        }
        OptionTable { shorts, longs, ids }
    }

    /// The clap arg id of a getopt value this table produced.
    fn id(&self, val: u32) -> &'static str {
        self.ids
            .iter()
            .find(|(v, _)| *v == val)
            .map(|(_, id)| *id)
            .expect("getopt reports only values of its own tables")
    }
}

/// The number of declared commands.
const COMMANDS: usize = decl::COMMANDS.len();

/// The declared name of command `name`, if it is one (qemu-img's command lookup: exact,
/// case-sensitive).
pub fn command_name(name: &[u8]) -> Option<&'static str> {
    decl::COMMANDS
        .iter()
        .map(|&(n, _)| n)
        .find(|n| n.as_bytes() == name)
}

/// The declaration of command `name`, or of the top level for `""`. Each is built on
/// first use: a run needs the top level and one command.
pub fn command(name: &str) -> &'static clap::Command {
    static TOP: OnceLock<clap::Command> = OnceLock::new();
    static DECLS: [OnceLock<clap::Command>; COMMANDS] = [const { OnceLock::new() }; COMMANDS];
    match position(name) {
        None => TOP.get_or_init(decl::top),
        Some(i) => DECLS[i].get_or_init(|| (decl::COMMANDS[i].1)(decl::COMMANDS[i].0)),
    }
}

/// The whole interface, every command included (for the top-level help).
pub fn interface() -> &'static clap::Command {
    static ALL: OnceLock<clap::Command> = OnceLock::new();
    ALL.get_or_init(decl::qimg)
}

/// The option tables of command `name`, or of the top level for `""`.
pub fn table(name: &str) -> &'static OptionTable {
    static TOP: OnceLock<OptionTable> = OnceLock::new();
    static TABLES: [OnceLock<OptionTable>; COMMANDS] = [const { OnceLock::new() }; COMMANDS];
    let slot = match position(name) {
        None => &TOP,
        Some(i) => &TABLES[i],
    };
    slot.get_or_init(|| OptionTable::derive(command(name)))
}

/// Index of `name` in [`decl::COMMANDS`]; `None` for the top level (`""`).
fn position(name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let i = decl::COMMANDS.iter().position(|&(n, _)| n == name);
    Some(i.unwrap_or_else(|| panic!("command '{name}' is not declared")))
}

/// What [`Scan::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An option, by clap arg id, and its value if it takes one.
    Opt(&'static str, Option<Vec<u8>>),
    /// An operand reported in place (only for commands scanned in order).
    Operand(Vec<u8>),
}

/// A getopt scan over one command's arguments that reports clap arg ids.
pub struct Scan<'a> {
    getopt: Getopt<'a>,
    table: &'static OptionTable,
}

impl<'a> Scan<'a> {
    /// Scan `args` with `table`; `posixly_correct` as for [`Getopt::new`].
    pub fn new(args: &'a [Vec<u8>], table: &'static OptionTable, posixly_correct: bool) -> Self {
        Scan {
            getopt: Getopt::new(args, &table.shorts, &table.longs, posixly_correct),
            table,
        }
    }

    /// The next option or in-place operand, `None` at the end of the options.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Found, GetoptError>> {
        Some(self.getopt.next()?.map(|ev| match ev {
            Event::Opt(val, v) => Found::Opt(self.table.id(val), v),
            Event::NonOpt(arg) => Found::Operand(arg),
        }))
    }

    /// See [`Getopt::peek`].
    pub fn peek(&self) -> Option<&'a [u8]> {
        self.getopt.peek()
    }

    /// See [`Getopt::skip`].
    pub fn skip(&mut self) {
        self.getopt.skip()
    }

    /// See [`Getopt::into_operands`].
    pub fn into_operands(self) -> Vec<Vec<u8>> {
        self.getopt.into_operands()
    }
}

/// The fallback arm of a command parser's option match. Every option the declaration
/// gives a command has an arm in its parser (the test `every_declared_option_is_handled`
/// scans each one), so this is unreachable.
#[track_caller]
pub fn unhandled(id: &str) -> ! {
    unreachable!("option '{id}' is declared but its command does not handle it")
}

#[cfg(test)]
mod tests {
    use super::super::{parse_env, Invocation};
    use super::*;
    use std::ffi::{OsStr, OsString};

    /// clap's own consistency checks: unique ids, shorts and longs, operand order.
    #[test]
    fn declaration_is_consistent() {
        super::super::decl::qimg().debug_assert();
    }

    /// The derived tables of a few commands, as qemu-img 10.0.2 has them.
    #[test]
    fn derived_tables() {
        let names = |t: &OptionTable| t.longs.iter().map(|l| l.name).collect::<Vec<_>>();
        assert_eq!(table("").shorts, "+hVT:");
        assert_eq!(names(table("")), ["help", "version", "trace"]);
        assert_eq!(table("info").shorts, "hf:bU");
        assert_eq!(
            names(table("info")),
            [
                "help",
                "format",
                "output",
                "backing-chain",
                "object",
                "image-opts",
                "force-share"
            ]
        );
        assert_eq!(table("resize").shorts, "-hf:q");
        // `-a SNAP` takes a value, `--apply` does not.
        let snapshot = table("snapshot");
        assert_eq!(snapshot.shorts, "hf:la:c:d:Uq");
        let apply = snapshot.longs.iter().find(|l| l.name == "apply").unwrap();
        assert_eq!(apply.has_arg, HasArg::No);
        assert_eq!(snapshot.id(apply.id), "apply-unnamed");
        assert_eq!(snapshot.id(u32::from(b'a')), "apply");
        // Aliases share their arg's value, so an abbreviation is never ambiguous
        // between them.
        let compare = table("compare");
        let val = |n: &str| compare.longs.iter().find(|l| l.name == n).unwrap().id;
        assert_eq!(val("a-format"), val("left-format"));
        assert_eq!(compare.id(val("left-format")), "a-format");
    }

    fn run(args: &[&OsStr]) -> Result<Invocation, super::super::UsageError> {
        let args: Vec<OsString> = args.iter().map(|a| a.to_os_string()).collect();
        parse_env(OsStr::new("qemu-img"), &args, false)
    }

    /// Every command has a parser and every option the declaration gives it, by every
    /// name, reaches an arm of that parser (an unhandled one would panic).
    #[test]
    fn every_declared_option_is_handled() {
        for cmd in interface().get_subcommands() {
            let name = OsStr::new(cmd.get_name());
            assert!(matches!(
                run(&[name, OsStr::new("--help")]),
                Ok(Invocation::Help(_))
            ));
            for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
                let mut spellings: Vec<String> = arg
                    .get_short()
                    .map(|c| format!("-{c}"))
                    .into_iter()
                    .collect();
                let longs = arg
                    .get_long()
                    .into_iter()
                    .chain(arg.get_all_aliases().unwrap_or_default());
                spellings.extend(longs.map(|l| format!("--{l}")));
                for spelling in spellings {
                    let mut args = vec![name, OsStr::new(&spelling)];
                    if arg.get_action().takes_values() {
                        args.push(OsStr::new("1"));
                    }
                    args.push(OsStr::new("file"));
                    let _ = run(&args);
                }
            }
        }
    }

    /// Help screens come from the declaration: usage first, every visible option.
    #[test]
    fn help_screens() {
        let Ok(Invocation::Help(top)) = run(&[OsStr::new("--help")]) else {
            panic!()
        };
        assert!(
            top.starts_with("Usage: qemu-img [-h | -V | -T TRACE] COMMAND"),
            "{top}"
        );
        for cmd in interface().get_subcommands() {
            assert!(
                top.contains(&format!(
                    "\n  {:<10}{}\n",
                    cmd.get_name(),
                    cmd.get_about().unwrap()
                )),
                "{top}"
            );
            let Ok(Invocation::Help(text)) = run(&[OsStr::new(cmd.get_name()), OsStr::new("-h")])
            else {
                panic!("{}", cmd.get_name())
            };
            assert!(
                text.starts_with(&format!("Usage: qemu-img {} ", cmd.get_name())),
                "{text}"
            );
            assert!(
                text.contains(&cmd.get_long_about().unwrap().to_string()),
                "{text}"
            );
            assert!(!text.contains('\x1b') && text.ends_with('\n'), "{text:?}");
            for arg in cmd
                .get_arguments()
                .filter(|a| !a.is_positional() && !a.is_hide_set())
            {
                let shown = match (arg.get_short(), arg.get_long()) {
                    (Some(c), Some(l)) => format!("  -{c}, --{l}"),
                    (Some(c), None) => format!("  -{c}"),
                    (None, Some(l)) => format!("      --{l}"),
                    (None, None) => unreachable!(),
                };
                assert!(text.contains(&shown), "{shown} in {text}");
            }
        }
        let Ok(Invocation::Help(info)) = run(&[OsStr::new("info"), OsStr::new("--help")]) else {
            panic!()
        };
        assert!(
            info.contains("  -U, --force-share    open the image without taking locks\n"),
            "{info}"
        );
    }
}
