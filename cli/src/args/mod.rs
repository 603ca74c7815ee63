//! Command-line parsing: qemu-img 10.0.2 compatible argument handling.
//!
//! [`parse_with_argv0`] turns `argv` into an [`Invocation`]: help text, the version,
//! or a typed [`Command`] with every value qemu-img checks before it opens an image
//! already parsed (sizes, counts, cache modes, `--output`, `--object`...). Everything
//! qemu-img rejects before touching an image is rejected here, with its exact stderr
//! text, stdout side effects and exit status ([`UsageError`]).
//!
//! # clap declares, the scanner interprets
//!
//! The interface is declared exactly once, as clap [`Command`](clap::Command)s and
//! [`Arg`](clap::Arg)s ([`decl`]): every command, its options (short and long names,
//! whether a value is taken, value names), its operands and all help text. From that
//! declaration:
//!
//! * [`scan`] derives each command's getopt short-option string (`"hf:bU"`) and long
//!   option table at run time, and maps every option the scanner reports back to its
//!   clap arg id, which is what the command parsers match on (`"format"`,
//!   `"force-share"`). There is no second, hand-written option table; a test checks
//!   that every declared option reaches an arm of its command's parser;
//! * [`help`] renders `--help` and `COMMAND --help` with clap, so the help screens list
//!   exactly the options that are accepted.
//!
//! clap's own parser is never run on `argv`. Interpretation is a model of glibc
//! `getopt_long` ([`getopt`]) fed with the derived tables, because qemu-img's
//! behaviour is getopt's, and a general-purpose parser differs from it in ways scripts
//! can observe:
//!
//! * qemu-img acts on each option as soon as it is scanned, so the first problem in
//!   argument order is the one reported, even a bad value before an unknown option;
//!   clap collects everything first and validates afterwards;
//! * glibc accepts any unambiguous abbreviation of a long option (`--out=json`), and
//!   reports ambiguous ones with its list of candidates in table order;
//! * option values are taken whatever they look like (`-f -U` sets the format to
//!   `-U`), short options cluster (`-Uf raw`), operands may come before options
//!   (permutation) unless `POSIXLY_CORRECT` is set, and `resize FILE -1G` is a size
//!   while `-1G` anywhere else is an invalid option cluster;
//! * the messages (`invalid option -- 'z'`, `option '--format' requires an
//!   argument`), the `Try '... --help' for more info` line and the exit status are
//!   glibc's and qemu-img's, byte for byte.
//!
//! The declaration therefore carries getopt's meaning in a few clap properties, listed
//! in [`decl`]: declaration order is long-table order (it decides abbreviations),
//! aliases are extra long names of one option, an operand that allows negative numbers
//! makes a command scan in order. The behaviour is pinned by `tests.rs`, a replay of
//! argument vectors recorded from the real qemu-img (`record/`).
//!
//! Each command module documents qemu-img's checks in the order qemu-img makes them.
//! Values that are not checked before an image is opened stay unvalidated strings
//! (format names, `-o` option strings, target cache modes of `convert`).
//!
//! Help screens (`-h`, `--help`, `COMMAND --help`) are qimg's own prose; only their
//! stream and exit status follow qemu-img. `spec` is a qimg command qemu-img does not
//! have; it is declared and parsed like the others.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

mod amend;
mod bench;
mod bitmap;
mod check;
mod commit;
mod compare;
mod convert;
mod create;
mod ctx;
mod dd;
mod decl;
mod getopt;
mod help;
mod info;
mod map;
mod measure;
mod object;
mod rebase;
mod resize;
mod scan;
mod snapshot;
mod spec;
#[cfg(test)]
mod tests;

pub use amend::Amend;
pub use bench::Bench;
pub use bitmap::{Bitmap, BitmapAction};
pub use check::{Check, RepairMode};
pub use commit::Commit;
pub use compare::Compare;
pub use convert::Convert;
pub use convert::SnapshotParam;
pub use create::Create;
pub use dd::Dd;
pub use info::Info;
pub use map::Map;
pub use measure::Measure;
pub use object::ObjectDef;
pub use rebase::Rebase;
pub use resize::{Resize, ResizeSize};
pub use snapshot::{Snapshot, SnapshotAction};
pub use spec::Spec;

use ctx::{lossy, val, Ctx};
use scan::Found;

/// What qemu-img would do with a command line.
// Built once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Print this text on stdout and exit with status 0 (`--help`, `CMD --help`,
    /// `--object help`).
    Help(String),
    /// Print [`version_text`] on stdout and exit with status 0.
    Version,
    /// Run a command.
    Command(Command),
}

/// A command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `amend`.
    Amend(Amend),
    /// `bench`.
    Bench(Bench),
    /// `bitmap`.
    Bitmap(Bitmap),
    /// `check`.
    Check(Check),
    /// `commit`.
    Commit(Commit),
    /// `compare`.
    Compare(Compare),
    /// `convert`.
    Convert(Convert),
    /// `create`.
    Create(Create),
    /// `dd`.
    Dd(Dd),
    /// `info`.
    Info(Info),
    /// `map`.
    Map(Map),
    /// `measure`.
    Measure(Measure),
    /// `rebase`.
    Rebase(Rebase),
    /// `resize`.
    Resize(Resize),
    /// `snapshot`.
    Snapshot(Snapshot),
    /// `spec` (qimg only): print format layouts.
    Spec(Spec),
    /// `-o help` (or `-o ?`) given to `create`, `convert` or `amend -f FMT`: print a
    /// format's option list instead of running the command.
    OptionsHelp(OptionsHelp),
}

/// An option list to print (see [`Command::OptionsHelp`]).
///
/// For [`OptionsHelpKind::Create`]: an unknown format is `Unknown file format 'FMT'`
/// and a format without create support `Format driver 'FMT' does not support image
/// creation` (status 1). Otherwise, with a file name: `Supported options:` and the
/// format's options plus the file protocol's; without: `Supported FMT options:`, the
/// format's own options, an empty line, `The protocol level may support further
/// options.` and `Specify the target filename to include those options.`
///
/// For [`OptionsHelpKind::Amend`]: `Amend options for 'FMT':` and the list, or
/// `Unknown file format 'FMT'` / `Format driver 'FMT' does not support option
/// amendment` (status 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsHelp {
    /// Which list.
    pub kind: OptionsHelpKind,
    /// The format whose options are wanted.
    pub format: String,
    /// The target file, if one was named (adds the protocol's options).
    pub filename: Option<OsString>,
}

/// Which option list [`OptionsHelp`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsHelpKind {
    /// Create options (`create`, `convert`).
    Create,
    /// Amend options (`amend`).
    Amend,
}

/// `--output human|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// The default text rendering.
    #[default]
    Human,
    /// JSON.
    Json,
}

/// A command line qemu-img rejects before doing any work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// The exact stderr text, newline-terminated (often two lines: the problem and
    /// `Try '... --help' for more info`).
    pub message: String,
    /// The exit status (1, or 2 for some `compare` errors).
    pub code: i32,
    /// Text to write to stdout *before* `message` (usually empty; a progress line
    /// when qemu-img had already started progress reporting).
    pub stdout: String,
}

/// The text for `-V`/`--version`. The first line keeps qemu-img's form, which scripts
/// parse for the version; the second names qimg.
pub fn version_text() -> String {
    format!(
        "qemu-img version 10.0.2 (qimg {})\nqimg: a qemu-img compatible disk image tool\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The name qemu-img puts in front of its error messages: the base name of `argv[0]`.
pub fn prog_name(argv0: &OsStr) -> String {
    let bytes = argv0.as_bytes();
    let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
    lossy(base)
}

/// [`parse_with_argv0`] for a program called `qemu-img`.
#[cfg(test)]
pub fn parse(args: &[OsString]) -> Result<Invocation, UsageError> {
    parse_with_argv0(OsStr::new("qemu-img"), args)
}

/// Parse `args` (without the program name) the way qemu-img 10.0.2 does when run as
/// `argv0`, which appears in messages; the environment variable `POSIXLY_CORRECT`
/// disables option permutation as it does for qemu-img.
pub fn parse_with_argv0(argv0: &OsStr, args: &[OsString]) -> Result<Invocation, UsageError> {
    parse_env(argv0, args, std::env::var_os("POSIXLY_CORRECT").is_some())
}

/// [`parse_with_argv0`] with the environment made explicit.
fn parse_env(
    argv0: &OsStr,
    args: &[OsString],
    posixly_correct: bool,
) -> Result<Invocation, UsageError> {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut ctx = Ctx {
        argv0: lossy(argv0.as_bytes()),
        prog: prog_name(argv0),
        cmd: "",
        posixly_correct,
        pending_stdout: String::new(),
    };

    let mut g = ctx.getopt(&args);
    while let Some(found) = g.next() {
        match found.map_err(|e| ctx.getopt_error(e))? {
            Found::Opt("help", _) => return Ok(Invocation::Help(help::global(&ctx.prog))),
            Found::Opt("version", _) => return Ok(Invocation::Version),
            Found::Opt("trace", v) => check_trace(&ctx, &val(v))?,
            Found::Opt(other, _) => scan::unhandled(other),
            Found::Operand(_) => {}
        }
    }
    let rest = g.into_operands();
    let Some((name, cmd_args)) = rest.split_first() else {
        return Err(ctx.error_exit("Not enough arguments"));
    };
    let Some(cmd) = scan::command_name(name) else {
        return Err(ctx.error_exit(format!("Command not found: {}", lossy(name))));
    };
    ctx.cmd = cmd;
    let parser = match cmd {
        "amend" => amend::parse,
        "bench" => bench::parse,
        "bitmap" => bitmap::parse,
        "check" => check::parse,
        "commit" => commit::parse,
        "compare" => compare::parse,
        "convert" => convert::parse,
        "create" => create::parse,
        "dd" => dd::parse,
        "info" => info::parse,
        "map" => map::parse,
        "measure" => measure::parse,
        "rebase" => rebase::parse,
        "resize" => resize::parse,
        "snapshot" => snapshot::parse,
        "spec" => spec::parse,
        other => panic!("command '{other}' is declared but has no parser"),
    };
    parser(&ctx, cmd_args)
}

/// `-T`/`--trace`: qemu-img parses the trace options at once. qimg has no trace
/// events, so only the syntax is checked (`Invalid parameter 'x'`); qemu-img's
/// warnings about unknown events and `-T help`'s event list are not reproduced.
fn check_trace(ctx: &Ctx, value: &[u8]) -> Result<(), UsageError> {
    use qimg_runtime::opts::{split, RawForm};
    for opt in split(&lossy(value), Some("enable")) {
        let known = matches!(opt.name.as_str(), "enable" | "events" | "file" | "id");
        if !known && opt.form != RawForm::Implied {
            return Err(ctx.error(format!("Invalid parameter '{}'", opt.name)));
        }
    }
    Ok(())
}
