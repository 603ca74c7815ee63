//! Opening images: format choice (explicit or probed), locks, and the
//! [`Image`] trait that every format driver implements.

use crate::error::{Error, Result};
use crate::format::{self, Driver};
use crate::info::{ChildInfo, FormatSpecific, NodeInfo};
use crate::lock::{LockRequest, Perm, Perms};
use crate::probe;
use crate::storage::{Mode, Storage};

/// How an image will be used; decides the open mode and the locks taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Guest data will be read (`false` for `info`, which reads metadata only).
    pub io: bool,
    pub write: bool,
    /// The image file may change size.
    pub resize: bool,
}

impl Access {
    /// Metadata only (`info`).
    pub const INFO: Access = Access { io: false, write: false, resize: false };
    /// Read-only I/O (`check`, `map`, `compare`, `convert` sources).
    pub const READ: Access = Access { io: true, write: false, resize: false };
    /// Read-write I/O.
    pub const READ_WRITE: Access = Access { io: true, write: true, resize: false };
}

/// Options for [`open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions<'a> {
    /// The format; probed when `None`.
    pub format: Option<&'a str>,
    pub access: Access,
    /// `-U`: take no locks that would stop others from writing.
    pub force_share: bool,
}

/// The backing file an image names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingRef {
    /// The name as stored in the image.
    pub filename: String,
    /// The name resolved against the image's directory.
    pub full_filename: String,
    /// The format stored in the image, if any.
    pub format: Option<String>,
}

/// An opened image of some format.
pub trait Image: Send + Sync {
    /// The format's name (`qcow2`, `raw`, …).
    fn format(&self) -> &'static str;
    /// The guest-visible size in bytes.
    fn virtual_size(&self) -> u64;
    /// The backing file this image names, if any.
    fn backing(&self) -> Option<&BackingRef>;
    /// What `info` reports about this image (children included).
    fn info(&self) -> Result<NodeInfo>;
}

/// The locks QEMU takes for a format with this access: everything a node
/// holds is locked as held; formats other than raw refuse to share write
/// and resize (raw passes its users' sharing through, which is "all").
pub fn lock_request(driver: &Driver, access: Access, force_share: bool) -> LockRequest {
    let mut held = Vec::new();
    if access.io {
        held.push(Perm::ConsistentRead);
    }
    if access.write {
        held.push(Perm::Write);
        if access.resize || !driver.shares_writes {
            held.push(Perm::Resize);
        }
    }
    let unshared = if force_share || driver.shares_writes { Perms::NONE } else { Perms::of(&[Perm::Write, Perm::Resize]) };
    LockRequest { held: Perms::of(&held), unshared }
}

/// Opens `filename`. Errors read `Could not open 'FILENAME': REASON` (for a
/// missing file the reason names the file again, as qemu's does).
pub fn open(filename: &str, opts: &OpenOptions<'_>) -> Result<Box<dyn Image>> {
    open_node(filename, opts).map_err(|e| e.prefix(format!("Could not open '{filename}'")))
}

/// Opens `filename` with errors as the format (or the file) gives them,
/// without the `Could not open` wrapper (as for a backing file at create).
pub fn open_node(filename: &str, opts: &OpenOptions<'_>) -> Result<Box<dyn Image>> {
    if opts.force_share && opts.access.write {
        return Err(Error::invalid("force-share=on can only be used with read-only images"));
    }
    let explicit = match opts.format {
        Some(name) => Some(format::driver(name).ok_or_else(|| Error::invalid(format!("Unknown driver '{name}'")))?),
        None => None,
    };
    let mode = if opts.access.write { Mode::ReadWrite } else { Mode::ReadOnly };
    let mut storage = Storage::open(filename, mode)?;
    let driver = match explicit {
        Some(d) => d,
        None => {
            let name = probe_storage(&storage, filename)?;
            format::driver(name).ok_or_else(|| Error::unsupported(format!("Unknown driver '{name}'")))?
        }
    };
    storage.lock(lock_request(driver, opts.access, opts.force_share))?;
    let Some(open) = driver.open else {
        return Err(Error::unsupported(format!("qimg does not read the '{}' format yet", driver.name)));
    };
    open(storage, opts)
}

/// Probes an open file: empty files are raw, otherwise the first
/// [`probe::PROBE_LEN`] bytes (zero-padded) are scored.
pub fn probe_storage(storage: &Storage, filename: &str) -> Result<&'static str> {
    if storage.len()? == 0 {
        return Ok("raw");
    }
    let mut buf = vec![0u8; probe::PROBE_LEN];
    storage.read_zero_padded(&mut buf, 0)?;
    Ok(probe::probe(&buf, filename))
}

/// Resolves a backing file name stored in `image` against the image's
/// directory, as qemu does: absolute names stay, relative ones are joined to
/// the directory part of the image name as given.
pub fn resolve_backing(image: &str, backing: &str) -> String {
    if backing.starts_with('/') {
        return backing.to_string();
    }
    match image.rfind('/') {
        Some(i) => format!("{}{}", &image[..=i], backing),
        None => backing.to_string(),
    }
}

/// Info of the host file node (`Child node '/file'`).
pub fn file_node_info(storage: &Storage) -> Result<NodeInfo> {
    let len = storage.len()?;
    Ok(NodeInfo {
        filename: storage.name().to_string(),
        format: "file".into(),
        dirty_flag: Some(false),
        actual_size: Some(storage.allocated()?),
        virtual_size: len.div_ceil(512) * 512,
        format_specific: Some(FormatSpecific::File { extent_size_hint: None }),
        ..NodeInfo::default()
    })
}

/// The `file` child entry for a format node stored in `storage`.
pub fn file_child(storage: &Storage) -> Result<ChildInfo> {
    Ok(ChildInfo { name: "file".into(), info: file_node_info(storage)? })
}
