//! Reading and checking a qcow2 header and its extensions, in the order
//! qemu checks them, so that a broken or hostile image gets qemu's message.

use super::meta::Meta;
use crate::error::{Error, Result};
use crate::storage::Storage;
use qimg_formats::qcow2::{
    BitmapsExtension, CompressionType, CryptMethod, CryptoHeaderExtension, FeatureName, FeatureType, Header,
    HeaderExtension,
};
use qimg_formats::rt::{FixedStr, FormatError};

/// Largest backing format name qemu accepts (its buffer is 16 bytes).
const MAX_BACKING_FORMAT_LEN: usize = 15;
/// qemu's limit on bitmaps per image.
const MAX_BITMAPS: u32 = 65535;
/// qemu's limit on the bitmap directory: 1 KiB per bitmap.
const MAX_BITMAP_DIRECTORY_SIZE: u64 = 1024 * MAX_BITMAPS as u64;

/// What the header extensions say.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    pub backing_format: Option<String>,
    pub data_file: Option<String>,
    pub feature_table: Vec<FeatureName>,
    pub bitmaps: Option<BitmapsExtension>,
    pub crypto: Option<CryptoHeaderExtension>,
    /// Extensions qimg does not know, kept for rewriting: (tag, payload).
    pub unknown: Vec<(u32, Vec<u8>)>,
    /// The bitmaps extension was dropped because the autoclear bit was clear.
    pub bitmaps_inconsistent: bool,
}

/// A C string: the bytes up to the first NUL.
pub fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn not_qcow2(e: FormatError) -> Error {
    match e {
        FormatError::BadMagic { .. } => Error::invalid("Image is not in qcow2 format"),
        e => e.into(),
    }
}

/// How the header is being opened.
#[derive(Debug, Clone, Copy)]
pub struct HeaderOpen {
    /// Opened for writing.
    pub write: bool,
    /// Opened by `check`, which may open corrupt images and skips the
    /// snapshot table checks.
    pub check: bool,
}

/// Reads cluster 0 and checks the header the way qemu's open does, up to and
/// including the L1 table's bounds. Returns the header and cluster 0.
pub fn read(storage: &Storage, how: HeaderOpen) -> Result<(Header, Vec<u8>)> {
    let mut first = vec![0u8; 4096];
    storage.read_zero_padded(&mut first, 0)?;
    let h = Header::read(&first).map_err(not_qcow2)?;
    h.check_version()?;
    h.check_cluster_bits()?;
    h.check_header_length()?;
    let cluster_size = 1u64 << h.cluster_bits;
    if h.header_length as u64 > cluster_size {
        return Err(Error::invalid("qcow2 header exceeds cluster size"));
    }
    h.check_backing_file_offset()?;
    let mut cluster = vec![0u8; cluster_size as usize];
    storage.read_zero_padded(&mut cluster, 0)?;
    let h = Header::read(&cluster).map_err(not_qcow2)?;

    check_compression_type(&h)?;
    let unknown = h.incompatible_features.unknown_bits();
    if unknown != 0 {
        let table = extension_area(&h, &cluster)
            .ok()
            .and_then(|area| HeaderExtension::parse_raw(area).ok().map(|raw| (area, raw)))
            .map(|(area, raw)| {
                raw.entries
                    .iter()
                    .filter(|e| e.tag == HeaderExtension::TAG_FEATURE_NAME_TABLE as u64)
                    .filter_map(|e| HeaderExtension::parse_payload(e.tag as u32, &area[e.data.clone()]).ok())
                    .flat_map(|e| match e {
                        HeaderExtension::FeatureNameTable(t) => t,
                        _ => Vec::new(),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        return Err(Error::unsupported(unsupported_features(&table, unknown)));
    }
    if h.incompatible_features.corrupt() && how.write && !how.check {
        return Err(Error::new(crate::ErrorKind::Corrupt, "qcow2: Image is corrupt; cannot be opened read/write"));
    }
    if h.incompatible_features.extended_l2() && cluster_size / 32 < 512 {
        return Err(Error::invalid(format!("Unsupported subcluster size: {}", cluster_size / 32)));
    }
    h.check_refcount_order()?;
    if h.refcount_table_clusters == 0 && !how.check {
        return Err(Error::invalid("Image does not contain a reference count table"));
    }
    h.check_refcount_table_clusters()?;
    h.check_refcount_table_offset()?;
    if !how.check {
        h.check_nb_snapshots()?;
        h.check_snapshots_offset()?;
    }
    h.check_l1_size()?;
    h.check_l1_table_offset()?;
    let l1_needed = l1_entries_for(&h, h.size);
    if l1_needed > i32::MAX as u128 {
        return Err(Error::new(crate::ErrorKind::Corrupt, "Image is too big"));
    }
    if (h.l1_size as u128) < l1_needed {
        return Err(Error::invalid("L1 table is too small"));
    }
    h.check_crypt_method()?;
    Ok((h, cluster))
}

/// L1 entries needed to map `size` bytes.
pub fn l1_entries_for(h: &Header, size: u64) -> u128 {
    let l2_bits = h.cluster_bits - if h.incompatible_features.extended_l2() { 4 } else { 3 };
    let shift = h.cluster_bits + l2_bits;
    (size as u128).div_ceil(1u128 << shift)
}

fn check_compression_type(h: &Header) -> Result<()> {
    let bit = h.incompatible_features.compression_type();
    match h.compression_type {
        CompressionType::Zlib if bit => {
            Err(Error::invalid("qcow2: Compression type incompatible feature bit must not be set"))
        }
        CompressionType::Zstd if !bit => Err(Error::invalid("qcow2: Compression type incompatible feature bit must be set")),
        CompressionType::Unknown(v) => Err(Error::unsupported(format!("qcow2: unknown compression type: {v}"))),
        _ => Ok(()),
    }
}

/// qemu's list of unsupported features: names from the image's feature
/// table, then any bits it does not name.
fn unsupported_features(table: &[FeatureName], mut mask: u64) -> String {
    let mut names: Vec<String> = Vec::new();
    for f in table {
        if f.name.as_bytes().is_empty() {
            break;
        }
        if f.kind == FeatureType::Incompatible && f.bit < 64 && mask & (1 << f.bit) != 0 {
            names.push(f.name.to_string_lossy());
            mask &= !(1 << f.bit);
        }
    }
    if mask != 0 {
        names.push(format!("Unknown incompatible feature: {mask:x}"));
    }
    format!("Unsupported qcow2 feature(s): {}", names.join(", "))
}

/// The bytes of cluster 0 where extensions may be: from the header's end to
/// the backing file name (or the end of the cluster).
fn extension_area<'a>(h: &Header, cluster: &'a [u8]) -> Result<&'a [u8]> {
    let start = h.header_length as usize;
    let end = if h.backing_file_offset != 0 { h.backing_file_offset as usize } else { cluster.len() };
    Ok(cluster.get(start..end.max(start)).unwrap_or(&[]))
}

/// Reads the header extensions, with qemu's checks and messages. `warn`
/// receives qemu's warnings (printed on stderr by the CLI).
pub fn read_extensions(h: &Header, cluster: &[u8], warn: &mut dyn FnMut(String)) -> Result<Extensions> {
    let area = extension_area(h, cluster)?;
    let raw = HeaderExtension::parse_raw(area).map_err(|e| match e {
        FormatError::Truncated { .. } => Error::invalid("Header extension too large"),
        e => e.into(),
    })?;
    let cluster_size = 1u64 << h.cluster_bits;
    let mut ext = Extensions::default();
    for e in &raw.entries {
        let data = &area[e.data.clone()];
        let len = data.len();
        match e.tag as u32 {
            HeaderExtension::TAG_BACKING_FORMAT => {
                if len > MAX_BACKING_FORMAT_LEN {
                    return Err(Error::invalid(format!(
                        "ERROR: ext_backing_format: len={len} too large (>={})",
                        MAX_BACKING_FORMAT_LEN + 1
                    )));
                }
                ext.backing_format = Some(c_string(data));
            }
            HeaderExtension::TAG_FEATURE_NAME_TABLE => {
                ext.feature_table =
                    data.chunks_exact(FeatureName::SIZE).filter_map(|c| FeatureName::read(c).ok()).collect();
            }
            HeaderExtension::TAG_FULL_DISK_ENCRYPTION => {
                if h.crypt_method != CryptMethod::Luks {
                    return Err(Error::invalid("CRYPTO header extension only expected with LUKS encryption method"));
                }
                if len != CryptoHeaderExtension::SIZE {
                    return Err(Error::invalid(format!(
                        "CRYPTO header extension size {len}, but expected size {}",
                        CryptoHeaderExtension::SIZE
                    )));
                }
                let c = CryptoHeaderExtension::read(data)?;
                if c.offset % cluster_size != 0 {
                    return Err(Error::invalid(format!(
                        "Encryption header offset '{}' is not a multiple of cluster size '{cluster_size}'",
                        c.offset
                    )));
                }
                ext.crypto = Some(c);
            }
            HeaderExtension::TAG_BITMAPS => {
                if len != BitmapsExtension::SIZE {
                    return Err(Error::invalid("bitmaps_ext: Invalid extension length"));
                }
                if !h.autoclear_features.bitmaps() {
                    warn(if h.version < 3 {
                        "This qcow2 v2 image contains bitmaps, but they may have been modified by a program \
                         without persistent bitmap support; so now they must all be considered inconsistent"
                            .into()
                    } else {
                        "a program lacking bitmap support modified this file, so all bitmaps are now considered \
                         inconsistent"
                            .into()
                    });
                    ext.bitmaps_inconsistent = true;
                    continue;
                }
                let b = BitmapsExtension::read(data)?;
                if b.reserved != 0 {
                    return Err(Error::invalid("bitmaps_ext: Reserved field is not zero"));
                }
                if b.nb_bitmaps > MAX_BITMAPS {
                    return Err(Error::invalid(format!(
                        "bitmaps_ext: Image has {} bitmaps, exceeding the QEMU supported maximum of {MAX_BITMAPS}",
                        b.nb_bitmaps
                    )));
                }
                if b.nb_bitmaps == 0 {
                    return Err(Error::invalid("found bitmaps extension with zero bitmaps"));
                }
                if b.bitmap_directory_offset % cluster_size != 0 {
                    return Err(Error::invalid("bitmaps_ext: invalid bitmap directory offset"));
                }
                if b.bitmap_directory_size > MAX_BITMAP_DIRECTORY_SIZE {
                    return Err(Error::invalid(format!(
                        "bitmaps_ext: bitmap directory size ({}) exceeds the maximum supported size ({MAX_BITMAP_DIRECTORY_SIZE})",
                        b.bitmap_directory_size
                    )));
                }
                ext.bitmaps = Some(b);
            }
            HeaderExtension::TAG_EXTERNAL_DATA_FILE => ext.data_file = Some(c_string(data)),
            tag => ext.unknown.push((tag, data.to_vec())),
        }
    }
    Ok(ext)
}

/// Reads the backing file name stored in cluster 0.
pub fn backing_file_name(h: &Header, cluster: &[u8]) -> Result<Option<String>> {
    if h.backing_file_offset == 0 {
        return Ok(None);
    }
    h.check_backing_file_size()?;
    let start = h.backing_file_offset as usize;
    let bytes = cluster.get(start..start + h.backing_file_size as usize).unwrap_or(&[]);
    Ok(Some(c_string(bytes)))
}

/// The feature name table qemu writes into every v3 image with clusters over 4 KiB.
fn feature_table() -> Vec<FeatureName> {
    let names: [(FeatureType, u8, &[u8]); 8] = [
        (FeatureType::Incompatible, 0, b"dirty bit"),
        (FeatureType::Incompatible, 1, b"corrupt bit"),
        (FeatureType::Incompatible, 2, b"external data file"),
        (FeatureType::Incompatible, 3, b"compression type"),
        (FeatureType::Incompatible, 4, b"extended L2 entries"),
        (FeatureType::Compatible, 0, b"lazy refcounts"),
        (FeatureType::Autoclear, 0, b"bitmaps"),
        (FeatureType::Autoclear, 1, b"raw external data"),
    ];
    names
        .iter()
        .map(|(kind, bit, name)| FeatureName { kind: *kind, bit: *bit, name: FixedStr::new(name).unwrap_or_default() })
        .collect()
}

/// Rewrites all of cluster 0 from `meta.header`, `ext` and the backing file
/// name, as qemu's header update does: the header (with any unknown tail
/// fields it had), then the extensions in qemu's order (backing format,
/// data file, encryption header pointer, feature names, bitmaps, unknown
/// ones kept from the file), the end marker and the backing file name.
/// The bitmaps extension is `meta.bitmaps_ext` (not `ext.bitmaps`), which
/// the bitmap code keeps current.
/// Sets the header's backing file offset and size. `ENOSPC` when it all
/// does not fit in one cluster.
pub(super) fn write_cluster0(meta: &mut Meta, ext: &Extensions, backing_file: Option<&str>) -> Result<()> {
    let cs = meta.geom.cluster_size as usize;
    let mut list = Vec::new();
    if let Some(f) = &ext.backing_format {
        list.push(HeaderExtension::BackingFormat(f.as_bytes().to_vec()));
    }
    if let Some(d) = &ext.data_file {
        list.push(HeaderExtension::ExternalDataFile(d.as_bytes().to_vec()));
    }
    if let Some(c) = &ext.crypto {
        list.push(HeaderExtension::FullDiskEncryption(c.clone()));
    }
    if meta.header.version >= 3 && cs > 4096 {
        list.push(HeaderExtension::FeatureNameTable(feature_table()));
    }
    if let Some(b) = &meta.bitmaps_ext {
        list.push(HeaderExtension::Bitmaps(b.clone()));
    }
    list.extend(ext.unknown.iter().map(|(tag, data)| HeaderExtension::Unknown { tag: *tag, data: data.clone() }));
    let mut ext_bytes = HeaderExtension::write_list(&list)?;
    let header_len = meta.header.to_bytes()?.len();
    let name_at = header_len + ext_bytes.len();
    match backing_file {
        Some(name) if name_at + name.len() > cs => return Err(Error::errno(libc::ENOSPC)),
        Some(name) => {
            meta.header.backing_file_offset = name_at as u64;
            meta.header.backing_file_size = name.len() as u32;
        }
        None => {
            meta.header.backing_file_offset = 0;
            meta.header.backing_file_size = 0;
        }
    }
    let mut cluster = meta.header.to_bytes()?;
    cluster.append(&mut ext_bytes);
    if let Some(name) = backing_file {
        cluster.extend_from_slice(name.as_bytes());
    }
    if cluster.len() > cs {
        return Err(Error::errno(libc::ENOSPC));
    }
    cluster.resize(cs, 0);
    meta.io.write_at(&cluster, 0)
}
