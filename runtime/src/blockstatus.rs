//! Block status over a backing chain, exactly as qemu reports it.
//!
//! Every command that asks "what is at this offset?" goes through here:
//! `map` (qemu-img's `get_block_status`, a walk that stops at the first layer
//! with data or zeros), and `compare`, `convert` and the copy engine
//! (qemu's `bdrv_block_status_above`, a walk that stops at the first layer
//! that *allocates* the range). Both are built on [`Chain::layer_status`],
//! qemu's per-node `bdrv_co_do_block_status`: a driver's [`Status`] turned
//! into qemu's `BDRV_BLOCK_*` flags, with qemu's extent lengths.
//!
//! The flags are qemu's, not a simplification of them, because scripts see
//! them: `map --output=json` prints `present`/`zero`/`data`/`compressed`/
//! `offset`, and `compare -s` compares the whole flag word, the end-of-file
//! flag included. Some consequences worth knowing:
//!
//! - A range no layer allocates is `zero` (not `present`), its depth that of
//!   the bottom layer.
//! - A range of an overlay past the end of a shorter backing file is `zero`.
//!   Seen from a single layer (`map`), it is not `present`, at the overlay's
//!   depth; seen from above (`compare`), qemu treats the zeros as allocated
//!   by the short backing file.
//! - Extent lengths are the drivers' (which bound them as qemu's do: a qcow2
//!   answer never crosses an L2 table nor exceeds `INT_MAX` bytes; a raw
//!   answer runs to the next hole/data boundary). `compare` and `convert`
//!   step through the guest in these lengths, so progress output and
//!   `compare -s` results depend on them.

use crate::error::{Error, Result};
use crate::image::{HostFile, Image, Status};
use std::cell::Cell;

/// qemu's `BDRV_BLOCK_DATA`: the range reads from a data area.
pub const BDRV_BLOCK_DATA: u32 = 0x01;
/// qemu's `BDRV_BLOCK_ZERO`: the range reads as zeros.
pub const BDRV_BLOCK_ZERO: u32 = 0x02;
/// qemu's `BDRV_BLOCK_OFFSET_VALID`: the host offset is known.
pub const BDRV_BLOCK_OFFSET_VALID: u32 = 0x04;
/// qemu's `BDRV_BLOCK_ALLOCATED`: the layer (not its backing file) decides the content.
pub const BDRV_BLOCK_ALLOCATED: u32 = 0x10;
/// qemu's `BDRV_BLOCK_EOF`: the range ends at the end of the image.
pub const BDRV_BLOCK_EOF: u32 = 0x20;
/// qemu's `BDRV_BLOCK_COMPRESSED`: the range is stored compressed.
pub const BDRV_BLOCK_COMPRESSED: u32 = 0x80;

/// What qemu says about one range of guest data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockStatus {
    pub offset: u64,
    /// How far the answer holds (qemu's `pnum`); 0 only past the end.
    pub len: u64,
    /// The layer the answer comes from: 0 is the top image.
    pub depth: usize,
    /// `BDRV_BLOCK_DATA`.
    pub data: bool,
    /// `BDRV_BLOCK_ZERO`.
    pub zero: bool,
    /// `BDRV_BLOCK_ALLOCATED` (`present` in `map`).
    pub allocated: bool,
    /// `BDRV_BLOCK_COMPRESSED`.
    pub compressed: bool,
    /// `BDRV_BLOCK_EOF`.
    pub eof: bool,
    /// The host file of layer `depth` and offset in it (`BDRV_BLOCK_OFFSET_VALID`).
    pub host: Option<(HostFile, u64)>,
}

impl BlockStatus {
    /// qemu's flag word (what `compare -s` compares).
    pub fn bits(&self) -> u32 {
        let mut b = 0;
        for (on, bit) in [
            (self.data, BDRV_BLOCK_DATA),
            (self.zero, BDRV_BLOCK_ZERO),
            (self.host.is_some(), BDRV_BLOCK_OFFSET_VALID),
            (self.allocated, BDRV_BLOCK_ALLOCATED),
            (self.eof, BDRV_BLOCK_EOF),
            (self.compressed, BDRV_BLOCK_COMPRESSED),
        ] {
            if on {
                b |= bit;
            }
        }
        b
    }

    fn empty(offset: u64, depth: usize) -> BlockStatus {
        BlockStatus { offset, depth, ..BlockStatus::default() }
    }
}

/// One image of a chain, with what bounds qemu's answers about it.
struct Layer<'a> {
    image: &'a dyn Image,
    size: u64,
    /// Whether the format can have a backing file (qemu's `supports_backing`):
    /// only those turn "unallocated, nothing below" into zeros.
    supports_backing: bool,
    /// The driver's last answer (see [`Layer::driver_status`]).
    last: Cell<Option<Answer>>,
}

/// A driver's answer, kept to answer questions about the rest of its range.
#[derive(Debug, Clone, Copy)]
struct Answer {
    offset: u64,
    len: u64,
    status: Status,
    /// The answer ended before the end of the question, so its end is a real
    /// boundary (not just where the question stopped).
    ends_there: bool,
}

impl Layer<'_> {
    /// The driver's status at `offset`, at most `bytes` long. Walks ask again
    /// every few megabytes inside one long extent (compare reads 2 MiB at a
    /// time, as qemu-img does); the driver's last answer holds for the rest of
    /// its range, so those questions are answered without asking it (for
    /// qcow2, without scanning the L2 table again under the image's lock).
    /// Drivers' answers about a suffix of a range they described are that
    /// range's suffix, so this gives what asking would give.
    fn driver_status(&self, offset: u64, bytes: u64) -> Result<(u64, Status)> {
        if let Some(a) = self.last.get() {
            let end = a.offset + a.len;
            if offset >= a.offset && offset < end && (a.ends_there || offset + bytes <= end) {
                return Ok(((end - offset).min(bytes), advance(a.status, offset - a.offset)));
            }
        }
        let e = self.image.block_status(offset, bytes)?;
        if e.len == 0 {
            // A driver must make progress; an empty answer would loop forever.
            return Err(Error::errno(libc::EIO));
        }
        let len = e.len.min(bytes);
        self.last.set(Some(Answer { offset, len, status: e.status, ends_there: len < bytes }));
        Ok((len, e.status))
    }
}

/// A status `delta` bytes further into its range.
fn advance(s: Status, delta: u64) -> Status {
    let at = |(f, h): (HostFile, u64)| (f, h + delta);
    match s {
        Status::Data { host, zero } => Status::Data { host: host.map(at), zero },
        Status::Zero { host } => Status::Zero { host: host.map(at) },
        Status::Reserved { host } => Status::Reserved { host: at(host) },
        s => s,
    }
}

/// An opened image and its backing files, top first, as block status sees them.
/// It remembers the drivers' last answers: make a new one after writing to
/// any of the images.
pub struct Chain<'a> {
    layers: Vec<Layer<'a>>,
}

impl<'a> Chain<'a> {
    /// The chain below `top` (every opened backing image).
    pub fn new(top: &'a dyn Image) -> Chain<'a> {
        let mut layers = Vec::new();
        let mut next = Some(top);
        while let Some(image) = next {
            layers.push(layer(image));
            next = image.backing_image();
        }
        Chain { layers }
    }

    /// The image at `depth` (0 is the top).
    pub fn image(&self, depth: usize) -> Option<&'a dyn Image> {
        self.layers.get(depth).map(|l| l.image)
    }

    /// How many images the chain has.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Always false: a chain has its top image at least.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The guest size of the top image.
    pub fn size(&self) -> u64 {
        self.layers.first().map_or(0, |l| l.size)
    }

    /// The name of the host file a status points into, as `map` prints it.
    pub fn host_file_name(&self, s: &BlockStatus) -> Option<String> {
        let (file, _) = s.host?;
        Some(self.image(s.depth)?.host_file_name(file))
    }

    /// What layer `depth` alone says about `[offset, offset + bytes)` (qemu's
    /// `bdrv_co_do_block_status` with `want_zero`). Past the layer's end the
    /// answer is empty with `eof` set.
    pub fn layer_status(&self, depth: usize, offset: u64, bytes: u64) -> Result<BlockStatus> {
        let mut st = BlockStatus::empty(offset, depth);
        let Some(l) = self.layers.get(depth) else { return Ok(st) };
        if offset >= l.size {
            st.eof = true;
            return Ok(st);
        }
        let bytes = bytes.min(l.size - offset);
        if bytes == 0 {
            return Ok(st);
        }
        let (len, status) = l.driver_status(offset, bytes)?;
        st.len = len;
        match status {
            Status::Data { host, zero } => {
                (st.data, st.zero, st.host, st.allocated) = (true, zero, host, true);
            }
            Status::Zero { host } => {
                (st.zero, st.host, st.allocated) = (true, host, true);
            }
            Status::Compressed => {
                (st.data, st.compressed, st.allocated) = (true, true, true);
            }
            Status::Unallocated | Status::Reserved { .. } => {
                if let Status::Reserved { host } = status {
                    st.host = Some(host);
                }
                if l.supports_backing {
                    st.zero = match self.layers.get(depth + 1) {
                        None => true,
                        Some(b) => offset >= b.size,
                    };
                }
            }
        }
        st.eof = offset + st.len == l.size;
        Ok(st)
    }

    /// What the top layer alone says (qemu's `bdrv_block_status_above` with
    /// the backing file as base: what `convert -B` copies).
    pub fn status_top(&self, offset: u64, bytes: u64) -> Result<BlockStatus> {
        self.layer_status(0, offset, bytes)
    }

    /// The status of the whole chain at `offset` (qemu's
    /// `bdrv_block_status_above` with no base): that of the first layer that
    /// allocates the range, or of the bottom layer if none does.
    pub fn status_above(&self, offset: u64, bytes: u64) -> Result<BlockStatus> {
        self.status_above_base(offset, bytes, self.layers.len())
    }

    /// The status of the layers above `base` (qemu's `bdrv_block_status_above`
    /// with the image at depth `base` as its base): that of the first of
    /// layers `0..base` that allocates the range, or of layer `base - 1` if
    /// none does. With `base` 1 this is [`Chain::status_top`]; with the
    /// chain's length, [`Chain::status_above`]. `commit` copies what this
    /// says is allocated.
    pub fn status_above_base(&self, offset: u64, bytes: u64, base: usize) -> Result<BlockStatus> {
        let top = self.layer_status(0, offset, bytes)?;
        if top.len == 0 || top.allocated {
            return Ok(top);
        }
        let eof = top.eof.then_some(offset + top.len);
        let mut bytes = top.len;
        let mut st = top;
        for depth in 1..base.min(self.layers.len()) {
            st = self.layer_status(depth, offset, bytes)?;
            if st.len == 0 {
                // Past the end of a short backing file: its zeros count as
                // allocated there (and whether this is the end is decided below).
                st = BlockStatus { len: bytes, zero: true, allocated: true, ..BlockStatus::empty(offset, depth) };
                break;
            }
            if st.allocated {
                st.eof = false;
                break;
            }
            bytes = st.len;
        }
        if Some(offset + st.len) == eof {
            st.eof = true;
        }
        Ok(st)
    }

    /// Whether layer `depth` itself allocates the range at `offset` (qemu's
    /// `bdrv_is_allocated`), and for how many bytes that answer holds; 0
    /// bytes past the layer's end.
    pub fn is_allocated(&self, depth: usize, offset: u64, bytes: u64) -> Result<(bool, u64)> {
        let st = self.layer_status(depth, offset, bytes)?;
        Ok((st.allocated, st.len))
    }

    /// Whether any of the layers from `top` down to (not including) `base`
    /// allocates the range at `offset` (qemu's `bdrv_is_allocated_above`
    /// without the base), and for how many bytes that holds. An answer of 0
    /// bytes means `offset` is past the end of layer `top`.
    pub fn allocated_above(&self, top: usize, base: usize, offset: u64, bytes: u64) -> Result<(bool, u64)> {
        let mut n = bytes;
        for depth in top..base.min(self.layers.len()) {
            let (allocated, len) = self.is_allocated(depth, offset, bytes)?;
            if allocated {
                return Ok((true, len));
            }
            // A lower layer's end does not shorten the answer: past it, the
            // layers above decide (or the range reads as zeros).
            let size = self.layers.get(depth).map_or(0, |l| l.size);
            if n > len && (depth == top || offset + len < size) {
                n = len;
            }
        }
        Ok((false, n))
    }

    /// What `qemu-img map` says about `offset` (its `get_block_status`): the
    /// status of the first layer that has data or zeros there, or an empty
    /// status (nothing present) at the bottom.
    pub fn map_status(&self, offset: u64, bytes: u64) -> Result<BlockStatus> {
        let mut bytes = bytes;
        let mut depth = 0;
        loop {
            let st = self.layer_status(depth, offset, bytes)?;
            if st.len == 0 {
                return Err(Error::errno(libc::EIO));
            }
            if st.data || st.zero {
                return Ok(st);
            }
            if depth + 1 >= self.layers.len() {
                return Ok(BlockStatus { len: st.len, ..BlockStatus::empty(offset, depth) });
            }
            bytes = st.len;
            depth += 1;
        }
    }
}

/// The bounds qemu puts on a layer's answers.
fn layer(image: &dyn Image) -> Layer<'_> {
    let format = image.format();
    let supports_backing = matches!(format, "qcow2" | "qcow" | "qed" | "vmdk");
    Layer { image, size: image.virtual_size(), supports_backing, last: Cell::new(None) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{BackingRef, Extent};
    use crate::info::NodeInfo;

    /// An image made of fixed extents, optionally over a backing image.
    struct Fake {
        format: &'static str,
        size: u64,
        extents: Vec<(u64, u64, Status)>,
        backing: Option<Box<Fake>>,
    }

    impl Image for Fake {
        fn format(&self) -> &'static str {
            self.format
        }
        fn virtual_size(&self) -> u64 {
            self.size
        }
        fn backing(&self) -> Option<&BackingRef> {
            None
        }
        fn info(&self) -> Result<NodeInfo> {
            Ok(NodeInfo::default())
        }
        fn cluster_size(&self) -> Option<u64> {
            Some(65536)
        }
        fn block_status(&self, offset: u64, len: u64) -> Result<Extent> {
            let next = self.extents.iter().map(|e| e.0).filter(|s| *s > offset).min().unwrap_or(offset + len);
            let (start, n, status) = self
                .extents
                .iter()
                .copied()
                .find(|(s, n, _)| offset >= *s && offset < s + n)
                .unwrap_or((offset, next - offset, Status::Unallocated));
            let delta = offset - start;
            let status = match status {
                Status::Data { host, zero } => Status::Data { host: host.map(|(f, h)| (f, h + delta)), zero },
                s => s,
            };
            Ok(Extent { offset, len: (n - delta).min(len), status })
        }
        fn read_at(&self, buf: &mut [u8], _: u64) -> Result<()> {
            buf.fill(0);
            Ok(())
        }
        fn backing_image(&self) -> Option<&dyn Image> {
            self.backing.as_deref().map(|b| b as &dyn Image)
        }
        fn host_file_name(&self, _: HostFile) -> String {
            "fake".into()
        }
    }

    const M: u64 = 1 << 20;

    fn data(host: u64) -> Status {
        Status::Data { host: Some((HostFile::Image, host)), zero: false }
    }

    #[test]
    fn unallocated_everywhere_is_zero_at_the_bottom() {
        let base = Fake { format: "qcow2", size: 4 * M, extents: vec![(M, M, data(0))], backing: None };
        let top = Fake { format: "qcow2", size: 4 * M, extents: vec![], backing: Some(Box::new(base)) };
        let c = Chain::new(&top);
        let s = c.map_status(0, 4 * M).unwrap();
        assert_eq!((s.depth, s.len, s.zero, s.allocated, s.data), (1, M, true, false, false));
        let s = c.map_status(M, 3 * M).unwrap();
        assert_eq!((s.depth, s.len, s.data, s.host), (1, M, true, Some((HostFile::Image, 0))));
        let s = c.status_above(M, 3 * M).unwrap();
        assert_eq!(s.bits(), BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_OFFSET_VALID);
        // The last range reaches the end of both images; the bottom's end flag stays.
        let s = c.status_above(2 * M, 2 * M).unwrap();
        assert_eq!(s.bits(), BDRV_BLOCK_ZERO | BDRV_BLOCK_EOF);
    }

    #[test]
    fn past_a_short_backing_file() {
        let base = Fake { format: "qcow2", size: M, extents: vec![], backing: None };
        let top = Fake { format: "qcow2", size: 4 * M, extents: vec![], backing: Some(Box::new(base)) };
        let c = Chain::new(&top);
        // map: the overlay says zero (not present) at depth 0.
        let s = c.map_status(2 * M, 2 * M).unwrap();
        assert_eq!((s.depth, s.len, s.zero, s.allocated), (0, 2 * M, true, false));
        // from above: allocated zeros of the short backing file, at the end.
        let s = c.status_above(2 * M, 2 * M).unwrap();
        assert_eq!((s.depth, s.len), (1, 2 * M));
        assert_eq!(s.bits(), BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_EOF);
        // Before the backing file's end: its status, with its own end flag.
        let s = c.status_above(0, 4 * M).unwrap();
        assert_eq!((s.depth, s.len), (1, M));
        assert_eq!(s.bits(), BDRV_BLOCK_ZERO | BDRV_BLOCK_EOF);
    }

    #[test]
    fn answers_inside_a_known_extent_are_the_drivers() {
        let top = Fake { format: "raw", size: 8 * M, extents: vec![(0, 6 * M, data(4096))], backing: None };
        let c = Chain::new(&top);
        let first = c.status_above(0, 2 * M).unwrap();
        assert_eq!((first.len, first.host), (2 * M, Some((HostFile::Image, 4096))));
        // The first answer stopped at the question's end: asking further on
        // must not assume the extent ends there.
        let s = c.status_above(M, 7 * M).unwrap();
        assert_eq!((s.len, s.host, s.eof), (5 * M, Some((HostFile::Image, 4096 + M)), false));
        let s = c.status_above(3 * M, M).unwrap();
        assert_eq!((s.len, s.host), (M, Some((HostFile::Image, 4096 + 3 * M))));
        let s = c.status_above(6 * M, 2 * M).unwrap();
        assert_eq!((s.len, s.data, s.eof), (2 * M, false, true));
    }

    #[test]
    fn reserved_host_ranges_show_their_offset() {
        let host = (HostFile::Image, 4096);
        let top = Fake { format: "qcow2", size: M, extents: vec![(0, M, Status::Reserved { host })], backing: None };
        let s = Chain::new(&top).map_status(0, M).unwrap();
        assert_eq!((s.zero, s.allocated, s.host), (true, false, Some(host)));
    }
}
