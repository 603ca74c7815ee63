//! `qemu-img snapshot [-f FMT | --image-opts] [-l | -a SNAP | -c SNAP | -d SNAP] [-U]
//! [-q] [--object OBJ] FILE`.
//!
//! Checks, in qemu-img's order: options as scanned (a second action is `Cannot mix
//! '-l', '-a', '-c', '-d'` with the `Try` line); exactly one operand; `--image-opts`
//! with `-f`.
//!
//! qemu-img 10.0.2 quirk: the long forms `--apply`, `--create` and `--delete` take
//! *no* value (`--create=x` is `option '--create' doesn't allow an argument`), so they
//! carry no snapshot name ([`SnapshotAction`] holds `None`). qemu-img then reports
//! `Could not apply snapshot '(null)': ...` / `Could not delete snapshot '(null)':
//! snapshot not found` and crashes (SIGSEGV) for `--create`. The declaration gives
//! the long forms args of their own (`apply-unnamed`, ...; see [`decl`](super::decl)).

use std::ffi::OsString;

use super::ctx::{lossy, os, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, UsageError};

/// What `snapshot` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotAction {
    /// `-l` (the default): list snapshots.
    List,
    /// `-a NAME`: revert to a snapshot (matched by id first, then name).
    Apply(Option<String>),
    /// `-c NAME`: create a snapshot.
    Create(Option<String>),
    /// `-d NAME`: delete a snapshot (matched by name).
    Delete(Option<String>),
}

/// Arguments of `snapshot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The image.
    pub filename: OsString,
    /// `-f`: the format; probed when `None`.
    pub format: Option<String>,
    /// `--image-opts`.
    pub image_opts: bool,
    /// The action.
    pub action: SnapshotAction,
    /// `-U`.
    pub force_share: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut format = None;
    let mut action = None;
    let (mut image_opts, mut force_share, mut quiet) = (false, false, false);
    let mut objects = Vec::new();
    let mut g = ctx.getopt(args);
    while let Some((opt, v)) = ctx.next_opt(&mut g)? {
        let name = v.as_deref().map(lossy);
        let act = match opt {
            "list" => Some(SnapshotAction::List),
            "apply" | "apply-unnamed" => Some(SnapshotAction::Apply(name.clone())),
            "create" | "create-unnamed" => Some(SnapshotAction::Create(name.clone())),
            "delete" | "delete-unnamed" => Some(SnapshotAction::Delete(name.clone())),
            _ => None,
        };
        if let Some(act) = act {
            if action.is_some() {
                return Err(ctx.error_exit("Cannot mix '-l', '-a', '-c', '-d'"));
            }
            action = Some(act);
            continue;
        }
        match opt {
            "help" => return Ok(ctx.help()),
            "format" => format = name,
            "force-share" => force_share = true,
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
    let Ok([filename]) = <[Vec<u8>; 1]>::try_from(g.into_operands()) else {
        return Err(ctx.error_exit("Expecting one image file name"));
    };
    ctx.image_opts_check(image_opts, &format, 1)?;
    Ok(Invocation::Command(Command::Snapshot(Snapshot {
        filename: os(filename),
        format,
        image_opts,
        action: action.unwrap_or(SnapshotAction::List),
        force_share,
        quiet,
        objects,
    })))
}
