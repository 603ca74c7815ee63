//! luks: a raw LUKS1 volume (qemu's `luks` format): a header, key material,
//! then the encrypted guest data from the payload offset on. Also the LUKS
//! header helpers qcow2 uses for its `encrypt` block.
//!
//! Opening follows qemu's order: without a passphrase, I/O opens fail with
//! `Parameter 'key-secret' is required for cipher` before the header is read
//! (`info` needs no key); then the header and its algorithms are checked;
//! then the passphrase is tried on every active key slot; then the payload
//! must lie inside the file.

use crate::crypto::luks::{unlock, LuksParams};
use crate::crypto::{ModeCipher, SectorCipher, SECTOR_SIZE};
use crate::error::{Error, Result};
use crate::image::{file_child, BackingRef, Extent, HostFile, Image, OpenOptions, Status, ZeroFlags};
use crate::info::{FormatSpecific, LuksInfo, LuksSlot, NodeInfo};
use crate::storage::Storage;
use qimg_formats::luks::{Header, KeySlotState};
use qimg_formats::rt::FormatError;
use std::sync::Mutex;

/// Reads and checks the LUKS header at `offset`.
pub fn read_header(storage: &Storage, offset: u64) -> Result<Header> {
    let mut buf = vec![0u8; Header::SIZE];
    storage.read_zero_padded(&mut buf, offset)?;
    Header::parse(&buf).map_err(|e| match e {
        FormatError::BadMagic { .. } => Error::invalid("Volume is not in LUKS format"),
        e => e.into(),
    })
}

/// What qemu reports about a LUKS header (its algorithm errors included:
/// qemu checks them even when it only reads metadata).
pub fn info(h: &Header) -> Result<LuksInfo> {
    let p = LuksParams::parse(h)?;
    let slots = h
        .key_slots
        .iter()
        .map(|s| {
            let active = s.active == KeySlotState::Enabled;
            LuksSlot {
                active,
                iters: active.then_some(s.iterations as u64),
                stripes: active.then_some(s.stripes as u64),
                key_offset: s.key_offset as u64 * 512,
            }
        })
        .collect();
    Ok(LuksInfo {
        cipher_alg: p.spec.alg.name().to_string(),
        cipher_mode: p.spec.mode.name().to_string(),
        ivgen_alg: p.spec.ivgen.name().to_string(),
        ivgen_hash_alg: p.spec.essiv.map(|(h, _)| h.name().to_string()),
        hash_alg: p.hash.name().to_string(),
        detached_header: false,
        payload_offset: h.payload_offset as u64 * 512,
        master_key_iters: h.mk_digest_iterations as u64,
        uuid: h.uuid.to_string_lossy(),
        slots,
    })
}

/// An open raw LUKS image.
pub struct Luks {
    storage: Storage,
    header: Header,
    /// Where the payload starts in the file, in bytes.
    payload: u64,
    size: u64,
    /// `None` when opened for metadata only.
    cipher: Option<Box<dyn SectorCipher>>,
    /// Serialises read-modify-write of partial sectors.
    rmw: Mutex<()>,
}

/// Opens a LUKS image. Data access needs the passphrase, the secret the
/// options' `key-secret` names; `info` does not.
pub fn open(storage: Storage, opts: &OpenOptions<'_>, _depth: usize) -> Result<Box<dyn Image>> {
    // qemu looks the secret up only to read data: info works without it.
    let passphrase = if opts.access.io { opts.keys.passphrase()? } else { None };
    Ok(Box::new(Luks::open(storage, opts, passphrase)?))
}

impl Luks {
    pub fn open(storage: Storage, opts: &OpenOptions<'_>, passphrase: Option<&str>) -> Result<Luks> {
        if opts.access.io && passphrase.is_none() {
            return Err(Error::invalid("Parameter 'key-secret' is required for cipher"));
        }
        let header = read_header(&storage, 0)?;
        let params = LuksParams::parse(&header)?;
        let cipher: Option<Box<dyn SectorCipher>> = match (opts.access.io, passphrase) {
            (true, Some(pw)) => {
                let key = unlock(&header, &params, pw.as_bytes(), &|buf, at| storage.read_zero_padded(buf, at))?;
                Some(Box::new(ModeCipher::new(&params.spec, &key)?))
            }
            _ => None,
        };
        let payload = header.payload_offset as u64 * SECTOR_SIZE;
        let len = storage.len()?;
        let Some(data) = len.checked_sub(payload) else {
            return Err(Error::errno_with(libc::EIO, "Could not refresh total sector count"));
        };
        let size = data.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        Ok(Luks { storage, header, payload, size, cipher, rmw: Mutex::new(()) })
    }

    fn cipher(&self) -> Result<&dyn SectorCipher> {
        self.cipher.as_deref().ok_or_else(|| Error::invalid("Parameter 'key-secret' is required for cipher"))
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::errno(libc::EIO)),
        }
    }

    /// Reads and decrypts whole sectors into `buf` (sector aligned, whole sectors).
    fn read_sectors(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.storage.read_zero_padded(buf, self.payload + offset)?;
        self.cipher()?.decrypt(offset / SECTOR_SIZE, buf)
    }

    /// Encrypts `buf` in place and writes it (sector aligned, whole sectors).
    fn write_sectors(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.cipher()?.encrypt(offset / SECTOR_SIZE, buf)?;
        self.storage.write_at(buf, self.payload + offset)
    }

    /// Writes `len` bytes at `offset`, taken from `fill` in aligned chunks.
    fn write_with(&self, offset: u64, len: usize, fill: &dyn Fn(&mut [u8], usize)) -> Result<()> {
        const CHUNK: usize = 1 << 20;
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let start = offset / SECTOR_SIZE * SECTOR_SIZE;
        let end = (offset + len as u64).div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        let head = (offset - start) as usize;
        let tail = (end - (offset + len as u64)) as usize;
        // Partial sectors need their old contents.
        let _guard =
            if head != 0 || tail != 0 { Some(self.rmw.lock().map_err(|_| Error::errno(libc::EIO))?) } else { None };
        let mut pos = start;
        let mut done = 0usize;
        let mut tmp = vec![0u8; CHUNK.min((end - start) as usize)];
        while pos < end {
            let n = ((end - pos) as usize).min(CHUNK);
            let chunk = &mut tmp[..n];
            let first = if pos == start { head } else { 0 };
            let want = (n - first).min(len - done);
            if first != 0 || first + want < n {
                self.read_sectors(chunk, pos)?;
            }
            fill(&mut chunk[first..first + want], done);
            self.write_sectors(chunk, pos)?;
            done += want;
            pos += n as u64;
        }
        Ok(())
    }
}

impl Image for Luks {
    fn format(&self) -> &'static str {
        "luks"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn backing(&self) -> Option<&BackingRef> {
        None
    }

    /// Everything is data, with no host offset that could be read in place
    /// (qemu's luks driver has no block status: the generic answer is data).
    fn block_status(&self, offset: u64, len: u64) -> Result<Extent> {
        let len = len.min(self.size.saturating_sub(offset));
        Ok(Extent { offset, len, status: Status::Data { host: None, zero: false } })
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check_range(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        if offset.is_multiple_of(SECTOR_SIZE) && (buf.len() as u64).is_multiple_of(SECTOR_SIZE) {
            return self.read_sectors(buf, offset);
        }
        let start = offset / SECTOR_SIZE * SECTOR_SIZE;
        let end = (offset + buf.len() as u64).div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        let mut tmp = vec![0u8; (end - start) as usize];
        self.read_sectors(&mut tmp, start)?;
        let at = (offset - start) as usize;
        buf.copy_from_slice(&tmp[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.write_with(offset, buf.len(), &|dst, from| dst.copy_from_slice(&buf[from..from + dst.len()]))
    }

    /// Zeros are encrypted like any data (a hole in the file would read as noise).
    fn write_zeroes(&self, offset: u64, len: u64, _flags: ZeroFlags) -> Result<()> {
        let len = usize::try_from(len).map_err(|_| Error::errno(libc::EINVAL))?;
        self.write_with(offset, len, &|dst, _| dst.fill(0))
    }

    fn flush(&self) -> Result<()> {
        self.storage.sync()
    }

    fn host_file_name(&self, _: HostFile) -> String {
        self.storage.name().to_string()
    }

    fn info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            filename: self.storage.name().to_string(),
            format: "luks".into(),
            dirty_flag: Some(false),
            actual_size: Some(self.storage.allocated()?),
            virtual_size: self.size,
            encrypted: true,
            format_specific: Some(FormatSpecific::Luks(info(&self.header)?)),
            children: vec![file_child(&self.storage)?],
            ..NodeInfo::default()
        })
    }
}
