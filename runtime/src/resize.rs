//! `resize`: the new size from the request and qemu-img's checks on it,
//! then the format-neutral part of qemu's truncate (whether a backing file
//! would show through the new area) before the format's own resize.

use crate::error::{Error, Result};
use crate::format::qcow2::create::Prealloc;
use crate::image::Image;

/// The size operand of `resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChange {
    /// `SIZE`.
    To(u64),
    /// `+SIZE`.
    Grow(u64),
    /// `-SIZE`.
    Shrink(u64),
}

/// Why qemu-img refuses a size before touching the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The result is zero or negative.
    NotPositive,
    /// Preallocation with a size that does not grow the image.
    PreallocNotGrowing,
    /// A smaller size without `--shrink` (qemu adds a warning).
    NeedsShrink,
}

impl Refusal {
    /// qemu-img's error message.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotPositive => "New image size must be positive",
            Refusal::PreallocNotGrowing => "Preallocation can only be used for growing images",
            Refusal::NeedsShrink => "Use the --shrink option to perform a shrink operation.",
        }
    }

    /// The warning qemu-img prints after the message, if any.
    pub fn warning(self) -> Option<&'static str> {
        (self == Refusal::NeedsShrink).then_some(
            "Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an \
             operation, make sure there is no important data there.",
        )
    }
}

/// The new size for an image of `current` bytes, with qemu-img's checks in
/// its order (its arithmetic is signed 64-bit, and so is this).
pub fn target_size(current: u64, change: SizeChange, prealloc: Prealloc, shrink: bool) -> std::result::Result<u64, Refusal> {
    let current = current as i64;
    let total = match change {
        SizeChange::To(n) => n as i64,
        SizeChange::Grow(n) => current.wrapping_add(n as i64),
        SizeChange::Shrink(n) => current.wrapping_sub(n as i64),
    };
    if total <= 0 {
        return Err(Refusal::NotPositive);
    }
    if total <= current && prealloc != Prealloc::Off {
        return Err(Refusal::PreallocNotGrowing);
    }
    if total < current && !shrink {
        return Err(Refusal::NeedsShrink);
    }
    Ok(total as u64)
}

/// Resizes an open image to `size` bytes (qemu's `bdrv_co_truncate`): when
/// the image grows over a backing file longer than its old size, the format
/// is told to make the new area read as zeros.
pub fn truncate(image: &mut dyn Image, size: u64, prealloc: Prealloc, warn: &mut dyn FnMut(String)) -> Result<()> {
    if size > i64::MAX as u64 {
        return Err(Error::invalid("Image size cannot be negative").with_errno(libc::EINVAL));
    }
    let old = image.virtual_size();
    let zero_new = size > old && image.backing_image().is_some_and(|b| b.virtual_size() > old);
    image.resize(size, prealloc, zero_new, warn)
}
