//! Mapping guest ranges to what the L1 and L2 tables say about them.

use super::meta::{Geometry, Meta};
use crate::error::{c_hex, Error, ErrorKind, Result};
use crate::image::HostFile;
use qimg_formats::qcow2::{L1Entry, L2Entry, L2Table, L2TableExtended};

/// What one piece of a guest range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Plain data at `host` in `file`.
    Data { file: HostFile, host: u64 },
    /// Zeros; `host` when a cluster is still attached.
    Zero { host: Option<u64> },
    /// A compressed cluster (the raw L2 entry).
    Compressed { entry: u64 },
    /// Not allocated in this image.
    Unallocated,
    /// Not allocated either, but inside an allocated cluster whose host
    /// space at `host` is set aside for it (an extended L2 subcluster).
    Reserved { file: HostFile, host: u64 },
}

/// A run of guest bytes with one [`Kind`] (contiguous on the host for data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub offset: u64,
    pub len: u64,
    pub kind: Kind,
}

impl Kind {
    /// The same kind, `delta` guest bytes further on.
    fn advanced(self, delta: u64) -> Kind {
        match self {
            Kind::Data { file, host } => Kind::Data { file, host: host + delta },
            Kind::Zero { host } => Kind::Zero { host: host.map(|h| h + delta) },
            Kind::Reserved { file, host } => Kind::Reserved { file, host: host + delta },
            k => k,
        }
    }
}

impl Meta {
    /// Maps guest `[offset, offset + len)` into at most `max_pieces` pieces
    /// (adjacent pieces of the same kind, contiguous on the host, merged).
    pub fn map_range(&mut self, offset: u64, len: u64, max_pieces: usize) -> Result<Vec<Piece>> {
        let cs = self.geom.cluster_size;
        let sub = self.geom.subcluster_size;
        let end = offset.saturating_add(len);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let l1_index = self.l1_index(pos);
            let region_end = ((l1_index as u64 + 1) << (self.geom.cluster_bits + self.geom.l2_bits)).min(end);
            let l1 = L1Entry::from_raw(self.l1.get(l1_index).copied().unwrap_or(0));
            let l2_offset = l1.l2_offset();
            if l2_offset == 0 {
                push(&mut pieces, Piece { offset: pos, len: region_end - pos, kind: Kind::Unallocated });
            } else {
                if !l2_offset.is_multiple_of(cs) {
                    return Err(corrupt(format!(
                        "L2 table offset {} unaligned (L1 index: {})",
                        c_hex(l2_offset),
                        c_hex(l1_index as u64)
                    )));
                }
                let (geom, data_file) = (self.geom, self.data.is_some());
                let table = self.l2_table(l2_offset)?;
                while pos < region_end {
                    let (kind, run) = classify(&geom, data_file, table, l2_offset, geom.l2_index(pos), pos % cs)?;
                    let run_end = (pos - pos % sub + run).min(region_end);
                    push(&mut pieces, Piece { offset: pos, len: run_end - pos, kind });
                    pos = run_end;
                    if pieces.len() > max_pieces {
                        break;
                    }
                }
            }
            pos = pos.max(region_end.min(end));
            if pieces.len() > max_pieces {
                break;
            }
        }
        pieces.truncate(max_pieces.max(1));
        Ok(pieces)
    }

}

/// The kind of guest data at `in_cluster` of the cluster described by entry
/// `index` of `table`, the L2 table at `l2_offset`, and how many bytes from
/// the start of its (sub)cluster it lasts.
fn classify(
    geom: &Geometry,
    has_data_file: bool,
    table: &[u8],
    l2_offset: u64,
    index: usize,
    in_cluster: u64,
) -> Result<(Kind, u64)> {
        let cs = geom.cluster_size;
        let extended = geom.extended_l2;
        let (entry, bitmap) = if extended {
            let e = L2TableExtended::get(table, index).unwrap_or_default();
            (L2Entry::from_raw(e.descriptor()), Some(e))
        } else {
            (L2Table::get(table, index).unwrap_or_default(), None)
        };
        let raw = entry.raw();
        let host = entry.host_offset();
        let unaligned = || {
            corrupt(format!(
                "Cluster allocation offset {} unaligned (L2 offset: {}, L2 index: {})",
                c_hex(host),
                c_hex(l2_offset),
                c_hex(index as u64)
            ))
        };
        if entry.compressed() {
            return Ok((Kind::Compressed { entry: raw }, cs));
        }
        let file = if has_data_file { HostFile::Data } else { HostFile::Image };
        let allocated = host != 0 || (has_data_file && entry.copied());
        let Some(bits) = bitmap else {
            if entry.zero() {
                if host % cs != 0 {
                    return Err(unaligned());
                }
                return Ok((Kind::Zero { host: (host != 0).then_some(host + in_cluster) }, cs));
            }
            if !allocated {
                return Ok((Kind::Unallocated, cs));
            }
            if host % cs != 0 {
                return Err(unaligned());
            }
            return Ok((Kind::Data { file, host: host + in_cluster }, cs));
        };
        // Extended entries: one of 32 subclusters at a time, runs of equal kind.
        let sub = geom.subcluster_size;
        let first = (in_cluster / sub) as u32;
        let (alloc, zero) = (bits.alloc_bitmap(), bits.zero_bitmap());
        if alloc & zero != 0 {
            return Err(corrupt(format!(
                "Invalid cluster entry found  (L2 offset: {}, L2 index: {})",
                c_hex(l2_offset),
                c_hex(index as u64)
            )));
        }
        let state = |x: u32| (alloc >> x & 1, zero >> x & 1);
        let mut last = first;
        while last + 1 < 32 && state(last + 1) == state(first) {
            last += 1;
        }
        let run = (last as u64 + 1) * sub - first as u64 * sub;
        let kind = match state(first) {
            (_, 1) => Kind::Zero { host: (host != 0).then_some(host + in_cluster) },
            (1, _) if host != 0 => {
                if host % cs != 0 {
                    return Err(unaligned());
                }
                Kind::Data { file, host: host + in_cluster }
            }
            (1, _) => {
                return Err(corrupt(format!(
                    "Invalid cluster entry found  (L2 offset: {}, L2 index: {})",
                    c_hex(l2_offset),
                    c_hex(index as u64)
                )))
            }
            _ if host != 0 => {
                if host % cs != 0 {
                    return Err(unaligned());
                }
                Kind::Reserved { file, host: host + in_cluster }
            }
            _ => Kind::Unallocated,
        };
        Ok((kind, run))
}

fn push(pieces: &mut Vec<Piece>, p: Piece) {
    if let Some(last) = pieces.last_mut() {
        if last.offset + last.len == p.offset && last.kind.advanced(last.len) == p.kind {
            last.len += p.len;
            return;
        }
    }
    pieces.push(p);
}

/// An error standing for a corruption event; the message is what qemu
/// reports about it (the caller decides how: marking or just reporting).
pub fn corrupt(message: String) -> Error {
    Error { kind: ErrorKind::Corrupt, message, hint: None, errno: Some(libc::EIO), preamble: None }
}
