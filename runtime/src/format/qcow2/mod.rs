//! qcow2: QEMU's copy-on-write format (versions 2 and 3). The on-disk
//! structures are generated from `formats/qcow2.spec`.

mod amend;
mod backing;
mod bitmap;
mod cache;
mod check;
mod corrupt;
pub mod create;
mod crypt;
mod empty;
mod header;
mod map;
pub mod measure;
mod meta;
mod prealloc;
mod read;
mod refcount;
mod refcount_order;
mod resize;
mod shadow;
mod shrink;
mod snapshot;
mod tables;
mod version;
mod write;

use crate::error::{Error, Result};
use crate::image::{file_child, resolve_backing, BackingRef, Extent, HostFile, Image, OpenOptions};
use crate::info::{EncryptInfo, FormatSpecific, NodeInfo, Qcow2Info, SnapshotInfo};
use crate::storage::{Mode, Storage};
use meta::{Geometry, Meta};
use qimg_formats::qcow2::{CompressionType, CryptMethod, Header, L1Table, RefcountTable};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub use header::{c_string, Extensions};
pub use snapshot::Snapshot;

/// How deep a backing chain may be (qemu has no limit; this guards against loops).
const MAX_CHAIN_DEPTH: usize = 128;

/// An open qcow2 image.
pub struct Qcow2 {
    storage: Arc<Storage>,
    data: Option<Arc<Storage>>,
    header: Header,
    geom: Geometry,
    ext: Extensions,
    backing: Option<BackingRef>,
    backing_image: Option<Box<dyn Image>>,
    /// The snapshot table (lock it before `meta` when both are needed).
    snapshots: RwLock<Vec<Snapshot>>,
    /// The LUKS header of a LUKS-encrypted image.
    luks: Option<qimg_formats::luks::Header>,
    /// Warnings qemu prints on open (the CLI shows them on stderr).
    warnings: Vec<String>,
    meta: Mutex<Meta>,
    /// Whether a corruption event was reported already (qemu reports one).
    corruption_reported: AtomicBool,
    /// A fatal corruption was found: the image is no longer used.
    broken: AtomicBool,
    /// Whether the image looks preallocated (decided on first use, as qemu does).
    metadata_prealloc: OnceLock<bool>,
    /// The guest size: the header's, or a loaded snapshot's.
    size: AtomicU64,
    /// Persistent dirty bitmaps.
    bitmaps: bitmap::Bitmaps,
    /// The data cipher of an encrypted image opened for I/O.
    cipher: Option<crypt::DataCipher>,
}

/// Opens a qcow2 image: checks the header and extensions as qemu does,
/// reads the backing file name and the snapshot table; for I/O also the
/// refcount and L1 tables, the data file and the backing chain.
pub fn open(storage: Storage, opts: &OpenOptions<'_>, depth: usize) -> Result<Box<dyn Image>> {
    Ok(Box::new(Qcow2::open(storage, opts, depth)?))
}

/// Reads a table of `count` 8-byte entries at `offset`.
fn read_table(storage: &Storage, offset: u64, count: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (count * 8) as usize];
    storage.read_zero_padded(&mut buf, offset)?;
    Ok(buf)
}

impl Qcow2 {
    fn open(storage: Storage, opts: &OpenOptions<'_>, depth: usize) -> Result<Qcow2> {
        let image = Qcow2::open_image(storage, opts, depth)?;
        if opts.access.write && !opts.check {
            image.repair_if_dirty()?;
        }
        Ok(image)
    }

    fn open_image(storage: Storage, opts: &OpenOptions<'_>, depth: usize) -> Result<Qcow2> {
        let how = header::HeaderOpen { write: opts.access.write, check: opts.check };
        let (header, cluster) = header::read(&storage, how)?;
        let geom = Geometry::of(&header);
        let l1_bytes = read_table(&storage, header.l1_table_offset, header.l1_size as u64)?;
        let l1: Vec<u64> = (0..header.l1_size as usize).filter_map(|i| L1Table::get(&l1_bytes, i).map(|e| e.raw())).collect();
        let rt_entries = RefcountTable::count(&header).unwrap_or(0);
        let rt_bytes = read_table(&storage, header.refcount_table_offset, rt_entries)?;
        let reftable: Vec<u64> =
            (0..rt_entries as usize).filter_map(|i| RefcountTable::get(&rt_bytes, i).map(|e| e.block_offset())).collect();
        let mut warnings = Vec::new();
        let ext = header::read_extensions(&header, &cluster, &mut |w| warnings.push(w))?;
        let data = match (&ext.data_file, header.incompatible_features.external_data_file(), opts.access.io) {
            (Some(name), true, true) => {
                // Unlike backing files, qemu opens the data file by its name as stored.
                let mode = if opts.access.write { Mode::ReadWrite } else { Mode::ReadOnly };
                Some(Arc::new(Storage::open(name, mode)?))
            }
            (None, true, true) => return Err(Error::invalid("'data-file' is required for this image")),
            _ => None,
        };
        let encryption = match header.crypt_method {
            CryptMethod::None => None,
            CryptMethod::Aes => Some("aes"),
            _ => Some("luks"),
        };
        crate::image_opts::check_encrypt_format(opts.keys.encrypt_format, encryption)?;
        let cipher = match (encryption, opts.access.io) {
            (Some(_), true) => {
                if header.crypt_method == CryptMethod::Luks && ext.crypto.is_none() {
                    return Err(Error::invalid(format!(
                        "Missing CRYPTO header for crypt method {}",
                        header.crypt_method.repr()
                    )));
                }
                let Some(pw) = opts.keys.passphrase()? else {
                    return Err(Error::invalid("Parameter 'encrypt.key-secret' is required for cipher"));
                };
                let luks_header = ext.crypto.as_ref().map(|c| (&storage, c.offset));
                let cipher = crate::crypto::qcow2_cipher(header.crypt_method.repr(), luks_header, pw.as_bytes())?;
                Some(crypt::DataCipher { cipher, host_sectors: header.crypt_method == CryptMethod::Luks })
            }
            _ => None,
        };
        let luks = match &ext.crypto {
            Some(c) => Some(super::luks::read_header(&storage, c.offset)?),
            None => None,
        };
        let backing = header::backing_file_name(&header, &cluster)?.map(|name| BackingRef {
            full_filename: resolve_backing(storage.name(), &name),
            filename: name,
            format: ext.backing_format.clone(),
        });
        // A check reads (and may repair) the snapshot table itself.
        let snapshots = match opts.check {
            true => Vec::new(),
            false => snapshot::read_table(&storage, header.snapshots_offset, header.nb_snapshots)?,
        };
        let size = header.size / 512 * 512;
        let bitmaps = bitmap::Bitmaps::load(&storage, &header, ext.bitmaps.as_ref(), size, opts.access.write)?;
        let storage = Arc::new(storage);
        let mut meta = Meta::new(storage.clone(), data.clone(), header.clone(), reftable, l1);
        meta.lazy = opts.access.write && header.version >= 3 && header.compatible_features.lazy_refcounts();
        meta.bitmaps_ext = ext.bitmaps.clone();
        if opts.access.write {
            bitmap::open_read_write(&mut meta, &bitmaps, &ext, backing.as_ref().map(|b| b.filename.as_str()))?;
        }
        let backing_image = match (&backing, opts.access.io && !opts.no_backing) {
            (Some(b), true) => Some(open_backing(b, opts, depth)?),
            _ => None,
        };
        Ok(Qcow2 {
            storage,
            data,
            geom,
            ext,
            backing,
            backing_image,
            snapshots: RwLock::new(snapshots),
            luks,
            warnings,
            meta: Mutex::new(meta),
            corruption_reported: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            metadata_prealloc: OnceLock::new(),
            size: AtomicU64::new(size),
            bitmaps,
            cipher,
            header,
        })
    }

    fn cluster_size_bytes(&self) -> u64 {
        self.geom.cluster_size
    }

    fn format_specific(&self) -> Result<Qcow2Info> {
        let h = &self.header;
        let v3 = h.version >= 3;
        let has_data_file = h.incompatible_features.external_data_file();
        let bitmaps = match &self.ext.bitmaps {
            Some(_) if v3 => Some(self.bitmaps.info()?),
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

impl Qcow2 {
    /// Switches reads to the L1 table of a snapshot (qemu's temporary load).
    fn load_snapshot_tmp(&self, id: Option<&str>, name: Option<&str>) -> Result<()> {
        let snapshots = self.snapshots.read().map_err(|_| Error::errno(libc::EIO))?;
        let found = snapshots.iter().find(|s| {
            id.is_none_or(|i| s.header.id_str == i.as_bytes()) && name.is_none_or(|n| s.header.name == n.as_bytes())
        });
        let Some(snap) = found else { return Err(Error::new(crate::ErrorKind::InvalidInput, "Can't find snapshot").with_errno(libc::ENOENT)) };
        let h = &snap.header;
        if h.l1_size as u64 > (32 << 20) / 8 {
            return Err(Error::invalid("Snapshot L1 table too large"));
        }
        if h.l1_table_offset % self.geom.cluster_size != 0 {
            return Err(Error::invalid("Snapshot L1 table offset invalid"));
        }
        let bytes = read_table(&self.storage, h.l1_table_offset, h.l1_size as u64)?;
        let l1: Vec<u64> = (0..h.l1_size as usize).filter_map(|i| L1Table::get(&bytes, i).map(|e| e.raw())).collect();
        let size = if h.extra_data_size >= 16 { h.disk_size } else { self.header.size };
        self.meta.lock().map_err(|_| Error::errno(libc::EIO))?.l1 = l1;
        self.size.store(size / 512 * 512, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Qcow2 {
    /// Closes the image as qemu does (bitmaps stored, cached metadata
    /// written back, the dirty bit cleared), silently; callers that must
    /// see errors call [`Image::close`] first.
    fn drop(&mut self) {
        let _ = self.inactivate();
    }
}

/// Opens the backing file of an image for reading, with qemu's wrapping of errors.
fn open_backing(b: &BackingRef, opts: &OpenOptions<'_>, depth: usize) -> Result<Box<dyn Image>> {
    if depth >= MAX_CHAIN_DEPTH {
        return Err(Error::invalid(format!("Backing file '{}' creates an infinite loop.", b.full_filename)));
    }
    let bopts = match opts.writable_backing {
        Some(1) => OpenOptions::write(b.format.as_deref()),
        below => OpenOptions {
            writable_backing: below.and_then(|d| d.checked_sub(1)),
            ..OpenOptions::read(b.format.as_deref(), opts.force_share)
        },
    };
    crate::image::open_node_at_depth(&b.full_filename, &bopts, depth + 1).map_err(|e| e.prefix("Could not open backing file"))
}

impl Image for Qcow2 {
    fn format(&self) -> &'static str {
        "qcow2"
    }

    fn virtual_size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    fn load_snapshot(&self, id: Option<&str>, name: Option<&str>) -> Result<()> {
        self.load_snapshot_tmp(id, name)
    }

    fn backing(&self) -> Option<&BackingRef> {
        self.backing.as_ref()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn cluster_size(&self) -> Option<u64> {
        Some(self.cluster_size_bytes())
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<Extent> {
        self.status(offset, len)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.read(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let r = self.write(buf, offset);
        self.mark_dirty(offset, buf.len() as u64)?;
        r
    }

    fn write_zeroes(&self, offset: u64, len: u64, flags: crate::image::ZeroFlags) -> Result<()> {
        let r = self.zero(offset, len, flags.unmap);
        self.mark_dirty(offset, len)?;
        r
    }

    fn write_compressed(&self, buf: &[u8], offset: u64) -> Result<()> {
        let r = self.write_compressed_cluster(buf, offset);
        self.mark_dirty(offset, self.geom.cluster_size)?;
        r
    }

    fn compression(&self) -> Option<crate::compress::Codec> {
        Some(match self.header.compression_type {
            CompressionType::Zstd => crate::compress::Codec::Zstd,
            _ => crate::compress::Codec::Deflate,
        })
    }

    fn write_back(&self) -> Result<()> {
        self.meta.lock().map_err(|_| Error::errno(libc::EIO))?.flush()
    }

    fn flush(&self) -> Result<()> {
        self.write_back()?;
        self.storage.sync()?;
        if let Some(d) = &self.data {
            d.sync()?;
        }
        Ok(())
    }

    fn backing_image(&self) -> Option<&dyn Image> {
        self.backing_image.as_deref()
    }

    fn backing_image_mut(&mut self) -> Option<&mut (dyn Image + 'static)> {
        self.backing_image.as_deref_mut()
    }

    fn make_empty(&self) -> Result<()> {
        self.empty()
    }

    /// qemu's test: an image without a backing file reads as zeros unless
    /// it is preallocated (its first L2 table exists) and encrypted.
    fn has_zero_init(&self) -> bool {
        if self.backing.is_some() {
            return false;
        }
        let preallocated = self.meta.lock().map_or(true, |m| m.l1.first().is_some_and(|e| *e != 0));
        !preallocated || self.header.crypt_method == CryptMethod::None
    }

    fn host_storage(&self, file: HostFile) -> Option<&Storage> {
        Some(self.host(file))
    }

    fn host_file_name(&self, file: HostFile) -> String {
        match file {
            HostFile::Image => self.storage.name().to_string(),
            HostFile::Data => self.ext.data_file.clone().unwrap_or_default(),
        }
    }

    fn snapshot_list(&self) -> Result<Vec<SnapshotInfo>> {
        self.list_snapshots()
    }

    fn snapshot_create(&self, name: &[u8], date: (u32, u32)) -> Result<()> {
        self.create_snapshot(name, date)
    }

    fn snapshot_goto(&self, id_or_name: Option<&str>) -> Result<()> {
        self.goto_snapshot(id_or_name)
    }

    fn snapshot_delete(&self, id: &[u8], name: &[u8]) -> Result<()> {
        self.delete_snapshot(id, name)
    }

    fn resize(
        &mut self,
        size: u64,
        prealloc: prealloc::Prealloc,
        zero_new: bool,
        warn: &mut dyn FnMut(String),
    ) -> Result<()> {
        self.truncate(size, prealloc, zero_new, warn)?;
        self.flush()
    }

    fn amend(&mut self, opts: &crate::opts::Opts, _force: bool, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.amend_options(opts, progress)?;
        self.flush()
    }

    fn change_backing_file(&mut self, name: Option<&str>, format: Option<&str>) -> Result<()> {
        self.set_backing_file(name, format)?;
        self.flush()
    }

    fn info(&self) -> Result<NodeInfo> {
        let snapshots = self.snapshots.read().map_err(|_| Error::errno(libc::EIO))?.iter().map(Snapshot::info).collect();
        Ok(NodeInfo {
            filename: self.storage.name().to_string(),
            format: "qcow2".into(),
            dirty_flag: Some(self.header.incompatible_features.dirty()),
            actual_size: Some(self.storage.allocated()?),
            virtual_size: self.virtual_size(),
            cluster_size: Some(self.cluster_size_bytes()),
            encrypted: self.header.crypt_method != CryptMethod::None,
            backing_filename: self.backing.as_ref().map(|b| b.filename.clone()),
            full_backing_filename: self.backing.as_ref().map(|b| b.full_filename.clone()),
            backing_filename_format: self.backing.as_ref().and_then(|b| b.format.clone()),
            snapshots,
            format_specific: Some(FormatSpecific::Qcow2(self.format_specific()?)),
            children: vec![file_child(&self.storage)?],
        })
    }

    fn check(&self, repair: Option<crate::check::Repair>) -> Result<crate::check::CheckResult> {
        let mut meta = self.meta.lock().map_err(|_| Error::errno(libc::EIO))?;
        self.check_locked(&mut meta, repair)
    }

    fn bitmaps(&self) -> Option<&dyn crate::bitmap::BitmapStore> {
        Some(self)
    }

    fn close(&self) -> Result<()> {
        self.inactivate()
    }
}
