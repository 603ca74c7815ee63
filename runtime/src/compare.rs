//! `compare`: whether two images hold the same guest data, answered as
//! `qemu-img compare` answers it.
//!
//! The walk is qemu-img's `img_compare`: at each offset, the block status of
//! both chains ([`Chain::status_above`]) decides what to do with the next
//! chunk, whose length is the shorter of the two answers:
//!
//! - both read as zeros: nothing to read;
//! - both allocated: read both (at most [`IO_BUF_SIZE`]) and compare them;
//! - one allocated, the other not: read the allocated one, which must be zeros;
//! - with `-s`, any difference in the flag words is a mismatch by itself.
//!
//! Then, if one image is longer, its extra part must read as zeros. The
//! first difference is reported at the start of its 512-byte sector
//! (counted from the start of its chunk), as qemu-img reports it.
//!
//! Only the order of results is sequential. Chunks that need reading are
//! grouped into jobs of up to [`JOB_BYTES`] and read and compared by a pool
//! of threads, while this thread walks the block status ahead of them; the
//! results are then taken in guest order, so that what is reported (and
//! every progress step before it) is what the sequential walk would report.

use crate::blockstatus::{BlockStatus, Chain};
use crate::copy::is_zero;
use crate::error::Error;
use crate::image::Image;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// qemu-img's compare buffer: chunks that are read are at most this long.
pub const IO_BUF_SIZE: u64 = 2 << 20;
/// The most guest data one job reads from each image, and the most chunks.
pub const JOB_BYTES: u64 = 8 << 20;
const JOB_CHUNKS: usize = 2048;
/// Chunks are read and compared this much at a time.
const SLICE: usize = 256 << 10;
const SECTOR: usize = 512;
/// Walk-ahead bounds: jobs handed to the workers and not yet taken back, and
/// walked chunks waiting for their turn.
const JOBS_AHEAD_PER_WORKER: usize = 2;
const ITEMS_AHEAD: usize = 16384;

/// How to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `-s`: the sizes and the block status must match too.
    pub strict: bool,
    /// Reader threads.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        Options { strict: false, workers }
    }
}

/// One of the two images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    First,
    Second,
}

/// What happens along the way, in qemu-img's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A chunk is done: progress grew by this many percent (qemu-img's
    /// `qemu_progress_print(delta, 100)` argument, computed as it computes it).
    /// The walk starts with a 0.
    Progress(f32),
    /// The images differ in size (qemu-img's `Warning: Image size mismatch!`),
    /// before the longer one's extra part is checked.
    SizeMismatch,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Identical,
    /// The first difference, at the start of its sector.
    ContentMismatch(u64),
    /// `-s`: the sizes differ.
    StrictSizeMismatch,
    /// `-s`: the block status differs at this offset.
    StrictStatusMismatch(u64),
}

/// Why there is no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Block status failed (qemu-img exits with 3).
    BlockStatus { side: Side, error: Error },
    /// Reading failed at the start of a chunk (qemu-img exits with 4).
    Read { side: Side, offset: u64, error: Error },
}

/// What a chunk needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Both images read, and compared.
    Both,
    /// One image read, which must read as zeros.
    Empty(Side),
}

/// A chunk to read: what, where, how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    kind: Kind,
    offset: u64,
    len: u64,
}

/// Chunks read and checked together by a worker, in guest order (not
/// necessarily adjacent: what lies between needs no reading).
struct Job {
    seq: u64,
    chunks: Vec<Chunk>,
}

/// The first thing a job found, in guest order.
#[derive(Debug)]
enum Found {
    Nothing,
    Mismatch(u64),
    Failure(Failure),
}

impl Found {
    /// The guest offset of what was found (a read failure is at its chunk's start).
    fn at(&self) -> u64 {
        match self {
            Found::Nothing => u64::MAX,
            Found::Mismatch(off) => *off,
            Found::Failure(Failure::Read { offset, .. }) => *offset,
            Found::Failure(Failure::BlockStatus { .. }) => 0,
        }
    }
}

/// The walk's results, in guest order.
enum Item {
    /// A chunk that needed no reading.
    Skip(u64),
    /// A chunk read by job `seq`.
    Read {
        seq: u64,
        offset: u64,
        len: u64,
    },
    SizeMismatch,
    End(Result<Outcome, Failure>),
}

/// Compares `a` and `b` (with their backing chains). `event` receives the
/// progress steps and the size warning, in order.
pub fn compare(
    a: &dyn Image,
    b: &dyn Image,
    opts: &Options,
    event: &mut dyn FnMut(Event),
) -> std::result::Result<Outcome, Failure> {
    let images = [a, b];
    let workers = opts.workers.max(1);
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<Job>(workers * JOBS_AHEAD_PER_WORKER);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = channel::<(u64, Found)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (images, job_rx, done_tx, stop) = (&images, &job_rx, done_tx.clone(), &stop);
            scope.spawn(move || worker(images, job_rx, done_tx, stop));
        }
        drop(done_tx);
        let mut run = Run {
            walk: Walk::new(a, b, opts.strict),
            job_tx: Some(job_tx),
            done_rx,
            stash: HashMap::new(),
            current: None,
            items: VecDeque::new(),
            open: None,
            seq: 0,
            jobs_out: 0,
            max_jobs_out: workers * JOBS_AHEAD_PER_WORKER,
        };
        let r = run.run(event);
        stop.store(true, Ordering::SeqCst);
        run.job_tx = None;
        r
    })
}

/// The walk over both images, one chunk at a time (qemu-img's loop).
struct Walk<'a> {
    chains: [Chain<'a>; 2],
    sizes: [u64; 2],
    strict: bool,
    offset: u64,
    started: bool,
    warned: bool,
    finished: bool,
}

/// The next step of the walk.
enum Step {
    Skip(u64),
    Read(Kind, u64, u64),
    SizeMismatch,
    End(Result<Outcome, Failure>),
}

impl<'a> Walk<'a> {
    fn new(a: &'a dyn Image, b: &'a dyn Image, strict: bool) -> Walk<'a> {
        let chains = [Chain::new(a), Chain::new(b)];
        let sizes = [a.virtual_size(), b.virtual_size()];
        Walk { chains, sizes, strict, offset: 0, started: false, warned: false, finished: false }
    }

    fn status(&self, side: usize, offset: u64) -> Result<BlockStatus, Failure> {
        let size = self.sizes[side];
        self.chains[side]
            .status_above(offset, size - offset)
            .map_err(|error| Failure::BlockStatus { side: if side == 0 { Side::First } else { Side::Second }, error })
    }

    /// The next step, or `None` after the end.
    fn step(&mut self) -> Option<Step> {
        if self.finished {
            return None;
        }
        let r = self.step_inner();
        if matches!(r, Step::End(_)) {
            self.finished = true;
        }
        Some(r)
    }

    fn step_inner(&mut self) -> Step {
        let [s1, s2] = self.sizes;
        if !self.started {
            self.started = true;
            if self.strict && s1 != s2 {
                return Step::End(Ok(Outcome::StrictSizeMismatch));
            }
        }
        let common = s1.min(s2);
        let offset = self.offset;
        if offset < common {
            let a = match self.status(0, offset) {
                Ok(s) => s,
                Err(f) => return Step::End(Err(f)),
            };
            let b = match self.status(1, offset) {
                Ok(s) => s,
                Err(f) => return Step::End(Err(f)),
            };
            let chunk = a.len.min(b.len);
            if self.strict && a.bits() != b.bits() {
                return Step::End(Ok(Outcome::StrictStatusMismatch(offset)));
            }
            let step = if (a.zero && b.zero) || (!a.allocated && !b.allocated) {
                Step::Skip(chunk)
            } else {
                let kind = match (a.allocated, b.allocated) {
                    (true, true) => Kind::Both,
                    (true, false) => Kind::Empty(Side::First),
                    _ => Kind::Empty(Side::Second),
                };
                Step::Read(kind, offset, chunk.min(IO_BUF_SIZE))
            };
            self.offset += match step {
                Step::Skip(n) | Step::Read(_, _, n) => n,
                _ => 0,
            };
            return step;
        }
        let longer = s1.max(s2);
        if offset < longer {
            if !self.warned {
                self.warned = true;
                return Step::SizeMismatch;
            }
            let side = if s1 > s2 { 0 } else { 1 };
            let s = match self.status(side, offset) {
                Ok(s) => s,
                Err(f) => return Step::End(Err(f)),
            };
            let step = if s.allocated && !s.zero {
                let side = if side == 0 { Side::First } else { Side::Second };
                Step::Read(Kind::Empty(side), offset, s.len.min(IO_BUF_SIZE))
            } else {
                Step::Skip(s.len)
            };
            self.offset += match step {
                Step::Skip(n) | Step::Read(_, _, n) => n,
                _ => 0,
            };
            return step;
        }
        Step::End(Ok(Outcome::Identical))
    }
}

/// The pipeline: walk ahead, hand jobs to the workers, take results in order.
struct Run<'a> {
    walk: Walk<'a>,
    job_tx: Option<SyncSender<Job>>,
    done_rx: Receiver<(u64, Found)>,
    /// Results that came back before their turn.
    stash: HashMap<u64, Found>,
    /// The result of the job whose chunks are being reported.
    current: Option<(u64, Found)>,
    /// Walked and not yet reported, in order.
    items: VecDeque<Item>,
    /// The job being filled: its number, chunks and bytes.
    open: Option<(u64, Vec<Chunk>, u64)>,
    seq: u64,
    /// Jobs handed out whose results were not taken yet.
    jobs_out: usize,
    max_jobs_out: usize,
}

impl Run<'_> {
    fn run(&mut self, event: &mut dyn FnMut(Event)) -> std::result::Result<Outcome, Failure> {
        let base = self.walk.sizes[0].max(self.walk.sizes[1]);
        let progress = |len: u64| Event::Progress((len as f32 / base as f32) * 100.0);
        event(Event::Progress(0.0));
        loop {
            // Walk ahead while there is room.
            while self.jobs_out < self.max_jobs_out && self.items.len() < ITEMS_AHEAD {
                match self.walk.step() {
                    Some(step) => self.push(step),
                    None => break,
                }
            }
            let Some(item) = self.items.pop_front() else {
                // The walk always ends with an end item; this is not reached.
                return Ok(Outcome::Identical);
            };
            match item {
                Item::Skip(n) => event(progress(n)),
                Item::SizeMismatch => event(Event::SizeMismatch),
                Item::End(r) => return r,
                Item::Read { seq, offset, len } => {
                    let at = self.result(seq).at();
                    if at < offset.saturating_add(len) {
                        return match self.current.take() {
                            Some((_, Found::Mismatch(off))) => Ok(Outcome::ContentMismatch(off)),
                            Some((_, Found::Failure(f))) => Err(f),
                            _ => Ok(Outcome::Identical),
                        };
                    }
                    event(progress(len));
                }
            }
        }
    }

    /// Queues a walked step.
    fn push(&mut self, step: Step) {
        match step {
            Step::Read(kind, offset, len) => {
                let (seq, chunks, bytes) = match &mut self.open {
                    Some(open) => open,
                    None => {
                        let seq = self.seq;
                        self.seq += 1;
                        self.open.insert((seq, Vec::new(), 0))
                    }
                };
                chunks.push(Chunk { kind, offset, len });
                *bytes += len;
                let (seq, full) = (*seq, *bytes >= JOB_BYTES || chunks.len() >= JOB_CHUNKS);
                self.items.push_back(Item::Read { seq, offset, len });
                if full {
                    self.seal();
                }
            }
            Step::Skip(n) => self.items.push_back(Item::Skip(n)),
            Step::SizeMismatch => self.items.push_back(Item::SizeMismatch),
            Step::End(r) => {
                self.seal();
                self.items.push_back(Item::End(r));
            }
        }
    }

    /// Hands the job being filled to the workers.
    fn seal(&mut self) {
        let Some((seq, chunks, _)) = self.open.take() else { return };
        let start = chunks.first().map_or(0, |c| c.offset);
        let sent = self.job_tx.as_ref().is_some_and(|tx| tx.send(Job { seq, chunks }).is_ok());
        if !sent {
            // No worker left (one panicked): report a read failure in order.
            let error = Error::errno(libc::EIO);
            self.stash.insert(seq, Found::Failure(Failure::Read { side: Side::First, offset: start, error }));
        }
        self.jobs_out += 1;
    }

    /// The result of job `seq` (waiting for it if needed).
    fn result(&mut self, seq: u64) -> &Found {
        if self.current.as_ref().is_none_or(|(s, _)| *s != seq) {
            if self.open.as_ref().is_some_and(|(s, _, _)| *s == seq) {
                self.seal();
            }
            let found = loop {
                if let Some(f) = self.stash.remove(&seq) {
                    break f;
                }
                match self.done_rx.recv() {
                    Ok((s, f)) => {
                        self.stash.insert(s, f);
                    }
                    Err(_) => {
                        let error = Error::errno(libc::EIO);
                        break Found::Failure(Failure::Read { side: Side::First, offset: 0, error });
                    }
                }
            };
            self.jobs_out = self.jobs_out.saturating_sub(1);
            self.current = Some((seq, found));
        }
        match &self.current {
            Some((_, f)) => f,
            None => &Found::Nothing,
        }
    }
}

/// A reader thread: takes jobs until there are none, or the walk stopped.
fn worker(images: &[&dyn Image; 2], jobs: &Mutex<Receiver<Job>>, done: Sender<(u64, Found)>, stop: &AtomicBool) {
    let mut bufs = [vec![0u8; SLICE], vec![0u8; SLICE]];
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let found = if stop.load(Ordering::SeqCst) {
            Found::Nothing
        } else {
            // A bug must not leave the walk waiting for this job forever.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(images, &job, &mut bufs))).unwrap_or_else(
                |_| {
                    let offset = job.chunks.first().map_or(0, |c| c.offset);
                    Found::Failure(Failure::Read { side: Side::First, offset, error: Error::errno(libc::EIO) })
                },
            )
        };
        if done.send((job.seq, found)).is_err() {
            return;
        }
    }
}

/// The images a chunk reads.
fn sides(kind: Kind) -> &'static [usize] {
    match kind {
        Kind::Both => &[0, 1],
        Kind::Empty(Side::First) => &[0],
        Kind::Empty(Side::Second) => &[1],
    }
}

/// What a chunk's data shows: where its first difference (or non-zero
/// sector) is, counted from its start.
fn inspect(kind: Kind, a: &[u8], b: &[u8]) -> Option<usize> {
    match kind {
        Kind::Both => first_difference(a, b),
        Kind::Empty(Side::First) => first_nonzero(a),
        Kind::Empty(Side::Second) => first_nonzero(b),
    }
}

/// Reads and checks one job, chunk by chunk, each in slices small enough to
/// stay in the CPU cache between being read and being compared.
fn check(images: &[&dyn Image; 2], job: &Job, bufs: &mut [Vec<u8>; 2]) -> Found {
    for c in &job.chunks {
        match check_chunk(images, c, bufs) {
            Ok(None) => {}
            Ok(Some(at)) => return Found::Mismatch(at),
            // Read as qemu-img reads, to fail where it fails.
            Err(()) => match check_whole_chunk(images, c, bufs) {
                Found::Nothing => {}
                found => return found,
            },
        }
    }
    Found::Nothing
}

/// Checks a chunk slice by slice. A difference counts only once the whole
/// chunk has been read without error (qemu-img reads it all before comparing).
fn check_chunk(images: &[&dyn Image; 2], c: &Chunk, bufs: &mut [Vec<u8>; 2]) -> Result<Option<u64>, ()> {
    let mut found = None;
    let mut pos = 0u64;
    while pos < c.len {
        let n = (c.len - pos).min(SLICE as u64) as usize;
        for &s in sides(c.kind) {
            images[s].read_at(&mut bufs[s][..n], c.offset + pos).map_err(|_| ())?;
        }
        if found.is_none() {
            if let Some(at) = inspect(c.kind, &bufs[0][..n], &bufs[1][..n]) {
                found = Some(c.offset + pos + at as u64);
            }
        }
        pos += n as u64;
    }
    Ok(found)
}

/// Checks a chunk as qemu-img does: the first image read whole, then the
/// second, then compared.
fn check_whole_chunk(images: &[&dyn Image; 2], c: &Chunk, bufs: &mut [Vec<u8>; 2]) -> Found {
    let n = c.len as usize;
    for b in bufs.iter_mut() {
        if b.len() < n {
            b.resize(n, 0);
        }
    }
    for &s in sides(c.kind) {
        if let Err(error) = images[s].read_at(&mut bufs[s][..n], c.offset) {
            let side = if s == 0 { Side::First } else { Side::Second };
            return Found::Failure(Failure::Read { side, offset: c.offset, error });
        }
    }
    match inspect(c.kind, &bufs[0][..n], &bufs[1][..n]) {
        Some(at) => Found::Mismatch(c.offset + at as u64),
        None => Found::Nothing,
    }
}

/// Where the first differing 512-byte sector starts (qemu-img's `compare_buffers`).
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    a.chunks(SECTOR).zip(b.chunks(SECTOR)).position(|(x, y)| x != y).map(|i| i * SECTOR)
}

/// Where the first 512-byte sector with a non-zero byte starts.
fn first_nonzero(a: &[u8]) -> Option<usize> {
    if is_zero(a) {
        return None;
    }
    a.chunks(SECTOR).position(|c| !is_zero(c)).map(|i| i * SECTOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_image::DataImage;

    #[test]
    fn differences_are_reported_per_sector() {
        let a = vec![0u8; 4096];
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), None);
        b[1000] = 1;
        assert_eq!(first_difference(&a, &b), Some(512));
        b[3] = 1;
        assert_eq!(first_difference(&a, &b), Some(0));
        assert_eq!(first_nonzero(&a), None);
        assert_eq!(first_nonzero(&b), Some(0));
        let mut c = vec![0u8; 1000];
        c[999] = 7;
        assert_eq!(first_nonzero(&c), Some(512));
    }

    fn run(a: &DataImage, b: &DataImage, workers: usize) -> (std::result::Result<Outcome, Failure>, usize) {
        let mut steps = 0;
        let r = compare(a, b, &Options { strict: false, workers }, &mut |e| {
            if let Event::Progress(_) = e {
                steps += 1;
            }
        });
        (r, steps)
    }

    #[test]
    fn the_first_difference_wins_whatever_the_workers_do() {
        let size = 64 << 20;
        let plain = DataImage { size, ..Default::default() };
        for workers in [1, 3, 8] {
            assert_eq!(run(&plain, &plain, workers), (Ok(Outcome::Identical), 1 + 64));
            let late = DataImage { size, poke: Some(50_000_123), ..Default::default() };
            // 47 whole chunks of 1 MiB before the one that differs, plus the
            // start; the sector is counted from the start of its chunk.
            let chunk = 47 << 20;
            let sector = chunk + (50_000_123 - chunk) / 512 * 512;
            assert_eq!(run(&plain, &late, workers), (Ok(Outcome::ContentMismatch(sector)), 1 + 47));
            let early = DataImage { size, poke: Some(5 << 20), bad: Some(60 << 20), ..Default::default() };
            assert_eq!(run(&early, &late, workers).0, Ok(Outcome::ContentMismatch(5 << 20)));
            let broken = DataImage { size, bad: Some((10 << 20) + 5), ..Default::default() };
            match run(&plain, &broken, workers).0 {
                Err(Failure::Read { side: Side::Second, offset, .. }) => assert_eq!(offset, 10 << 20),
                other => panic!("{other:?}"),
            }
        }
    }
}
