//! The copy engine behind `convert` (and later `commit`, `rebase`, `dd`).
//!
//! It walks the block status of the sources (whole backing chains, or only
//! the top layers when the target has a backing file) and classifies the
//! guest space into data, zeros and "leave to the backing file", in the same
//! chunks qemu-img uses (2 MiB, or one cluster when compressing). A pool of
//! worker threads reads the data chunks, finds zero runs (`-S`), compresses
//! clusters (`-c`), and writes — in guest order unless out-of-order writes
//! are allowed (`-W`), without a worker ever waiting for its turn (see
//! [`crate::reorder`]). Memory stays bounded: workers read at most 8 MiB (or
//! one chunk each) ahead of the next chunk to write.

use crate::blockstatus::Chain;
use crate::compress::{self, Codec};
use crate::error::{Error, Result};
use crate::image::{Image, Status, ZeroFlags};
use crate::reorder::Reorder;
use crate::storage::Storage;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// qemu-img's convert buffer: 2 MiB.
pub const IO_BUF_SIZE: u64 = 2 << 20;
const SECTOR: u64 = 512;

/// How guest space is copied.
#[derive(Debug, Clone)]
pub struct Options {
    /// Zero runs at least this long are not written (`-S`, bytes); 0 writes everything.
    pub min_sparse: u64,
    /// Write compressed clusters (`-c`).
    pub compress: bool,
    /// Worker threads (`-m`).
    pub workers: usize,
    /// Write in guest order (no `-W`).
    pub in_order: bool,
    /// The target has a backing file (`-B`): copy only what the sources' top
    /// layers hold, and leave the rest to the target's backing file.
    pub target_has_backing: bool,
    /// Copy only what the layers above this depth of each source's chain
    /// allocate, and leave the rest alone (`commit`: the target is the image
    /// at that depth, or below it). Overrides `target_has_backing`, which is
    /// the same as depth 1.
    pub base_depth: Option<usize>,
    /// Write the ranges the sources report as zeros as zeros (with unmap)
    /// even when `min_sparse` is 0, as qemu's commit (a mirror job) does;
    /// otherwise `-S 0` writes them as data, as convert does.
    pub keep_zero_ranges: bool,
    /// The target reads as zeros already (a new image, or `--target-is-zero`).
    pub target_zeroed: bool,
    /// Bytes per second (`-r`), if limited.
    pub rate_limit: Option<u64>,
    /// Turn read errors into zeros, with a warning each (`--salvage`).
    pub salvage: bool,
    /// `-C`: copy data chunks as they are (no zero detection), inside the
    /// kernel where source and target files allow it.
    pub copy_offload: bool,
    /// Copy only this part of the concatenated sources, to the start of
    /// the target (`dd`); `None` copies all of them.
    pub window: Option<Window>,
    /// How read and write errors are worded.
    pub wording: Wording,
}

/// The wording of the copy's I/O errors (the errno text follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// convert's: `error while reading at byte N`, `error while writing at byte N`.
    AtByte,
    /// dd's: `error while reading from input image file`, `error while
    /// writing to output image file`.
    ImageFile,
}

impl Wording {
    fn read(self, byte: u64) -> String {
        match self {
            Wording::AtByte => format!("error while reading at byte {byte}"),
            Wording::ImageFile => "error while reading from input image file".to_string(),
        }
    }

    fn write(self, byte: u64) -> String {
        match self {
            Wording::AtByte => format!("error while writing at byte {byte}"),
            Wording::ImageFile => "error while writing to output image file".to_string(),
        }
    }
}

impl Options {
    /// The source offset that goes to target offset 0.
    fn source_start(&self) -> u64 {
        self.window.map_or(0, |w| w.start)
    }
}

/// A range of the concatenated sources: `[start, start + len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub len: u64,
}

/// What a chunk of guest space is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Zero,
    /// Left unallocated so that the target's backing file shows through.
    Backing,
}

/// A chunk to copy: `[offset, offset + len)` of the concatenated sources.
#[derive(Debug, Clone, Copy)]
struct Job {
    seq: u64,
    offset: u64,
    len: u64,
    kind: Kind,
}

/// The status of the sources, chunk by chunk, as qemu's convert iterates it.
struct Walker<'a> {
    sources: &'a [&'a dyn Image],
    /// The block-status view of each source.
    chains: Vec<Chain<'a>>,
    opts: &'a Options,
    warn: &'a Warn<'a>,
    /// Cluster size of the target, for compressed writes.
    cluster: u64,
    /// Bytes to copy (target offsets are `[0, total)`).
    total: u64,
    /// The source offset of target offset 0.
    start: u64,
    /// The status cached from the last block status call, valid up to `status_end`.
    status: Kind,
    status_end: u64,
}

/// The status of a source at `offset` (qemu's `bdrv_block_status_above`,
/// see [`crate::blockstatus`]): above the layer at depth `base` when only
/// what the upper layers allocate is copied (the target has a backing file
/// of its own, or is that layer), else of its whole chain. Returns the kind
/// and how many bytes it lasts.
fn status_above(chain: &Chain<'_>, offset: u64, len: u64, base: Option<usize>) -> Result<(Kind, u64)> {
    let top_only = base.is_some();
    let s = match base {
        Some(depth) => chain.status_above_base(offset, len, depth)?,
        None => chain.status_above(offset, len)?,
    };
    // Zeros first: a top layer that reads as zeros where it allocates
    // nothing (it has no backing file, or the range is past its end) must
    // hide the target's backing file there, as qemu's convert does.
    let kind = if s.zero {
        Kind::Zero
    } else if top_only && !s.allocated {
        Kind::Backing
    } else {
        // Data, or a range no layer can classify (qemu copies those).
        Kind::Data
    };
    Ok((kind, s.len.max(1).min(len)))
}

impl Walker<'_> {
    /// The source holding concatenated offset `offset`, and the offset in it.
    fn locate(&self, offset: u64) -> (usize, u64, u64) {
        let mut start = 0;
        for (i, s) in self.sources.iter().enumerate() {
            let size = s.virtual_size();
            if offset < start + size {
                return (i, offset - start, size);
            }
            start += size;
        }
        (self.sources.len().saturating_sub(1), 0, 0)
    }

    /// The next chunk at `offset` (qemu's convert_iteration_sectors).
    fn next(&mut self, offset: u64) -> Result<(Kind, u64)> {
        let (i, local, size) = self.locate(self.start + offset);
        let mut n = (size - local).min(self.total - offset);
        if self.status_end <= offset {
            let src = self.sources[i];
            let align = src.cluster_size().unwrap_or(SECTOR).max(SECTOR);
            let base = self.opts.base_depth.or(self.opts.target_has_backing.then_some(1));
            let (kind, count) = match status_above(&self.chains[i], local, n, base) {
                Ok(r) => r,
                Err(e) if self.opts.salvage => {
                    (self.warn)(
                        e.preamble.as_deref(),
                        &format!("error while reading block status at offset {local}: {}", errno_text(&e)),
                    );
                    (Kind::Data, SECTOR)
                }
                Err(e) => return Err(block_status_error(e, local, self.opts.wording)),
            };
            let mut count = count.div_ceil(SECTOR) * SECTOR;
            let tail = (local + count) % align;
            if count > tail {
                count -= tail;
            }
            self.status = match kind {
                Kind::Zero if self.opts.min_sparse == 0 && !self.opts.keep_zero_ranges => Kind::Data,
                k => k,
            };
            self.status_end = offset + count;
        }
        n = n.min(self.status_end - offset);
        if self.status == Kind::Data {
            n = n.min(if self.opts.compress { self.cluster } else { IO_BUF_SIZE });
        }
        let mut kind = self.status;
        if self.opts.compress {
            if n < self.cluster {
                n = self.cluster.min(self.total - offset);
                kind = Kind::Data;
            } else {
                n -= n % self.cluster;
            }
        }
        Ok((kind, n))
    }
}

/// The `strerror` text behind an error (what qemu's salvage warnings print).
fn errno_text(e: &Error) -> String {
    crate::error::strerror(e.errno.unwrap_or(libc::EIO))
}

fn block_status_error(e: Error, offset: u64, wording: Wording) -> Error {
    rephrase(e, match wording {
        Wording::AtByte => format!("error while reading block status at offset {offset}"),
        Wording::ImageFile => wording.read(offset),
    })
}

/// qemu-img's report of a failed request: `WHAT: strerror`, after the
/// diagnostics the driver printed.
fn rephrase(e: Error, what: String) -> Error {
    with_preamble(Error::errno(e.errno.unwrap_or(libc::EIO)).prefix(what), e.preamble)
}

/// Reads `len` bytes at concatenated `offset` into `buf`.
fn read_sources(sources: &[&dyn Image], mut offset: u64, buf: &mut [u8], wording: Wording) -> Result<()> {
    let mut done = 0usize;
    let mut start = 0u64;
    for s in sources {
        let size = s.virtual_size();
        while done < buf.len() && offset < start + size {
            let n = ((start + size - offset) as usize).min(buf.len() - done);
            s.read_at(&mut buf[done..done + n], offset - start).map_err(|e| rephrase(e, wording.read(offset - start)))?;
            done += n;
            offset += n as u64;
        }
        start += size;
    }
    Ok(())
}

/// Whether a buffer holds only zeros (64 bytes at a time, which the
/// compiler vectorises; stops at the first non-zero block).
pub fn is_zero(buf: &[u8]) -> bool {
    let chunks = buf.chunks_exact(64);
    let tail = chunks.remainder();
    for c in chunks {
        let word = |i: usize| u64::from_ne_bytes(<[u8; 8]>::try_from(&c[i..i + 8]).unwrap_or_default());
        if (0..8).fold(0, |a, i| a | word(i * 8)) != 0 {
            return false;
        }
    }
    tail.iter().all(|b| *b == 0)
}

/// qemu's `is_allocated_sectors`: the length of the run of data (true) or
/// zero (false) sectors at the start of `buf` (whose first sector is guest
/// sector `sector`). Run ends are aligned to `alignment` sectors: data runs
/// up, zero runs down, and a zero run shorter than its misalignment is data.
fn allocated_run(buf: &[u8], sector: u64, alignment: u64) -> (bool, u64) {
    let n = buf.len() as u64 / SECTOR;
    if n == 0 {
        return (false, 0);
    }
    let zero_at = |i: u64| is_zero(&buf[(i * SECTOR) as usize..((i + 1) * SECTOR) as usize]);
    let mut zero = zero_at(0);
    let mut i = 1;
    while i < n && zero_at(i) == zero {
        i += 1;
    }
    let tail = (sector + i) % alignment;
    if tail != 0 {
        if zero && i <= tail {
            zero = false;
        }
        if !zero {
            i = (i + alignment - tail).min(n);
        } else {
            i -= tail;
        }
    }
    (!zero, i)
}

/// qemu's `is_allocated_sectors_min`: when the buffer starts with data,
/// zero runs shorter than `min` sectors are counted as data. Runs are
/// aligned as qemu aligns them: to `min` rounded down to a power of two.
fn allocated_run_min(buf: &[u8], min: u64, sector: u64) -> (bool, u64) {
    let n = buf.len() as u64 / SECTOR;
    let alignment = if min == 0 { 1 } else { 1 << min.ilog2() };
    let min = min.min(n);
    let (data, first) = allocated_run(buf, sector, alignment);
    if !data {
        return (false, first);
    }
    let (mut used, mut checked) = (first, first);
    while checked < n {
        let (d, run) = allocated_run(&buf[(checked * SECTOR) as usize..], sector + checked, alignment);
        checked += run;
        if d {
            used = checked;
        } else if run >= min {
            break;
        }
        if run == 0 {
            break;
        }
    }
    (true, used)
}

/// Reads a chunk sector by sector, replacing what cannot be read by zeros.
fn salvage_read(ctx: &Ctx<'_>, offset: u64, buf: &mut [u8]) {
    for (i, sector) in buf.chunks_mut(SECTOR as usize).enumerate() {
        let at = offset + i as u64 * SECTOR;
        if let Err(e) = read_sources(ctx.sources, ctx.opts.source_start() + at, sector, ctx.opts.wording) {
            (ctx.warn)(e.preamble.as_deref(), &format!("error while reading offset {at}: {}", errno_text(&e)));
            sector.fill(0);
        }
    }
}

/// Progress of a copy, in percent, reported as qemu reports it.
pub struct Progress<'a> {
    done: AtomicU64,
    total: u64,
    /// Instead of bytes, each finished chunk adds this many percent, summed
    /// as qemu's progress state sums them (f32, at most 100).
    step: Option<(f32, Mutex<f32>)>,
    report: &'a (dyn Fn(f32) + Sync),
}

impl Progress<'_> {
    fn add(&self, bytes: u64) {
        if let Some((step, current)) = &self.step {
            let Ok(mut c) = current.lock() else { return };
            *c = (*c + *step / 100.0 * 100.0).min(100.0);
            (self.report)(*c);
            return;
        }
        let done = self.done.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if self.total > 0 {
            (self.report)(100.0f32 * (done / SECTOR) as f32 / (self.total / SECTOR) as f32);
        }
    }
}

/// Copies the concatenated `sources` into `target`. `progress` receives the
/// percentage done (qemu counts only the data it has to write).
/// Receives warnings: diagnostics a driver printed (if any) and the message.
pub type Warn<'w> = dyn Fn(Option<&str>, &str) + Sync + 'w;

pub fn copy(
    sources: &[&dyn Image],
    target: &dyn Image,
    opts: &Options,
    progress: &(dyn Fn(f32) + Sync),
    warn: &Warn<'_>,
) -> Result<()> {
    let all: u64 = sources.iter().map(|s| s.virtual_size()).sum();
    let (start, total) = match opts.window {
        Some(w) => (w.start.min(all), w.len.min(all - w.start.min(all))),
        None => (0, all),
    };
    let cluster = target.cluster_size().unwrap_or(65536);
    let codec = if opts.compress {
        Some(target.compression().ok_or_else(|| Error::unsupported("Compression not supported for this file format"))?)
    } else {
        None
    };
    let chains = sources.iter().map(|s| Chain::new(*s)).collect();
    let mut walker = Walker { sources, chains, opts, warn, cluster, total, start, status: Kind::Data, status_end: 0 };
    // First pass: how much data there is, for the progress percentage.
    let mut counted = 0u64;
    let mut offset = 0u64;
    while offset < total {
        let (kind, n) = walker.next(offset)?;
        if kind == Kind::Data || (opts.min_sparse == 0 && !opts.keep_zero_ranges && kind == Kind::Zero) {
            counted += n;
        }
        offset += n;
    }
    walker.status_end = 0;
    let progress = Progress { done: AtomicU64::new(0), total: counted, step: None, report: progress };

    let limiter = RateLimiter::new(opts.rate_limit);
    let ctx = Ctx { sources, target, opts, codec, warn, progress: &progress, limiter: &limiter, diff: None };
    let mut offset = 0u64;
    let mut next = || {
        if offset >= total {
            return Ok(None);
        }
        let (kind, len) = walker.next(offset)?;
        let chunk = (offset, len, kind);
        offset += len;
        Ok(Some(chunk))
    };
    if opts.salvage {
        // Salvaging reports errors in guest order, one chunk at a time, as qemu does.
        let mut seq = 0u64;
        let mut bufs = Buffers::default();
        while let Some((offset, len, kind)) = next()? {
            let mut done = prepare(&ctx, Job { seq, offset, len, kind }, bufs)?;
            finish(&ctx, &mut done)?;
            bufs = done.bufs;
            seq += 1;
        }
        return Ok(());
    }
    pipeline(&ctx, &mut next)
}

/// Writing only what differs from a baseline (`rebase`): the target must
/// go on reading as the sources read now, once the baseline shows through
/// where the target allocates nothing. Each chunk is read from the sources
/// (zeros past their end) and from the baseline, compared in `align`-sized
/// pieces, and each run of differing pieces is written into the target:
/// as zeros where the run starts past the end of the sources (`zeros_from`),
/// else the sources' data (compressed cluster by cluster with `-c`).
pub struct Diff<'a> {
    /// What shows through the target afterwards; `None` reads as zeros.
    pub baseline: Option<&'a dyn Image>,
    /// The unit of comparison and writing: the target's allocation unit.
    pub align: u64,
    /// Where the sources end.
    pub zeros_from: u64,
}

/// Writes into `target` the parts of the chunks `next` names (in guest
/// order) where `sources` and `diff.baseline` differ, as [`Diff`] says.
/// `progress` receives qemu's running percentage: `step` percent more per
/// chunk. Errors carry qemu-img rebase's messages.
pub fn copy_diff(
    sources: &[&dyn Image],
    target: &dyn Image,
    opts: &Options,
    diff: &Diff<'_>,
    step: f32,
    progress: &(dyn Fn(f32) + Sync),
    next: &mut (dyn FnMut() -> Result<Option<(u64, u64)>> + Send),
) -> Result<()> {
    let codec = if opts.compress {
        Some(target.compression().ok_or_else(|| Error::unsupported("Compression not supported for this file format"))?)
    } else {
        None
    };
    let progress = Progress { done: AtomicU64::new(0), total: 0, step: Some((step, Mutex::new(0.0))), report: progress };
    let limiter = RateLimiter::new(opts.rate_limit);
    let warn = |_: Option<&str>, _: &str| {};
    let ctx = Ctx { sources, target, opts, codec, warn: &warn, progress: &progress, limiter: &limiter, diff: Some(diff) };
    pipeline(&ctx, &mut || Ok(next()?.map(|(offset, len)| (offset, len, Kind::Data))))
}

/// The chunks still to copy, handed out to the workers in guest order.
struct Chunks<'n> {
    next: &'n mut (dyn FnMut() -> Result<Option<(u64, u64, Kind)>> + Send),
    seq: u64,
    finished: bool,
}

/// Runs the chunks `next` gives through a pool of workers that take a
/// chunk, read it (and compress it), then write it: in guest order unless
/// `-W`. A worker never waits for the chunks before its own to be written:
/// it hands its chunk in (see [`Reorder`]) and takes the next one, and the
/// worker that hands in the chunk next in line writes it and whatever
/// follows it ready. Returns the first error in guest order.
fn pipeline(ctx: &Ctx<'_>, next: &mut (dyn FnMut() -> Result<Option<(u64, u64, Kind)>> + Send)) -> Result<()> {
    let opts = ctx.opts;
    // Compression is CPU-bound: more threads than cores only add switching.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if opts.compress { opts.workers.min(cores) } else { opts.workers }.clamp(1, MAX_WORKERS);
    // Workers may read ahead of the next chunk to write by as many chunks
    // as fit in READ_AHEAD (compressed chunks are single clusters), but by
    // one chunk per worker at least.
    let chunk = match (opts.compress, ctx.diff) {
        (true, None) => ctx.target.cluster_size().unwrap_or(IO_BUF_SIZE),
        _ => IO_BUF_SIZE,
    };
    let window = (READ_AHEAD / chunk.max(1)).max(workers as u64) as usize;
    let run = Run {
        ctx,
        chunks: Mutex::new(Chunks { next, seq: 0, finished: false }),
        order: Reorder::new(window),
        spare: Mutex::new(Vec::new()),
        failed: AtomicBool::new(false),
        first_error: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(|| run.work());
        }
        run.work();
    });
    match run.first_error.into_inner() {
        Ok(Some((_, e))) => Err(e),
        Ok(None) => Ok(()),
        Err(_) => Err(Error::errno(libc::EIO)),
    }
}

/// The most worker threads of a copy.
const MAX_WORKERS: usize = 16;
/// How much data workers may read ahead of the next chunk to write.
const READ_AHEAD: u64 = 8 << 20;

/// One copy in progress, shared by its workers.
struct Run<'c, 'n> {
    ctx: &'c Ctx<'c>,
    chunks: Mutex<Chunks<'n>>,
    /// Chunks read ahead of their turn to be written.
    order: Reorder<Option<Done>>,
    /// Buffers of written chunks, for the next ones.
    spare: Mutex<Vec<Buffers>>,
    failed: AtomicBool,
    first_error: Mutex<Option<(u64, Error)>>,
}

impl Run<'_, '_> {
    /// A worker: takes chunks until there are none left or a copy failed.
    fn work(&self) {
        let _guard = StopOnPanic(self);
        let in_order = self.ctx.opts.in_order;
        while let Some(job) = self.take() {
            let bufs = self.spare.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
            let done = match prepare(self.ctx, job, bufs) {
                Ok(done) => Some(done),
                Err(e) => {
                    self.fail(job.seq, e);
                    None
                }
            };
            if in_order {
                self.order.deliver(job.seq, done, |seq, done| self.write(seq, done));
            } else {
                self.write(job.seq, done);
            }
        }
    }

    /// The next chunk, once it is within the window of chunks in flight;
    /// `None` when there are no more or a copy failed.
    fn take(&self) -> Option<Job> {
        let mut chunks = self.chunks.lock().ok()?;
        let seq = chunks.seq;
        if chunks.finished || self.failed.load(Ordering::SeqCst) {
            return None;
        }
        if self.ctx.opts.in_order && !self.order.wait_room(seq) {
            return None;
        }
        match (chunks.next)() {
            Ok(Some((offset, len, kind))) => {
                chunks.seq += 1;
                Some(Job { seq, offset, len, kind })
            }
            Ok(None) => {
                chunks.finished = true;
                None
            }
            Err(e) => {
                chunks.finished = true;
                self.fail(seq, e);
                None
            }
        }
    }

    /// Writes a read chunk (not after a failure), and keeps its buffers.
    fn write(&self, seq: u64, done: Option<Done>) {
        let Some(mut done) = done else { return };
        if !self.failed.load(Ordering::SeqCst) {
            if let Err(e) = finish(self.ctx, &mut done) {
                self.fail(seq, e);
            }
        }
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(done.bufs);
        }
    }

    /// Records the error of chunk `seq` (the first in guest order wins) and
    /// stops the copy.
    fn fail(&self, seq: u64, e: Error) {
        self.failed.store(true, Ordering::SeqCst);
        if let Ok(mut slot) = self.first_error.lock() {
            if slot.as_ref().is_none_or(|(first, _)| seq < *first) {
                *slot = Some((seq, e));
            }
        }
        self.order.stop();
    }
}

/// Stops a copy when its worker unwinds from a panic: the other workers
/// then stop waiting for room (the chunk the panicking worker held would
/// never be handed in), and the panic reaches the caller instead of a hang.
struct StopOnPanic<'r, 'c, 'n>(&'r Run<'c, 'n>);

impl Drop for StopOnPanic<'_, '_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::SeqCst);
            self.0.order.stop();
        }
    }
}

struct Ctx<'a> {
    sources: &'a [&'a dyn Image],
    target: &'a dyn Image,
    opts: &'a Options,
    warn: &'a Warn<'a>,
    codec: Option<Codec>,
    progress: &'a Progress<'a>,
    limiter: &'a RateLimiter,
    /// Write only what differs from a baseline.
    diff: Option<&'a Diff<'a>>,
}

/// The buffers a worker reads a chunk into (the second only for [`Diff`]s).
#[derive(Default)]
struct Buffers {
    data: Vec<u8>,
    other: Vec<u8>,
}

/// A chunk read and ready to be written.
struct Done {
    job: Job,
    bufs: Buffers,
    write: Pending,
}

/// What writing a read chunk means.
enum Pending {
    /// The chunk's data as read, with its compressed form if `-c` made one.
    Chunk(Option<Vec<u8>>),
    /// `-C`: the chunk is copied (by the kernel where it can) when written.
    Offload,
    /// The pieces of a [`Diff`] chunk that differ.
    Diff(Vec<DiffWrite>),
}

/// Reads a chunk (and compresses it, so that this runs in parallel).
fn prepare(ctx: &Ctx<'_>, job: Job, mut bufs: Buffers) -> Result<Done> {
    if let Some(diff) = ctx.diff {
        let writes = read_diff(ctx, diff, &job, &mut bufs)?;
        return Ok(Done { job, bufs, write: Pending::Diff(writes) });
    }
    if ctx.opts.copy_offload && job.kind == Kind::Data {
        return Ok(Done { job, bufs, write: Pending::Offload });
    }
    let buf = &mut bufs.data;
    if job.kind == Kind::Data {
        buf.resize(job.len as usize, 0);
        if let Err(e) = read_sources(ctx.sources, ctx.opts.source_start() + job.offset, buf, ctx.opts.wording) {
            if !ctx.opts.salvage {
                return Err(e);
            }
            salvage_read(ctx, job.offset, buf);
        }
    }
    let compressed = match (ctx.codec, job.kind) {
        (Some(codec), Kind::Data) if !is_zero(buf) => compress::compress(codec, buf)?,
        _ => None,
    };
    Ok(Done { job, bufs, write: Pending::Chunk(compressed) })
}

/// Writes a chunk [`prepare`] read.
fn finish(ctx: &Ctx<'_>, done: &mut Done) -> Result<()> {
    let job = &done.job;
    match &done.write {
        Pending::Chunk(compressed) => write_chunk(ctx, job, &done.bufs.data, compressed.as_deref()),
        Pending::Offload => offload_chunk(ctx, job, &mut done.bufs.data),
        Pending::Diff(writes) => write_diff(ctx, job, &done.bufs.data, writes),
    }
}

/// A piece of a [`Diff`] chunk to write: where (from the chunk's start), how
/// long, and how.
enum DiffWrite {
    Zeros(u64, u64),
    Data(u64, u64),
    /// One cluster, compressed (or `None`: not smaller, written plainly).
    Compressed(u64, u64, Option<Vec<u8>>),
}

/// Reads a [`Diff`] chunk from the sources and the baseline, and finds the
/// runs that differ (compressed if asked).
fn read_diff(ctx: &Ctx<'_>, diff: &Diff<'_>, job: &Job, bufs: &mut Buffers) -> Result<Vec<DiffWrite>> {
    let (old, new) = (&mut bufs.data, &mut bufs.other);
    let len = job.len as usize;
    old.clear();
    old.resize(len, 0);
    new.clear();
    new.resize(len, 0);
    read_padded(ctx.sources, job.offset, old, ctx.opts.wording)
        .map_err(|e| with_preamble(Error::new(e.kind, "error while reading from old backing file"), e.preamble))?;
    crate::image::read_backing(diff.baseline, new, job.offset)
        .map_err(|e| with_preamble(Error::new(e.kind, "error while reading from new backing file"), e.preamble))?;
    let align = diff.align.max(1) as usize;
    let cluster = ctx.target.cluster_size().unwrap_or(65536).max(1) as usize;
    let mut writes = Vec::new();
    let mut at = 0usize;
    while at < len {
        let piece = |i: usize| old[i..(i + align).min(len)] != new[i..(i + align).min(len)];
        let differs = piece(at);
        let mut end = (at + align).min(len);
        while end < len && piece(end) == differs {
            end = (end + align).min(len);
        }
        if differs {
            let (start, n) = (at as u64, (end - at) as u64);
            if job.offset + start >= diff.zeros_from {
                writes.push(DiffWrite::Zeros(start, n));
            } else if let Some(codec) = ctx.codec {
                let mut c = at;
                while c < end {
                    let e = (c + cluster).min(end);
                    writes.push(DiffWrite::Compressed(c as u64, (e - c) as u64, compress::compress(codec, &old[c..e])?));
                    c = e;
                }
            } else {
                writes.push(DiffWrite::Data(start, n));
            }
        }
        at = end;
    }
    Ok(writes)
}

/// Writes the pieces [`read_diff`] found.
fn write_diff(ctx: &Ctx<'_>, job: &Job, old: &[u8], writes: &[DiffWrite]) -> Result<()> {
    let t = ctx.target;
    let write_err = |e: Error| rephrase(e, "Error while writing to COW image".into());
    for w in writes {
        let r = match w {
            DiffWrite::Zeros(at, n) => t.write_zeroes(job.offset + at, *n, ZeroFlags { unmap: false }),
            DiffWrite::Data(at, n) => {
                ctx.limiter.wait(*n);
                t.write_at(&old[*at as usize..(at + n) as usize], job.offset + at)
            }
            DiffWrite::Compressed(at, _, Some(c)) => t.write_compressed(c, job.offset + at),
            DiffWrite::Compressed(at, n, None) => t.write_at(&old[*at as usize..(at + n) as usize], job.offset + at),
        };
        r.map_err(write_err)?;
    }
    ctx.progress.add(job.len);
    Ok(())
}

/// `e` with the diagnostics a driver printed before the failure.
fn with_preamble(mut e: Error, preamble: Option<String>) -> Error {
    e.preamble = preamble;
    e
}

/// Reads `buf.len()` bytes at concatenated `offset`: what the sources do
/// not cover reads as zeros.
fn read_padded(sources: &[&dyn Image], offset: u64, buf: &mut [u8], wording: Wording) -> Result<()> {
    let total: u64 = sources.iter().map(|s| s.virtual_size()).sum();
    let inside = total.saturating_sub(offset).min(buf.len() as u64) as usize;
    buf[inside..].fill(0);
    if inside > 0 {
        read_sources(sources, offset, &mut buf[..inside], wording)?;
    }
    Ok(())
}

/// `convert -C` for one data chunk: each piece the sources store plainly in
/// a host file is copied by the kernel into a target that stores guest data
/// linearly; the rest is read and written, as it is (no zero detection).
fn offload_chunk(ctx: &Ctx<'_>, job: &Job, buf: &mut Vec<u8>) -> Result<()> {
    let write_err = |e: Error| e.prefix(ctx.opts.wording.write(job.offset));
    let mut at = 0u64;
    while at < job.len {
        let offset = job.offset + at;
        let (n, copied) = match (ctx.target.linear_storage(), source_host(ctx.sources, ctx.opts.source_start() + offset, job.len - at)?) {
            (Some(dst), Some((src, host, n))) => {
                ctx.limiter.wait(n);
                (n, src.copy_range(host, dst, offset, n).map_err(write_err)?)
            }
            (_, Some((_, _, n))) => (n, 0),
            (_, None) => (job.len - at, 0),
        };
        if copied < n {
            let rest = n - copied;
            buf.resize(rest as usize, 0);
            read_sources(ctx.sources, ctx.opts.source_start() + offset + copied, buf, ctx.opts.wording)?;
            ctx.limiter.wait(rest);
            ctx.target.write_at(buf, offset + copied).map_err(write_err)?;
        }
        at += n;
    }
    ctx.progress.add(job.len);
    Ok(())
}

/// Where the concatenated sources store `[offset, offset + len)` plainly:
/// the host file, the offset in it and how many bytes from `offset` are
/// stored contiguously there (through backing files where a layer does not
/// allocate the range). `None` when the start is not stored that way.
fn source_host<'a>(sources: &[&'a dyn Image], offset: u64, len: u64) -> Result<Option<(&'a Storage, u64, u64)>> {
    let mut start = 0u64;
    let Some((mut img, local)) = sources.iter().find_map(|s| {
        let size = s.virtual_size();
        let hit = (offset < start + size).then(|| (*s, offset - start));
        start += size;
        hit
    }) else {
        return Ok(None);
    };
    let len = len.min(img.virtual_size() - local);
    loop {
        let ext = img.block_status(local, len)?;
        match ext.status {
            Status::Data { host: Some((file, host)), zero: false } if ext.len > 0 => {
                return Ok(img.host_storage(file).map(|s| (s, host, ext.len)));
            }
            Status::Unallocated | Status::Reserved { .. } => match img.backing_image() {
                Some(b) if local < b.virtual_size() => img = b,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        }
    }
}

/// qemu's convert_co_write for one chunk.
fn write_chunk(ctx: &Ctx<'_>, job: &Job, buf: &[u8], compressed: Option<&[u8]>) -> Result<()> {
    let t = ctx.target;
    let opts = ctx.opts;
    let write_err = |e: Error| e.prefix(ctx.opts.wording.write(job.offset));
    match job.kind {
        Kind::Backing => {}
        Kind::Zero => {
            if !opts.target_zeroed {
                t.write_zeroes(job.offset, job.len, ZeroFlags { unmap: true }).map_err(write_err)?;
            }
        }
        Kind::Data if ctx.codec.is_some() => {
            if is_zero(buf) {
                if !opts.target_zeroed {
                    t.write_zeroes(job.offset, job.len, ZeroFlags { unmap: true }).map_err(write_err)?;
                }
            } else {
                ctx.limiter.wait(job.len);
                match compressed {
                    Some(c) => t.write_compressed(c, job.offset).map_err(write_err)?,
                    None => t.write_at(buf, job.offset).map_err(write_err)?,
                }
            }
            ctx.progress.add(job.len);
        }
        Kind::Data => {
            let mut at = 0u64;
            while at < job.len {
                let rest = &buf[at as usize..];
                let (data, n) = if opts.min_sparse == 0 {
                    (true, rest.len() as u64 / SECTOR)
                } else {
                    allocated_run_min(rest, opts.min_sparse / SECTOR, (job.offset + at) / SECTOR)
                };
                let n = (n * SECTOR).max(SECTOR.min(rest.len() as u64));
                if data {
                    ctx.limiter.wait(n);
                    t.write_at(&rest[..n as usize], job.offset + at).map_err(write_err)?;
                } else if !opts.target_zeroed {
                    t.write_zeroes(job.offset + at, n, ZeroFlags { unmap: true }).map_err(write_err)?;
                }
                at += n;
            }
            ctx.progress.add(job.len);
        }
    }
    Ok(())
}

/// Keeps the write rate under a limit (`-r`).
struct RateLimiter {
    limit: Option<u64>,
    state: Mutex<(std::time::Instant, u64)>,
}

impl RateLimiter {
    fn new(limit: Option<u64>) -> RateLimiter {
        RateLimiter { limit: limit.filter(|l| *l > 0), state: Mutex::new((std::time::Instant::now(), 0)) }
    }

    fn wait(&self, bytes: u64) {
        let Some(limit) = self.limit else { return };
        let Ok(mut s) = self.state.lock() else { return };
        s.1 += bytes;
        let due = std::time::Duration::from_secs_f64(s.1 as f64 / limit as f64);
        let elapsed = s.0.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_image::DataImage;

    fn options(workers: usize) -> Options {
        Options {
            min_sparse: 4096,
            compress: false,
            workers,
            in_order: true,
            target_has_backing: false,
            base_depth: None,
            keep_zero_ranges: false,
            target_zeroed: true,
            rate_limit: None,
            salvage: false,
            copy_offload: false,
            window: None,
            wording: Wording::AtByte,
        }
    }

    #[test]
    fn a_panicking_worker_ends_the_copy_instead_of_hanging_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Chunk 1 panics; the other workers must not wait for it forever.
            let source = DataImage { size: 256 << 20, panic_at: Some(3 << 20), ..Default::default() };
            let target = DataImage { size: 256 << 20, ..Default::default() };
            let quiet = |_: Option<&str>, _: &str| {};
            let r = std::panic::catch_unwind(|| copy(&[&source], &target, &options(4), &|_| {}, &quiet));
            let _ = tx.send(r.is_err());
        });
        let panicked = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the copy hung");
        assert!(panicked);
        // And without the panic, the same copy completes.
        let source = DataImage { size: 256 << 20, ..Default::default() };
        let target = DataImage { size: 256 << 20, ..Default::default() };
        copy(&[&source], &target, &options(4), &|_| {}, &|_, _| {}).unwrap();
    }

    #[test]
    fn zero_runs_are_aligned() {
        let mut buf = vec![0u8; 16 * 512];
        buf[0] = 1;
        // One data sector at the start: the run rounds up to 8 sectors.
        assert_eq!(allocated_run(&buf, 0, 8), (true, 8));
        assert_eq!(allocated_run(&buf[8 * 512..], 8, 8), (false, 8));
        // A zero run ending the buffer misaligned is cut down to the boundary.
        assert_eq!(allocated_run(&buf[8 * 512..], 9, 8), (false, 7));
        // A short zero run after data counts as data with a minimum of 8.
        let mut b2 = vec![1u8; 16 * 512];
        b2[512..1024].fill(0);
        assert_eq!(allocated_run_min(&b2, 8, 0), (true, 16));
        assert!(is_zero(&[0u8; 1000]));
        assert!(!is_zero(&{
            let mut v = [0u8; 1000];
            v[999] = 1;
            v
        }));
    }
}
