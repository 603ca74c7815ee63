//! qcow2: QEMU's copy-on-write format (versions 2 and 3). The on-disk
//! structures are generated from `formats/qcow2.spec`.

mod bitmap;
mod cache;
pub mod create;
mod header;
mod meta;
mod prealloc;
mod refcount;
mod snapshot;
mod tables;

use crate::error::Result;
use crate::image::{file_child, resolve_backing, BackingRef, Image, OpenOptions};
use crate::info::{EncryptInfo, FormatSpecific, NodeInfo, Qcow2Info, SnapshotInfo};
use crate::storage::Storage;
use qimg_formats::qcow2::{CompressionType, CryptMethod, Header};

pub use header::{c_string, Extensions};
pub use snapshot::Snapshot;

/// An open qcow2 image.
#[derive(Debug)]
pub struct Qcow2 {
    storage: Storage,
    header: Header,
    ext: Extensions,
    backing: Option<BackingRef>,
    snapshots: Vec<Snapshot>,
    /// The LUKS header of a LUKS-encrypted image.
    luks: Option<qimg_formats::luks::Header>,
    /// Warnings qemu prints on open (the CLI shows them on stderr).
    warnings: Vec<String>,
}

/// Opens a qcow2 image: checks the header and extensions as qemu does,
/// reads the backing file name and the snapshot table.
pub fn open(storage: Storage, opts: &OpenOptions<'_>) -> Result<Box<dyn Image>> {
    Ok(Box::new(Qcow2::open(storage, opts)?))
}

impl Qcow2 {
    fn open(storage: Storage, opts: &OpenOptions<'_>) -> Result<Qcow2> {
        let how = header::HeaderOpen { write: opts.access.write, check: false };
        let (header, cluster) = header::read(&storage, how)?;
        let mut warnings = Vec::new();
        let ext = header::read_extensions(&header, &cluster, &mut |w| warnings.push(w))?;
        if header.crypt_method == CryptMethod::Luks && ext.crypto.is_none() && opts.access.io {
            return Err(crate::Error::invalid(format!(
                "Missing CRYPTO header for crypt method {}",
                header.crypt_method.repr()
            )));
        }
        let luks = match &ext.crypto {
            Some(c) => Some(super::luks::read_header(&storage, c.offset)?),
            None => None,
        };
        let backing = header::backing_file_name(&header, &cluster)?.map(|name| BackingRef {
            full_filename: resolve_backing(storage.name(), &name),
            filename: name,
            format: ext.backing_format.clone(),
        });
        let snapshots = snapshot::read_table(&storage, header.snapshots_offset, header.nb_snapshots)?;
        Ok(Qcow2 { storage, header, ext, backing, snapshots, luks, warnings })
    }

    /// Warnings qemu would print while opening this image.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn cluster_size(&self) -> u64 {
        1 << self.header.cluster_bits
    }

    fn format_specific(&self) -> Result<Qcow2Info> {
        let h = &self.header;
        let v3 = h.version >= 3;
        let has_data_file = h.incompatible_features.external_data_file();
        let bitmaps = match &self.ext.bitmaps {
            Some(b) if v3 => Some(bitmap::read_directory(&self.storage, b)?.iter().map(bitmap::info).collect()),
            _ => None,
        };
        Ok(Qcow2Info {
            compat: if v3 { "1.1" } else { "0.10" }.into(),
            data_file: self.ext.data_file.clone(),
            data_file_raw: has_data_file.then(|| h.autoclear_features.raw_external_data()),
            extended_l2: v3.then(|| h.incompatible_features.extended_l2()),
            lazy_refcounts: v3.then(|| h.compatible_features.lazy_refcounts()),
            corrupt: v3.then(|| h.incompatible_features.corrupt()),
            refcount_bits: 1 << h.refcount_order,
            encrypt: match (h.crypt_method, &self.luks) {
                (CryptMethod::Aes, _) => Some(EncryptInfo::Aes),
                (CryptMethod::Luks, Some(l)) => Some(EncryptInfo::Luks(super::luks::info(l)?)),
                _ => None,
            },
            bitmaps,
            compression_type: match h.compression_type {
                CompressionType::Zstd => "zstd",
                _ => "zlib",
            }
            .into(),
        })
    }
}

impl Image for Qcow2 {
    fn format(&self) -> &'static str {
        "qcow2"
    }

    fn virtual_size(&self) -> u64 {
        self.header.size / 512 * 512
    }

    fn backing(&self) -> Option<&BackingRef> {
        self.backing.as_ref()
    }

    fn info(&self) -> Result<NodeInfo> {
        let snapshots = self
            .snapshots
            .iter()
            .map(|s| SnapshotInfo {
                id: String::from_utf8_lossy(&s.header.id_str).into_owned(),
                name: String::from_utf8_lossy(&s.header.name).into_owned(),
                vm_state_size: s.vm_state_size(),
                date_sec: s.header.date_sec as u64,
                date_nsec: s.header.date_nsec as u64,
                vm_clock_nsec: s.header.vm_clock_nsec,
                icount: s.icount(),
            })
            .collect();
        Ok(NodeInfo {
            filename: self.storage.name().to_string(),
            format: "qcow2".into(),
            dirty_flag: Some(self.header.incompatible_features.dirty()),
            actual_size: Some(self.storage.allocated()?),
            virtual_size: self.virtual_size(),
            cluster_size: Some(self.cluster_size()),
            encrypted: self.header.crypt_method != CryptMethod::None,
            backing_filename: self.backing.as_ref().map(|b| b.filename.clone()),
            full_backing_filename: self.backing.as_ref().map(|b| b.full_filename.clone()),
            backing_filename_format: self.backing.as_ref().and_then(|b| b.format.clone()),
            snapshots,
            format_specific: Some(FormatSpecific::Qcow2(self.format_specific()?)),
            children: vec![file_child(&self.storage)?],
        })
    }
}
