//! A dirty bitmap in memory: one bit per `granularity` bytes of guest data,
//! held as fixed-size chunks of its serialised form (one chunk is what one
//! cluster of a qcow2 bitmap holds). Chunks are only materialised when they
//! are changed, so that opening an image with large bitmaps costs nothing
//! until a bitmap is actually modified.
//!
//! Serialised form (qemu's and the qcow2 specification's): bit `i` of the
//! bitmap is bit `i % 8` of byte `i / 8`; it covers guest bytes
//! `[i * granularity, (i + 1) * granularity)`. Bits past the end of the guest
//! are always zero.

use crate::error::Result;
use std::collections::BTreeMap;

/// One chunk of a bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Every bit of the chunk is set.
    Ones,
    /// Stored by the image format at this host offset and not read yet.
    Stored(u64),
    /// The serialised bits, `chunk_bytes` long.
    Bits(Box<[u8]>),
}

/// Reads the serialised bytes of a [`Chunk::Stored`] chunk.
pub type Loader<'a> = dyn FnMut(u64) -> Result<Vec<u8>> + 'a;

/// A dirty bitmap covering `size` guest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyBitmap {
    size: u64,
    granularity_bits: u32,
    chunk_bytes: u64,
    /// Absent chunks are all zeros.
    chunks: BTreeMap<u64, Chunk>,
}

/// Sets bits `[from, to)` of `buf`.
fn set_bits(buf: &mut [u8], from: u64, to: u64) {
    let mut i = from;
    while i < to {
        let byte = (i / 8) as usize;
        if i.is_multiple_of(8) && to - i >= 8 {
            let whole = ((to - i) / 8) as usize;
            if let Some(s) = buf.get_mut(byte..byte + whole) {
                s.fill(0xff);
            }
            i += whole as u64 * 8;
            continue;
        }
        if let Some(b) = buf.get_mut(byte) {
            *b |= 1 << (i % 8);
        }
        i += 1;
    }
}

/// Whether bit `i` of `buf` is set.
fn bit(buf: &[u8], i: u64) -> bool {
    buf.get((i / 8) as usize).is_some_and(|b| b >> (i % 8) & 1 == 1)
}

impl DirtyBitmap {
    /// An empty bitmap over `size` bytes, one bit per `1 << granularity_bits`
    /// bytes, in chunks of `chunk_bytes` serialised bytes.
    pub fn new(size: u64, granularity_bits: u32, chunk_bytes: u64) -> DirtyBitmap {
        DirtyBitmap { size, granularity_bits, chunk_bytes: chunk_bytes.max(8), chunks: BTreeMap::new() }
    }

    /// Guest bytes covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes per bit.
    pub fn granularity(&self) -> u64 {
        1 << self.granularity_bits
    }

    /// log2 of [`DirtyBitmap::granularity`].
    pub fn granularity_bits(&self) -> u32 {
        self.granularity_bits
    }

    /// Serialised bytes per chunk.
    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }

    /// Number of bits.
    pub fn bit_count(&self) -> u64 {
        self.size.div_ceil(self.granularity())
    }

    fn chunk_bits(&self) -> u64 {
        self.chunk_bytes * 8
    }

    /// Serialised size: the bits rounded up to 64-bit words (qemu's unit).
    pub fn serialized_bytes(&self) -> u64 {
        self.bit_count().div_ceil(64) * 8
    }

    /// Number of chunks the serialised form spans.
    pub fn chunk_count(&self) -> u64 {
        self.serialized_bytes().div_ceil(self.chunk_bytes)
    }

    /// Bits of chunk `index` that lie inside the bitmap.
    fn bits_in(&self, index: u64) -> u64 {
        let first = index * self.chunk_bits();
        self.bit_count().saturating_sub(first).min(self.chunk_bits())
    }

    /// Records a chunk as the format stores it (when loading).
    pub fn insert(&mut self, index: u64, chunk: Chunk) {
        if index < self.chunk_count() {
            self.chunks.insert(index, chunk);
        }
    }

    /// The chunks that may hold set bits, in order.
    pub fn chunks(&self) -> impl Iterator<Item = (u64, &Chunk)> {
        self.chunks.iter().map(|(i, c)| (*i, c))
    }

    /// Whether no chunk can hold a set bit.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.chunks.clear();
    }

    /// Reads a stored chunk and clears the bits past the end of the bitmap.
    fn load_bits(&self, index: u64, offset: u64, load: &mut Loader<'_>) -> Result<Box<[u8]>> {
        let mut buf = load(offset)?;
        buf.resize(self.chunk_bytes as usize, 0);
        let valid = self.bits_in(index);
        let full = (valid / 8) as usize;
        if let Some(partial) = buf.get_mut(full) {
            *partial &= ((1u16 << (valid % 8)) - 1) as u8;
        }
        if let Some(rest) = buf.get_mut(full + 1..) {
            rest.fill(0);
        }
        Ok(buf.into_boxed_slice())
    }

    fn ones(&self, index: u64) -> Box<[u8]> {
        let mut buf = vec![0u8; self.chunk_bytes as usize];
        set_bits(&mut buf, 0, self.bits_in(index));
        buf.into_boxed_slice()
    }

    /// The serialised content of chunk `index`; `None` when all its bits are clear.
    pub fn chunk_content(&self, index: u64, load: &mut Loader<'_>) -> Result<Option<Box<[u8]>>> {
        let bits = match self.chunks.get(&index) {
            None => return Ok(None),
            Some(Chunk::Ones) => self.ones(index),
            Some(Chunk::Stored(offset)) => self.load_bits(index, *offset, load)?,
            Some(Chunk::Bits(b)) => b.clone(),
        };
        Ok((!bits.iter().all(|b| *b == 0)).then_some(bits))
    }

    /// Sets the bits covering guest bytes `[offset, offset + len)`.
    pub fn set_range(&mut self, offset: u64, len: u64, load: &mut Loader<'_>) -> Result<()> {
        if len == 0 || offset >= self.size {
            return Ok(());
        }
        let end = offset.saturating_add(len).min(self.size);
        let (first, last) = (offset >> self.granularity_bits, (end - 1) >> self.granularity_bits);
        self.set_bit_range(first, last + 1, load)
    }

    /// Sets bits `[from, to)`.
    fn set_bit_range(&mut self, from: u64, to: u64, load: &mut Loader<'_>) -> Result<()> {
        let per = self.chunk_bits();
        let to = to.min(self.bit_count());
        let mut i = from;
        while i < to {
            let index = i / per;
            let stop = ((index + 1) * per).min(to);
            let mut bits = match self.chunks.remove(&index) {
                Some(Chunk::Ones) => {
                    self.chunks.insert(index, Chunk::Ones);
                    i = stop;
                    continue;
                }
                Some(Chunk::Stored(offset)) => self.load_bits(index, offset, load)?,
                Some(Chunk::Bits(b)) => b,
                None => vec![0u8; self.chunk_bytes as usize].into_boxed_slice(),
            };
            set_bits(&mut bits, i - index * per, stop - index * per);
            self.chunks.insert(index, Chunk::Bits(bits));
            i = stop;
        }
        Ok(())
    }

    /// Calls `f` with each run of set bits, as a guest byte range `[start,
    /// end)` clipped to the bitmap's size, in order (runs that touch across
    /// chunks are joined).
    pub fn for_each_dirty_range(
        &self,
        load: &mut Loader<'_>,
        f: &mut dyn FnMut(u64, u64) -> Result<()>,
    ) -> Result<()> {
        let per = self.chunk_bits();
        let g = self.granularity_bits;
        let mut pending: Option<(u64, u64)> = None;
        for index in self.chunks.keys().copied().collect::<Vec<_>>() {
            let Some(bits) = self.chunk_content(index, load)? else { continue };
            let base = index * per;
            let n = self.bits_in(index);
            let mut i = 0;
            while i < n {
                // Whole clear bytes are skipped at once.
                if i.is_multiple_of(8) && bits.get((i / 8) as usize) == Some(&0) {
                    i += 8;
                    continue;
                }
                if !bit(&bits, i) {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < n && bit(&bits, i) {
                    if i.is_multiple_of(8) && n - i >= 8 && bits.get((i / 8) as usize) == Some(&0xff) {
                        i += 8;
                    } else {
                        i += 1;
                    }
                }
                let (s, e) = ((base + start) << g, ((base + i) << g).min(self.size));
                pending = match pending {
                    Some((ps, pe)) if pe == s => Some((ps, e)),
                    Some((ps, pe)) => {
                        f(ps, pe)?;
                        Some((s, e))
                    }
                    None => Some((s, e)),
                };
            }
        }
        if let Some((s, e)) = pending {
            f(s, e)?;
        }
        Ok(())
    }

    /// The runs of set bits, as guest byte ranges (see
    /// [`DirtyBitmap::for_each_dirty_range`]).
    pub fn dirty_ranges(&self, load: &mut Loader<'_>) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        self.for_each_dirty_range(load, &mut |s, e| {
            out.push((s, e));
            Ok(())
        })?;
        Ok(out)
    }

    /// Sets in this bitmap every bit whose guest range meets a set bit of
    /// `src` (qemu's merge; the granularities may differ). `src` must have no
    /// stored chunks (see [`DirtyBitmap::materialized`]).
    pub fn merge_from(&mut self, src: &DirtyBitmap, load: &mut Loader<'_>) -> Result<()> {
        src.for_each_dirty_range(&mut |_| Ok(Vec::new()), &mut |start, end| self.set_range(start, end - start, load))
    }

    /// A copy with every stored chunk read (all-zero chunks dropped).
    pub fn materialized(&self, load: &mut Loader<'_>) -> Result<DirtyBitmap> {
        let mut out = DirtyBitmap { chunks: BTreeMap::new(), ..self.clone() };
        for (index, chunk) in &self.chunks {
            match chunk {
                Chunk::Stored(_) => {
                    if let Some(bits) = self.chunk_content(*index, load)? {
                        out.chunks.insert(*index, Chunk::Bits(bits));
                    }
                }
                c => {
                    out.chunks.insert(*index, c.clone());
                }
            }
        }
        Ok(out)
    }

    /// Changes the size (qemu's truncate of a bitmap): bits past the new end
    /// are dropped, new bits are clear.
    pub fn resize(&mut self, size: u64, load: &mut Loader<'_>) -> Result<()> {
        let old_bits = self.bit_count();
        let old_last = self.chunk_count();
        self.size = size;
        let keep = self.chunk_count();
        self.chunks.retain(|i, _| *i < keep);
        if self.bit_count() < old_bits && keep > 0 {
            // Clear the tail of the new last chunk.
            let last = keep - 1;
            if let Some(chunk) = self.chunks.remove(&last) {
                let bits = match chunk {
                    Chunk::Ones => self.ones(last),
                    Chunk::Stored(offset) => self.load_bits(last, offset, load)?,
                    Chunk::Bits(b) => {
                        let mut buf = vec![0u8; self.chunk_bytes as usize];
                        set_bits(&mut buf, 0, self.bits_in(last));
                        b.iter().zip(buf.iter()).map(|(x, m)| x & m).collect()
                    }
                };
                self.chunks.insert(last, Chunk::Bits(bits));
            }
        } else if self.bit_count() > old_bits && old_last > 0 {
            // A partial all-ones chunk must not grow into the new bits.
            let last = old_last - 1;
            if self.chunks.get(&last) == Some(&Chunk::Ones) {
                let mut buf = vec![0u8; self.chunk_bytes as usize];
                set_bits(&mut buf, 0, old_bits - last * self.chunk_bits());
                self.chunks.insert(last, Chunk::Bits(buf.into_boxed_slice()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_load(_: u64) -> Result<Vec<u8>> {
        panic!("nothing is stored")
    }

    #[test]
    fn set_range_rounds_out_to_granularity() {
        // 1 MiB at 64 KiB granularity: 16 bits, in 8-byte chunks.
        let mut b = DirtyBitmap::new(1 << 20, 16, 8);
        assert_eq!((b.bit_count(), b.serialized_bytes(), b.chunk_count()), (16, 8, 1));
        b.set_range(65535, 2, &mut no_load).unwrap();
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 131072)]);
        let bits = b.chunk_content(0, &mut no_load).unwrap().unwrap();
        assert_eq!(&bits[..], &[0b11, 0, 0, 0, 0, 0, 0, 0]);
        // Past the end: clipped.
        b.set_range((1 << 20) - 1, 100, &mut no_load).unwrap();
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 131072), (15 << 16, 1 << 20)]);
    }

    #[test]
    fn stored_chunks_are_read_lazily_and_masked() {
        // 10 bits; the stored chunk has garbage past bit 10.
        let mut b = DirtyBitmap::new(10 * 512, 9, 8);
        b.insert(0, Chunk::Stored(4096));
        let mut reads = 0;
        let mut load = |off: u64| {
            assert_eq!(off, 4096);
            reads += 1;
            Ok(vec![0x01, 0xff, 0xff, 0, 0, 0, 0, 0])
        };
        let bits = b.chunk_content(0, &mut load).unwrap().unwrap();
        assert_eq!(&bits[..3], &[0x01, 0x03, 0]);
        b.set_range(512 * 4, 512, &mut load).unwrap();
        assert_eq!(reads, 2);
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 512), (2048, 2560), (4096, 5120)]);
    }

    #[test]
    fn merge_across_granularities() {
        let mut src = DirtyBitmap::new(1 << 20, 12, 512);
        src.set_range(8192, 4096, &mut no_load).unwrap();
        src.set_range(0x30000, 1, &mut no_load).unwrap();
        let mut dst = DirtyBitmap::new(1 << 20, 16, 512);
        dst.merge_from(&src, &mut no_load).unwrap();
        assert_eq!(dst.dirty_ranges(&mut no_load).unwrap(), vec![(0, 0x10000), (0x30000, 0x40000)]);
        let mut fine = DirtyBitmap::new(1 << 20, 9, 512);
        fine.merge_from(&dst, &mut no_load).unwrap();
        assert_eq!(fine.dirty_ranges(&mut no_load).unwrap(), vec![(0, 0x10000), (0x30000, 0x40000)]);
    }

    #[test]
    fn ones_and_resize() {
        let mut b = DirtyBitmap::new(20 * 512, 9, 8);
        b.insert(0, Chunk::Ones);
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 20 * 512)]);
        b.resize(30 * 512, &mut no_load).unwrap();
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 20 * 512)]);
        b.resize(5 * 512, &mut no_load).unwrap();
        assert_eq!(b.dirty_ranges(&mut no_load).unwrap(), vec![(0, 5 * 512)]);
        b.clear();
        assert!(b.is_empty());
    }
}
