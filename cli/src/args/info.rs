//! `qemu-img info [-f FMT | --image-opts] [-b] [-U] [--output human|json]
//! [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned; exactly one operand
//! (`Expecting one image file name`, with the `Try` line); `--image-opts` with `-f`.

use std::ffi::OsString;

use super::ctx::{lossy, os, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OutputFormat, UsageError};

/// Arguments of `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The image (an option string with `image_opts`).
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`: `filename` is a `key=value,...` option string.
    pub image_opts: bool,
    /// `-b`/`--backing-chain`: describe every image of the chain.
    pub backing_chain: bool,
    /// `-U`/`--force-share`: open without taking locks.
    pub force_share: bool,
    /// `--output`.
    pub output: OutputFormat,
    /// `--object` definitions, in order.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let (mut image_opts, mut backing_chain, mut force_share) = (false, false, false);
    let mut output = OutputFormat::Human;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "backing-chain" => backing_chain = true,
            "force-share" => force_share = true,
            "image-opts" => image_opts = true,
            "output" => output = ctx.output_format(&v.unwrap_or_default())?,
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
    Ok(Invocation::Command(Command::Info(Info {
        filename: os(filename),
        format,
        image_opts,
        backing_chain,
        force_share,
        output,
        objects,
    })))
}
