//! `qemu-img commit [-f FMT | --image-opts] [-t CACHE] [-b BASE] [-d] [-r RATE] [-p]
//! [-q] [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (`-r` is a size: `Invalid rate
//! limit specified...`); exactly one operand; the cache mode (`Invalid cache option:
//! X`); `--image-opts` with `-f`.

use std::ffi::OsString;

use super::ctx::{lossy, os, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// Arguments of `commit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The overlay whose data is committed.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-t`: cache mode (validated; default `writeback`).
    pub cache: String,
    /// `-b`: commit into this image of the backing chain instead of the immediate
    /// backing file.
    pub base: Option<OsString>,
    /// `-d` (also implied by `-b`): keep the overlay's data.
    pub drop: bool,
    /// `-r`: bytes per second, 0 for no limit.
    pub rate_limit: u64,
    /// `-p` (off when `-q`).
    pub progress: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let mut cache = "writeback".to_string();
    let mut base = None;
    let (mut image_opts, mut drop, mut progress, mut quiet) = (false, false, false, false);
    let mut rate_limit = 0;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "cache" => cache = lossy(&val(v)),
            "drop" => drop = true,
            "base" => {
                base = Some(os(val(v)));
                drop = true;
            }
            "rate" => rate_limit = ctx.size("rate limit", &val(v))?,
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
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting one image file name"));
    };
    if !valid_cache_mode(&cache) {
        return Err(ctx.error(format!("Invalid cache option: {cache}")));
    }
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Commit(Commit {
        filename: os(filename),
        format,
        image_opts,
        cache,
        base,
        drop,
        rate_limit,
        progress,
        quiet,
        objects,
    })))
}
