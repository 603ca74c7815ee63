//! The qcow2 metadata engine: the in-memory state of an image opened for
//! writing (header, refcount table and blocks, L1 table, L2 cache) and the
//! rules for changing it. Allocation follows QEMU's algorithm step for step,
//! so that an image qimg lays out is the image qemu-img lays out.
//!
//! Ordering (crash consistency): new refcount blocks and tables are written
//! before anything points at them; refcount blocks are flushed before the L2
//! tables and L1 entries that reference what they count; a structure is freed
//! only after its replacement is referenced from the header.

use super::cache::MetaCache;
use crate::error::{Error, Result};
use crate::storage::Storage;
use std::sync::Arc;
use qimg_formats::qcow2::{BitmapsExtension, Header};

/// Bytes of L2 tables kept in memory (enough to map 32 GiB with 64 KiB clusters).
const L2_CACHE_BYTES: u64 = 4 << 20;
/// Bytes of refcount blocks kept in memory.
const REFBLOCK_CACHE_BYTES: u64 = 4 << 20;

/// Why an allocation step stopped.
#[derive(Debug)]
pub(super) enum Fail {
    /// A refcount block was added: the caller restarts its search (qemu's -EAGAIN).
    Again,
    Err(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Err(e)
    }
}

/// Result of an allocation step.
pub(super) type Step<T> = std::result::Result<T, Fail>;

/// Turns a step's result into a plain one (`Again` must have been handled).
pub(super) fn settle<T>(r: Step<T>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(Fail::Err(e)) => Err(e),
        Err(Fail::Again) => Err(Error::corrupt("qcow2: refcount allocation did not settle")),
    }
}

/// Sizes derived from the header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub cluster_bits: u32,
    pub cluster_size: u64,
    pub refcount_order: u32,
    /// log2 of the refcounts per refcount block.
    pub refblock_bits: u32,
    /// log2 of the entries per L2 table.
    pub l2_bits: u32,
    pub extended_l2: bool,
    pub subcluster_size: u64,
}

impl Geometry {
    pub fn of(h: &Header) -> Geometry {
        let cluster_bits = h.cluster_bits;
        let extended_l2 = h.incompatible_features.extended_l2();
        let cluster_size = 1u64 << cluster_bits;
        Geometry {
            cluster_bits,
            cluster_size,
            refcount_order: h.refcount_order,
            refblock_bits: cluster_bits + 3 - h.refcount_order,
            l2_bits: cluster_bits - if extended_l2 { 4 } else { 3 },
            extended_l2,
            subcluster_size: if extended_l2 { cluster_size / 32 } else { cluster_size },
        }
    }

    pub fn refblock_entries(&self) -> u64 {
        1 << self.refblock_bits
    }

    pub fn l2_entries(&self) -> u64 {
        1 << self.l2_bits
    }

    /// Index within its L2 table of the entry covering `guest`.
    pub fn l2_index(&self, guest: u64) -> usize {
        ((guest >> self.cluster_bits) & (self.l2_entries() - 1)) as usize
    }

    pub fn refcount_max(&self) -> u64 {
        let bits = 1u32 << self.refcount_order;
        if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        }
    }

    /// L1 entries needed for a guest of `size` bytes.
    pub fn l1_entries_for(&self, size: u64) -> u64 {
        (size as u128).div_ceil(1u128 << (self.cluster_bits + self.l2_bits)) as u64
    }
}

/// An image's metadata, open for changes.
pub(super) struct Meta {
    pub io: Arc<Storage>,
    /// The external data file, if the image has one.
    pub data: Option<Arc<Storage>>,
    pub header: Header,
    pub geom: Geometry,
    /// Refcount block offsets, one per table entry (0 = none).
    pub reftable: Vec<u64>,
    pub refblocks: MetaCache,
    /// Where the next search for free clusters starts (qemu's free_cluster_index).
    pub free_cluster_index: u64,
    /// Where the next compressed cluster may start, inside a partly used
    /// cluster (0 = none).
    pub free_byte_offset: u64,
    /// Host ranges whose references were dropped from L2 tables still in
    /// the cache: their refcounts go down once those tables are written.
    pub pending_free: Vec<(u64, u64)>,
    /// L1 entries, decoded.
    pub l1: Vec<u64>,
    pub l2: MetaCache,
    /// Lazy refcounts: refcount blocks may reach the disk after the L2
    /// tables that depend on them, once the image is marked dirty.
    pub lazy: bool,
    /// Where the persistent bitmaps' directory is, as cluster 0 must say it
    /// (the bitmap code moves it; every cluster-0 write takes it from here).
    pub bitmaps_ext: Option<BitmapsExtension>,
}

impl Meta {
    /// State for a header whose refcount table is `reftable` and whose L1
    /// table is `l1` (both already read).
    pub fn new(io: Arc<Storage>, data: Option<Arc<Storage>>, header: Header, reftable: Vec<u64>, l1: Vec<u64>) -> Meta {
        let geom = Geometry::of(&header);
        let cs = geom.cluster_size as usize;
        let l2_clusters = (L2_CACHE_BYTES / geom.cluster_size).max(4) as usize;
        let refblock_clusters = (REFBLOCK_CACHE_BYTES / geom.cluster_size).max(4) as usize;
        Meta {
            io,
            data,
            header,
            geom,
            reftable,
            refblocks: MetaCache::new(refblock_clusters, cs),
            free_cluster_index: 0,
            free_byte_offset: 0,
            pending_free: Vec::new(),
            l1,
            l2: MetaCache::new(l2_clusters, cs),
            lazy: false,
            bitmaps_ext: None,
        }
    }

    /// Rewrites the header structure (not the extensions) at offset 0.
    pub fn write_header(&mut self) -> Result<()> {
        let bytes = self.header.to_bytes()?;
        self.io.write_at(&bytes, 0)
    }

    /// With lazy refcounts, marks the image dirty before its first L2 change
    /// (qemu's `qcow2_mark_dirty`): from then on refcounts may lag on disk.
    pub fn note_l2_change(&mut self) -> Result<()> {
        if !self.lazy || self.header.incompatible_features.dirty() {
            return Ok(());
        }
        self.header.incompatible_features.set_dirty(true);
        self.write_header()?;
        self.io.sync()
    }

    /// Whether refcount updates are being deferred (lazy and marked dirty).
    fn deferring(&self) -> bool {
        self.lazy && self.header.incompatible_features.dirty()
    }

    /// Writes back refcount blocks before L2 tables that depend on them,
    /// unless refcount updates are being deferred.
    pub(super) fn refblocks_before_l2(&mut self) -> Result<()> {
        if self.deferring() {
            return Ok(());
        }
        self.refblocks.flush(&self.io)
    }

    /// Writes back every dirty refcount block, then every dirty L2 table
    /// (the other way round when refcounts are deferred, as qemu does),
    /// then drops the references those tables no longer hold.
    pub fn flush(&mut self) -> Result<()> {
        if self.deferring() {
            self.l2.flush(&self.io)?;
        }
        self.refblocks.flush(&self.io)?;
        self.l2.flush(&self.io)?;
        if !self.pending_free.is_empty() {
            for (offset, len) in std::mem::take(&mut self.pending_free) {
                self.free_clusters(offset, len)?;
            }
            self.refblocks.flush(&self.io)?;
        }
        Ok(())
    }

    /// Takes up a new refcount table and active L1 table that the header
    /// (already written) points at, forgetting every cached refcount block
    /// and L2 table.
    pub fn reload(&mut self, reftable: Vec<u64>, l1: Vec<u64>) {
        self.reftable = reftable;
        self.l1 = l1;
        self.refblocks.clear();
        self.l2.clear();
        self.free_cluster_index = 0;
        self.free_byte_offset = 0;
    }

    /// The file that holds guest data.
    pub fn data_file(&self) -> &Storage {
        self.data.as_deref().unwrap_or(&self.io)
    }
}
