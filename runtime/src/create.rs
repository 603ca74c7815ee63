//! Creating images: what `qemu-img create` does around the format driver.
//! [`prepare`] parses the options against the format's schema, resolves the
//! backing file (opening it for its size unless told not to) and settles the
//! size; the caller prints [`Plan::formatting_line`]; [`Plan::execute`] runs
//! the format's creation. Errors carry qemu's wording, without the file name
//! prefix the CLI adds.

use crate::create_opts::create_schema_with_protocol;
use crate::error::{Error, ErrorKind, Result};
use crate::format;
use crate::image::{self, OpenOptions};
use crate::lock::{LockRequest, Perm, Perms};
use crate::opts::{OptDesc, Opts};
use crate::storage::{Mode, Storage};

/// The extent size hint qemu's file driver sets on new files.
const DEFAULT_EXTENT_SIZE_HINT: u64 = 1 << 20;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub format: &'a str,
    pub filename: &'a str,
    /// The `-o` option string, if any.
    pub options: Option<&'a str>,
    /// The SIZE operand.
    pub size: Option<u64>,
    /// `-b`.
    pub backing: Option<&'a str>,
    /// `-F`.
    pub backing_format: Option<&'a str>,
    /// `-u`: do not open the backing file.
    pub backing_unsafe: bool,
}

/// A checked creation, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    format: String,
    filename: String,
    schema: Vec<OptDesc>,
    opts: Opts,
}

/// Parses and checks a request, as qemu does before it prints `Formatting`.
pub fn prepare(req: &Request<'_>) -> Result<Plan> {
    let schema = create_schema_with_protocol(req.format)
        .ok_or_else(|| match format::driver(req.format) {
            Some(_) => Error::unsupported(format!("Format driver '{}' does not support image creation", req.format)),
            None => Error::invalid(format!("Unknown file format '{}'", req.format)),
        })?;
    let mut opts = Opts::new();
    if let Some(list) = req.options {
        opts.parse_more(&schema, list).map_err(|e| Error::invalid(e.to_string()))?;
    }
    match (opts.get("size").is_some(), req.size) {
        (false, Some(size)) => opts.set_number(&schema, "size", size).map_err(|e| Error::invalid(e.to_string()))?,
        (true, Some(_)) => return Err(Error::invalid("The image size must be specified only once")),
        _ => {}
    }
    if let Some(b) = req.backing {
        opts.set(&schema, "backing_file", b)
            .map_err(|_| Error::invalid(format!("Backing file not supported for file format '{}'", req.format)))?;
    }
    if let Some(f) = req.backing_format {
        opts.set(&schema, "backing_fmt", f).map_err(|_| {
            Error::invalid(format!("Backing file format not supported for file format '{}'", req.format))
        })?;
    }
    let backing_file = opts.get_str("backing_file").map(str::to_string);
    let backing_fmt = opts.get_str("backing_fmt").map(str::to_string);
    if let Some(b) = &backing_file {
        if b == req.filename {
            return Err(Error::invalid("Error: Trying to create an image with the same filename as the backing file"));
        }
        if b.is_empty() {
            return Err(Error::invalid("Expected backing file name, got empty string"));
        }
    }
    let mut size = opts.get("size").map(|o| o.value);
    match (&backing_file, req.backing_unsafe) {
        (Some(b), false) => {
            let full = image::resolve_backing(req.filename, b);
            let backing = image::open_node(
                &full,
                &OpenOptions::read(backing_fmt.as_deref(), true),
            )
            .map_err(|e| e.with_hint("Could not open backing image."))?;
            if backing_fmt.is_none() {
                return Err(Error::invalid("Backing file specified without backing format")
                    .with_hint(format!("Detected format of {}.", backing.format())));
            }
            if size.is_none() {
                opts.set_number(&schema, "size", backing.virtual_size()).map_err(|e| Error::invalid(e.to_string()))?;
                size = opts.get("size").map(|o| o.value);
            }
        }
        (Some(_), true) if backing_fmt.is_none() => {
            return Err(Error::invalid("Backing file specified without backing format"))
        }
        _ => {}
    }
    if size.is_none() {
        return Err(Error::invalid("Image creation needs a size parameter"));
    }
    Ok(Plan { format: req.format.to_string(), filename: req.filename.to_string(), schema, opts })
}

impl Plan {
    /// The line `create` prints before creating (without the newline).
    pub fn formatting_line(&self) -> String {
        format!("Formatting '{}', fmt={} {}", self.filename, self.format, self.opts.format_line(&self.schema))
    }

    /// Creates the image. A failure for lack of room in the format's
    /// addressing is reported as qemu reports it. `warn` receives warnings.
    pub fn execute(&self, warn: &mut dyn FnMut(String)) -> Result<()> {
        let result = match self.format.as_str() {
            "raw" => format::raw::create(&self.filename, &self.opts, warn),
            "qcow2" => format::qcow2::create::create_from_opts(&self.filename, &self.opts, warn),
            other => Err(Error::unsupported(format!("qimg cannot create '{other}' images yet"))),
        };
        result.map_err(|e| match e.errno {
            Some(libc::EFBIG) => Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "The image size is too large for file format '{}'{}",
                    self.format,
                    if self.opts.get("cluster_size").is_some() { " (try using a larger cluster size)" } else { "" }
                ),
            ),
            _ => e,
        })
    }
}

/// Creates (or empties) a host file for a new image, as qemu's file driver
/// does: created if missing, locked for writing, emptied, then given the
/// `nocow` flag and the extent size hint the options ask for. `warn`
/// receives qemu's warning when an explicitly requested hint cannot be set.
pub fn create_file(filename: &str, opts: &Opts, warn: &mut dyn FnMut(String)) -> Result<Storage> {
    let hint = opts.get("extent_size_hint").map(|o| o.value);
    let hint_value = opts.get_u64("extent_size_hint", DEFAULT_EXTENT_SIZE_HINT);
    let hint32 = u32::try_from(hint_value).map_err(|_| Error::invalid("Extent size hint is too large"))?;
    let mut storage = Storage::open(filename, Mode::Create).map_err(|e| {
        let reason = e.message.rsplit_once("': ").map(|(_, r)| r.to_string()).unwrap_or_else(|| e.message.clone());
        Error { message: format!("Could not create '{filename}': {reason}"), ..e }
    })?;
    storage.lock(LockRequest { held: Perms::of(&[Perm::Write, Perm::Resize]), unshared: Perms::of(&[Perm::Resize]) })?;
    storage.set_len(0).map_err(|e| e.prefix("Could not clear the file"))?;
    if opts.get_bool("nocow", false) {
        storage.set_nocow();
    }
    if let Err(e) = storage.set_extent_size_hint(hint32) {
        if hint.is_some() && hint_value != 0 {
            warn(format!("Failed to set extent size hint: {}", e.message));
        }
    }
    Ok(storage)
}
