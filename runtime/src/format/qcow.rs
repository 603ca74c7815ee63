//! qcow (version 1): the original QEMU copy-on-write format. Structures are
//! generated from `formats/qcow.spec`.

use crate::error::{Error, Result};
use crate::image::{file_child, resolve_backing, BackingRef, Extent, HostFile, Image, OpenOptions};
use crate::info::NodeInfo;
use crate::storage::Storage;
use qimg_formats::qcow::{CryptMethod, Header};
use qimg_formats::rt::FormatError;

/// An open qcow image.
#[derive(Debug)]
pub struct Qcow {
    storage: Storage,
    header: Header,
    backing: Option<BackingRef>,
}

/// Opens a qcow image, checking the header in qemu's order.
pub fn open(storage: Storage, _: &OpenOptions<'_>, _: usize) -> Result<Box<dyn Image>> {
    let mut buf = vec![0u8; Header::SIZE];
    storage.read_zero_padded(&mut buf, 0)?;
    let h = Header::read(&buf).map_err(|e| match e {
        FormatError::BadMagic { .. } => Error::invalid("Image not in qcow format"),
        e => e.into(),
    })?;
    h.check_version()?;
    h.check_size()?;
    h.check_cluster_bits()?;
    h.check_l2_bits()?;
    h.check_crypt_method()?;
    h.check_size_l1_fits()?;
    let backing = if h.backing_file_offset != 0 {
        h.check_backing_file_size()?;
        let mut name = vec![0u8; h.backing_file_size as usize];
        storage.read_zero_padded(&mut name, h.backing_file_offset)?;
        let name = super::qcow2::c_string(&name);
        Some(BackingRef { full_filename: resolve_backing(storage.name(), &name), filename: name, format: None })
    } else {
        None
    };
    Ok(Box::new(Qcow { storage, header: h, backing }))
}

impl Image for Qcow {
    fn format(&self) -> &'static str {
        "qcow"
    }

    fn virtual_size(&self) -> u64 {
        self.header.size / 512 * 512
    }

    fn backing(&self) -> Option<&BackingRef> {
        self.backing.as_ref()
    }

    fn block_status(&self, _: u64, _: u64) -> Result<Extent> {
        Err(Error::unsupported("qimg cannot read qcow images yet"))
    }

    fn read_at(&self, _: &mut [u8], _: u64) -> Result<()> {
        Err(Error::unsupported("qimg cannot read qcow images yet"))
    }

    fn host_file_name(&self, _: HostFile) -> String {
        self.storage.name().to_string()
    }

    fn info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            filename: self.storage.name().to_string(),
            format: "qcow".into(),
            dirty_flag: Some(false),
            actual_size: Some(self.storage.allocated()?),
            virtual_size: self.virtual_size(),
            cluster_size: Some(1 << self.header.cluster_bits),
            encrypted: self.header.crypt_method != CryptMethod::None,
            backing_filename: self.backing.as_ref().map(|b| b.filename.clone()),
            full_backing_filename: self.backing.as_ref().map(|b| b.full_filename.clone()),
            children: vec![file_child(&self.storage)?],
            ..NodeInfo::default()
        })
    }
}
