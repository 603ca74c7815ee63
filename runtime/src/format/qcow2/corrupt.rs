//! The dirty and corrupt bits as qemu handles them: a corruption found at
//! run time marks a writable image corrupt (and stops all further use of
//! it), a read-only one is only reported; a dirty image opened for writing
//! is repaired first; deferred refcounts set the dirty bit, a clean close
//! clears it.

use super::header;
use super::meta::Meta;
use super::Qcow2;
use crate::check::Repair;
use crate::diag;
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::Ordering;

impl Qcow2 {
    /// Rewrites cluster 0 from `meta.header` (qemu's `qcow2_update_header`).
    pub(super) fn update_header(&self, meta: &mut Meta) -> Result<()> {
        header::write_cluster0(meta, &self.ext, self.backing.as_ref().map(|b| b.filename.as_str()))
    }

    /// Whether a fatal corruption made the image unusable.
    pub(super) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Reports a corruption as qemu's `qcow2_signal_corruption` does: once;
    /// on a writable image `fatal` ones also set the corrupt bit and make
    /// the image unusable.
    pub(super) fn signal_corruption(&self, meta: &mut Meta, fatal: bool, message: &str) {
        let fatal = fatal && self.storage.is_writable();
        let reported = self.corruption_reported.load(Ordering::SeqCst);
        if reported && (!fatal || meta.header.incompatible_features.corrupt()) {
            return;
        }
        if fatal {
            diag::plain(&format!(
                "qcow2: Marking image as corrupt: {message}; further corruption events will be suppressed"
            ));
            meta.header.incompatible_features.set_corrupt(true);
            let _ = self.update_header(meta);
            self.broken.store(true, Ordering::SeqCst);
        } else {
            diag::plain(&format!(
                "qcow2: Image is corrupt: {message}; further non-fatal corruption events will be suppressed"
            ));
        }
        self.corruption_reported.store(true, Ordering::SeqCst);
    }

    /// Turns an error standing for a corruption event into the I/O error the
    /// request fails with, signalling the corruption first.
    pub(super) fn corruption(&self, meta: &mut Meta, e: Error) -> Error {
        if e.kind != ErrorKind::Corrupt {
            return e;
        }
        self.signal_corruption(meta, true, &e.message);
        Error::errno(libc::EIO)
    }

    /// Repairs an image left dirty, as qemu does when it opens one for
    /// writing (the findings go to [`diag`]).
    pub(super) fn repair_if_dirty(&self) -> Result<()> {
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        if !meta.header.incompatible_features.dirty() {
            return Ok(());
        }
        let outcome = self.check_locked(&mut meta, Some(Repair::All));
        let errno = match outcome {
            Ok(r) if r.check_errors == 0 => return Ok(()),
            Ok(_) => libc::EIO,
            Err(e) => e.errno.unwrap_or(libc::EIO),
        };
        Err(Error::errno_with(errno, "Could not repair dirty image"))
    }

    /// What closing the image does (qemu's `qcow2_inactivate`): the
    /// persistent bitmaps stored, cached metadata written back and, if both
    /// worked, the dirty bit cleared. A broken image is left alone.
    pub(super) fn inactivate(&self) -> Result<()> {
        if self.is_broken() {
            return Ok(());
        }
        let stored = self.store_bitmaps().map_err(|e| {
            e.prefix(format!("Lost persistent bitmaps during inactivation of node '{}'", crate::bitmap::node_name()))
                .with_errno(libc::EINVAL)
        });
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        meta.flush()?;
        stored?;
        if self.storage.is_writable() && meta.header.incompatible_features.dirty() {
            meta.header.incompatible_features.set_dirty(false);
            self.update_header(&mut meta)?;
        }
        Ok(())
    }
}
