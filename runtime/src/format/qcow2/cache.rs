//! A bounded write-back cache of metadata clusters (L2 tables, refcount
//! blocks), keyed by host offset. Dirty entries are written back when evicted
//! or flushed; callers order flushes between caches (refcount blocks reach the
//! disk before the L2 tables that depend on them).

use crate::error::Result;
use crate::storage::Storage;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a host offset with one multiplication (Fibonacci hashing): keys
/// are cluster offsets chosen by the image, and a lookup happens for every
/// cluster a request touches, so SipHash's cost shows. Collisions only cost
/// time: the map stays correct whatever the offsets.
#[derive(Default)]
struct OffsetHasher(u64);

impl Hasher for OffsetHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, offset: u64) {
        // The high bits of the product are the well-mixed ones; hashbrown
        // takes its control bits from the top and its index from the bottom.
        let h = offset.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

#[derive(Debug)]
struct Entry {
    data: Vec<u8>,
    dirty: bool,
    used: u64,
}

/// Cached clusters of one kind.
#[derive(Debug)]
pub struct MetaCache {
    entries: HashMap<u64, Entry, BuildHasherDefault<OffsetHasher>>,
    capacity: usize,
    cluster_size: usize,
    clock: u64,
}

impl MetaCache {
    /// A cache holding at most `capacity` clusters of `cluster_size` bytes.
    pub fn new(capacity: usize, cluster_size: usize) -> MetaCache {
        MetaCache { entries: HashMap::default(), capacity: capacity.max(2), cluster_size, clock: 0 }
    }

    /// Whether another entry can be added without evicting.
    pub fn has_room(&self, offset: u64) -> bool {
        self.entries.len() < self.capacity || self.entries.contains_key(&offset)
    }

    /// The cluster at `offset`, read from `io` on a miss. The caller must have
    /// made room (see [`MetaCache::evict_one`]) before a miss.
    pub fn get(&mut self, io: &Storage, offset: u64) -> Result<&mut Vec<u8>> {
        self.clock += 1;
        let clock = self.clock;
        let e = match self.entries.entry(offset) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut data = vec![0u8; self.cluster_size];
                io.read_zero_padded(&mut data, offset)?;
                v.insert(Entry { data, dirty: false, used: clock })
            }
        };
        e.used = clock;
        Ok(&mut e.data)
    }

    /// Adds a zeroed cluster at `offset` (a freshly allocated table).
    pub fn insert_zeroed(&mut self, offset: u64) -> &mut Vec<u8> {
        self.clock += 1;
        let e = Entry { data: vec![0u8; self.cluster_size], dirty: false, used: self.clock };
        match self.entries.entry(offset) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                o.insert(e);
                &mut o.into_mut().data
            }
            std::collections::hash_map::Entry::Vacant(v) => &mut v.insert(e).data,
        }
    }

    /// Marks the cluster at `offset` as changed.
    pub fn mark_dirty(&mut self, offset: u64) {
        if let Some(e) = self.entries.get_mut(&offset) {
            e.dirty = true;
        }
    }

    /// Forgets the cluster at `offset` without writing it back (it was freed).
    pub fn discard(&mut self, offset: u64) {
        self.entries.remove(&offset);
    }

    /// Forgets every entry, dirty or not (the caller has written back what
    /// it needs, or the entries describe metadata no longer in use).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The least recently used entry, and whether it is dirty.
    pub fn victim(&self) -> Option<(u64, bool)> {
        self.entries.iter().min_by_key(|(_, e)| e.used).map(|(o, e)| (*o, e.dirty))
    }

    /// Writes back (if dirty) and drops the least recently used entry.
    pub fn evict_one(&mut self, io: &Storage) -> Result<()> {
        if let Some((offset, _)) = self.victim() {
            self.write_back(io, offset)?;
            self.entries.remove(&offset);
        }
        Ok(())
    }

    fn write_back(&mut self, io: &Storage, offset: u64) -> Result<()> {
        if let Some(e) = self.entries.get_mut(&offset) {
            if e.dirty {
                io.write_at(&e.data, offset)?;
                e.dirty = false;
            }
        }
        Ok(())
    }

    /// Writes back every dirty entry, in offset order.
    pub fn flush(&mut self, io: &Storage) -> Result<()> {
        let mut dirty: Vec<u64> = self.entries.iter().filter(|(_, e)| e.dirty).map(|(o, _)| *o).collect();
        dirty.sort_unstable();
        for offset in dirty {
            self.write_back(io, offset)?;
        }
        Ok(())
    }
}
