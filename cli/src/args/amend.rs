//! `qemu-img amend -o OPTIONS [-f FMT | --image-opts] [-t CACHE] [--force] [-p] [-q]
//! [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (each `-o` must be joinable:
//! `Invalid option list: X`); at least one `-o` (`Must specify options (-o)`, with the
//! `Try` line); with `-f` and `-o help`, the amend option list is printed
//! ([`super::OptionsHelpKind::Amend`]) whatever the operands; exactly one operand
//! (`Expecting one image file name`, *without* the `Try` line); the cache mode
//! (`Invalid cache option: X`); `--image-opts` with `-f`. With `-p` (and no `-q`) the
//! errors after the `-o` check follow a newline on stdout. Without `-f`, `-o help` is
//! answered once the image is open and its format known.

use std::ffi::OsString;

use qimg_runtime::opts::{accumulate, has_help_option};

use super::ctx::{lossy, os, progress_ended, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OptionsHelp, OptionsHelpKind, UsageError};

/// Arguments of `amend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amend {
    /// The image.
    pub filename: OsString,
    /// The joined `-o` option strings (may contain `help`: then print the amend
    /// options of the image's format instead).
    pub options: String,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-t`: cache mode (validated; default `writeback`).
    pub cache: String,
    /// `--force`: allow unsafe changes.
    pub force: bool,
    /// `-p` (off when `-q`).
    pub progress: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let (mut options, mut format) = (None, None);
    let mut cache = "writeback".to_string();
    let (mut image_opts, mut force, mut progress, mut quiet) = (false, false, false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "options" => accumulate(&mut options, &lossy(&val(v))).map_err(|e| ctx.error(e))?,
            "format" => format = v.map(|v| lossy(&v)),
            "cache" => cache = lossy(&val(v)),
            "progress" => progress = true,
            "quiet" => quiet = true,
            "image-opts" => image_opts = true,
            "force" => force = true,
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let Some(options) = options else {
        return Err(ctx.error_exit("Must specify options (-o)"));
    };
    if quiet {
        progress = false;
    }
    let ctx = ctx.with_pending_stdout(progress_ended(progress, quiet));
    if let Some(fmt) = format.as_ref().filter(|_| has_help_option(&options)) {
        return Ok(Invocation::Command(Command::OptionsHelp(OptionsHelp {
            kind: OptionsHelpKind::Amend,
            format: fmt.clone(),
            filename: None,
        })));
    }
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error("Expecting one image file name"));
    };
    if !valid_cache_mode(&cache) {
        return Err(ctx.error(format!("Invalid cache option: {cache}")));
    }
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Amend(Amend {
        filename: os(filename),
        options,
        format,
        image_opts,
        cache,
        force,
        progress,
        quiet,
        objects,
    })))
}
