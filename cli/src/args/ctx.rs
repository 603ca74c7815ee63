//! What every command parser shares: the program name as qemu-img prints it, the
//! error shapes, and option values parsed the same way everywhere.

use std::ffi::OsString;
use std::fmt::Display;
use std::os::unix::ffi::OsStringExt;

use qimg_runtime::units::{cvtnum, CvtError, NumKind};

use super::getopt::GetoptError;
use super::object::{parse_object, ObjectArg, ObjectDef};
use super::scan::{self, Found, Scan};
use super::{help, Invocation, OutputFormat, UsageError};

/// An option (clap arg id) and its value, as [`Ctx::next_opt`] returns them.
pub type OptArg = (&'static str, Option<Vec<u8>>);

/// How the running command names itself in messages.
///
/// qemu-img prints `argv[0]` verbatim in getopt errors and in the `Try '... --help'`
/// line, but only its base name as the prefix of other errors (`error_report`):
/// `/usr/bin/qemu-img info -z` gives `/usr/bin/qemu-img info: invalid option -- 'z'`
/// and `Try '/usr/bin/qemu-img info --help' for more info`, while
/// `Expecting one image file name` is prefixed `qemu-img: `.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `argv[0]` as given.
    pub argv0: String,
    /// Base name of `argv[0]`.
    pub prog: String,
    /// The command name (`info`), empty while parsing the global options.
    pub cmd: &'static str,
    /// Whether `POSIXLY_CORRECT` is set (no option permutation).
    pub posixly_correct: bool,
    /// Text qemu-img would already have written to stdout when an error is reported
    /// (a progress line); attached to errors made through this context.
    pub pending_stdout: String,
}

impl Ctx {
    /// The same context with text already on stdout for errors made through it.
    pub fn with_pending_stdout(&self, stdout: String) -> Ctx {
        Ctx {
            pending_stdout: stdout,
            ..self.clone()
        }
    }

    /// getopt's program name: `argv[0]`, plus the command once one is selected.
    fn getopt_name(&self) -> String {
        if self.cmd.is_empty() {
            self.argv0.clone()
        } else {
            format!("{} {}", self.argv0, self.cmd)
        }
    }

    fn try_line(&self) -> String {
        format!("Try '{} --help' for more info\n", self.getopt_name())
    }

    fn usage_error(&self, message: String, code: i32) -> UsageError {
        UsageError {
            message,
            code,
            stdout: self.pending_stdout.clone(),
        }
    }

    /// A scanner for this command's options, as declared in [`decl`](super::decl).
    pub fn getopt<'a>(&self, args: &'a [Vec<u8>]) -> Scan<'a> {
        Scan::new(args, scan::table(self.cmd), self.posixly_correct)
    }

    /// The next option (clap arg id and value) from `g`, `None` at the end of the
    /// options. Errors come back as the usage error qemu-img prints.
    pub fn next_opt(&self, g: &mut Scan<'_>) -> Result<Option<OptArg>, UsageError> {
        loop {
            match g.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(self.getopt_error(e)),
                Some(Ok(Found::Opt(id, v))) => return Ok(Some((id, v))),
                Some(Ok(Found::Operand(_))) => continue,
            }
        }
    }

    /// This command's help screen.
    pub fn help(&self) -> Invocation {
        Invocation::Help(help::command(&self.prog, self.cmd))
    }

    /// Handle `--object VALUE`: add the object to `objects`, or return the help
    /// invocation it asked for.
    pub fn push_object(
        &self,
        value: Option<Vec<u8>>,
        objects: &mut Vec<ObjectDef>,
    ) -> Result<Option<Invocation>, UsageError> {
        match self.object(&val(value))? {
            Ok(def) => {
                if objects.iter().any(|o| o.id == def.id) {
                    return Err(self.error(format!(
                        "attempt to add duplicate property '{}' to object (type 'container')",
                        def.id
                    )));
                }
                objects.push(def);
                Ok(None)
            }
            Err(text) => Ok(Some(Invocation::Help(text))),
        }
    }

    /// A getopt error followed by the `Try` line.
    pub fn getopt_error(&self, e: GetoptError) -> UsageError {
        self.usage_error(
            format!("{}\n{}", e.message(&self.getopt_name()), self.try_line()),
            1,
        )
    }

    /// qemu-img's `error_exit`: `prog: msg` and the `Try` line, status 1.
    pub fn error_exit(&self, msg: impl Display) -> UsageError {
        self.usage_error(format!("{}: {msg}\n{}", self.prog, self.try_line()), 1)
    }

    /// qemu-img's `error_report`: `prog: msg`, status 1.
    pub fn error(&self, msg: impl Display) -> UsageError {
        self.error_code(msg, 1)
    }

    /// `prog: msg` with another exit status.
    pub fn error_code(&self, msg: impl Display, code: i32) -> UsageError {
        self.usage_error(format!("{}: {msg}\n", self.prog), code)
    }

    /// Several `error_report` lines, status 1.
    pub fn errors(&self, msgs: &[&dyn Display]) -> UsageError {
        let text: String = msgs
            .iter()
            .map(|m| format!("{}: {m}\n", self.prog))
            .collect();
        self.usage_error(text, 1)
    }

    /// `--output human|json`.
    pub fn output_format(&self, value: &[u8]) -> Result<OutputFormat, UsageError> {
        match value {
            b"human" => Ok(OutputFormat::Human),
            b"json" => Ok(OutputFormat::Json),
            other => Err(self.error_exit(format!(
                "--output expects 'human' or 'json' not '{}'",
                lossy(other)
            ))),
        }
    }

    /// `--object`: `Ok(Err(help))` when the argument asked for help.
    pub fn object(&self, value: &[u8]) -> Result<Result<ObjectDef, String>, UsageError> {
        match parse_object(&lossy(value)) {
            Ok(ObjectArg::Def(d)) => Ok(Ok(d)),
            Ok(ObjectArg::Help(text)) => Ok(Err(text)),
            Err(msg) => Err(self.error(msg)),
        }
    }

    /// A number checked like qemu-img's `cvtnum_full`.
    pub fn number(
        &self,
        what: &str,
        value: &[u8],
        kind: NumKind,
        min: i64,
        max: i64,
    ) -> Result<i64, UsageError> {
        cvtnum(what, &lossy(value), kind, min, max).map_err(|e: CvtError| self.error(e))
    }

    /// A size in `0..=i64::MAX` (qemu-img's `cvtnum`), as `u64`.
    pub fn size(&self, what: &str, value: &[u8]) -> Result<u64, UsageError> {
        self.number(what, value, NumKind::Size, 0, i64::MAX)
            .map(|v| v as u64)
    }

    /// The `--image-opts and --format are mutually exclusive` check qemu-img makes
    /// when it opens an image.
    pub fn image_opts_check(
        &self,
        image_opts: bool,
        format: &Option<String>,
        code: i32,
    ) -> Result<(), UsageError> {
        if image_opts && format.is_some() {
            return Err(self.error_code("--image-opts and --format are mutually exclusive", code));
        }
        Ok(())
    }
}

/// Text of an argument (invalid UTF-8 replaced).
pub fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// An argument as a file name (bytes kept as they are).
pub fn os(v: Vec<u8>) -> OsString {
    OsString::from_vec(v)
}

/// Whether qemu's `bdrv_parse_cache_mode` accepts a cache mode.
pub fn valid_cache_mode(mode: &str) -> bool {
    matches!(
        mode,
        "none" | "off" | "writeback" | "writethrough" | "directsync" | "unsafe"
    )
}

/// The value of an option that requires one (getopt guarantees it).
pub fn val(v: Option<Vec<u8>>) -> Vec<u8> {
    v.unwrap_or_default()
}

/// The progress line qemu-img prints at 0% (and the newline of its end) when a
/// command with `-p` fails after starting progress reporting.
pub fn progress_started(progress: bool, quiet: bool) -> String {
    if progress && !quiet {
        "    (0.00/100%)\r\n".to_string()
    } else {
        String::new()
    }
}

/// The newline qemu-img's progress reporting prints when it ends (`-p` without any
/// progress line yet).
pub fn progress_ended(progress: bool, quiet: bool) -> String {
    if progress && !quiet {
        "\n".to_string()
    } else {
        String::new()
    }
}
