//! `convert`: opening the sources, creating and opening the target, and
//! running the copy engine, in qemu-img's order and with its messages.

use crate::copy::{self, Options};
use crate::create_opts::create_schema_with_protocol;
use crate::error::{Error, Result};
use crate::format;
use crate::image::{Image, OpenOptions};
use crate::image_ref::ImageRef;
use crate::secret::SecretStore;
use crate::opts::Opts;

/// What to convert, and how.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The sources (`-f` is in each reference).
    pub sources: &'a [ImageRef],
    /// The target; its own format (`--target-image-opts`) wins over `target_format`.
    pub target: &'a ImageRef,
    /// `-O`.
    pub target_format: &'a str,
    /// The secrets `--object` defined.
    pub secrets: &'a SecretStore,
    /// The `-o` option string for a new target.
    pub options: Option<&'a str>,
    /// `-B` and `-F`.
    pub backing: Option<&'a str>,
    pub backing_format: Option<&'a str>,
    /// `-n`: write into an existing target.
    pub no_create: bool,
    pub target_is_zero: bool,
    pub compress: bool,
    /// `-S` in bytes.
    pub sparse_size: u64,
    pub parallel: usize,
    pub oob_writes: bool,
    /// `-r`, bytes per second (0 = none).
    pub rate_limit: u64,
    /// `-t`.
    pub target_cache: &'a str,
    pub force_share: bool,
    /// `-l`: read the sources as of an internal snapshot.
    pub snapshot: Option<SnapshotRef<'a>>,
    /// `--salvage`.
    pub salvage: bool,
    /// `-C`.
    pub copy_offload: bool,
    /// `--bitmaps` (and `--skip-broken-bitmaps`).
    pub bitmaps: Option<BitmapCopy>,
}

/// How `--bitmaps` copies the source's persistent dirty bitmaps.
#[derive(Debug, Clone, Copy)]
pub struct BitmapCopy {
    /// `--skip-broken-bitmaps`: leave inconsistent bitmaps out, with a
    /// warning, instead of refusing them.
    pub skip_broken: bool,
}

/// Which internal snapshot to read.
#[derive(Debug, Clone, Copy)]
pub enum SnapshotRef<'a> {
    /// An ID, or failing that a name.
    IdOrName(&'a str),
    /// `snapshot.id=` and/or `snapshot.name=`.
    Exact { id: Option<&'a str>, name: Option<&'a str> },
}

/// Loads a snapshot into an opened source, as qemu-img does for `-l`.
pub fn load_snapshot(img: &dyn Image, snap: SnapshotRef<'_>) -> Result<()> {
    let r = match snap {
        SnapshotRef::IdOrName(x) => match img.load_snapshot(Some(x), None) {
            Err(e) if matches!(e.errno, Some(libc::ENOENT) | Some(libc::EINVAL)) => img.load_snapshot(None, Some(x)),
            r => r,
        },
        SnapshotRef::Exact { id, name } => img.load_snapshot(id, name),
    };
    r.map_err(|e| e.prefix("Failed to load snapshot"))
}

/// Cache modes and whether each needs the target flushed at the end.
fn cache_flushes(mode: &str) -> Option<bool> {
    match mode {
        "unsafe" => Some(false),
        "writeback" | "none" | "writethrough" | "directsync" => Some(true),
        _ => None,
    }
}

/// Formats whose driver accepts compressed writes.
fn compresses(format: &str) -> bool {
    matches!(format, "qcow2" | "qcow" | "vmdk")
}

/// Runs a conversion. `progress` receives percentages as qemu reports them.
pub fn convert(req: &Request<'_>, progress: &(dyn Fn(f32) + Sync), warn: &copy::Warn<'_>) -> Result<()> {
    let mut sources: Vec<Box<dyn Image>> = Vec::new();
    for source in req.sources {
        let opts = OpenOptions { exclusive: true, ..OpenOptions::read(None, req.force_share) };
        let img = source.open(opts, req.secrets)?;
        if let Some(snap) = req.snapshot {
            load_snapshot(img.as_ref(), snap)?;
        }
        sources.push(img);
    }
    if let Some(b) = req.bitmaps {
        check_source_bitmaps(&sources, b)?;
    }
    let total: u64 = sources.iter().map(|s| s.virtual_size()).sum();
    if format::driver(req.target_format).is_none() {
        return Err(Error::invalid(format!("Unknown file format '{}'", req.target_format)));
    }
    if !req.no_create {
        create_target(req, total)?;
    }
    let Some(flush) = cache_flushes(req.target_cache) else {
        return Err(Error::invalid(format!("Invalid cache option: {}", req.target_cache)));
    };
    let target = req.target.open(OpenOptions::write(Some(req.target_format)), req.secrets)?;
    if req.no_create && target.virtual_size() < total {
        return Err(Error::invalid("output file is smaller than input file"));
    }
    if req.bitmaps.is_some() && !target.bitmaps().is_some_and(|b| b.supports_persistent()) {
        return Err(Error::unsupported(format!("Format driver '{}' does not support bitmaps", target.format())));
    }
    let opts = Options {
        min_sparse: req.sparse_size,
        compress: req.compress,
        workers: req.parallel,
        in_order: !req.oob_writes,
        target_has_backing: req.backing.is_some(),
        base_depth: None,
        keep_zero_ranges: false,
        target_zeroed: req.target_is_zero
            || (!req.no_create && req.sparse_size > 0 && req.backing.is_none() && target.has_zero_init()),
        rate_limit: (req.rate_limit > 0).then_some(req.rate_limit),
        salvage: req.salvage,
        copy_offload: req.copy_offload,
        window: None,
        wording: copy::Wording::AtByte,
    };
    let refs: Vec<&dyn Image> = sources.iter().map(|s| s.as_ref()).collect();
    copy::copy(&refs, target.as_ref(), &opts, progress, warn)?;
    if let (Some(b), [source]) = (req.bitmaps, refs.as_slice()) {
        copy_bitmaps(*source, target.as_ref(), b, warn)?;
        target.close()?;
    }
    if flush {
        target.flush()?;
    } else {
        target.write_back()?;
    }
    Ok(())
}

/// qemu's checks before a copy with `--bitmaps`: one source, able to keep
/// bitmaps, and (unless skipped) none of its persistent ones inconsistent.
fn check_source_bitmaps(sources: &[Box<dyn Image>], b: BitmapCopy) -> Result<()> {
    let [source] = sources else {
        return Err(Error::invalid("Copying bitmaps only possible with single source"));
    };
    let Some(store) = source.bitmaps().filter(|s| s.supports_persistent()) else {
        return Err(Error::unsupported("Source lacks bitmap support"));
    };
    match store.bitmap_list().into_iter().rev().find(|m| m.persistent && m.inconsistent && !b.skip_broken) {
        Some(m) => Err(Error::invalid(format!("Cannot copy inconsistent bitmap '{}'", m.name))
            .with_hint("Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it")),
        None => Ok(()),
    }
}

/// Copies every persistent bitmap of `source` into `target` after the data:
/// made with the same name, granularity and enabled state, then filled
/// with the source's bits (qemu's add and merge).
fn copy_bitmaps(source: &dyn Image, target: &dyn Image, b: BitmapCopy, warn: &copy::Warn<'_>) -> Result<()> {
    let (Some(from), Some(to)) = (source.bitmaps(), target.bitmaps()) else { return Ok(()) };
    for m in from.bitmap_list().into_iter().rev().filter(|m| m.persistent) {
        if m.inconsistent && b.skip_broken {
            warn(None, &format!("Skipping inconsistent bitmap '{}'", m.name));
            continue;
        }
        let created = to.create(&m.name, m.granularity).and_then(|()| match m.enabled {
            true => Ok(()),
            false => to.set_enabled(&m.name, false),
        });
        created.map_err(|e| e.prefix(format!("Failed to create bitmap {}", m.name)))?;
        from.export(&m.name)
            .and_then(|bits| to.merge_into(&m.name, &bits))
            .map_err(|e| e.prefix(format!("Failed to populate bitmap {}", m.name)))?;
    }
    Ok(())
}

/// Creates the target with the format's options, the total size and the
/// backing file (not opened), wrapping errors as qemu does.
fn create_target(req: &Request<'_>, size: u64) -> Result<()> {
    let name = req.target.filename();
    let wrap = |e: Error| e.prefix(format!("{name}: error while converting {}", req.target_format));
    let Some(schema) = create_schema_with_protocol(req.target_format) else {
        return Err(Error::unsupported(format!(
            "Format driver '{}' does not support image creation",
            req.target_format
        )));
    };
    let mut opts = Opts::new();
    if let Some(list) = req.options {
        opts.parse_more(&schema, list).map_err(|e| Error::invalid(e.to_string()))?;
    }
    opts.set_number(&schema, "size", size).map_err(|e| Error::invalid(e.to_string()))?;
    if let Some(b) = req.backing {
        opts.set(&schema, "backing_file", b)
            .map_err(|_| Error::invalid(format!("Backing file not supported for file format '{}'", req.target_format)))?;
    }
    if let Some(f) = req.backing_format {
        opts.set(&schema, "backing_fmt", f).map_err(|_| {
            Error::invalid(format!("Backing file format not supported for file format '{}'", req.target_format))
        })?;
    }
    if req.compress && !compresses(req.target_format) {
        return Err(Error::unsupported("Compression not supported for this file format"));
    }
    if opts.get("backing_file").is_some() && opts.get("backing_fmt").is_none() {
        return Err(Error::invalid("Use of backing file requires explicit backing format"));
    }
    let result = match req.target_format {
        "raw" => format::raw::create(name, &opts, &mut |_| {}),
        "qcow2" => format::qcow2::create::create_from_opts(name, &opts, &mut |_| {}),
        other => Err(Error::unsupported(format!("qimg cannot create '{other}' images yet"))),
    };
    result.map_err(|e| match e.errno {
        Some(libc::EFBIG) => wrap(Error::invalid(format!(
            "The image size is too large for file format '{}'",
            req.target_format
        ))),
        _ => wrap(e),
    })
}
