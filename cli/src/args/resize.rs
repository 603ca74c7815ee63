//! `qemu-img resize [-f FMT | --image-opts] [--preallocation MODE] [--shrink] [-q]
//! [--object OBJ] FILE [+|-]SIZE`.
//!
//! resize scans its arguments in order (getopt's `-` mode) so that a negative SIZE can
//! follow FILE: right after FILE, an argument that starts with `-` and a digit is
//! taken as SIZE (`resize f -1G`). Elsewhere `-1G` is an option cluster (`invalid
//! option -- '1'`); `--` also works (`resize f -- -1G`).
//!
//! Checks, in qemu-img's order: options as scanned (`Invalid preallocation mode 'X'`;
//! a third operand is `Extra argument(s) in command line` with the `Try` line); FILE
//! and SIZE present and nothing after them (`Expecting image file name and size`, with
//! the `Try` line); SIZE without its sign parsed as a size option (`Value '20E' is out
//! of range for parameter 'size'`, or the three-line `Parameter 'size' expects a
//! non-negative number below 2^64` message); `--image-opts` with `-f`.

use std::ffi::OsString;

use qimg_runtime::opts::{parse_value, OptKind, Value};

use super::ctx::{lossy, os, val, Ctx};
use super::scan::{unhandled, Found};
use super::{Command, Invocation, ObjectDef, UsageError};

/// The requested size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeSize {
    /// `SIZE`: the new virtual size.
    Absolute(u64),
    /// `+SIZE`: grow by this much.
    Grow(u64),
    /// `-SIZE`: shrink by this much.
    Shrink(u64),
}

/// Arguments of `resize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resize {
    /// The image.
    pub filename: OsString,
    /// The size operand.
    pub size: ResizeSize,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `--preallocation`: `off`, `metadata`, `falloc` or `full` (validated).
    pub preallocation: Option<String>,
    /// `--shrink`: allow a smaller size.
    pub shrink: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let mut preallocation = None;
    let (mut image_opts, mut shrink, mut quiet) = (false, false, false);
    let (mut filename, mut size): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some(ev) = g.next() {
        let (opt, v) = match ev.map_err(|e| ctx.getopt_error(e))? {
            Found::Operand(arg) => {
                if filename.is_none() {
                    filename = Some(arg);
                    if let Some(next) = g.peek() {
                        if next.first() == Some(&b'-')
                            && next.get(1).is_some_and(u8::is_ascii_digit)
                        {
                            size = Some(next.to_vec());
                            g.skip();
                        }
                    }
                } else if size.is_none() {
                    size = Some(arg);
                } else {
                    return Err(ctx.error_exit("Extra argument(s) in command line"));
                }
                continue;
            }
            Found::Opt(opt, v) => (opt, v),
        };
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "quiet" => quiet = true,
            "image-opts" => image_opts = true,
            "shrink" => shrink = true,
            "preallocation" => {
                let mode = lossy(&val(v));
                if !matches!(mode.as_str(), "off" | "metadata" | "falloc" | "full") {
                    return Err(ctx.error(format!("Invalid preallocation mode '{mode}'")));
                }
                preallocation = Some(mode);
            }
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let mut rest = g.into_operands().into_iter();
    if filename.is_none() {
        filename = rest.next();
    }
    if size.is_none() {
        size = rest.next();
    }
    let (Some(filename), Some(size), None) = (filename, size, rest.next()) else {
        return Err(ctx.error_exit("Expecting image file name and size"));
    };
    let size = parse_size(ctx, &size)?;
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Resize(Resize {
        filename: os(filename),
        size,
        format,
        image_opts,
        preallocation,
        shrink,
        quiet,
        objects,
    })))
}

/// `[+|-]SIZE`, the number parsed like the `size` option of `-o`.
fn parse_size(ctx: &Ctx, arg: &[u8]) -> Result<ResizeSize, UsageError> {
    let (kind, digits): (fn(u64) -> ResizeSize, &[u8]) = match arg.first() {
        Some(b'+') => (ResizeSize::Grow, &arg[1..]),
        Some(b'-') => (ResizeSize::Shrink, &arg[1..]),
        _ => (ResizeSize::Absolute, arg),
    };
    match parse_value("size", OptKind::Size, &lossy(digits)) {
        Ok(Value::Size(n)) => Ok(kind(n)),
        Ok(_) => Ok(kind(0)),
        Err(e) => Err(ctx.error(e)),
    }
}
