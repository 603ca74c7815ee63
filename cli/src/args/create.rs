//! `qemu-img create [-f FMT] [-o OPTIONS] [-b BACKING [-F FMT]] [-u] [-q]
//! [--object OBJ] FILE [SIZE]`.
//!
//! Checks, in qemu-img's order: options as scanned (each `-o` must be joinable:
//! `Invalid option list: X`); `-o help` anywhere prints the option list
//! ([`super::OptionsHelpKind::Create`], FILE optional); FILE present (`Expecting image
//! file name`, with the `Try` line); SIZE a size in 0..=2^63-1 (`Invalid image size
//! specified: 'X'.` or `... Must be between 0 and 9223372036854775807.`); nothing
//! after SIZE (`Unexpected argument: X`, with the `Try` line). The `-o` options
//! themselves are validated later, against the format's schema.

use std::ffi::OsString;

use qimg_runtime::opts::{accumulate, has_help_option};

use super::ctx::{lossy, os, val, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OptionsHelp, OptionsHelpKind, UsageError};

/// Arguments of `create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    /// The image to create.
    pub filename: OsString,
    /// The size operand; `None` takes the backing file's size.
    pub size: Option<u64>,
    /// `-f` (default `raw`).
    pub format: String,
    /// The joined `-o` option strings, unvalidated.
    pub options: Option<String>,
    /// `-b`: backing file (same as `-o backing_file=`).
    pub backing: Option<OsString>,
    /// `-F`: backing file format.
    pub backing_format: Option<String>,
    /// `-u`: do not open the backing file.
    pub backing_unsafe: bool,
    /// `-q`: no `Formatting` line.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = "raw".to_string();
    let (mut options, mut backing, mut backing_format) = (None, None, None);
    let (mut backing_unsafe, mut quiet) = (false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = lossy(&val(v)),
            "options" => accumulate(&mut options, &lossy(&val(v))).map_err(|e| ctx.error(e))?,
            "backing" => backing = Some(os(val(v))),
            "backing-format" => backing_format = v.map(|v| lossy(&v)),
            "backing-unsafe" => backing_unsafe = true,
            "quiet" => quiet = true,
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let mut operands = g.into_operands().into_iter();
    let filename = operands.next();
    if options.as_deref().is_some_and(has_help_option) {
        return Ok(Invocation::Command(Command::OptionsHelp(OptionsHelp {
            kind: OptionsHelpKind::Create,
            format,
            filename: filename.map(os),
        })));
    }
    let Some(filename) = filename else {
        return Err(ctx.error_exit("Expecting image file name"));
    };
    let size = match operands.next() {
        Some(s) => Some(ctx.size("image size", &s)?),
        None => None,
    };
    if let Some(extra) = operands.next() {
        return Err(ctx.error_exit(format!("Unexpected argument: {}", lossy(&extra))));
    }
    Ok(Invocation::Command(Command::Create(Create {
        filename: os(filename),
        size,
        format,
        options,
        backing,
        backing_format,
        backing_unsafe,
        quiet,
        objects,
    })))
}
