//! Comparing the counted references with the refcounts on disk, and
//! repairing the differences the repair mode allows (qemu's
//! `compare_refcounts`).

use super::imrt::Imrt;
use super::{say, Checker};
use crate::check::{CheckResult, Repair};
use crate::error::{Error, ErrorKind, Result};

impl Checker<'_> {
    /// The refcount of cluster `index` as the image says it; an unaligned
    /// refcount block is a corruption event.
    pub(super) fn disk_refcount(&mut self, index: u64) -> Result<u64> {
        match self.meta.refcount(index) {
            Err(e) if e.kind == ErrorKind::Corrupt => {
                self.q.signal_corruption(self.meta, true, &e.message);
                Err(Error::errno(libc::EIO))
            }
            r => r,
        }
    }

    /// Compares every cluster's counted references (`imrt`) with its refcount
    /// and repairs what `fix` allows; sets `rebuild` when a used cluster has
    /// no refcount at all. Returns the index of the last cluster in use.
    pub(super) fn compare_refcounts(
        &mut self,
        res: &mut CheckResult,
        fix: Option<Repair>,
        rebuild: &mut bool,
        imrt: &Imrt,
    ) -> u64 {
        let n = imrt.len();
        let bits = self.meta.geom.refblock_bits;
        let mut highest = 0;
        let mut i = 0;
        while i < n {
            // Skip what neither the disk nor the counts can have in use.
            let block = i >> bits;
            let on_disk = self.meta.reftable.get(block as usize).copied();
            if on_disk.unwrap_or(0) == 0 {
                let end = if on_disk.is_none() { n } else { ((block + 1) << bits).min(n) };
                match imrt.next_used(i, end) {
                    Some(j) => i = j,
                    None => {
                        i = end;
                        continue;
                    }
                }
            }
            self.compare_one(res, fix, rebuild, imrt, i, &mut highest);
            i += 1;
        }
        highest
    }

    fn compare_one(
        &mut self,
        res: &mut CheckResult,
        fix: Option<Repair>,
        rebuild: &mut bool,
        imrt: &Imrt,
        i: u64,
        highest: &mut u64,
    ) {
        let on_disk = match self.disk_refcount(i) {
            Ok(r) => r,
            Err(e) => {
                say(format!("Can't get refcount for cluster {i}: {}", e.message));
                res.check_errors += 1;
                return;
            }
        };
        let counted = imrt.get(i);
        if on_disk > 0 || counted > 0 {
            *highest = i;
        }
        if on_disk == counted {
            return;
        }
        #[derive(PartialEq)]
        enum Fixed {
            No,
            Leak,
            Corruption,
        }
        let mut fixed = Fixed::No;
        if on_disk == 0 {
            *rebuild = true;
        } else if on_disk > counted && fix.is_some() {
            fixed = Fixed::Leak;
        } else if on_disk < counted && fix.is_some_and(Repair::errors) {
            fixed = Fixed::Corruption;
        }
        let what = if fixed != Fixed::No {
            "Repairing"
        } else if on_disk < counted {
            "ERROR"
        } else {
            "Leaked"
        };
        say(format!("{what} cluster {i} refcount={on_disk} reference={counted}"));
        if fixed != Fixed::No && self.set_refcount(i, on_disk, counted).is_ok() {
            match fixed {
                Fixed::Leak => res.leaks_fixed += 1,
                _ => res.corruptions_fixed += 1,
            }
            return;
        }
        if on_disk < counted {
            res.corruptions += 1;
        } else {
            res.leaks += 1;
        }
    }

    /// Changes the refcount of cluster `i` from `from` to `to`; a cluster
    /// left unused is discarded from the file, as qemu does.
    fn set_refcount(&mut self, i: u64, from: u64, to: u64) -> Result<()> {
        let cb = self.cluster_bits();
        let addend = i64::try_from(to as i128 - from as i128).map_err(|_| Error::errno(libc::EINVAL))?;
        super::super::meta::settle(self.meta.update_refcount(i << cb, 1, addend))?;
        if to == 0 {
            let _ = self.q.storage.punch_hole(i << cb, self.cluster_size());
        }
        Ok(())
    }
}
