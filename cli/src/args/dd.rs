//! `qemu-img dd [-f FMT | --image-opts] [-O FMT] [-U] [--object OBJ] [bs=SIZE]
//! [count=N] [skip=N] if=INPUT of=OUTPUT`.
//!
//! Checks, in qemu-img's order (all without the `Try` line): options as scanned; the
//! operands in order: `KEY=VALUE` with KEY one of `bs`, `count`, `if`, `of`, `skip`
//! (else `unrecognized operand KEY`, or the whole operand when it has no `=`); `bs` is
//! a size in 1..=2^31-1, `count` and `skip` are plain integers (no suffixes; `0x` hex
//! and `0` octal work) in 0..=2^63-1; a repeated operand wins; `if` and `of` both
//! given (`Must specify both input and output files`); `--image-opts` with `-f`.

use std::ffi::OsString;

use qimg_runtime::units::NumKind;

use super::ctx::{lossy, os, val, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// Arguments of `dd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dd {
    /// `if=`: the input image.
    pub input: OsString,
    /// `of=`: the output image (always created).
    pub output: OsString,
    /// `-f`: format of the input; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`: `input` is an option string.
    pub image_opts: bool,
    /// `-O`: format of the output (default `raw`).
    pub output_format: String,
    /// `bs=`: block size (default 512).
    pub bs: u32,
    /// `count=`: copy input blocks up to this one (skipped blocks included).
    pub count: Option<u64>,
    /// `skip=`: input blocks to skip (default 0).
    pub skip: u64,
    /// `-U`.
    pub force_share: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let mut output_format = "raw".to_string();
    let (mut image_opts, mut force_share) = (false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "output-format" => output_format = lossy(&val(v)),
            "force-share" => force_share = true,
            "image-opts" => image_opts = true,
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    let (mut input, mut output) = (None, None);
    let (mut bs, mut count, mut skip) = (512, None, 0);
    for operand in g.into_operands() {
        let Some(eq) = operand.iter().position(|&b| b == b'=') else {
            return Err(ctx.error(format!("unrecognized operand {}", lossy(&operand))));
        };
        let (key, value) = (&operand[..eq], operand[eq + 1..].to_vec());
        match key {
            b"bs" => bs = ctx.number("bs", &value, NumKind::Size, 1, i64::from(i32::MAX))? as u32,
            b"count" => {
                count = Some(ctx.number("count", &value, NumKind::Integer, 0, i64::MAX)? as u64)
            }
            b"if" => input = Some(value),
            b"of" => output = Some(value),
            b"skip" => skip = ctx.number("skip", &value, NumKind::Integer, 0, i64::MAX)? as u64,
            _ => return Err(ctx.error(format!("unrecognized operand {}", lossy(key)))),
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        return Err(ctx.error("Must specify both input and output files"));
    };
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Dd(Dd {
        input: os(input),
        output: os(output),
        format,
        image_opts,
        output_format,
        bs,
        count,
        skip,
        force_share,
        objects,
    })))
}
