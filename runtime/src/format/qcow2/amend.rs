//! `amend` of a qcow2 image, in qemu's order: the options are read in the
//! order of qemu's amend option list, then the image is upgraded (compat),
//! its refcount width changed, the header rewritten (data file options),
//! the backing file checked, lazy refcounts switched, the size changed, and
//! last the image downgraded. Each step leaves a consistent image behind it.

use super::header::write_cluster0;
use super::prealloc::Prealloc;
use super::Qcow2;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::opts::Opts;
use std::sync::atomic::Ordering;

/// qemu's amend options, in the order its driver reads them.
const OPTION_ORDER: [&str; 13] = [
    "encrypt.state",
    "encrypt.keyslot",
    "encrypt.old-secret",
    "encrypt.new-secret",
    "encrypt.iter-time",
    "size",
    "compat",
    "backing_file",
    "backing_fmt",
    "data_file",
    "data_file_raw",
    "lazy_refcounts",
    "refcount_bits",
];

/// What the options ask for.
#[derive(Debug, Default)]
struct Wanted<'a> {
    version: u32,
    size: u64,
    backing_file: Option<&'a str>,
    backing_format: Option<&'a str>,
    data_file: Option<&'a str>,
    data_file_raw: bool,
    lazy_refcounts: bool,
    refcount_bits: i64,
}

/// The long operations of an amendment, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    None,
    Upgrading,
    ChangingRefcountOrder,
    Downgrading,
}

/// qemu's amend progress helper: each operation reports its own progress,
/// which is turned into progress over all of them, the work of those not
/// yet started projected from those done.
pub(super) struct Progress<'a> {
    report: &'a mut dyn FnMut(u64, u64),
    total_operations: i64,
    pub current: Operation,
    last: Operation,
    operations_completed: i64,
    offset_completed: i64,
    last_work_size: i64,
}

impl<'a> Progress<'a> {
    fn new(report: &'a mut dyn FnMut(u64, u64), total_operations: i64) -> Progress<'a> {
        Progress {
            report,
            total_operations,
            current: Operation::None,
            last: Operation::None,
            operations_completed: 0,
            offset_completed: 0,
            last_work_size: 0,
        }
    }

    /// The current operation did `offset` of its `work_size`.
    pub fn step(&mut self, offset: u64, work_size: u64) {
        let (offset, work_size) = (offset as i64, work_size as i64);
        if self.current != self.last {
            if self.last != Operation::None {
                self.offset_completed += self.last_work_size;
                self.operations_completed += 1;
            }
            self.last = self.current;
        }
        if self.total_operations <= self.operations_completed {
            return;
        }
        self.last_work_size = work_size;
        let current_work = self.offset_completed + work_size;
        let projected = current_work * (self.total_operations - self.operations_completed - 1)
            / (self.operations_completed + 1);
        (self.report)((self.offset_completed + offset) as u64, (current_work + projected) as u64);
    }
}

impl Qcow2 {
    /// Applies amend options (already checked against the amend schema).
    pub(super) fn amend_options(&mut self, opts: &Opts, report: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let old_version = self.header.version;
        let want = self.wanted(opts)?;
        let refcount_bits = 1i64 << self.header.refcount_order;
        let total = (want.version != old_version) as i64 + (want.refcount_bits != refcount_bits) as i64;
        let mut progress = Progress::new(report, total);
        if want.version > old_version {
            progress.current = Operation::Upgrading;
            self.upgrade(&mut progress)?;
        }
        if want.refcount_bits != refcount_bits {
            if want.version < 3 && want.refcount_bits != 16 {
                return Err(Error::invalid(
                    "Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 \
                     or greater)",
                ));
            }
            progress.current = Operation::ChangingRefcountOrder;
            self.change_refcount_order(want.refcount_bits.trailing_zeros(), &mut progress)?;
        }
        self.header.autoclear_features.set_raw_external_data(want.data_file_raw);
        if let Some(d) = want.data_file {
            self.ext.data_file = (!d.is_empty()).then(|| d.to_string());
        }
        self.amend_header()?;
        if want.backing_file.is_some() || want.backing_format.is_some() {
            let current = self.backing.as_ref();
            if want.backing_file != current.map(|b| b.filename.as_str())
                || want.backing_format != current.and_then(|b| b.format.as_deref())
            {
                return Err(Error::invalid("Cannot amend the backing file")
                    .with_hint("You can use 'qemu-img rebase' instead."));
            }
        }
        let lazy = self.header.compatible_features.lazy_refcounts();
        if lazy != want.lazy_refcounts {
            if want.lazy_refcounts && want.version < 3 {
                return Err(Error::invalid(
                    "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)",
                ));
            }
            self.header.compatible_features.set_lazy_refcounts(want.lazy_refcounts);
            self.amend_header()?;
        }
        if want.size != 0 {
            if want.size > i64::MAX as u64 {
                return Err(Error::invalid("Image size cannot be negative").with_errno(libc::EINVAL));
            }
            let old = self.virtual_size();
            let zero_new = want.size > old && self.backing_image.as_ref().is_some_and(|b| b.virtual_size() > old);
            self.truncate(want.size, Prealloc::Off, zero_new, &mut |_| {})?;
        }
        if want.version < old_version {
            progress.current = Operation::Downgrading;
            self.downgrade(&mut progress)?;
        }
        Ok(())
    }

    /// Reads the options in qemu's order, with its checks and messages.
    fn wanted<'o>(&self, opts: &'o Opts) -> Result<Wanted<'o>> {
        let h = &self.header;
        let mut w = Wanted {
            version: h.version,
            data_file_raw: h.autoclear_features.raw_external_data(),
            lazy_refcounts: h.compatible_features.lazy_refcounts(),
            refcount_bits: 1 << h.refcount_order,
            ..Wanted::default()
        };
        for name in OPTION_ORDER {
            let Some(opt) = opts.get(name) else { continue };
            match name {
                "compat" => {
                    w.version = match opt.raw.as_str() {
                        "0.10" | "v2" => 2,
                        "1.1" | "v3" => 3,
                        other => return Err(Error::invalid(format!("Unknown compatibility level {other}"))),
                    }
                }
                "size" => w.size = opts.get_u64(name, 0),
                "backing_file" => w.backing_file = Some(opt.raw.as_str()),
                "backing_fmt" => w.backing_format = Some(opt.raw.as_str()),
                "lazy_refcounts" => w.lazy_refcounts = opts.get_bool(name, w.lazy_refcounts),
                "refcount_bits" => {
                    // qemu keeps the number in a C int.
                    let bits = opts.get_u64(name, 0) as i32 as i64;
                    if bits <= 0 || bits > 64 || !(bits as u64).is_power_of_two() {
                        return Err(Error::invalid("Refcount width must be a power of two and may not exceed 64 bits"));
                    }
                    w.refcount_bits = bits;
                }
                "data_file" => {
                    if !h.incompatible_features.external_data_file() {
                        return Err(Error::invalid(
                            "data-file can only be set for images that use an external data file",
                        ));
                    }
                    w.data_file = Some(opt.raw.as_str());
                }
                "data_file_raw" => {
                    w.data_file_raw = opts.get_bool(name, w.data_file_raw);
                    if w.data_file_raw && !h.autoclear_features.raw_external_data() {
                        return Err(Error::invalid("data-file-raw cannot be set on existing images"));
                    }
                }
                // Encrypted images cannot be opened for writing by qimg yet,
                // so an image here never has encryption to amend.
                _ => return Err(Error::invalid("Can't amend encryption options - encryption not present")),
            }
        }
        Ok(w)
    }

    /// Rewrites cluster 0 (qemu's header update, one write): the version and
    /// feature fields of `self.header`, the structures' places as the
    /// metadata engine has them, and the extensions; autoclear bits qimg
    /// does not know are cleared.
    pub(super) fn amend_header(&mut self) -> Result<()> {
        self.header.prepare_for_write();
        let backing = self.backing.as_ref().map(|b| b.filename.clone());
        let meta = self.meta.get_mut().map_err(|_| Error::errno(libc::EIO))?;
        let h = &self.header;
        meta.header.version = h.version;
        meta.header.incompatible_features = h.incompatible_features;
        meta.header.compatible_features = h.compatible_features;
        meta.header.autoclear_features = h.autoclear_features;
        meta.header.header_length = h.header_length;
        meta.header.compression_type = h.compression_type;
        meta.header.tail = h.tail.clone();
        write_cluster0(meta, &self.ext, backing.as_deref()).map_err(|e| e.prefix("Failed to update the image header"))?;
        self.header = meta.header.clone();
        self.size.store(self.header.size / 512 * 512, Ordering::Relaxed);
        Ok(())
    }
}
