//! `map`: where each range of guest data lives, listed as `qemu-img map`
//! lists it.
//!
//! [`Mapper`] is qemu-img's `img_map` loop: it asks the chain what `map` sees
//! at the end of the current entry ([`Chain::map_status`]), grows the entry
//! while the answers can be merged into it, and hands out each finished
//! entry. Nothing is read but metadata (and, for raw files and preallocated
//! qcow2 images, the host files' hole maps).

use crate::blockstatus::{BlockStatus, Chain};
use crate::error::Result;
use crate::image::{HostFile, Image};

/// One line of `map` output (qemu's `MapEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapEntry {
    pub start: u64,
    pub length: u64,
    /// The chain layer the range comes from (0 = the image itself).
    pub depth: usize,
    /// Allocated in that layer.
    pub present: bool,
    pub zero: bool,
    pub data: bool,
    pub compressed: bool,
    /// Where the range is in its host file, when known.
    pub offset: Option<u64>,
    /// Which host file of layer `depth` holds it (set exactly when `offset` is).
    file: Option<HostFile>,
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The first guest offset (`--start-offset`).
    pub start: u64,
    /// How many bytes from `start` (`--max-length`); to the end when `None`.
    pub max_length: Option<u64>,
    /// Human output: it does not tell unallocated, zero, and zero-with-data
    /// ranges apart, and merges them (qemu-img rewrites such entries to plain
    /// zeros after printing the one before them, so they coalesce).
    pub coalesce_zeros: bool,
}

/// The entries of `map`, in order. Each item is an entry and whether another
/// follows it; an error ends the list (qemu-img prints what came before it).
pub struct Mapper<'a> {
    chain: Chain<'a>,
    /// The end of the listing (qemu computes it in signed 64 bits).
    end: i64,
    curr: MapEntry,
    coalesce: bool,
    done: bool,
}

/// Lists `image` (with its backing chain) as `qemu-img map` does.
pub fn map<'a>(image: &'a dyn Image, opts: &Options) -> Mapper<'a> {
    let chain = Chain::new(image);
    let size = chain.size() as i64;
    let start = opts.start as i64;
    let end = match opts.max_length {
        // qemu adds without checking; a sum past the range wraps below zero.
        Some(max) => start.wrapping_add(max as i64).min(size),
        None => size,
    };
    let curr = MapEntry { start: opts.start, ..MapEntry::default() };
    Mapper { chain, end, curr, coalesce: opts.coalesce_zeros, done: false }
}

impl Mapper<'_> {
    /// The name of the file an entry's range is in, as qemu-img prints it.
    pub fn file_name(&self, e: &MapEntry) -> Option<String> {
        Some(self.chain.image(e.depth)?.host_file_name(e.file?))
    }

    fn entry(&self, s: &BlockStatus) -> MapEntry {
        MapEntry {
            start: s.offset,
            length: s.len,
            depth: s.depth,
            present: s.allocated,
            zero: s.zero,
            data: s.data,
            compressed: s.compressed,
            offset: s.host.map(|(_, h)| h),
            file: s.host.map(|(f, _)| f),
        }
    }

    /// qemu-img's `entry_mergeable`: same flags, same file, and (when both
    /// have one) host offsets that continue each other.
    fn mergeable(&self, curr: &MapEntry, next: &MapEntry) -> bool {
        if curr.length == 0
            || (curr.zero, curr.data, curr.compressed, curr.depth, curr.present)
                != (next.zero, next.data, next.compressed, next.depth, next.present)
        {
            return false;
        }
        let same_file = match (curr.file, next.file) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b || self.file_name(curr) == self.file_name(next),
            _ => false,
        };
        same_file
            && match (curr.offset, next.offset) {
                (None, None) => true,
                (Some(a), Some(b)) => a.checked_add(curr.length) == Some(b),
                _ => false,
            }
    }
}

impl Iterator for Mapper<'_> {
    type Item = Result<(MapEntry, bool)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let at = self.curr.start.saturating_add(self.curr.length);
            if at as i64 >= self.end {
                self.done = true;
                return Some(Ok((self.curr, false)));
            }
            let next = match self.chain.map_status(at, (self.end - at as i64) as u64) {
                Ok(s) => self.entry(&s),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if self.mergeable(&self.curr, &next) {
                self.curr.length += next.length;
                continue;
            }
            let done = std::mem::replace(&mut self.curr, next);
            if done.length == 0 {
                continue;
            }
            if self.coalesce && (!self.curr.data || self.curr.zero) {
                self.curr.data = false;
                self.curr.zero = true;
            }
            return Some(Ok((done, true)));
        }
    }
}
