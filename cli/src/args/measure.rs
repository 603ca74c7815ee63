//! `qemu-img measure [-O FMT] [-o OPTIONS] [--output human|json] (--size SIZE |
//! [-f FMT | --image-opts] [-l SNAP] [-U] [--object OBJ] FILE)`.
//!
//! Checks, in qemu-img's order (all without the `Try` line except `--output`):
//! options as scanned (`--size` is a size: `Invalid image size specified...`; `-o`
//! joinable; `-l` as for convert); at most one operand (`At most one filename argument
//! is allowed.`); `--image-opts`, `-f` and `-l` need FILE; `--size` excludes FILE;
//! one of them is required; `--image-opts` with `-f`. measure has no `-s` and no
//! special `-o help` (`help` is then an invalid parameter of the target format).

use std::ffi::OsString;

use qimg_runtime::opts::accumulate;

use super::convert::{snapshot_param, SnapshotParam};
use super::ctx::{lossy, os, val, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OutputFormat, UsageError};

/// Arguments of `measure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measure {
    /// The image to measure the conversion of (exclusive with `size`).
    pub filename: Option<OsString>,
    /// `--size`: measure a new empty image of this size.
    pub size: Option<u64>,
    /// `-f`: format of `filename`; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-l`: internal snapshot of `filename`.
    pub snapshot: Option<SnapshotParam>,
    /// `-O`: target format (default `raw`).
    pub target_format: String,
    /// The joined `-o` option strings, unvalidated.
    pub options: Option<String>,
    /// `-U`.
    pub force_share: bool,
    /// `--output`.
    pub output: OutputFormat,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let (mut format, mut snapshot, mut options, mut size) = (None, None, None, None);
    let mut target_format = "raw".to_string();
    let (mut image_opts, mut force_share) = (false, false);
    let mut output = OutputFormat::Human;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "snapshot" => snapshot = Some(snapshot_param(ctx, &val(v))?),
            "target-format" => target_format = lossy(&val(v)),
            "options" => accumulate(&mut options, &lossy(&val(v))).map_err(|e| ctx.error(e))?,
            "force-share" => force_share = true,
            "image-opts" => image_opts = true,
            "output" => output = ctx.output_format(&val(v))?,
            "size" => size = Some(ctx.size("image size", &val(v))?),
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let mut operands = g.into_operands();
    if operands.len() > 1 {
        return Err(ctx.error("At most one filename argument is allowed."));
    }
    let filename = operands.pop();
    if filename.is_none() && (image_opts || format.is_some() || snapshot.is_some()) {
        return Err(ctx.error("--image-opts, -f, and -l require a filename argument."));
    }
    if filename.is_some() && size.is_some() {
        return Err(ctx.error("--size N cannot be used together with a filename."));
    }
    if filename.is_none() && size.is_none() {
        return Err(ctx.error("Either --size N or one filename must be specified."));
    }
    if filename.is_some() {
        ctx.image_opts_check(image_opts, &format, 1)?;
    }
    Ok(Invocation::Command(Command::Measure(Measure {
        filename: filename.map(os),
        size,
        format,
        image_opts,
        snapshot,
        target_format,
        options,
        force_share,
        output,
        objects,
    })))
}
