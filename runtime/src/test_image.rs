//! A raw-like image for unit tests of the engines that read and write
//! images (copy, compare): data everywhere, in extents of 1 MiB so that
//! chunks are many and short.

use crate::error::{Error, Result};
use crate::image::{BackingRef, Extent, HostFile, Image, Status, ZeroFlags};
use crate::info::NodeInfo;

/// Reads byte `at` as `at % 251`, except that the byte at `poke` has its
/// low bit flipped, reads reaching `bad` or past fail with EIO, and a read
/// covering `panic_at` panics (a bug). Writes are accepted and dropped.
#[derive(Default)]
pub struct DataImage {
    pub size: u64,
    pub poke: Option<u64>,
    pub bad: Option<u64>,
    pub panic_at: Option<u64>,
}

impl Image for DataImage {
    fn format(&self) -> &'static str {
        "raw"
    }
    fn virtual_size(&self) -> u64 {
        self.size
    }
    fn backing(&self) -> Option<&BackingRef> {
        None
    }
    fn info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo::default())
    }
    fn block_status(&self, offset: u64, len: u64) -> Result<Extent> {
        let len = len.min((1 << 20) - offset % (1 << 20));
        Ok(Extent { offset, len, status: Status::Data { host: Some((HostFile::Image, offset)), zero: false } })
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset + buf.len() as u64;
        assert!(self.panic_at.is_none_or(|p| !(offset..end).contains(&p)), "a bug");
        if self.bad.is_some_and(|b| b < end) {
            return Err(Error::errno(libc::EIO));
        }
        for (i, x) in buf.iter_mut().enumerate() {
            let at = offset + i as u64;
            *x = (at % 251) as u8 ^ u8::from(self.poke == Some(at));
        }
        Ok(())
    }
    fn write_at(&self, _: &[u8], _: u64) -> Result<()> {
        Ok(())
    }
    fn write_zeroes(&self, _: u64, _: u64, _: ZeroFlags) -> Result<()> {
        Ok(())
    }
    fn host_file_name(&self, _: HostFile) -> String {
        "fake".into()
    }
}
