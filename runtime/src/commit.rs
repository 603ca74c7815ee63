//! `commit`: writing an overlay's data into an image below it in its
//! backing chain, as qemu-img's `img_commit` (an active commit job) does.
//!
//! The steps, in qemu's order: open the overlay read-write (its backing
//! files read-only); find the base (the immediate backing file, or the
//! image `-b` names, matched as qemu's `bdrv_find_backing_image` matches);
//! reopen with the base read-write; grow the base if it is smaller than the
//! overlay; copy into the base every range that the overlay and the images
//! between them allocate (zeros as zeros, data as data) with the shared
//! copy engine; make the base durable; and, unless `drop`, empty the
//! overlay so that it shows the base through (see the format's
//! `make_empty`). The overlay's guest data is the same at every point:
//! what is copied is what the overlay shadows, and the overlay is emptied
//! only once the base holds it durably.

use crate::copy::{self, Options};
use crate::error::{Error, Result};
use crate::format::qcow2::create::Prealloc;
use crate::image::{resolve_backing, Image, OpenOptions};
use crate::image_ref::ImageRef;
use crate::secret::SecretStore;
use std::path::Path;

/// What to commit, and how.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The overlay (`FILENAME`, with `-f` or `--image-opts`).
    pub image: &'a ImageRef,
    /// The secrets `--object` defined.
    pub secrets: &'a SecretStore,
    /// `-b`: the image of the backing chain to commit into.
    pub base: Option<&'a str>,
    /// `-d` (implied by `-b`): leave the overlay's data in place.
    pub drop: bool,
    /// `-r`, bytes per second (0 = none).
    pub rate_limit: u64,
    /// `-t`: `unsafe` skips flushing the overlay at the end.
    pub cache: &'a str,
}

/// An overlay opened for committing (see [`open`]).
pub struct Commit<'a> {
    req: Request<'a>,
    top: Box<dyn Image>,
}

/// Opens the overlay read-write, as qemu-img does before anything else.
pub fn open<'a>(req: &Request<'a>) -> Result<Commit<'a>> {
    let top = req.image.open(OpenOptions::write(None), req.secrets)?;
    Ok(Commit { req: req.clone(), top })
}

impl Commit<'_> {
    /// The opened overlay (for the CLI's open warnings).
    pub fn image(&self) -> &dyn Image {
        self.top.as_ref()
    }

    /// Finds the base, copies, and empties the overlay. `progress` receives
    /// percentages of the data to copy.
    pub fn run(self, progress: &(dyn Fn(f32) + Sync)) -> Result<()> {
        let Commit { req, top } = self;
        let depth = base_depth(&req, top.as_ref())?;
        drop(top);
        let opts = OpenOptions { writable_backing: Some(depth), ..OpenOptions::write(None) };
        let mut top = req.image.open(opts, req.secrets).map_err(reopen_error)?;
        let size = top.virtual_size();
        let base = layer_mut(top.as_mut(), depth).ok_or_else(|| Error::errno(libc::EIO))?;
        if base.virtual_size() < size {
            base.resize(size, Prealloc::Off, false, &mut |_| {})?;
        }
        let copy_opts = Options {
            min_sparse: 0,
            compress: false,
            workers: 4,
            // In guest order, so that the base's layout does not depend on timing.
            in_order: true,
            target_has_backing: false,
            base_depth: Some(depth),
            keep_zero_ranges: true,
            target_zeroed: false,
            rate_limit: (req.rate_limit > 0).then_some(req.rate_limit),
            salvage: false,
            copy_offload: false,
            window: None,
            wording: copy::Wording::AtByte,
        };
        let base = layer(top.as_ref(), depth).ok_or_else(|| Error::errno(libc::EIO))?;
        copy::copy(&[top.as_ref()], base, &copy_opts, progress, &|_, _| {})?;
        // The overlay is emptied only over a durable base.
        base.flush()?;
        if !req.drop {
            match top.make_empty() {
                Err(e) if e.errno == Some(libc::ENOTSUP) => {}
                r => r?,
            }
        }
        if req.cache == "unsafe" {
            top.write_back()?;
        } else {
            top.flush()?;
        }
        top.close().map_err(|e| e.prefix("Error while closing the image"))
    }
}

/// The depth of the base in the overlay's chain: 1 (the immediate backing
/// file) without `-b`, else that of the image `-b` names, with qemu-img's
/// messages when there is none.
fn base_depth(req: &Request<'_>, top: &dyn Image) -> Result<usize> {
    let Some(wanted) = req.base else {
        return match top.backing_image() {
            Some(_) => Ok(1),
            None => Err(Error::invalid("Image does not have a backing file")),
        };
    };
    // qemu resolves the name against each image's directory in turn and
    // compares canonical paths with that image's backing file.
    let mut name = req.image.filename().to_string();
    let mut image = Some(top);
    let mut depth = 0;
    while let Some(img) = image {
        let (Some(backing), Some(below)) = (img.backing(), img.backing_image()) else { break };
        let candidate = canonical(&resolve_backing(&name, wanted));
        if candidate.is_some() && candidate == canonical(&backing.full_filename) {
            return Ok(depth + 1);
        }
        name = backing.full_filename.clone();
        image = Some(below);
        depth += 1;
    }
    Err(Error::invalid(format!(
        "Did not find '{wanted}' in the backing chain of '{}'",
        req.image.source
    )))
}

/// qemu reopens the base read-write in place: only its lock can fail, and
/// the message names no file to open.
fn reopen_error(mut e: Error) -> Error {
    if let Some(i) = e.message.rfind("Failed to get ") {
        e.message = e.message[i..].to_string();
    }
    e
}

fn canonical(name: &str) -> Option<std::path::PathBuf> {
    Path::new(name).canonicalize().ok()
}

/// The image `depth` levels down the chain of `top`.
fn layer(top: &dyn Image, depth: usize) -> Option<&dyn Image> {
    (0..depth).try_fold(top, |img, _| img.backing_image())
}

/// [`layer`], for changing it.
fn layer_mut(top: &mut dyn Image, depth: usize) -> Option<&mut dyn Image> {
    let mut img = top;
    for _ in 0..depth {
        img = img.backing_image_mut()?;
    }
    Some(img)
}
