//! Checking the refcount table's entries and counting the refcount blocks
//! (qemu's `check_refblocks`); with `-r all`, a block past the end of the
//! file gets the file grown to hold it.

use super::imrt::Imrt;
use super::{say, Checker};
use crate::check::{CheckResult, Repair};
use crate::error::{strerror, Error, Result};
use qimg_formats::qcow2::RefcountTableEntry;

impl Checker<'_> {
    /// Checks every refcount table entry and counts the blocks they name;
    /// sets `rebuild` when the refcount structure cannot be trusted.
    pub(super) fn check_refblocks(
        &mut self,
        imrt: &mut Imrt,
        res: &mut CheckResult,
        fix: Option<Repair>,
        rebuild: &mut bool,
    ) -> Result<()> {
        let cs = self.cluster_size();
        for i in 0..self.reftable.len() {
            let entry = RefcountTableEntry::from_raw(self.reftable[i]);
            let offset = entry.block_offset();
            let cluster = offset >> self.cluster_bits();
            if entry.reserved_bits() != 0 {
                say(format!("ERROR refcount table entry {i} has reserved bits set"));
                res.corruptions += 1;
                *rebuild = true;
                continue;
            }
            if !offset.is_multiple_of(cs) {
                say(format!("ERROR refcount block {i} is not cluster aligned; refcount table entry corrupted"));
                res.corruptions += 1;
                *rebuild = true;
                continue;
            }
            if cluster >= imrt.len() {
                res.corruptions += 1;
                let repair = fix.is_some_and(Repair::errors);
                say(format!("{} refcount block {i} is outside image", if repair { "Repairing" } else { "ERROR" }));
                if repair {
                    match self.grow_file_for(imrt, offset) {
                        Ok(()) => {
                            res.corruptions -= 1;
                            res.corruptions_fixed += 1;
                            self.inc(imrt, res, offset, cs as i64)?;
                        }
                        Err(Grow::Fatal(e)) => {
                            res.check_errors += 1;
                            return Err(e);
                        }
                        Err(Grow::Failed(errno)) => {
                            *rebuild = true;
                            say(format!("ERROR could not resize image: {}", strerror(errno)));
                        }
                    }
                }
                continue;
            }
            if offset != 0 {
                self.inc(imrt, res, offset, cs as i64)?;
                let count = imrt.get(cluster);
                if count != 1 {
                    say(format!("ERROR refcount block {i} refcount={count}"));
                    res.corruptions += 1;
                    *rebuild = true;
                }
            }
        }
        Ok(())
    }

    /// Grows the image file to end with the cluster at `offset`, and the
    /// counts with it.
    fn grow_file_for(&mut self, imrt: &mut Imrt, offset: u64) -> std::result::Result<(), Grow> {
        let cs = self.cluster_size();
        if offset > i64::MAX as u64 - cs {
            return Err(Grow::Failed(libc::EINVAL));
        }
        if let Err(e) = self.q.storage.set_len(offset + cs) {
            crate::diag::report(&format!("Could not resize file: {}", e.message));
            return Err(Grow::Failed(e.errno.unwrap_or(libc::EIO)));
        }
        self.refresh_file_len().map_err(|e| Grow::Failed(e.errno.unwrap_or(libc::EIO)))?;
        imrt.resize(self.file_len.div_ceil(cs)).map_err(Grow::Fatal)?;
        if offset >> self.cluster_bits() >= imrt.len() {
            return Err(Grow::Failed(libc::EINVAL));
        }
        Ok(())
    }
}

/// Why a file could not be grown.
enum Grow {
    /// The check cannot go on.
    Fatal(Error),
    /// The block stays outside; the refcounts must be rebuilt.
    Failed(i32),
}
