//! Changing the backing file a qcow2 image names (`rebase`): one rewrite of
//! cluster 0 with the new name and backing format extension.

use super::header::write_cluster0;
use super::Qcow2;
use crate::error::{Error, Result};
use crate::image::{resolve_backing, BackingRef};

/// The longest backing file name qemu stores.
const MAX_BACKING_NAME: usize = 1023;

impl Qcow2 {
    /// Stores `name` (or no backing file) and `format` in the header, after
    /// everything written so far is durable, so that a crash leaves either
    /// the old reference over complete data or the new one. On failure the
    /// image keeps its old reference.
    pub(super) fn set_backing_file(&mut self, name: Option<&str>, format: Option<&str>) -> Result<()> {
        if name.is_some_and(|n| n.len() > MAX_BACKING_NAME) {
            return Err(Error::errno(libc::EINVAL));
        }
        super::Image::flush(self)?;
        let mut ext = self.ext.clone();
        ext.backing_format = name.and(format).map(str::to_string);
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        let saved = meta.header.clone();
        meta.header.prepare_for_write();
        if let Err(e) = write_cluster0(meta, &ext, name) {
            meta.header = saved;
            return Err(e);
        }
        self.header = meta.header.clone();
        self.ext = ext;
        self.backing = name.map(|n| BackingRef {
            filename: n.to_string(),
            full_filename: resolve_backing(self.storage.name(), n),
            format: self.ext.backing_format.clone(),
        });
        Ok(())
    }
}
