//! qcow2's answer to `measure` (qemu's `qcow2_measure`): the metadata a
//! fully allocated image needs for the size and options, plus the data
//! clusters the source holds (all of them when the new image has a backing
//! file, or is preallocated), the LUKS header, and the room the source's
//! persistent bitmaps would take.

use super::bitmap::persistent_bitmaps_size;
use super::refcount::refcount_metadata_size;
use crate::error::{Error, Result};
use crate::measure::{data_clusters_bytes, luks_payload_size, Input, Measurement};
use qimg_formats::qcow2::{L1Table, L2Table, L2TableExtended};

/// qemu's limit on the L1 table: 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;
/// Cluster sizes qcow2 accepts, and the default.
const MIN_CLUSTER_SIZE: u64 = 512;
const MAX_CLUSTER_SIZE: u64 = 2 << 20;
const DEFAULT_CLUSTER_SIZE: u64 = 65536;
/// Extended L2 entries need subclusters (a 32nd of a cluster) of 512 bytes.
const MIN_EXTENDED_L2_CLUSTER_SIZE: u64 = 16384;

/// How the clusters of a new image are provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prealloc {
    /// Metadata only (`off`, `metadata`): data clusters as the source needs.
    Sparse,
    /// `falloc`, `full`: every data cluster.
    Full,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid(msg.into())
}

/// Bytes of a fully allocated image of `size` guest bytes (qemu's
/// `qcow2_calc_prealloc_size`): header, L2 and L1 tables, refcount
/// structures, data.
fn prealloc_size(size: u64, cs: u64, refcount_order: u32, extended_l2: bool) -> u64 {
    let aligned = size.div_ceil(cs).saturating_mul(cs);
    let l2e = if extended_l2 { L2TableExtended::ENTRY_SIZE } else { L2Table::ENTRY_SIZE } as u64;
    let l1e = L1Table::ENTRY_SIZE as u64;
    let nl2e = (aligned / cs).div_ceil(cs / l2e) * (cs / l2e);
    let nl1e = (nl2e * l2e / cs).div_ceil(cs / l1e) * (cs / l1e);
    let meta = cs + nl2e * l2e + nl1e * l1e;
    let (refcounts, _) = refcount_metadata_size(meta.saturating_add(aligned) / cs, cs, refcount_order, false);
    meta.saturating_add(refcounts).saturating_add(aligned)
}

/// Measures a qcow2 target, checking the options in qemu's order with its
/// messages (which differ from `create`'s in places).
pub fn measure(input: &Input<'_>) -> Result<Measurement> {
    let o = input.opts;
    let extended_l2 = o.get_bool("extended_l2", false);
    let cs = o.get_u64("cluster_size", DEFAULT_CLUSTER_SIZE);
    if !cs.is_power_of_two() || !(MIN_CLUSTER_SIZE..=MAX_CLUSTER_SIZE).contains(&cs) {
        return Err(invalid("Cluster size must be a power of two between 512 and 2048k"));
    }
    if extended_l2 && cs < MIN_EXTENDED_L2_CLUSTER_SIZE {
        return Err(invalid(format!(
            "Extended L2 entries are only supported with cluster sizes of at least {MIN_EXTENDED_L2_CLUSTER_SIZE} bytes"
        )));
    }
    let version = match o.get_str("compat") {
        None | Some("1.1") => 3,
        Some("0.10") => 2,
        Some(other) => return Err(invalid(format!("Invalid compatibility level: '{other}'"))),
    };
    let refcount_bits = o.get_u64("refcount_bits", 16);
    if refcount_bits > 64 || !refcount_bits.is_power_of_two() {
        return Err(invalid("Refcount width must be a power of two and may not exceed 64 bits"));
    }
    if version < 3 && refcount_bits != 16 {
        return Err(invalid(
            "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)",
        ));
    }
    let prealloc = match o.get_str("preallocation") {
        None | Some("off") | Some("metadata") => Prealloc::Sparse,
        Some("falloc") | Some("full") => Prealloc::Full,
        Some(other) => return Err(invalid(format!("invalid parameter value: {other}"))),
    };
    let has_backing = o.get("backing_file").is_some();
    let luks = match o.get_str("encrypt.format") {
        Some("luks") => luks_payload_size(o, "encrypt.", input.secrets)?.div_ceil(cs) * cs,
        _ => 0,
    };
    let mut size = o.get_u64("size", 0).div_ceil(cs).saturating_mul(cs);
    let l2e = if extended_l2 { L2TableExtended::ENTRY_SIZE } else { L2Table::ENTRY_SIZE } as u64;
    let l2_tables = (size / cs).div_ceil(cs / l2e);
    if l2_tables.saturating_mul(L1Table::ENTRY_SIZE as u64) > MAX_L1_BYTES {
        return Err(invalid("The image size is too large (try using a larger cluster size)"));
    }
    let mut required = 0;
    if let Some(src) = input.source {
        size = src.virtual_size().div_ceil(cs).saturating_mul(cs);
        required = if has_backing { size } else { data_clusters_bytes(src, cs)? };
    }
    if prealloc == Prealloc::Full {
        required = size;
    }
    let fully_allocated = luks.saturating_add(prealloc_size(size, cs, refcount_bits.trailing_zeros(), extended_l2));
    let bitmaps = match input.source.and_then(|s| s.bitmaps()) {
        Some(store) if version >= 3 && store.supports_persistent() => {
            Some(persistent_bitmaps_size(&store.bitmap_list(), cs))
        }
        _ => None,
    };
    Ok(Measurement { required: fully_allocated - size + required, fully_allocated, bitmaps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prealloc_sizes_match_qemu() {
        // qemu-img measure --size 64M / 1.5G / 1P -O qcow2, and 2M clusters.
        assert_eq!(prealloc_size(64 << 20, 65536, 4, false), 67436544);
        assert_eq!(prealloc_size(3 << 29, 65536, 4, false), 1611071488);
        assert_eq!(prealloc_size(1 << 50, 65536, 4, false), 1126071731945472);
        assert_eq!(prealloc_size(64 << 20, 2 << 20, 4, false), 77594624);
        assert_eq!(prealloc_size(0, 65536, 4, false), 196608);
    }
}
