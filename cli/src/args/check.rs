//! `qemu-img check [-f FMT | --image-opts] [-T CACHE] [-r leaks|all] [-U] [-q]
//! [--output human|json] [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (a bad `-r` is `--repair (-r)
//! expects 'leaks' or 'all' not 'X'` with the `Try` line); exactly one operand; the
//! cache mode (`Invalid source cache option: X`); `--image-opts` with `-f`.
//! (`-U` with `-r` is refused when the image is opened.)

use std::ffi::OsString;

use super::ctx::{lossy, os, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OutputFormat, UsageError};

/// `-r`: what to repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairMode {
    /// `-r leaks`: leaked clusters only.
    Leaks,
    /// `-r all`: leaks and corruptions.
    All,
}

/// Arguments of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The image.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-T`: cache mode (validated; default `writeback`).
    pub cache: String,
    /// `-r`: repair (opens the image read-write).
    pub repair: Option<RepairMode>,
    /// `-U`.
    pub force_share: bool,
    /// `--output`.
    pub output: OutputFormat,
    /// `-q`: no output on stdout.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let mut cache = "writeback".to_string();
    let mut repair = None;
    let (mut image_opts, mut force_share, mut quiet) = (false, false, false);
    let mut output = OutputFormat::Human;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "cache" => cache = lossy(&val(v)),
            "repair" => {
                repair = Some(match val(v).as_slice() {
                    b"leaks" => RepairMode::Leaks,
                    b"all" => RepairMode::All,
                    other => {
                        return Err(ctx.error_exit(format!(
                            "--repair (-r) expects 'leaks' or 'all' not '{}'",
                            lossy(other)
                        )))
                    }
                })
            }
            "force-share" => force_share = true,
            "quiet" => quiet = true,
            "image-opts" => image_opts = true,
            "output" => output = ctx.output_format(&val(v))?,
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting one image file name"));
    };
    if !valid_cache_mode(&cache) {
        return Err(ctx.error(format!("Invalid source cache option: {cache}")));
    }
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Check(Check {
        filename: os(filename),
        format,
        image_opts,
        cache,
        repair,
        force_share,
        output,
        quiet,
        objects,
    })))
}
