//! `qemu-img compare [-f FMT] [-F FMT] [--image-opts] [-s] [-T CACHE] [-U] [-p] [-q]
//! [--object OBJ] FILE1 FILE2`.
//!
//! Checks, in qemu-img's order: options as scanned; exactly two operands (`Expecting
//! two image file names`, status 1); the cache mode (`Invalid source cache option: X`,
//! status **2**); `--image-opts` with `-f` (status 2; with `-F` only, qemu-img opens
//! FILE1 first, so that case is left to the caller). With `-p` (and no `-q`) those
//! status-2 errors come after a newline on stdout, where qemu-img ends its progress
//! output.

use std::ffi::OsString;

use super::ctx::{lossy, os, progress_ended, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// Arguments of `compare`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// First image.
    pub filename1: OsString,
    /// Second image.
    pub filename2: OsString,
    /// `-f`/`--a-format`: format of the first image.
    pub format1: Option<String>,
    /// `-F`/`--b-format`: format of the second image.
    pub format2: Option<String>,
    /// `--image-opts`: both names are option strings.
    pub image_opts: bool,
    /// `-s`: sizes and allocation must match too.
    pub strict: bool,
    /// `-T`: cache mode (validated; default `writeback`).
    pub cache: String,
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
    let (mut format1, mut format2) = (None, None);
    let mut cache = "writeback".to_string();
    let (mut image_opts, mut strict, mut force_share, mut progress, mut quiet) =
        (false, false, false, false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "a-format" => format1 = v.map(|v| lossy(&v)),
            "b-format" => format2 = v.map(|v| lossy(&v)),
            "strict" => strict = true,
            "cache" => cache = lossy(&val(v)),
            "force-share" => force_share = true,
            "progress" => progress = true,
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
    let Ok([filename1, filename2]) = <[Vec<u8>; 2]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting two image file names"));
    };
    let ctx2 = ctx.with_pending_stdout(progress_ended(progress, quiet));
    if !valid_cache_mode(&cache) {
        return Err(ctx2.error_code(format!("Invalid source cache option: {cache}"), 2));
    }
    ctx2.image_opts_check(image_opts, &format1, 2)?;
    Ok(Invocation::Command(Command::Compare(Compare {
        filename1: os(filename1),
        filename2: os(filename2),
        format1,
        format2,
        image_opts,
        strict,
        cache,
        force_share,
        progress,
        quiet,
        objects,
    })))
}
