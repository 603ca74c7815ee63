//! Reading guest data and block status of a qcow2 image. Metadata is looked
//! up under the image's lock; data is read (and decompressed) outside it, so
//! several threads read in parallel.

use super::map::{Kind, Piece};
use super::Qcow2;
use crate::compress::{self, Codec};
use crate::error::{Error, Result};
use crate::image::{read_backing, Extent, HostFile, Image, Status};
use crate::storage::Storage;
use qimg_formats::qcow2::{CompressedDescriptor, CompressionType, CryptMethod};

/// Pieces looked up per lock acquisition.
const PIECES_PER_LOOKUP: usize = 4096;
/// The longest block status answer, in bytes (qemu's `INT_MAX`).
const MAX_STATUS_BYTES: u64 = i32::MAX as u64;

impl Qcow2 {
    fn lookup(&self, offset: u64, len: u64, max: usize) -> Result<Vec<Piece>> {
        if self.is_broken() {
            return Err(Error::errno(libc::ENOMEDIUM));
        }
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        match meta.map_range(offset, len, max) {
            Ok(pieces) => Ok(pieces),
            Err(e) => Err(self.corruption(&mut meta, e)),
        }
    }

    pub(super) fn host(&self, file: HostFile) -> &Storage {
        match (file, &self.data) {
            (HostFile::Data, Some(d)) => d,
            _ => &self.storage,
        }
    }

    /// The status of the run of guest data at `offset`. Like qemu's, an
    /// answer never crosses the end of an L2 table nor exceeds `INT_MAX` bytes.
    pub(super) fn status(&self, offset: u64, len: u64) -> Result<Extent> {
        let l2_span = 1u64 << (self.geom.cluster_bits + self.geom.l2_bits);
        let len = len
            .min(self.virtual_size().saturating_sub(offset))
            .min(MAX_STATUS_BYTES)
            .min(l2_span - offset % l2_span);
        if len == 0 {
            return Ok(Extent { offset, len: 0, status: Status::Unallocated });
        }
        let pieces = self.lookup(offset, len, 1)?;
        let Some(p) = pieces.first() else { return Ok(Extent { offset, len, status: Status::Unallocated }) };
        let (status, len) = match p.kind {
            Kind::Unallocated => (Status::Unallocated, p.len),
            Kind::Reserved { file, host } => (Status::Reserved { host: (file, host) }, p.len),
            Kind::Compressed { .. } => (Status::Compressed, p.len),
            Kind::Zero { host } => (Status::Zero { host: host.map(|h| (self.data_or_image(), h)) }, p.len),
            Kind::Data { file, host } => {
                // Like qemu, an image whose clusters were preallocated without
                // data is looked at through to the host file: holes read as zeros.
                let (zero, n) = if self.metadata_preallocated()? {
                    host_status(self.host(file), host, p.len)?
                } else {
                    (false, p.len)
                };
                // qemu shows no host offset for encrypted data.
                let host = (self.cipher.is_none() && self.header.crypt_method == CryptMethod::None).then_some((file, host));
                (Status::Data { host, zero }, n)
            }
        };
        Ok(Extent { offset, len, status })
    }

    /// qemu's test for metadata preallocation: clearly more clusters have a
    /// refcount than the file has allocated on the host.
    fn metadata_preallocated(&self) -> Result<bool> {
        if let Some(v) = self.metadata_prealloc.get() {
            return Ok(*v);
        }
        let cs = self.geom.cluster_size;
        let real = self.storage.allocated()? / cs;
        let threshold = (real * 10 / 9).max(real + 2);
        let end = self.storage.len()?.div_ceil(cs);
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        let v = meta.count_used(0, end, threshold)? >= threshold;
        let _ = self.metadata_prealloc.set(v);
        Ok(v)
    }

    fn data_or_image(&self) -> HostFile {
        if self.data.is_some() {
            HostFile::Data
        } else {
            HostFile::Image
        }
    }

    /// Reads guest data: allocated clusters from the host file, compressed
    /// ones decompressed, zeros, and the backing file for the rest.
    pub(super) fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let size = self.virtual_size();
        let inside = if offset >= size { 0 } else { (size - offset).min(buf.len() as u64) as usize };
        buf[inside..].fill(0);
        let mut done = 0usize;
        while done < inside {
            let pieces = self.lookup(offset + done as u64, (inside - done) as u64, PIECES_PER_LOOKUP)?;
            for p in pieces {
                let start = (p.offset - offset) as usize;
                let out = &mut buf[start..start + p.len as usize];
                match p.kind {
                    Kind::Data { file, host } => self.read_data(self.host(file), out, host, p.offset)?,
                    Kind::Zero { .. } => out.fill(0),
                    Kind::Unallocated | Kind::Reserved { .. } => {
                        read_backing(self.backing_image.as_deref(), out, p.offset)?
                    }
                    Kind::Compressed { entry } => self.read_compressed(entry, p.offset, out)?,
                }
                done = start + p.len as usize;
            }
        }
        Ok(())
    }

    /// Reads the part of a compressed cluster that `out` covers, `guest`
    /// being the guest offset of `out`.
    pub(super) fn read_compressed(&self, entry: u64, guest: u64, out: &mut [u8]) -> Result<()> {
        let cb = self.geom.cluster_bits;
        let cs = self.geom.cluster_size as usize;
        let d = CompressedDescriptor::from_raw(entry);
        let (Some(host), Some(extra)) = (d.host_offset(cb), d.extra_sectors(cb)) else {
            return Err(Error::errno(libc::EIO));
        };
        let len = ((extra + 1) * 512 - (host & 511)) as usize;
        let mut compressed = vec![0u8; len];
        self.storage.read_zero_padded(&mut compressed, host)?;
        let codec = match self.header.compression_type {
            CompressionType::Zstd => Codec::Zstd,
            _ => Codec::Deflate,
        };
        let in_cluster = (guest % cs as u64) as usize;
        if in_cluster == 0 && out.len() == cs {
            return compress::decompress(codec, &compressed, out);
        }
        let mut cluster = vec![0u8; cs];
        compress::decompress(codec, &compressed, &mut cluster)?;
        out.copy_from_slice(&cluster[in_cluster..in_cluster + out.len()]);
        Ok(())
    }
}

/// Whether `[offset, offset + len)` of a host file is a hole (reads as
/// zeros), and how long that answer holds.
fn host_status(file: &Storage, offset: u64, len: u64) -> Result<(bool, u64)> {
    let file_len = file.len()?;
    if offset >= file_len {
        return Ok((true, len));
    }
    Ok(match file.seek_data(offset)? {
        Some(d) if d == offset => {
            let hole = file.seek_hole(offset)?.unwrap_or(file_len);
            (false, (hole - offset).min(len))
        }
        Some(d) => (true, (d - offset).min(len)),
        None => (true, len),
    })
}
