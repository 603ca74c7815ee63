//! `rebase`: make an image name another backing file, as `qemu-img rebase`
//! does.
//!
//! In safe mode the overlay's guest view must not change, so first every
//! range the overlay does not allocate itself, and where the old backing
//! chain and the new backing file read differently, is written into the
//! overlay. The walk is qemu-img's loop, because `-p` output and the
//! resulting allocation follow it:
//!
//! - step through the overlay in chunks of at most 2 MiB, skipping what the
//!   overlay allocates ([`Chain::is_allocated`]);
//! - when the new backing file is itself in the old chain, skip what no
//!   layer above it allocates ([`Chain::allocated_above`]): it reads the same
//!   through both;
//! - widen the rest to the overlay's cluster boundaries and hand it to the
//!   copy engine's [`copy_diff`] mode, which compares cluster by cluster and
//!   writes the runs that differ (zeros past the old backing file's end).
//!
//! Then the header gets the new name and format ([`Image::change_backing_file`],
//! one rewrite of qcow2's cluster 0 after the copied data is durable). As in
//! qemu, a missing backing format is only noticed then: the data is merged
//! already when the error is reported.

use crate::blockstatus::Chain;
use crate::copy::{copy_diff, Diff, Options, Wording, IO_BUF_SIZE};
use crate::error::{strerror, Error, Result};
use crate::format;
use crate::image::{open_node, resolve_backing, HostFile, Image, OpenOptions};
use crate::secret::SecretStore;

/// Reader threads of the comparison.
const WORKERS: usize = 4;

/// What to rebase, and how.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `-b`: the new backing file as it will be stored (`""` removes it);
    /// `None` (only with `-u`) removes it too.
    pub backing: Option<&'a str>,
    /// `-F`.
    pub backing_format: Option<&'a str>,
    /// `-u`: only change the reference.
    pub unsafe_mode: bool,
    /// `-c`: compress the clusters written.
    pub compress: bool,
    /// `-U`: open the new backing file without locking out writers.
    pub force_share: bool,
    /// The secrets `--object` defined.
    pub secrets: &'a SecretStore,
}

/// How the overlay is opened: for writing; without its backing chain in
/// unsafe mode (the old backing file need not exist then).
pub fn open_options(format: Option<&str>, unsafe_mode: bool) -> OpenOptions<'_> {
    OpenOptions { no_backing: unsafe_mode, ..OpenOptions::write(format) }
}

/// Protocol drivers qemu's format lookup knows besides the image formats.
const PROTOCOL_DRIVERS: [&str; 3] = ["file", "host_device", "host_cdrom"];

/// Rebases the opened `overlay`, whose file name is `filename`. `progress`
/// receives qemu's percentages (the final 100 included, which qemu reports
/// even when changing the header fails).
pub fn rebase(overlay: &mut dyn Image, filename: &str, req: &Request<'_>, progress: &(dyn Fn(f32) + Sync)) -> Result<()> {
    if req.compress && overlay.compression().is_none() {
        return Err(Error::unsupported("Compression not supported for this file format"));
    }
    if let Some(f) = req.backing_format {
        if format::driver(f).is_none() && !PROTOCOL_DRIVERS.contains(&f) {
            return Err(Error::invalid(format!("Invalid format name: '{f}'")));
        }
    }
    if !req.unsafe_mode {
        merge(overlay, filename, req, progress)?;
    }
    let name = req.backing.filter(|b| !b.is_empty());
    let result = match (name, req.backing_format) {
        (Some(_), None) => Err(Error::invalid("backing format must be specified")),
        (name, format) => overlay.change_backing_file(name, name.and(format)).map_err(|e| match e.errno {
            Some(libc::ENOSPC) => Error::invalid("No space left in the file header"),
            Some(errno) => Error::errno(errno),
            None => e,
        }),
    };
    progress(100.0);
    // qemu prints a missing -b as C's "(null)".
    let shown = req.backing.unwrap_or("(null)");
    result.map_err(|e| e.prefix(format!("Could not change the backing file to '{shown}'")))
}

/// Safe mode: writes into the overlay what would change when the new
/// backing file replaces the old chain.
fn merge(overlay: &dyn Image, filename: &str, req: &Request<'_>, progress: &(dyn Fn(f32) + Sync)) -> Result<()> {
    let chain = Chain::new(overlay);
    let old = overlay.backing_image();
    let new_name = req.backing.filter(|b| !b.is_empty());
    let resolved = new_name.map(|n| resolve_backing(filename, n));
    // The new backing file may be in the old chain already (qemu finds it by name).
    let prefix = resolved.as_deref().and_then(|r| find_in_chain(&chain, r));
    let opened;
    let new: Option<&dyn Image> = match (prefix, &resolved, new_name) {
        (Some(depth), _, _) => chain.image(depth),
        (None, Some(path), Some(name)) => {
            let mut opts = OpenOptions::read(req.backing_format, req.force_share);
            opts.keys.secrets = Some(req.secrets);
            opened = open_node(path, &opts).map_err(|e| e.prefix(format!("Could not open new backing file '{name}'")))?;
            Some(opened.as_ref())
        }
        _ => None,
    };
    let size = overlay.virtual_size();
    let align = overlay.cluster_size().unwrap_or(1).max(1);
    let diff = Diff { baseline: new, align, zeros_from: old.map_or(0, |o| o.virtual_size()) };
    let opts = Options {
        min_sparse: 0,
        compress: req.compress,
        workers: WORKERS,
        in_order: true,
        target_has_backing: true,
        target_zeroed: false,
        rate_limit: None,
        salvage: false,
        copy_offload: false,
        window: None,
        wording: Wording::AtByte,
        base_depth: None,
        keep_zero_ranges: false,
    };
    // qemu's step: 100 divided by the number of 2 MiB chunks (integer division).
    let step = if size == 0 { 0.0 } else { 100.0f32 / (size / size.min(IO_BUF_SIZE)) as f32 };
    let sources: Vec<&dyn Image> = old.into_iter().collect();
    let mut offset = 0u64;
    let mut next = move || -> Result<Option<(u64, u64)>> {
        while offset < size {
            let (allocated, n) = chain.is_allocated(0, offset, IO_BUF_SIZE.min(size - offset)).map_err(metadata_error)?;
            let mut n = n.max(1);
            if allocated {
                offset += n;
                continue;
            }
            if let Some(base) = prefix {
                let (allocated, len) = chain.allocated_above(1, base, offset, n).map_err(metadata_error)?;
                if !allocated && len > 0 {
                    offset += len;
                    continue;
                }
                // Past the old backing file's end the overlay read zeros,
                // which the prefix may not: compare all of it.
                if len > 0 {
                    n = len;
                }
            }
            let start = offset - offset % align;
            let end = (offset + n).div_ceil(align).saturating_mul(align).min(size);
            offset = end;
            return Ok(Some((start, end - start)));
        }
        Ok(None)
    };
    copy_diff(&sources, overlay, &opts, &diff, step, progress, &mut next)?;
    overlay.flush()
}

/// qemu-img's message when block status fails.
fn metadata_error(e: Error) -> Error {
    let mut out = Error::invalid(format!("error while reading image metadata: {}", strerror(e.errno.unwrap_or(libc::EIO))));
    out.preamble = e.preamble;
    out
}

/// The depth of the backing image (below the top) whose file is `path`.
fn find_in_chain(chain: &Chain<'_>, path: &str) -> Option<usize> {
    let want = std::fs::canonicalize(path).ok()?;
    (1..chain.len()).find(|d| {
        chain
            .image(*d)
            .and_then(|img| std::fs::canonicalize(img.host_file_name(HostFile::Image)).ok())
            .is_some_and(|p| p == want)
    })
}
