//! `qemu-img bitmap (--add | --remove | --clear | --enable | --disable | --merge SRC)...
//! [-g SIZE] [-b SRC_FILE [-F SRC_FMT]] [-f FMT | --image-opts] [--object OBJ] FILE
//! BITMAP`.
//!
//! Checks, in qemu-img's order (all without the `Try` line): options as scanned (`-g`
//! is a size); at least one action; `-g` only with `--add` (a granularity of 0 counts
//! as none); `-F` only with `-b`; `-b` only with `--merge`; exactly two operands
//! (`Expecting filename and bitmap name`); `--image-opts` with `-f`.

use std::ffi::OsString;

use super::ctx::{lossy, os, val, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// One bitmap operation; they run in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitmapAction {
    /// `--add`.
    Add,
    /// `--remove`.
    Remove,
    /// `--clear`.
    Clear,
    /// `--enable`.
    Enable,
    /// `--disable`.
    Disable,
    /// `--merge SOURCE`: merge bitmap SOURCE (of `-b` or of the image itself).
    Merge(String),
}

/// Arguments of `bitmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    /// The image.
    pub filename: OsString,
    /// The bitmap name.
    pub bitmap: String,
    /// The operations, in order (at least one).
    pub actions: Vec<BitmapAction>,
    /// `-g`: granularity for `--add`; 0 means the default.
    pub granularity: u64,
    /// `-b`: image holding the `--merge` sources.
    pub source_file: Option<OsString>,
    /// `-F`: its format.
    pub source_format: Option<String>,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let (mut format, mut source_file, mut source_format) = (None, None, None);
    let mut actions = Vec::new();
    let mut granularity = 0;
    let mut image_opts = false;
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = v.map(|v| lossy(&v)),
            "granularity" => granularity = ctx.size("granularity", &val(v))?,
            "source-file" => source_file = Some(os(val(v))),
            "source-format" => source_format = v.map(|v| lossy(&v)),
            "image-opts" => image_opts = true,
            "add" => actions.push(BitmapAction::Add),
            "remove" => actions.push(BitmapAction::Remove),
            "clear" => actions.push(BitmapAction::Clear),
            "enable" => actions.push(BitmapAction::Enable),
            "disable" => actions.push(BitmapAction::Disable),
            "merge" => actions.push(BitmapAction::Merge(lossy(&val(v)))),
            "object" => {
                if let Some(help) = ctx.push_object(v, &mut objects)? {
                    return Ok(help);
                }
            }
            other => unhandled(other),
        }
    }
    if actions.is_empty() {
        return Err(ctx.error(
            "Need at least one of --add, --remove, --clear, --enable, --disable, or --merge",
        ));
    }
    if granularity != 0 && !actions.contains(&BitmapAction::Add) {
        return Err(ctx.error("granularity only supported with --add"));
    }
    if source_format.is_some() && source_file.is_none() {
        return Err(ctx.error("-F only supported with -b"));
    }
    if source_file.is_some() && !actions.iter().any(|a| matches!(a, BitmapAction::Merge(_))) {
        return Err(ctx.error("Merge bitmap source file only supported with --merge"));
    }
    let Ok([filename, bitmap]) = <[Vec<u8>; 2]>::try_from(g.into_operands()) else {
        return Err(ctx.error("Expecting filename and bitmap name"));
    };
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Bitmap(Bitmap {
        filename: os(filename),
        bitmap: lossy(&bitmap),
        actions,
        granularity,
        source_file,
        source_format,
        format,
        image_opts,
        objects,
    })))
}
