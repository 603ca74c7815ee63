//! Creating a qcow2 image. The steps and the allocator are QEMU's, so the
//! file equals the one `qemu-img create` makes with the same options, byte
//! for byte: a minimal header, the refcount table and first block, the three
//! clusters counted, the full header written, the image grown to its size
//! (with preallocation), then the backing file recorded.

use super::header::{write_cluster0, Extensions};
use super::meta::Meta;
pub use super::prealloc::Prealloc;
use crate::create::create_file;
use crate::error::{Error, Result};
use crate::opts::Opts;
use crate::storage::Storage;
use std::sync::Arc;
use qimg_formats::qcow2::{
    AutoclearFeatures, CompatibleFeatures, CompressionType, Header, IncompatibleFeatures, RefcountTable,
    RefcountTableEntry,
};

/// Smallest and largest cluster sizes.
const MIN_CLUSTER_BITS: u32 = 9;
const MAX_CLUSTER_BITS: u32 = 21;
/// Version 3 header length as qemu writes it.
pub(super) const V3_HEADER_LENGTH: u32 = 112;

/// Options of `create -f qcow2`, already typed.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Guest size in bytes (rounded up to 512 by create).
    pub size: u64,
    /// 2 (`compat=0.10`) or 3 (`compat=1.1`).
    pub version: u32,
    pub cluster_size: u64,
    /// Whether the user gave `cluster_size` (changes the "too large" hint).
    pub cluster_size_given: bool,
    pub refcount_bits: u64,
    pub extended_l2: bool,
    pub lazy_refcounts: bool,
    pub zstd: bool,
    pub preallocation: Prealloc,
    pub backing_file: Option<String>,
    pub backing_format: Option<String>,
    pub data_file: Option<String>,
    pub data_file_raw: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            size: 0,
            version: 3,
            cluster_size: 65536,
            cluster_size_given: false,
            refcount_bits: 16,
            extended_l2: false,
            lazy_refcounts: false,
            zstd: false,
            preallocation: Prealloc::Off,
            backing_file: None,
            backing_format: None,
            data_file: None,
            data_file_raw: false,
        }
    }
}

/// Checks the options in qemu's order, with its messages.
fn validate(o: &mut CreateOptions) -> Result<()> {
    let v3_only = |what: &str| {
        Error::invalid(format!(
            "{what} only supported with compatibility level 1.1 and above (use version=v3 or greater)"
        ))
    };
    if o.extended_l2 && o.version < 3 {
        return Err(v3_only("Extended L2 entries are"));
    }
    let cs = o.cluster_size;
    if !cs.is_power_of_two() || !(1 << MIN_CLUSTER_BITS..=1 << MAX_CLUSTER_BITS).contains(&cs) {
        return Err(Error::invalid("Cluster size must be a power of two between 512 and 2048k"));
    }
    if o.extended_l2 && cs < (1 << MIN_CLUSTER_BITS) * 32 {
        return Err(Error::invalid(
            "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes",
        ));
    }
    if o.backing_file.is_some() && o.preallocation != Prealloc::Off && !o.extended_l2 {
        return Err(Error::invalid(
            "Backing file and preallocation can only be used at the same time if extended_l2 is on",
        ));
    }
    if o.backing_format.is_some() && o.backing_file.is_none() {
        return Err(Error::invalid("Backing format cannot be used without backing file"));
    }
    if o.lazy_refcounts && o.version < 3 {
        return Err(v3_only("Lazy refcounts"));
    }
    if o.refcount_bits > 64 || !o.refcount_bits.is_power_of_two() {
        return Err(Error::invalid("Refcount width must be a power of two and may not exceed 64 bits"));
    }
    if o.version < 3 && o.refcount_bits != 16 {
        return Err(Error::invalid(
            "Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)",
        ));
    }
    if o.data_file_raw && o.data_file.is_none() {
        return Err(Error::invalid("data-file-raw requires data-file"));
    }
    if o.data_file_raw && o.backing_file.is_some() {
        return Err(Error::invalid("Backing file and data-file-raw cannot be used at the same time"));
    }
    if o.data_file_raw && o.preallocation == Prealloc::Off {
        o.preallocation = Prealloc::Metadata;
    }
    if o.data_file.is_some() && o.version < 3 {
        return Err(v3_only("External data files are"));
    }
    if o.zstd && o.version < 3 {
        return Err(Error::invalid(
            "Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)",
        ));
    }
    Ok(())
}

/// The header of a new, empty image.
fn initial_header(o: &CreateOptions) -> Header {
    let mut incompatible = IncompatibleFeatures::default();
    incompatible.set_external_data_file(o.data_file.is_some());
    incompatible.set_compression_type(o.zstd);
    incompatible.set_extended_l2(o.extended_l2);
    let mut h = Header {
        version: o.version,
        cluster_bits: o.cluster_size.trailing_zeros(),
        refcount_table_offset: o.cluster_size,
        refcount_table_clusters: 1,
        ..Header::default()
    };
    if o.version >= 3 {
        h.incompatible_features = incompatible;
        h.compatible_features = CompatibleFeatures::default().with_lazy_refcounts(o.lazy_refcounts);
        h.autoclear_features = AutoclearFeatures::default().with_raw_external_data(o.data_file_raw);
        h.refcount_order = o.refcount_bits.trailing_zeros();
        h.header_length = V3_HEADER_LENGTH;
        h.compression_type = if o.zstd { CompressionType::Zstd } else { CompressionType::Zlib };
        h.tail = vec![0; (V3_HEADER_LENGTH as usize) - Header::OFF_TAIL];
    }
    h
}

/// Block driver names QAPI accepts for `backing-fmt`.
const QAPI_DRIVERS: &[&str] = &[
    "blkdebug", "blklogwrites", "blkreplay", "blkverify", "bochs", "cloop", "compress", "copy-before-write",
    "copy-on-read", "dmg", "file", "snapshot-access", "ftp", "ftps", "gluster", "host_cdrom", "host_device", "http",
    "https", "io_uring", "iscsi", "luks", "nbd", "nfs", "null-aio", "null-co", "nvme", "nvme-io_uring", "parallels",
    "preallocate", "qcow", "qcow2", "qed", "quorum", "raw", "rbd", "replication", "ssh", "throttle", "vdi", "vhdx",
    "virtio-blk-vfio-pci", "virtio-blk-vhost-user", "virtio-blk-vhost-vdpa", "vmdk", "vpc", "vvfat",
];

fn not_accepted(param: &str, value: &str) -> Error {
    Error::invalid(format!("Parameter '{param}' does not accept value '{value}'"))
}

/// Turns `-o` options into typed ones, with the checks qemu's option
/// visitor makes (in the order of its schema).
fn options_from(opts: &Opts) -> Result<CreateOptions> {
    let version = match opts.get_str("compat") {
        None | Some("1.1") | Some("v3") => 3,
        Some("0.10") | Some("v2") => 2,
        Some(other) => return Err(not_accepted("version", other)),
    };
    if let Some(f) = opts.get_str("backing_fmt") {
        if !QAPI_DRIVERS.contains(&f) {
            return Err(not_accepted("backing-fmt", f));
        }
    }
    let preallocation = match opts.get_str("preallocation") {
        None | Some("off") => Prealloc::Off,
        Some("metadata") => Prealloc::Metadata,
        Some("falloc") => Prealloc::Falloc,
        Some("full") => Prealloc::Full,
        Some(other) => return Err(not_accepted("preallocation", other)),
    };
    let zstd = match opts.get_str("compression_type") {
        None | Some("zlib") => false,
        Some("zstd") => true,
        Some(other) => return Err(not_accepted("compression-type", other)),
    };
    Ok(CreateOptions {
        size: opts.get_u64("size", 0),
        version,
        cluster_size: opts.get_u64("cluster_size", 65536),
        cluster_size_given: opts.get("cluster_size").is_some(),
        refcount_bits: opts.get_u64("refcount_bits", 16),
        extended_l2: opts.get_bool("extended_l2", false),
        lazy_refcounts: opts.get_bool("lazy_refcounts", false),
        zstd,
        preallocation,
        backing_file: opts.get_str("backing_file").map(str::to_string),
        backing_format: opts.get_str("backing_fmt").map(str::to_string),
        data_file: opts.get_str("data_file").map(str::to_string),
        data_file_raw: opts.get_bool("data_file_raw", false),
    })
}

/// Creates `filename` from `-o` options (see [`create`]).
pub fn create_from_opts(filename: &str, opts: &Opts, warn: &mut dyn FnMut(String)) -> Result<()> {
    if opts.iter().any(|o| o.name == "encryption" || o.name.starts_with("encrypt.")) {
        return Err(Error::unsupported("qimg cannot create encrypted qcow2 images yet"));
    }
    let io = create_file(filename, opts, warn)?;
    let data = match opts.get_str("data_file") {
        Some(d) => match create_file(d, opts, warn) {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = std::fs::remove_file(filename);
                return Err(e);
            }
        },
        None => None,
    };
    finish(filename, io, data, options_from(opts))
}

/// Creates `filename` as a qcow2 image with default file options.
pub fn create(filename: &str, opts: &CreateOptions) -> Result<()> {
    let defaults = Opts::new();
    let io = create_file(filename, &defaults, &mut |_| {})?;
    let data = match &opts.data_file {
        Some(d) => Some(create_file(d, &defaults, &mut |_| {})?),
        None => None,
    };
    finish(filename, io, data, Ok(opts.clone()))
}

/// Checks the options and lays out the image; on failure the new files are
/// removed again, as qemu removes them.
fn finish(filename: &str, io: Storage, data: Option<Storage>, opts: Result<CreateOptions>) -> Result<()> {
    let data_name = opts.as_ref().ok().and_then(|o| o.data_file.clone());
    let result = opts.and_then(|mut o| {
        o.size = o.size.div_ceil(512) * 512;
        validate(&mut o)?;
        build(io, data, &o)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(filename);
        if let Some(d) = data_name {
            let _ = std::fs::remove_file(d);
        }
    }
    result
}

fn build(io: Storage, data: Option<Storage>, o: &CreateOptions) -> Result<()> {
    let cs = o.cluster_size;
    let header = initial_header(o);
    // The minimal header cluster, then the refcount table (entry 0 names the
    // block in cluster 2) and the zeroed block.
    io.write_at(&vec![0u8; cs as usize], 0)?;
    let mut table_and_block = vec![0u8; 2 * cs as usize];
    RefcountTable::set(&mut table_and_block, 0, RefcountTableEntry::new().with_block_offset(2 * cs));
    io.write_at(&table_and_block, cs)?;
    let mut reftable = vec![0u64; (cs / 8) as usize];
    reftable[0] = 2 * cs;
    let mut meta = Meta::new(Arc::new(io), data.map(Arc::new), header, reftable, Vec::new());
    if meta.alloc_clusters(3 * cs)? != 0 {
        return Err(Error::corrupt("qcow2: the first cluster of a new image is in use"));
    }
    let mut ext = Extensions { data_file: o.data_file.clone(), ..Extensions::default() };
    write_cluster0(&mut meta, &ext, None)?;
    meta.grow(o.size, o.preallocation)?;
    meta.flush()?;
    if o.backing_file.is_some() {
        ext.backing_format = o.backing_format.clone();
        write_cluster0(&mut meta, &ext, o.backing_file.as_deref())?;
    }
    Ok(())
}
