//! The actions of `qemu-img bitmap`, with the rules and messages of qemu's
//! `block-dirty-bitmap-*` commands: name and granularity checks, lookups,
//! and the read-only and inconsistency checks, in qemu's order. Errors are
//! returned bare; the caller adds `Operation VERB on bitmap NAME failed: `.

use super::{node_name, BitmapState, BitmapStore};
use crate::error::{Error, Result};
use crate::image::Image;

/// qemu's default granularity when the image has no cluster size.
const DEFAULT_GRANULARITY: u64 = 65536;
/// The default granularity follows the cluster size within these bounds.
const MIN_DEFAULT_GRANULARITY: u64 = 4096;
/// Smallest granularity a bitmap may have.
const MIN_GRANULARITY: u64 = 512;

/// One action on a bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// `--add`: a new persistent, enabled bitmap; `granularity` 0 = default.
    Add { granularity: u64 },
    Remove,
    Clear,
    Enable,
    Disable,
    /// `--merge SOURCE`: the bits of bitmap SOURCE (in the `-b` image, or the
    /// image itself) are added.
    Merge { source: &'a str },
}

impl Action<'_> {
    /// The word qemu-img uses in `Operation VERB on bitmap ... failed`.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Add { .. } => "add",
            Action::Remove => "remove",
            Action::Clear => "clear",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Merge { .. } => "merge",
        }
    }
}

/// Which of qemu's bitmap state checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// Neither read-only nor inconsistent bitmaps.
    Nothing,
    /// Read-only bitmaps are fine, inconsistent ones are not.
    ReadOnly,
    /// Inconsistent bitmaps are fine, read-only ones are not.
    Inconsistent,
}

fn not_found(name: &str) -> Error {
    Error::invalid(format!("Dirty bitmap '{name}' not found"))
}

/// Finds bitmap `name` of `image`.
fn lookup(image: &dyn Image, name: &str) -> Result<BitmapState> {
    image
        .bitmaps()
        .and_then(|s| s.bitmap_list().into_iter().find(|b| b.name == name))
        .ok_or_else(|| not_found(name))
}

fn check(b: &BitmapState, allowed: Allowed) -> Result<()> {
    if b.readonly && allowed != Allowed::ReadOnly {
        return Err(Error::invalid(format!("Bitmap '{}' is readonly and cannot be modified", b.name)));
    }
    if b.inconsistent && allowed != Allowed::Inconsistent {
        return Err(Error::invalid(format!("Bitmap '{}' is inconsistent and cannot be used", b.name))
            .with_hint("Try block-dirty-bitmap-remove to delete this bitmap from disk"));
    }
    Ok(())
}

/// qemu's default check of a bitmap about to be changed (neither read-only
/// nor inconsistent), with its messages.
pub fn check_changeable(b: &BitmapState) -> Result<()> {
    check(b, Allowed::Nothing)
}

/// The store of an image whose bitmap was found (so it has one).
fn store<'a>(image: &'a dyn Image, name: &str) -> Result<&'a dyn BitmapStore> {
    image.bitmaps().ok_or_else(|| not_found(name))
}

/// The granularity qemu picks: the cluster size, within 4 KiB..=64 KiB.
fn default_granularity(image: &dyn Image) -> u64 {
    match image.cluster_size() {
        Some(cs) if cs > 0 => cs.clamp(MIN_DEFAULT_GRANULARITY, DEFAULT_GRANULARITY),
        _ => DEFAULT_GRANULARITY,
    }
}

fn add(image: &dyn Image, name: &str, granularity: u64) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("Bitmap name cannot be empty"));
    }
    let granularity = if granularity != 0 {
        // qemu-img hands the size to a 32-bit parameter.
        let g = granularity as u32 as u64;
        if g < MIN_GRANULARITY || !g.is_power_of_two() {
            return Err(Error::invalid("Granularity must be power of 2 and at least 512"));
        }
        g
    } else {
        default_granularity(image)
    };
    let Some(store) = image.bitmaps() else {
        return Err(Error::errno(libc::ENOTSUP).prefix(format!("Can't store persistent bitmaps to {}", node_name())));
    };
    store.can_store(name, granularity)?;
    if store.bitmap_list().iter().any(|b| b.name == name) {
        return Err(Error::invalid(format!("Bitmap already exists: {name}")));
    }
    store.create(name, granularity)
}

fn merge(image: &dyn Image, name: &str, source_image: &dyn Image, source: &str) -> Result<()> {
    let dst = lookup(image, name)?;
    let src = lookup(source_image, source)?;
    check(&dst, Allowed::Nothing)?;
    check(&src, Allowed::ReadOnly)?;
    if dst.size != src.size {
        return Err(Error::invalid(format!(
            "Bitmaps are of different sizes (destination size is {}, source size is {}) and can't be merged",
            dst.size, src.size
        )));
    }
    let bits = store(source_image, source)?.export(source)?;
    store(image, name)?.merge_into(name, &bits)
}

/// Runs one action on bitmap `name` of `image`; `source_image` holds the
/// bitmaps `--merge` reads (the image itself without `-b`).
pub fn apply(image: &dyn Image, name: &str, action: Action<'_>, source_image: &dyn Image) -> Result<()> {
    match action {
        Action::Add { granularity } => add(image, name, granularity),
        Action::Remove => {
            check(&lookup(image, name)?, Allowed::Inconsistent)?;
            store(image, name)?.remove(name)
        }
        Action::Clear => {
            check(&lookup(image, name)?, Allowed::Nothing)?;
            store(image, name)?.clear(name)
        }
        Action::Enable | Action::Disable => {
            check(&lookup(image, name)?, Allowed::ReadOnly)?;
            store(image, name)?.set_enabled(name, action == Action::Enable)
        }
        Action::Merge { source } => merge(image, name, source_image, source),
    }
}
