//! `dd`: copy a range of blocks of an image into a new image, as qemu-img
//! does: the output is created with the size of the copied range and every
//! byte of it is written (zeros included), through the copy engine.

use crate::copy::{self, Options, Window, Wording};
use crate::create;
use crate::error::{Error, Result};
use crate::format;
use crate::image::{self, OpenOptions};
use crate::image_ref::ImageRef;
use crate::secret::SecretStore;

/// Worker threads of the copy.
const WORKERS: usize = 8;

/// What to copy, and where.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `if=` (with `-f` or `--image-opts` in the reference).
    pub input: &'a ImageRef,
    /// `of=`: the file to create.
    pub output: &'a str,
    /// `-O`.
    pub output_format: &'a str,
    /// The secrets `--object` defined.
    pub secrets: &'a SecretStore,
    /// `bs=`.
    pub block_size: u64,
    /// `count=`: input blocks up to this one, skipped ones included.
    pub count: Option<u64>,
    /// `skip=`: input blocks to leave out.
    pub skip: u64,
    /// `-U`.
    pub force_share: bool,
}

/// How a successful `dd` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The range was copied.
    Copied,
    /// `skip` lies past the end of the input: the output was created empty
    /// and nothing copied (qemu reports it and still succeeds).
    SkipPastEnd,
}

/// The input range `dd` copies for an input of `size` bytes, or `None`
/// when `skip` points past the end.
fn range(size: u64, block_size: u64, count: Option<u64>, skip: u64) -> Option<Window> {
    let limit = i64::MAX as u64 / block_size;
    let end = match count {
        Some(c) if c <= limit && size > c * block_size => c * block_size,
        _ => size,
    };
    if skip > limit || skip * block_size > end {
        return None;
    }
    Some(Window { start: skip * block_size, len: end - skip * block_size })
}

/// Runs `dd`. `warn` receives warnings of the copy and of the creation.
pub fn dd(req: &Request<'_>, warn: &copy::Warn<'_>) -> Result<Outcome> {
    if req.block_size == 0 {
        return Err(Error::invalid("Invalid block size"));
    }
    let input = req.input.open(OpenOptions::read(None, req.force_share), req.secrets)?;
    if format::driver(req.output_format).is_none() {
        return Err(Error::invalid("Unknown file format"));
    }
    let window = range(input.virtual_size(), req.block_size, req.count, req.skip);
    let size = window.map_or(0, |w| w.len);
    let plan = create::prepare(&create::Request {
        format: req.output_format,
        filename: req.output,
        size: Some(size),
        ..Default::default()
    })?;
    plan.execute(&mut |w| warn(None, &w))
        .map_err(|e| e.prefix(format!("{}: error while creating output image", req.output)))?;
    let output = image::open(req.output, &OpenOptions::write(Some(req.output_format)))?;
    let Some(window) = window else {
        return Ok(Outcome::SkipPastEnd);
    };
    let opts = Options {
        min_sparse: 0,
        compress: false,
        workers: WORKERS,
        in_order: true,
        target_has_backing: false,
        base_depth: None,
        keep_zero_ranges: false,
        target_zeroed: false,
        rate_limit: None,
        salvage: false,
        copy_offload: false,
        window: Some(window),
        wording: Wording::ImageFile,
    };
    copy::copy(&[input.as_ref()], output.as_ref(), &opts, &|_| {}, warn)?;
    output.flush()?;
    Ok(Outcome::Copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_includes_skipped_blocks() {
        assert_eq!(range(1 << 20, 65536, Some(2), 1), Some(Window { start: 65536, len: 65536 }));
        assert_eq!(range(1000, 512, Some(5), 0), Some(Window { start: 0, len: 1000 }));
        assert_eq!(range(1000, 512, None, 1), Some(Window { start: 512, len: 488 }));
    }

    #[test]
    fn skip_past_the_end_or_overflowing() {
        assert_eq!(range(1024, 512, None, 2), Some(Window { start: 1024, len: 0 }));
        assert_eq!(range(1024, 512, None, 3), None);
        assert_eq!(range(1024, 512, Some(1), 2), None);
        assert_eq!(range(1024, 1 << 30, None, u64::MAX / 2), None);
        assert_eq!(range(1024, 1 << 30, Some(i64::MAX as u64), 0), Some(Window { start: 0, len: 1024 }));
    }
}
