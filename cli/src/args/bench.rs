//! `qemu-img bench [-f FMT | --image-opts] [-t CACHE] [-c COUNT] [-d DEPTH] [-o OFFSET]
//! [-s SIZE] [-S STEP] [-w [--pattern BYTE] [--flush-interval N [--no-drain]]] [-i AIO]
//! [-n] [-U] [-q] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (`Invalid cache mode`, `Invalid
//! aio option: X`, and range checks: count and depth 1..=2^31-1, buffer size
//! 1..=2^31-1, step 0..=2^31-1, pattern 0..=255, flush interval 0..=2^31-1, offset a
//! size); exactly one operand; `--flush-interval is only available in write tests`;
//! `Flush interval can't be smaller than depth`; `--image-opts` with `-f`.
//! bench has no `--object` in qemu-img 10.0.2, and prints its results even with `-q`.

use std::ffi::OsString;

use qimg_runtime::units::NumKind;

use super::ctx::{lossy, os, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, UsageError};

/// Arguments of `bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bench {
    /// The image.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `-t`: cache mode (validated; default `writeback`).
    pub cache: String,
    /// `-c`: number of requests (default 75000).
    pub count: u32,
    /// `-d`: requests in flight (default 64).
    pub depth: u32,
    /// `-o`: offset of the first request (default 0).
    pub offset: u64,
    /// `-s`: bytes per request (default 4096).
    pub buffer_size: u32,
    /// `-S`: offset increment; 0 (the default) means the buffer size.
    pub step_size: u32,
    /// `-w`: write instead of read.
    pub write: bool,
    /// `--pattern`: the byte written (default 0).
    pub pattern: u8,
    /// `--flush-interval`: flush every N requests (0: never).
    pub flush_interval: u32,
    /// `--no-drain` clears this: wait for requests in flight before a flush.
    pub drain_on_flush: bool,
    /// `-n` or `-i native`: native AIO.
    pub native_aio: bool,
    /// `-i io_uring`.
    pub io_uring: bool,
    /// `-U`.
    pub force_share: bool,
    /// `-q` (bench prints its results anyway).
    pub quiet: bool,
}

const INT_MAX: i64 = i32::MAX as i64;

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut b = Bench {
        filename: OsString::new(),
        format: None,
        image_opts: false,
        cache: "writeback".into(),
        count: 75000,
        depth: 64,
        offset: 0,
        buffer_size: 4096,
        step_size: 0,
        write: false,
        pattern: 0,
        flush_interval: 0,
        drain_on_flush: true,
        native_aio: false,
        io_uring: false,
        force_share: false,
        quiet: false,
    };
    let int =
        |what: &str, v: &[u8], min: i64, max: i64| ctx.number(what, v, NumKind::Integer, min, max);
    let size =
        |what: &str, v: &[u8], min: i64, max: i64| ctx.number(what, v, NumKind::Size, min, max);
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        let v = val(v);
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => b.format = Some(lossy(&v)),
            "cache" => {
                b.cache = lossy(&v);
                if !valid_cache_mode(&b.cache) {
                    return Err(ctx.error("Invalid cache mode"));
                }
            }
            "count" => b.count = int("request count", &v, 1, INT_MAX)? as u32,
            "depth" => b.depth = int("queue depth", &v, 1, INT_MAX)? as u32,
            "native" => b.native_aio = true,
            "aio" => match v.as_slice() {
                b"native" => b.native_aio = true,
                b"io_uring" => b.io_uring = true,
                b"threads" => {}
                other => return Err(ctx.error(format!("Invalid aio option: {}", lossy(other)))),
            },
            "offset" => b.offset = ctx.size("offset", &v)?,
            "buffer-size" => b.buffer_size = size("buffer size", &v, 1, INT_MAX)? as u32,
            "step-size" => b.step_size = size("step size", &v, 0, INT_MAX)? as u32,
            "write" => b.write = true,
            "force-share" => b.force_share = true,
            "quiet" => b.quiet = true,
            "image-opts" => b.image_opts = true,
            "pattern" => b.pattern = int("pattern byte", &v, 0, 0xff)? as u8,
            "flush-interval" => b.flush_interval = int("flush interval", &v, 0, INT_MAX)? as u32,
            "no-drain" => b.drain_on_flush = false,
            other => unhandled(other),
        }
    }
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting one image file name"));
    };
    if !b.write && b.flush_interval != 0 {
        return Err(ctx.error("--flush-interval is only available in write tests"));
    }
    if b.flush_interval != 0 && b.flush_interval < b.depth {
        return Err(ctx.error("Flush interval can't be smaller than depth"));
    }
    ctx.image_opts_check(b.image_opts, &b.format, 1)?;
    b.filename = os(filename);
    Ok(Invocation::Command(Command::Bench(b)))
}
