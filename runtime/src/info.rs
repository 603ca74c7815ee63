//! What `info` reports about an image: the data behind qemu's ImageInfo,
//! as typed values. The CLI turns it into qemu's JSON or human text.

/// Information about one node of an image graph (a format or a file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// The name as the user gave it (or as resolved for a backing file).
    pub filename: String,
    /// `qcow2`, `raw`, … or `file` for the host file.
    pub format: String,
    /// Whether the image was not closed cleanly; `None` when the driver does not say.
    pub dirty_flag: Option<bool>,
    /// Bytes allocated on the host.
    pub actual_size: Option<u64>,
    pub virtual_size: u64,
    pub cluster_size: Option<u64>,
    pub encrypted: bool,
    pub backing_filename: Option<String>,
    pub full_backing_filename: Option<String>,
    pub backing_filename_format: Option<String>,
    pub snapshots: Vec<SnapshotInfo>,
    pub format_specific: Option<FormatSpecific>,
    pub children: Vec<ChildInfo>,
}

/// A child node (`file`, `extents.0`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    pub name: String,
    pub info: NodeInfo,
}

/// An internal snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: String,
    pub name: String,
    pub vm_state_size: u64,
    pub date_sec: u64,
    pub date_nsec: u64,
    pub vm_clock_nsec: u64,
    /// `None` when not recorded.
    pub icount: Option<u64>,
}

/// Format-specific information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatSpecific {
    Qcow2(Qcow2Info),
    Luks(LuksInfo),
    /// The host file; `extent_size_hint` is reported on file systems that have one.
    File { extent_size_hint: Option<u64> },
}

/// qcow2's format-specific information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Info {
    /// `0.10` or `1.1`.
    pub compat: String,
    pub data_file: Option<String>,
    pub data_file_raw: Option<bool>,
    pub extended_l2: Option<bool>,
    pub lazy_refcounts: Option<bool>,
    pub corrupt: Option<bool>,
    pub refcount_bits: u64,
    pub encrypt: Option<EncryptInfo>,
    pub bitmaps: Option<Vec<BitmapInfo>>,
    /// `zlib` or `zstd`.
    pub compression_type: String,
}

/// Encryption of a qcow2 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptInfo {
    Aes,
    Luks(LuksInfo),
}

/// A LUKS header, as qemu describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksInfo {
    pub cipher_alg: String,
    pub cipher_mode: String,
    pub ivgen_alg: String,
    pub ivgen_hash_alg: Option<String>,
    pub hash_alg: String,
    pub detached_header: bool,
    /// Bytes.
    pub payload_offset: u64,
    pub master_key_iters: u64,
    pub uuid: String,
    pub slots: Vec<LuksSlot>,
}

/// A LUKS key slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksSlot {
    pub active: bool,
    /// Only reported for active slots.
    pub iters: Option<u64>,
    /// Only reported for active slots.
    pub stripes: Option<u64>,
    /// Bytes.
    pub key_offset: u64,
}

/// A persistent dirty bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapInfo {
    pub name: String,
    pub granularity: u64,
    pub in_use: bool,
    pub auto: bool,
}
