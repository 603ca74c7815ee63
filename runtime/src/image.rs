//! Opening images: format choice (explicit or probed), locks, and the
//! [`Image`] trait that every format driver implements.

use crate::error::{Error, Result};
use crate::format::qcow2::create::Prealloc;
use crate::format::{self, Driver};
use crate::info::{ChildInfo, FormatSpecific, NodeInfo, SnapshotInfo};
use crate::lock::{LockRequest, Perm, Perms};
use crate::opts::Opts;
use crate::probe;
use crate::secret::SecretStore;
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
    /// Refuse writers even on formats that would share (qemu-img `convert`
    /// protects its sources this way, raw ones included).
    pub exclusive: bool,
    /// Do not open the backing file (qemu's `BDRV_O_NO_BACKING`), for
    /// commands that only change metadata (`bitmap`).
    pub no_backing: bool,
    /// Where an encrypted image's passphrase comes from.
    pub keys: Keys<'a>,
    /// Opened by `check` (qemu's `BDRV_O_CHECK`): broken metadata that a
    /// check reports or repairs (a corrupt or dirty image, a bad snapshot
    /// table) does not stop the open, and nothing is repaired on the way.
    pub check: bool,
    /// The backing image this many levels below the one opened is opened
    /// read-write (and locked so), the rest of the chain read-only: `commit`
    /// writes into its base this way, as qemu reopens the base read-write.
    pub writable_backing: Option<usize>,
}

/// The key options of an encrypted image (`--object secret,...` and
/// `key-secret`/`encrypt.key-secret`, `encrypt.format` from `--image-opts`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The secrets defined with `--object`.
    pub secrets: Option<&'a SecretStore>,
    /// The id of the secret holding the passphrase.
    pub key_secret: Option<&'a str>,
    /// `encrypt.format` (qcow, qcow2), checked against the image header.
    pub encrypt_format: Option<&'a str>,
}

impl Keys<'_> {
    /// The passphrase, if a secret is named: qemu's errors when it is
    /// missing or not UTF-8. `None` when no secret is named.
    pub fn passphrase(&self) -> Result<Option<&str>> {
        let Some(id) = self.key_secret else { return Ok(None) };
        match self.secrets {
            Some(store) => store.lookup_utf8(id).map(Some),
            None => Err(Error::invalid(format!("No secret with id '{id}'"))),
        }
    }
}

impl<'a> OpenOptions<'a> {
    /// Options for reading guest data (backing files included).
    pub fn read(format: Option<&'a str>, force_share: bool) -> Self {
        OpenOptions { format, access: Access::READ, force_share, exclusive: false, keys: Keys::default(), no_backing: false, check: false, writable_backing: None }
    }

    /// Options for `info`: metadata only.
    pub fn info(format: Option<&'a str>, force_share: bool) -> Self {
        OpenOptions { format, access: Access::INFO, force_share, exclusive: false, keys: Keys::default(), no_backing: false, check: false, writable_backing: None }
    }

    /// Options for writing.
    pub fn write(format: Option<&'a str>) -> Self {
        OpenOptions { format, access: Access::READ_WRITE, force_share: false, exclusive: false, keys: Keys::default(), no_backing: false, check: false, writable_backing: None }
    }

    /// Options for `check`: read-only, or read-write to repair.
    pub fn check(format: Option<&'a str>, repair: bool, force_share: bool) -> Self {
        let access = if repair { Access::READ_WRITE } else { Access::READ };
        OpenOptions { format, access, force_share, exclusive: false, keys: Keys::default(), no_backing: false, check: true, writable_backing: None }
    }
}

/// Which host file holds a piece of guest data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFile {
    /// The image file itself.
    Image,
    /// The image's external data file.
    Data,
}

/// How one layer stores a range of guest data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Plain data; `host` is where it is (none when it cannot be read in
    /// place, e.g. when encrypted). `zero` when the host range is a hole.
    Data { host: Option<(HostFile, u64)>, zero: bool },
    /// Reads as zeros by this layer's decision (not the backing file's);
    /// `host` when a host cluster is still attached.
    Zero { host: Option<(HostFile, u64)> },
    /// Compressed data.
    Compressed,
    /// Not stored in this layer: the backing file, or zeros, show through.
    Unallocated,
    /// Not stored in this layer either, but a host range is already set
    /// aside for it at `host` (qcow2 extended L2: an unallocated subcluster
    /// of an allocated cluster). Reads fall through like [`Status::Unallocated`];
    /// qemu's `map` shows the host offset.
    Reserved { host: (HostFile, u64) },
}

/// A run of guest data with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
    pub status: Status,
}

/// Flags of a zero write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZeroFlags {
    /// Host space may be released.
    pub unmap: bool,
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

    /// Warnings the driver would print after opening.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// The format's allocation unit, if it has one.
    fn cluster_size(&self) -> Option<u64> {
        None
    }

    /// How this layer stores guest data from `offset`: one extent, at most
    /// `len` bytes long (and not past the end of the image).
    fn block_status(&self, offset: u64, len: u64) -> Result<Extent>;

    /// Reads guest data, the backing chain included.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Writes guest data.
    fn write_at(&self, _buf: &[u8], _offset: u64) -> Result<()> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// Makes `[offset, offset + len)` read as zeros.
    fn write_zeroes(&self, _offset: u64, _len: u64, _flags: ZeroFlags) -> Result<()> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// The method compressed clusters use, if the format has compressed clusters.
    fn compression(&self) -> Option<crate::compress::Codec> {
        None
    }

    /// Writes one cluster at `offset`, a cluster boundary; `buf` is the
    /// cluster already compressed with [`Image::compression`]'s method.
    fn write_compressed(&self, _buf: &[u8], _offset: u64) -> Result<()> {
        Err(Error::unsupported("Compression not supported for this file format"))
    }

    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Writes cached metadata back to the file, without waiting for it to
    /// be durable (what closing an image does with `-t unsafe`).
    fn write_back(&self) -> Result<()> {
        Ok(())
    }

    /// Shows the image as of an internal snapshot, read-only (`convert -l`):
    /// by ID and/or name, as qemu matches them.
    fn load_snapshot(&self, _id: Option<&str>, _name: Option<&str>) -> Result<()> {
        Err(Error::unsupported(format!(
            "Block format '{}' used by device '' does not support temporarily loading internal snapshots",
            self.format()
        )))
    }

    /// The opened backing image, if the image has one and it was opened.
    fn backing_image(&self) -> Option<&dyn Image> {
        None
    }

    /// The name of a host file, as `map` shows it.
    fn host_file_name(&self, file: HostFile) -> String;

    /// Whether a new image of this kind reads as zeros without being written.
    fn has_zero_init(&self) -> bool {
        false
    }

    /// The host file a [`Status::Data`] host offset points into, for
    /// copying data without reading it (`convert -C`).
    fn host_storage(&self, _file: HostFile) -> Option<&Storage> {
        None
    }

    /// The file that holds guest byte N at offset N, if the format stores
    /// guest data that way (raw): `convert -C` can copy into it directly.
    fn linear_storage(&self) -> Option<&Storage> {
        None
    }

    /// Checks the image's metadata for consistency and, with `repair`,
    /// repairs what it may (`qemu-img check`). Findings are emitted through
    /// [`crate::diag`] as they are made. An error means the check could not
    /// complete; `ENOTSUP` means the format has no checker.
    fn check(&self, _repair: Option<crate::check::Repair>) -> Result<crate::check::CheckResult> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// The internal snapshots (`snapshot -l`). Formats without them fail
    /// with `ENOTSUP`, which `snapshot -l` shows as an empty list.
    fn snapshot_list(&self) -> Result<Vec<SnapshotInfo>> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// Takes an internal snapshot of the current state named `name` (at most
    /// 255 bytes, as qemu-img passes it), dated `date` (seconds and
    /// nanoseconds since the epoch). The error's message is `strerror` of its
    /// errno, as `Could not create snapshot 'X': ` is followed by in qemu-img.
    fn snapshot_create(&self, _name: &[u8], _date: (u32, u32)) -> Result<()> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// Reverts to the internal snapshot whose ID, or else whose name, is
    /// `id_or_name` (`None`, from qemu-img's `--apply` without a value,
    /// matches nothing). The error's message follows `Could not apply snapshot 'X': `.
    fn snapshot_goto(&self, _id_or_name: Option<&str>) -> Result<()> {
        Err(Error::unsupported("Block driver does not support snapshots").with_errno(libc::ENOTSUP))
    }

    /// Deletes the internal snapshot with exactly this ID and name (as
    /// [`Image::snapshot_list`] gives them, cut to qemu's 127 and 255 bytes).
    /// The error's message follows `Could not delete snapshot 'X': `.
    fn snapshot_delete(&self, _id: &[u8], _name: &[u8]) -> Result<()> {
        Err(Error::unsupported(format!(
            "Block format '{}' used by device '' does not support internal snapshot deletion",
            self.format()
        ))
        .with_errno(libc::ENOTSUP))
    }

    /// Changes the guest size to `size` bytes (qemu's truncate), providing
    /// new space as `prealloc` says. `zero_new`: a backing file has data
    /// past the old end, and the new area must read as zeros nonetheless.
    /// `warn` receives warnings. The change is durable on return.
    fn resize(
        &mut self,
        _size: u64,
        _prealloc: Prealloc,
        _zero_new: bool,
        _warn: &mut dyn FnMut(String),
    ) -> Result<()> {
        Err(Error::unsupported("Image format driver does not support resize").with_errno(libc::ENOTSUP))
    }

    /// Applies `amend` options, already checked against the format's amend
    /// schema (see [`crate::amend::parse_options`]). `force` allows unsafe
    /// changes; `progress(done, total)` reports the work as qemu's status
    /// callback does. The change is durable on return.
    fn amend(&mut self, _opts: &Opts, _force: bool, _progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        Err(Error::unsupported(format!("Block driver '{}' does not support option amendment", self.format())))
    }

    /// Makes the image name another backing file (qemu's
    /// `bdrv_change_backing_file`): `name` stored as given with `format`, or
    /// with `None` no backing file. Only the reference changes (the opened
    /// backing image stays); durable on return. Errors are plain errnos:
    /// `ENOTSUP` for formats without backing files, `ENOSPC` when the name
    /// does not fit, `EINVAL` for a name qemu refuses.
    fn change_backing_file(&mut self, _name: Option<&str>, _format: Option<&str>) -> Result<()> {
        Err(Error::errno(libc::ENOTSUP))
    }

    /// The image's dirty bitmaps, for formats that keep them (qcow2).
    /// Without one, `qemu-img bitmap` finds no bitmap and cannot add one
    /// (see [`crate::bitmap::command`]).
    fn bitmaps(&self) -> Option<&dyn crate::bitmap::BitmapStore> {
        None
    }

    /// The opened backing image, for changing it (`commit` grows its base).
    fn backing_image_mut(&mut self) -> Option<&mut (dyn Image + 'static)> {
        None
    }

    /// Empties the image after its data was committed into its backing
    /// file (qemu's `make_empty`): afterwards every range falls through to
    /// the backing file. The change is durable on return. Formats that
    /// cannot do it say `ENOTSUP`, which `commit` ignores as qemu does.
    fn make_empty(&self) -> Result<()> {
        Err(Error::unsupported("Operation not supported").with_errno(libc::ENOTSUP))
    }

    /// Closes the image as qemu does: stores what must persist (bitmaps)
    /// and writes cached metadata back, reporting what fails. Dropping an
    /// image does the same silently.
    fn close(&self) -> Result<()> {
        self.write_back()
    }
}

/// Reads `buf.len()` bytes at `offset` from an optional backing image: what
/// lies past its end (or everything, without one) reads as zeros.
pub fn read_backing(backing: Option<&dyn Image>, buf: &mut [u8], offset: u64) -> Result<()> {
    match backing {
        Some(b) => {
            let size = b.virtual_size();
            let inside = if offset >= size { 0 } else { (size - offset).min(buf.len() as u64) as usize };
            if inside > 0 {
                b.read_at(&mut buf[..inside], offset)?;
            }
            buf[inside..].fill(0);
            Ok(())
        }
        None => {
            buf.fill(0);
            Ok(())
        }
    }
}

/// The locks QEMU takes for a format with this access: everything a node
/// holds is locked as held; formats other than raw refuse to share write
/// and resize (raw passes its users' sharing through, which is "all").
pub fn lock_request(driver: &Driver, access: Access, force_share: bool, exclusive: bool) -> LockRequest {
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
    let shares = driver.shares_writes && !exclusive;
    let unshared = if force_share || shares { Perms::NONE } else { Perms::of(&[Perm::Write, Perm::Resize]) };
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
    open_node_at_depth(filename, opts, 0)
}

/// [`open_node`] for a backing file `depth` levels below the image opened first.
pub fn open_node_at_depth(filename: &str, opts: &OpenOptions<'_>, depth: usize) -> Result<Box<dyn Image>> {
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
    storage.lock(lock_request(driver, opts.access, opts.force_share, opts.exclusive))?;
    let Some(open) = driver.open else {
        return Err(Error::unsupported(format!("qimg does not read the '{}' format yet", driver.name)));
    };
    open(storage, opts, depth)
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
