//! `qemu-img map [-f FMT | --image-opts] [--start-offset OFF] [--max-length LEN] [-U]
//! [--output human|json] [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (`-s`/`-l` are sizes: `Invalid
//! start offset specified...`, `Invalid max length specified...`); exactly one
//! operand; `--image-opts` with `-f`.

use std::ffi::OsString;

use super::ctx::{lossy, os, val, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OutputFormat, UsageError};

/// Arguments of `map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// The image.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-s`/`--start-offset`: first guest offset (default 0).
    pub start_offset: u64,
    /// `-l`/`--max-length`: bytes to map from the start offset (default: to the end).
    pub max_length: Option<u64>,
    /// `-U`.
    pub force_share: bool,
    /// `--output`.
    pub output: OutputFormat,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let (mut image_opts, mut force_share) = (false, false);
    let (mut start_offset, mut max_length) = (0, None);
    let mut output = OutputFormat::Human;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "start-offset" => start_offset = ctx.size("start offset", &val(v))?,
            "max-length" => max_length = Some(ctx.size("max length", &val(v))?),
            "force-share" => force_share = true,
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
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Map(Map {
        filename: os(filename),
        format,
        image_opts,
        start_offset,
        max_length,
        force_share,
        output,
        objects,
    })))
}
