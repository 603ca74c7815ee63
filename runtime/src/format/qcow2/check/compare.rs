//! Comparing the counted references with the refcounts on disk, and
//! repairing the differences the repair mode allows (qemu's
//! `compare_refcounts`).

use super::imrt::Imrt;
use super::{say, Checker};
use crate::check::{CheckResult, Repair};
use crate::error::{Error, ErrorKind, Result};
use qimg_formats::qcow2::RefcountBlock;

/// The refcount block a reader looked at last: its index in the refcount
/// table and its contents (`None` where the table names no block).
pub(super) type LastBlock = Option<(usize, Option<Vec<u8>>)>;

impl Checker<'_> {
    /// The refcount of cluster `index` as the image says it, read through
    /// `last` (the refcount block read last, kept for the next call); an
    /// unaligned refcount block is a corruption event.
    pub(super) fn disk_refcount(&mut self, last: &mut LastBlock, index: u64) -> Result<u64> {
        let bits = self.meta.geom.refblock_bits;
        let table_index = (index >> bits) as usize;
        if last.as_ref().map(|l| l.0) != Some(table_index) {
            let block = match self.meta.refcount_block(table_index) {
                Ok(b) => b,
                Err(e) if e.kind == ErrorKind::Corrupt => {
                    self.q.signal_corruption(self.meta, true, &e.message);
                    return Err(Error::errno(libc::EIO));
                }
                Err(e) => return Err(e),
            };
            *last = Some((table_index, block));
        }
        let refcount_bits = 1u32 << self.meta.geom.refcount_order;
        Ok(match last {
            Some((_, Some(b))) => RefcountBlock::get(b, (index & ((1 << bits) - 1)) as usize, refcount_bits).unwrap_or(0),
            _ => 0,
        })
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
        let refcount_bits = 1u32 << self.meta.geom.refcount_order;
        let mut highest = 0;
        let mut i = 0;
        while i < n {
            let block = i >> bits;
            let start = block << bits;
            let end = ((block + 1) << bits).min(n);
            // One read of the block for all its clusters.
            let counts = match self.meta.refcount_block(block as usize) {
                Ok(Some(b)) => Ok(b),
                Ok(None) => {
                    // Nothing on disk: only counted clusters can differ.
                    let to = if block as usize >= self.meta.reftable.len() { n } else { end };
                    match imrt.next_used(i, to) {
                        Some(j) => {
                            self.compare_one(res, fix, rebuild, imrt, j, Ok(0), &mut highest);
                            i = j + 1;
                        }
                        None => i = to,
                    }
                    continue;
                }
                Err(e) if e.kind == ErrorKind::Corrupt => {
                    self.q.signal_corruption(self.meta, true, &e.message);
                    Err(Error::errno(libc::EIO))
                }
                Err(e) => Err(e),
            };
            for c in i..end {
                let on_disk = match &counts {
                    Ok(b) => Ok(RefcountBlock::get(b, (c - start) as usize, refcount_bits).unwrap_or(0)),
                    Err(e) => Err(e.clone()),
                };
                self.compare_one(res, fix, rebuild, imrt, c, on_disk, &mut highest);
            }
            i = end;
        }
        highest
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_one(
        &mut self,
        res: &mut CheckResult,
        fix: Option<Repair>,
        rebuild: &mut bool,
        imrt: &Imrt,
        i: u64,
        on_disk: Result<u64>,
        highest: &mut u64,
    ) {
        let on_disk = match on_disk {
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
