//! Encrypted qcow2 data: every sector of guest data is stored encrypted; the
//! metadata is not. Legacy AES numbers sectors by guest offset, LUKS by the
//! host offset where the data sits (in the image or its data file).

use super::Qcow2;
use crate::crypto::{SectorCipher, SECTOR_SIZE};
use crate::error::{Error, Result};
use crate::storage::Storage;
use std::sync::Arc;

/// The cipher of an image opened for I/O, with its sector numbering.
pub(super) struct DataCipher {
    pub cipher: Arc<dyn SectorCipher>,
    /// LUKS: IVs come from host sectors; legacy AES: from guest sectors.
    pub host_sectors: bool,
}

impl DataCipher {
    fn sector(&self, host: u64, guest: u64) -> u64 {
        if self.host_sectors {
            host / SECTOR_SIZE
        } else {
            guest / SECTOR_SIZE
        }
    }
}

impl Qcow2 {
    /// Reads the guest data at `guest` stored at `host` of `file` into `out`,
    /// decrypting it if the image is encrypted. Host and guest offsets share
    /// their place within a sector (clusters are sector aligned).
    pub(super) fn read_data(&self, file: &Storage, out: &mut [u8], host: u64, guest: u64) -> Result<()> {
        let Some(c) = &self.cipher else { return file.read_zero_padded(out, host) };
        let lead = host % SECTOR_SIZE;
        let span = (lead + out.len() as u64).div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        if lead == 0 && span == out.len() as u64 {
            file.read_zero_padded(out, host)?;
            return c.cipher.decrypt(c.sector(host, guest), out);
        }
        let mut sectors = vec![0u8; span as usize];
        file.read_zero_padded(&mut sectors, host - lead)?;
        c.cipher.decrypt(c.sector(host - lead, guest - lead), &mut sectors)?;
        out.copy_from_slice(&sectors[lead as usize..lead as usize + out.len()]);
        Ok(())
    }

    /// Writes guest data `data` for guest offset `guest` at `host` of
    /// `file`, encrypted if the image is (then both are sector aligned, see
    /// [`Qcow2::write`]). The caller's buffer is never changed.
    pub(super) fn write_data(&self, file: &Storage, data: &[u8], host: u64, guest: u64) -> Result<()> {
        let Some(c) = &self.cipher else { return file.write_at(data, host) };
        if !host.is_multiple_of(SECTOR_SIZE) || !(data.len() as u64).is_multiple_of(SECTOR_SIZE) {
            return Err(Error::errno(libc::EIO));
        }
        let mut sealed = data.to_vec();
        c.cipher.encrypt(c.sector(host, guest), &mut sealed)?;
        file.write_at(&sealed, host)
    }

    /// For an encrypted image, a write that does not cover whole sectors
    /// becomes one that does: the sectors around it are read and merged.
    /// `None` when the write can go ahead as it is.
    pub(super) fn sector_aligned(&self, buf: &[u8], offset: u64) -> Result<Option<(Vec<u8>, u64)>> {
        let end = offset + buf.len() as u64;
        if self.cipher.is_none() || (offset.is_multiple_of(SECTOR_SIZE) && end.is_multiple_of(SECTOR_SIZE)) {
            return Ok(None);
        }
        let start = offset - offset % SECTOR_SIZE;
        let mut full = vec![0u8; (end.div_ceil(SECTOR_SIZE) * SECTOR_SIZE - start) as usize];
        self.read(&mut full, start)?;
        let at = (offset - start) as usize;
        full[at..at + buf.len()].copy_from_slice(buf);
        Ok(Some((full, start)))
    }
}
