//! Dirty bitmaps as qemu's block layer sees them: named bitmaps attached to
//! an open image, some persistent (stored in the image, qcow2 v3 only).
//!
//! A format that keeps bitmaps implements [`BitmapStore`] and hands it out
//! through [`Image::bitmaps`](crate::image::Image::bitmaps); the generic
//! rules and messages of qemu's bitmap commands (name and granularity
//! checks, lookups, the busy/read-only/inconsistent checks) are in
//! [`command`], so that every format answers as qemu does.

pub mod command;
pub mod dirty;

pub use dirty::{Chunk, DirtyBitmap};

use crate::error::Result;

/// What the block layer knows about one bitmap of an open image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapState {
    pub name: String,
    /// Bytes per bit.
    pub granularity: u64,
    /// Guest bytes covered (the image size when the bitmap was made or loaded).
    pub size: u64,
    /// Tracks guest writes (qcow2's `auto` flag).
    pub enabled: bool,
    /// Not saved cleanly (qcow2 `in-use` when opened): its bits are unknown.
    pub inconsistent: bool,
    /// Stored in the image.
    pub persistent: bool,
    /// The image is open read-only.
    pub readonly: bool,
}

/// Dirty bitmap operations of a format that keeps bitmaps. Names are looked
/// up by the caller ([`command`]) before an operation is asked for.
pub trait BitmapStore {
    /// Every bitmap of the image, in qemu's order.
    fn bitmap_list(&self) -> Vec<BitmapState>;

    /// Whether the image can store persistent bitmaps (what `measure` asks).
    fn supports_persistent(&self) -> bool;

    /// Whether a new persistent bitmap `name` can be stored; qemu's messages.
    fn can_store(&self, name: &str, granularity: u64) -> Result<()>;

    /// Makes a new, empty, enabled persistent bitmap.
    fn create(&self, name: &str, granularity: u64) -> Result<()>;

    /// Deletes a bitmap, from the image too.
    fn remove(&self, name: &str) -> Result<()>;

    /// Clears every bit.
    fn clear(&self, name: &str) -> Result<()>;

    /// Starts or stops tracking guest writes.
    fn set_enabled(&self, name: &str, enabled: bool) -> Result<()>;

    /// A copy of the bits (stored chunks read).
    fn export(&self, name: &str) -> Result<DirtyBitmap>;

    /// Sets every bit of bitmap `name` that meets a set bit of `src`.
    fn merge_into(&self, name: &str, src: &DirtyBitmap) -> Result<()>;

    /// Diagnostics qemu prints on stderr without failing (a failed free of
    /// old bitmap clusters), each with its newline, since the last call.
    fn take_messages(&self) -> Vec<String>;

    /// What a resize of the image must ask first: qemu refuses to resize
    /// while a stored bitmap is inconsistent or read-only.
    fn check_resize(&self) -> Result<()>;

    /// What a resize of the image must do after: every bitmap covers the
    /// new size (bits past it dropped, new ones clear).
    fn resize(&self, size: u64) -> Result<()>;
}

/// The name qemu gives a node the user did not name: `#block`, a counter
/// (1 for the image a command opens first) and two random digits. It shows
/// in some bitmap error messages; tests compare it loosely.
pub fn node_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("#block1{:02}", (nanos / 1000) % 100)
}
