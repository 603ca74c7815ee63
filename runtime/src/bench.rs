//! `bench`: a run of fixed-size read or write requests over an image, as
//! qemu-img's benchmark issues them (the same offsets, the same data), timed.
//!
//! qemu keeps `depth` requests in flight from one event loop; qimg runs the
//! requests on a few threads that take them in order. The set of requests,
//! their offsets and the data written are qemu's; only completion order
//! differs, which cannot change the result since every write carries the
//! same pattern.

use crate::error::{Error, Result};
use crate::image::Image;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most worker threads a run uses.
const MAX_THREADS: u64 = 4;

/// Request buffers of all threads together stay under this (beyond the
/// first buffer, which a run always needs).
const BUFFER_BUDGET: u64 = 64 << 20;

/// What a benchmark run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Number of requests.
    pub count: u64,
    /// Requests in flight at once (bounds the threads used).
    pub depth: u64,
    /// Offset of the first request.
    pub offset: u64,
    /// Bytes per request (at least 1).
    pub buffer_size: u64,
    /// Offset increment between requests; 0 means `buffer_size`.
    pub step: u64,
    /// Write instead of read.
    pub write: bool,
    /// The byte every write carries.
    pub pattern: u8,
    /// Flush after every this many completed requests (0: never).
    pub flush_interval: u64,
}

impl Params {
    /// The step actually used: `buffer_size` when none is given.
    pub fn effective_step(&self) -> u64 {
        if self.step == 0 {
            self.buffer_size
        } else {
            self.step
        }
    }

    /// The offset of request `index` (from 0): the first at `offset`, each
    /// next one `step` further, wrapped modulo the image size (0 for an
    /// empty image). As in qemu 10.0.2, a wrapped request may still reach
    /// past the end and fail; later qemu wraps earlier.
    pub fn request_offset(&self, index: u64, image_size: u64) -> u64 {
        if index == 0 {
            return self.offset;
        }
        if image_size == 0 {
            return 0;
        }
        let modulus = u128::from(image_size);
        let advanced = u128::from(self.offset) + u128::from(index) * u128::from(self.effective_step());
        // Each step wraps, but (a + b) mod m taken step by step equals the
        // sum taken at once mod m, so one remainder suffices.
        (advanced % modulus) as u64
    }
}

/// Runs the requests on `img` and returns the time they took. The first
/// failed request stops the run: `Failed request: <strerror>`, as qemu
/// reports it (a request past the end of the image is `EIO`).
pub fn run(img: &dyn Image, p: &Params) -> Result<Duration> {
    let size = img.virtual_size();
    let threads = thread_count(p);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                if let Err(e) = worker(img, p, size, &next, &done, &failed) {
                    failed.store(true, Ordering::SeqCst);
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(elapsed),
    }
}

/// Threads for a run: a few, no more than the requests in flight or in
/// total, and fewer for big buffers.
fn thread_count(p: &Params) -> u64 {
    let by_memory = 1 + BUFFER_BUDGET / p.buffer_size.max(1);
    MAX_THREADS.min(p.depth).min(p.count).min(by_memory).max(1)
}

/// Takes requests in order until none is left or one failed.
fn worker(
    img: &dyn Image,
    p: &Params,
    size: u64,
    next: &AtomicU64,
    done: &AtomicU64,
    failed: &AtomicBool,
) -> Result<()> {
    let len = usize::try_from(p.buffer_size).map_err(|_| failed_request(libc::ENOMEM))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| failed_request(libc::ENOMEM))?;
    buf.resize(len, p.pattern);
    while !failed.load(Ordering::SeqCst) {
        let index = next.fetch_add(1, Ordering::SeqCst);
        if index >= p.count {
            break;
        }
        let offset = p.request_offset(index, size);
        if offset > size || size - offset < p.buffer_size {
            return Err(failed_request(libc::EIO));
        }
        let r = if p.write { img.write_at(&buf, offset) } else { img.read_at(&mut buf, offset) };
        r.map_err(|e| failed_request(e.errno.unwrap_or(libc::EIO)))?;
        let completed = done.fetch_add(1, Ordering::SeqCst) + 1;
        if p.flush_interval != 0 && completed.is_multiple_of(p.flush_interval) {
            img.flush().map_err(|e| failed_request(e.errno.unwrap_or(libc::EIO)))?;
        }
    }
    Ok(())
}

/// qemu's report of a failed request.
fn failed_request(errno: i32) -> Error {
    Error::errno_with(errno, "Failed request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(offset: u64, buffer_size: u64, step: u64) -> Params {
        Params { count: 10, depth: 4, offset, buffer_size, step, write: false, pattern: 0, flush_interval: 0 }
    }

    /// The offsets qemu computes one step at a time.
    fn stepwise(p: &Params, n: u64, size: u64) -> Vec<u64> {
        let mut v = vec![p.offset];
        let mut o = p.offset;
        for _ in 1..n {
            o += p.effective_step();
            o = if size == 0 { 0 } else { o % size };
            v.push(o);
        }
        v
    }

    #[test]
    fn offsets_wrap_as_stepwise() {
        for (offset, bs, step, size) in [(0, 4096, 0, 1 << 20), (1044480, 4096, 0, 1 << 20), (1024, 100, 7, 5000), (3, 1, 3, 10), (0, 4096, 1046000, 1 << 20)] {
            let p = params(offset, bs, step);
            let got: Vec<u64> = (0..50).map(|i| p.request_offset(i, size)).collect();
            assert_eq!(got, stepwise(&p, 50, size), "{offset} {bs} {step} {size}");
        }
    }

    #[test]
    fn empty_image_stays_at_zero() {
        let p = params(5, 4096, 0);
        assert_eq!(p.request_offset(0, 0), 5);
        assert_eq!(p.request_offset(3, 0), 0);
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let p = Params { step: u32::MAX as u64, ..params(u64::MAX / 2, 1, 0) };
        assert!(p.request_offset(u32::MAX as u64, 1 << 40) < 1 << 40);
    }

    #[test]
    fn threads_are_bounded() {
        assert_eq!(thread_count(&params(0, 4096, 0)), 4);
        assert_eq!(thread_count(&Params { depth: 1, ..params(0, 4096, 0) }), 1);
        assert_eq!(thread_count(&params(0, i32::MAX as u64, 0)), 1);
    }
}
