//! raw: the image is the guest disk, byte for byte.

use crate::error::{Error, Result};
use crate::format::qcow2::create::Prealloc;
use crate::image::{file_child, BackingRef, Extent, HostFile, Image, OpenOptions, Status, ZeroFlags};
use crate::info::NodeInfo;
use crate::opts::Opts;
use crate::storage::Storage;
use std::sync::atomic::{AtomicU64, Ordering};

/// An open raw image.
#[derive(Debug)]
pub struct Raw {
    storage: Storage,
    size: u64,
    /// Where the last `SEEK_DATA` found data after a hole (`u64::MAX`: none).
    /// Block status walks ask about that offset next; knowing it is data
    /// saves a system call per extent. Writes forget it.
    data_hint: AtomicU64,
}

/// Opens a raw image. Its size is the file length rounded up to 512 bytes;
/// the tail past the end of the file reads as zeros.
pub fn open(storage: Storage, _: &OpenOptions<'_>, _: usize) -> Result<Box<dyn Image>> {
    let size = storage.len()?.div_ceil(512) * 512;
    Ok(Box::new(Raw { storage, size, data_hint: AtomicU64::new(u64::MAX) }))
}

impl Image for Raw {
    fn format(&self) -> &'static str {
        "raw"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn backing(&self) -> Option<&BackingRef> {
        None
    }

    /// qemu's file driver: `SEEK_DATA`/`SEEK_HOLE` from `offset`. What lies
    /// past the end of the file (up to the size rounded to 512 bytes) is a
    /// trailing hole; a file system that cannot say counts as all data.
    fn block_status(&self, offset: u64, len: u64) -> Result<Extent> {
        let len = len.min(self.size.saturating_sub(offset));
        let end = offset + len;
        let status = |zero: bool| {
            if zero {
                Status::Zero { host: Some((HostFile::Image, offset)) }
            } else {
                Status::Data { host: Some((HostFile::Image, offset)), zero: false }
            }
        };
        if len == 0 {
            return Ok(Extent { offset, len, status: status(true) });
        }
        let data_at = if self.data_hint.load(Ordering::Relaxed) == offset {
            Ok(Some(offset))
        } else {
            self.storage.seek_data(offset)
        };
        let (zero, until) = match data_at {
            Ok(None) => (true, end),
            Ok(Some(d)) if d <= offset => match self.storage.seek_hole(offset) {
                Ok(Some(h)) if h > offset => (false, h),
                _ => (false, end),
            },
            Ok(Some(d)) => {
                self.data_hint.store(d, Ordering::Relaxed);
                (true, d)
            }
            Err(_) => (false, end),
        };
        Ok(Extent { offset, len: until.min(end) - offset, status: status(zero) })
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.storage.read_zero_padded(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.data_hint.store(u64::MAX, Ordering::Relaxed);
        self.storage.write_at(buf, offset)
    }

    fn write_zeroes(&self, offset: u64, len: u64, flags: ZeroFlags) -> Result<()> {
        self.data_hint.store(u64::MAX, Ordering::Relaxed);
        let done = if flags.unmap { self.storage.punch_hole(offset, len) } else { self.storage.zero_range(offset, len) };
        match done {
            Ok(()) => Ok(()),
            Err(_) => self.storage.write_zeros(offset, len),
        }
    }

    fn flush(&self) -> Result<()> {
        self.storage.sync()
    }

    fn host_file_name(&self, _: HostFile) -> String {
        self.storage.name().to_string()
    }

    fn has_zero_init(&self) -> bool {
        true
    }

    fn info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            filename: self.storage.name().to_string(),
            format: "raw".into(),
            dirty_flag: Some(false),
            actual_size: Some(self.storage.allocated()?),
            virtual_size: self.size,
            children: vec![file_child(&self.storage)?],
            ..NodeInfo::default()
        })
    }
}

/// Creates a raw image: the file is created (kept if it exists), emptied and
/// grown to the size rounded up to 512 bytes, with qemu's preallocation modes.
/// Unless preallocated, the first block is written so that it is allocated,
/// as qemu's file driver does for later alignment probing.
pub fn create(filename: &str, opts: &Opts, warn: &mut dyn FnMut(String)) -> Result<()> {
    let prealloc = match opts.get_str("preallocation").unwrap_or("off") {
        "off" => Prealloc::Off,
        "falloc" => Prealloc::Falloc,
        "full" => Prealloc::Full,
        "metadata" => return Err(Error::invalid("Unsupported preallocation mode: metadata")),
        other => return Err(Error::invalid(format!("invalid parameter value: {other}"))),
    };
    let size = opts.get_u64("size", 0);
    let storage = crate::create::create_file(filename, opts, warn)?;
    let size = size.checked_next_multiple_of(512).filter(|s| *s <= i64::MAX as u64);
    let Some(size) = size else { return Err(Error::errno_with(libc::EINVAL, "Could not resize file")) };
    match prealloc {
        Prealloc::Off => {
            storage.set_len(size).map_err(|e| e.prefix("Could not resize file"))?;
            if size > 0 {
                allocate_first_block(&storage, size);
            }
        }
        Prealloc::Falloc => {
            if size > 0 {
                storage.allocate(0, size).map_err(|e| e.prefix("Could not preallocate new data"))?;
                allocate_first_block(&storage, size);
            }
        }
        Prealloc::Full => {
            storage.set_len(size).map_err(|e| e.prefix("Could not resize file"))?;
            storage.write_zeros(0, size)?;
            storage.sync().map_err(|e| e.prefix("Could not flush file to disk"))?;
        }
        Prealloc::Metadata => unreachable!("refused above"),
    }
    Ok(())
}

/// Writes zeros over the first 512 bytes (4 KiB for larger files), ignoring failures.
fn allocate_first_block(storage: &Storage, size: u64) {
    let n = if size < 4096 { 512 } else { 4096 };
    let _ = storage.write_at(&vec![0u8; n], 0);
}
