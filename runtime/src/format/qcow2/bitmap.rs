//! The persistent dirty bitmap directory.

use crate::error::{Error, Result};
use crate::info::BitmapInfo;
use crate::storage::Storage;
use qimg_formats::qcow2::{BitmapDirectoryEntry, BitmapsExtension};

/// Reads the bitmap directory named by the extension.
pub fn read_directory(storage: &Storage, ext: &BitmapsExtension) -> Result<Vec<BitmapDirectoryEntry>> {
    let mut dir = vec![0u8; ext.bitmap_directory_size as usize];
    storage.read_zero_padded(&mut dir, ext.bitmap_directory_offset)?;
    let entries = qimg_formats::rt::read_sequence::<BitmapDirectoryEntry>(&dir, ext.nb_bitmaps as u64)
        .map_err(|e| Error::corrupt(e.message()).prefix("Failed to read bitmap directory"))?;
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// What `info` shows of a bitmap.
pub fn info(e: &BitmapDirectoryEntry) -> BitmapInfo {
    BitmapInfo {
        name: String::from_utf8_lossy(&e.name).into_owned(),
        granularity: 1u64 << e.granularity_bits,
        in_use: e.flags.in_use(),
        auto: e.flags.auto(),
    }
}
