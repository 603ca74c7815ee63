//! `qemu-img convert [OPTIONS] SOURCE... TARGET`.
//!
//! Checks, in qemu-img's order: options as scanned (`-o` joinable; `-S` a size that is
//! a multiple of 512 up to 16 MiB; `-r` a size; `-m` an integer in 1..=16; a
//! `snapshot.`-style `-l` checked as options); then, all without the `Try` line:
//! `--skip-broken-bitmaps` needs `--bitmaps`; `-C` excludes `-c`, an explicit `-S` and
//! `--salvage`; `--target-image-opts` needs `-n`; `-n` excludes `-o`;
//! `--target-is-zero` needs `-n`; `-o help` prints the target format's option list
//! (with TARGET when at least two operands are given); at least two operands (`Must
//! specify image file name`); the source cache mode (`Invalid source cache option:
//! X`). qemu-img then starts progress reporting (with `-p`: `    (0.00/100%)\r` and,
//! on failure, a newline) and opens the first source, which fails for `--image-opts`
//! with `-f`. The target cache mode (`-t`) is only checked after the target is
//! created, so it is not validated here.

use std::ffi::OsString;

use qimg_runtime::opts::{accumulate, has_help_option, split, well_formed_id, OptDesc, OptKind, Opts};
use qimg_runtime::units::NumKind;

use super::ctx::{lossy, os, progress_started, val, valid_cache_mode, Ctx};
use super::scan::unhandled;
use super::{Command, Invocation, ObjectDef, OptionsHelp, OptionsHelpKind, UsageError};

/// `-l`: which internal snapshot to read (`convert`, `measure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotParam {
    /// `-l NAME_OR_ID`: matched by id first, then by name.
    IdOrName(String),
    /// `-l snapshot.id=ID,snapshot.name=NAME` (either may be absent).
    Opts {
        /// `snapshot.id`.
        id: Option<String>,
        /// `snapshot.name`.
        name: Option<String>,
    },
}

/// Arguments of `convert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convert {
    /// The sources, concatenated in order (at least one).
    pub sources: Vec<OsString>,
    /// The target.
    pub target: OsString,
    /// `-f`: format of every source; probed when `None`.
    pub source_format: Option<String>,
    /// `--image-opts` (`--source-image-opts`): sources are option strings.
    pub image_opts: bool,
    /// `-T`: cache mode of the sources (validated; default `writeback`).
    pub source_cache: String,
    /// `-l`: read the sources as of this internal snapshot.
    pub snapshot: Option<SnapshotParam>,
    /// `--bitmaps`: copy persistent bitmaps.
    pub bitmaps: bool,
    /// `--skip-broken-bitmaps`.
    pub skip_broken_bitmaps: bool,
    /// `--salvage`: read errors become zeros.
    pub salvage: bool,
    /// `-O`: target format; `raw` by default, `None` only with `--target-image-opts`.
    pub target_format: Option<String>,
    /// `--target-image-opts` (requires `no_create`).
    pub target_image_opts: bool,
    /// The joined `-o` option strings for the new target, unvalidated.
    pub options: Option<String>,
    /// `-t`: target cache mode, *not* validated (default `unsafe`; qemu-img reports
    /// `Invalid cache option: X` only after creating the target).
    pub target_cache: String,
    /// `-B`: backing file of the target.
    pub backing: Option<OsString>,
    /// `-F`: its format.
    pub backing_format: Option<String>,
    /// `-S`: zero runs of at least this many bytes become holes (default 4096,
    /// 0 = fully allocate); a multiple of 512 up to 16 MiB.
    pub sparse_size: u64,
    /// Whether `-S` was given.
    pub sparse_size_given: bool,
    /// `-n`: write into an existing target.
    pub no_create: bool,
    /// `--target-is-zero` (requires `no_create`).
    pub target_is_zero: bool,
    /// `-c`: compress.
    pub compress: bool,
    /// `-U`.
    pub force_share: bool,
    /// `-r`: bytes per second, 0 for no limit.
    pub rate_limit: u64,
    /// `-m`: requests in flight, 1..=16 (default 8).
    pub parallel: u32,
    /// `-W`: allow out-of-order writes.
    pub oob_writes: bool,
    /// `-C`: copy offloading.
    pub copy_range: bool,
    /// `-p` (off when `-q`).
    pub progress: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--object` definitions.
    pub objects: Vec<ObjectDef>,
}

/// Largest `-S`: 32768 sectors.
const MAX_SPARSE: u64 = 32768 * 512;

pub(super) fn parse(ctx: &Ctx, args: &[Vec<u8>]) -> Result<Invocation, UsageError> {
    let mut v = Convert {
        sources: Vec::new(),
        target: OsString::new(),
        source_format: None,
        image_opts: false,
        source_cache: "writeback".into(),
        snapshot: None,
        bitmaps: false,
        skip_broken_bitmaps: false,
        salvage: false,
        target_format: None,
        target_image_opts: false,
        options: None,
        target_cache: "unsafe".into(),
        backing: None,
        backing_format: None,
        sparse_size: 4096,
        sparse_size_given: false,
        no_create: false,
        target_is_zero: false,
        compress: false,
        force_share: false,
        rate_limit: 0,
        parallel: 8,
        oob_writes: false,
        copy_range: false,
        progress: false,
        quiet: false,
        objects: Vec::new(),
    };
    let mut g = ctx.getopt(args);
    while let Some((opt, arg)) = ctx.next_opt(&mut g)? {
        if opt == "object" {
            if let Some(help) = ctx.push_object(arg, &mut v.objects)? {
                return Ok(help);
            }
            continue;
        }
        let a = val(arg);
        match opt {
            "help" => return Ok(ctx.help()),
            "source-format" => v.source_format = Some(lossy(&a)),
            "source-cache" => v.source_cache = lossy(&a),
            "snapshot" => v.snapshot = Some(snapshot_param(ctx, &a)?),
            "output-format" => v.target_format = Some(lossy(&a)),
            "options" => accumulate(&mut v.options, &lossy(&a)).map_err(|e| ctx.error(e))?,
            "output-cache" => v.target_cache = lossy(&a),
            "backing" => v.backing = Some(os(a)),
            "backing-format" => v.backing_format = Some(lossy(&a)),
            "sparse-size" => {
                let s = ctx.size("buffer size for sparse output", &a)?;
                if s % 512 != 0 || s > MAX_SPARSE {
                    return Err(ctx.error(
                        "Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 \
                         up to 16777216. Select 0 to disable sparse detection (fully allocates output).",
                    ));
                }
                v.sparse_size = s;
                v.sparse_size_given = true;
            }
            "no-create" => v.no_create = true,
            "compress" => v.compress = true,
            "force-share" => v.force_share = true,
            "rate" => v.rate_limit = ctx.size("rate limit", &a)?,
            "parallel" => {
                v.parallel = ctx.number("number of coroutines", &a, NumKind::Integer, 1, 16)? as u32
            }
            "oob-writes" => v.oob_writes = true,
            "copy-range-offloading" => v.copy_range = true,
            "progress" => v.progress = true,
            "quiet" => v.quiet = true,
            "image-opts" => v.image_opts = true,
            "bitmaps" => v.bitmaps = true,
            "skip-broken-bitmaps" => v.skip_broken_bitmaps = true,
            "salvage" => v.salvage = true,
            "target-image-opts" => v.target_image_opts = true,
            "target-is-zero" => v.target_is_zero = true,
            other => unhandled(other),
        }
    }
    if v.target_format.is_none() && !v.target_image_opts {
        v.target_format = Some("raw".into());
    }
    let checks = [
        (
            v.skip_broken_bitmaps && !v.bitmaps,
            "Use of --skip-broken-bitmaps requires --bitmaps",
        ),
        (
            v.compress && v.copy_range,
            "Cannot enable copy offloading when -c is used",
        ),
        (
            v.sparse_size_given && v.copy_range,
            "Cannot enable copy offloading when -S is used",
        ),
        (
            v.copy_range && v.salvage,
            "Cannot use copy offloading in salvaging mode",
        ),
        (
            v.target_image_opts && !v.no_create,
            "--target-image-opts requires use of -n flag",
        ),
        (
            v.no_create && v.options.is_some(),
            "-o has no effect when skipping image creation",
        ),
        (
            v.target_is_zero && !v.no_create,
            "--target-is-zero requires use of -n flag",
        ),
    ];
    if let Some((_, msg)) = checks.iter().find(|(failed, _)| *failed) {
        return Err(ctx.error(msg));
    }
    let mut operands = g.into_operands();
    let target = if operands.len() >= 2 {
        operands.pop()
    } else {
        None
    };
    if v.options.as_deref().is_some_and(has_help_option) {
        let Some(format) = v.target_format.clone() else {
            return Err(ctx.error("Option help requires a format be specified"));
        };
        return Ok(Invocation::Command(Command::OptionsHelp(OptionsHelp {
            kind: OptionsHelpKind::Create,
            format,
            filename: target.map(os),
        })));
    }
    let Some(target) = target else {
        return Err(ctx.error("Must specify image file name"));
    };
    if !valid_cache_mode(&v.source_cache) {
        return Err(ctx.error(format!("Invalid source cache option: {}", v.source_cache)));
    }
    if v.quiet {
        v.progress = false;
    }
    ctx.with_pending_stdout(progress_started(v.progress, v.quiet))
        .image_opts_check(v.image_opts, &v.source_format, 1)?;
    v.sources = operands.into_iter().map(os).collect();
    v.target = os(target);
    Ok(Invocation::Command(Command::Convert(v)))
}

/// The options `-l snapshot.…` may set.
const SNAPSHOT_OPTS: &[OptDesc] = &[
    OptDesc::new("snapshot.id", OptKind::String, "snapshot id"),
    OptDesc::new("snapshot.name", OptKind::String, "snapshot name"),
];

/// Parse `-l` like qemu-img: a value starting with `snapshot.` is an option string
/// (errors: the option error, then `Failed in parsing snapshot param 'X'`).
pub(super) fn snapshot_param(ctx: &Ctx, arg: &[u8]) -> Result<SnapshotParam, UsageError> {
    let text = lossy(arg);
    if !text.starts_with("snapshot.") {
        return Ok(SnapshotParam::IdOrName(text));
    }
    let failed = format!("Failed in parsing snapshot param '{text}'");
    let elements = split(&text, None);
    if let Some(id) = elements.iter().find(|o| o.name == "id") {
        if !well_formed_id(&id.value) {
            let msg = "Parameter 'id' expects an identifier\n\
                       Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.";
            return Err(ctx.errors(&[&msg, &failed]));
        }
    }
    let mut opts = Opts::new();
    for el in elements.iter().filter(|o| o.name != "id") {
        opts.set(SNAPSHOT_OPTS, &el.name, &el.value)
            .map_err(|e| ctx.errors(&[&e, &failed]))?;
    }
    Ok(SnapshotParam::Opts {
        id: opts.get_str("snapshot.id").map(String::from),
        name: opts.get_str("snapshot.name").map(String::from),
    })
}
