//! `qemu-img rebase [-f FMT | --image-opts] [-t CACHE] [-T CACHE] [-p] [-q] [-U] [-u]
//! [-c] -b BACKING [-F FMT] [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned; exactly one operand; `-b` or `-u`
//! (`Must specify backing file (-b) or use unsafe mode (-u)`, with the `Try` line).
//! qemu-img then starts progress reporting (with `-p`, `    (0.00/100%)\r` is on
//! stdout, followed by a newline when it fails), and checks the cache modes (`Invalid
//! cache option: X`, `Invalid source cache option: X`) and `--image-opts` with `-f`.

use std::ffi::OsString;

use super::ctx::{lossy, os, progress_started, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// Arguments of `rebase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebase {
    /// The overlay.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-t`: cache mode of the overlay (validated; default `writeback`).
    pub cache: String,
    /// `-T`: cache mode of the backing files (validated; default `writeback`).
    pub backing_cache: String,
    /// `-b`: the new backing file; `Some("")` removes the backing file.
    pub backing: Option<OsString>,
    /// `-F`: the new backing file's format.
    pub backing_format: Option<String>,
    /// `-u`: only rewrite the reference.
    pub unsafe_mode: bool,
    /// `-c`: compress copied clusters.
    pub compress: bool,
    /// `-U`.
    pub force_share: bool,
    /// `-p` (off when `-q`).
    pub progress: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let (mut format, mut backing, mut backing_format) = (None, None, None);
    let (mut cache, mut backing_cache) = ("writeback".to_string(), "writeback".to_string());
    let (mut image_opts, mut unsafe_mode, mut compress) = (false, false, false);
    let (mut force_share, mut progress, mut quiet) = (false, false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "cache" => cache = lossy(&val(v)),
            "backing" => backing = Some(os(val(v))),
            "backing-format" => backing_format = v.map(|v| lossy(&v)),
            "backing-unsafe" => unsafe_mode = true,
            "compress" => compress = true,
            "force-share" => force_share = true,
            "progress" => progress = true,
            "backing-cache" => backing_cache = lossy(&val(v)),
            "quiet" => quiet = true,
            "image-opts" => image_opts = true,
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    if quiet {
        progress = false;
    }
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting one image file name"));
    };
    if !unsafe_mode && backing.is_none() {
        return Err(ctx.error_exit("Must specify backing file (-b) or use unsafe mode (-u)"));
    }
    let ctx = ctx.with_pending_stdout(progress_started(progress, quiet));
    if !valid_cache_mode(&cache) {
        return Err(ctx.error(format!("Invalid cache option: {cache}")));
    }
    if !valid_cache_mode(&backing_cache) {
        return Err(ctx.error(format!("Invalid source cache option: {backing_cache}")));
    }
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Rebase(Rebase {
        filename: os(filename),
        format,
        image_opts,
        cache,
        backing_cache,
        backing,
        backing_format,
        unsafe_mode,
        compress,
        force_share,
        progress,
        quiet,
        objects,
    })))
}
