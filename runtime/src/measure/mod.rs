//! `measure`: how large a file a new image needs, empty (`--size`) or as a
//! conversion of an existing image, for the target formats that can tell
//! (raw, qcow2, luks). The numbers are qemu's, from its formulas.

mod luks;

pub use luks::luks_payload_size;

use crate::blockstatus::Chain;
use crate::create_opts::{create_schema_with_protocol, is_known_driver};
use crate::error::{Error, Result};
use crate::format;
use crate::image::Image;
use crate::opts::Opts;
use crate::secret::SecretStore;

/// What `measure` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// Bytes the file needs for the data the source holds (or none).
    pub required: u64,
    /// Bytes the file needs with every cluster allocated.
    pub fully_allocated: u64,
    /// Bytes the source's persistent bitmaps would take, when both the
    /// source and the target can hold bitmaps.
    pub bitmaps: Option<u64>,
}

/// A target format that was found, with its option schema.
#[derive(Debug, Clone)]
pub struct Target {
    format: String,
    schema: Vec<crate::opts::OptDesc>,
}

/// Finds the target format, with qemu's messages for unknown formats and
/// formats that cannot create images.
pub fn target(format: &str) -> Result<Target> {
    match create_schema_with_protocol(format) {
        Some(schema) => Ok(Target { format: format.to_string(), schema }),
        None if is_known_driver(format) => {
            Err(Error::unsupported(format!("Format driver '{format}' does not support image creation")))
        }
        None => Err(Error::invalid(format!("Unknown file format '{format}'"))),
    }
}

/// Input to a target format's measure.
pub struct Input<'a> {
    /// The `-o` options, with `--size` set as `size`.
    pub opts: &'a Opts,
    /// The image to convert, if any.
    pub source: Option<&'a dyn Image>,
    /// Secrets defined with `--object` (for encryption options).
    pub secrets: &'a SecretStore,
}

impl Target {
    /// Parses `-o` options (qemu then adds `Invalid options for file format
    /// 'FMT'` to a failure) and sets `--size`, which wins over `-o size=`.
    pub fn options(&self, list: Option<&str>, size: Option<u64>) -> Result<Opts> {
        let mut opts = Opts::new();
        if let Some(list) = list {
            opts.parse_more(&self.schema, list).map_err(|e| Error::invalid(e.to_string()))?;
        }
        if let Some(size) = size {
            opts.take("size");
            opts.set_number(&self.schema, "size", size).map_err(|e| Error::invalid(e.to_string()))?;
        }
        Ok(opts)
    }

    /// Measures, with the format's own rules.
    pub fn measure(&self, input: &Input<'_>) -> Result<Measurement> {
        match self.format.as_str() {
            "raw" => measure_raw(input),
            "qcow2" => format::qcow2::measure::measure(input),
            "luks" => luks::measure(input),
            other => Err(Error::unsupported(format!("Block driver '{other}' does not support size measurement"))),
        }
    }
}

/// raw: the guest size, allocated or not.
fn measure_raw(input: &Input<'_>) -> Result<Measurement> {
    let size = match input.source {
        Some(s) => s.virtual_size(),
        None => input.opts.get_u64("size", 0).div_ceil(512) * 512,
    };
    Ok(Measurement { required: size, fully_allocated: size, bitmaps: None })
}

/// Bytes of the clusters of `cluster_size` that hold data anywhere in the
/// source's chain (zero and unallocated ranges are skipped), as qemu counts
/// them for `measure`. This is the one place measure walks block status.
pub fn data_clusters_bytes(source: &dyn Image, cluster_size: u64) -> Result<u64> {
    let chain = Chain::new(source);
    let size = source.virtual_size();
    let (mut offset, mut required) = (0u64, 0u64);
    while offset < size {
        let st = chain.status_above(offset, size - offset).map_err(|e| {
            let mut out = Error::errno(e.errno.unwrap_or(libc::EIO)).prefix("Unable to get block status");
            out.preamble = e.preamble;
            out
        })?;
        let n = st.len.max(1);
        if !st.zero && st.data && st.allocated {
            // Whole clusters count; the walk goes on after the last one.
            let end = (offset + n).div_ceil(cluster_size) * cluster_size;
            required += end - offset / cluster_size * cluster_size;
            offset = end;
        } else {
            offset += n;
        }
    }
    Ok(required)
}
