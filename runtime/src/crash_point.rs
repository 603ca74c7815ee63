//! A test hook for crash-consistency tests: with `QIMG_CRASH_AFTER_WRITES=N`
//! in the environment, the process kills itself with `SIGKILL` instead of
//! making its (N+1)th change to any file (write, length change, allocation,
//! hole punch). Running a command for every N from 0 up to the number of
//! changes it makes visits every point at which a crash can stop it.
//!
//! Without the variable this costs one relaxed load per file change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms the hook.
pub const ENV: &str = "QIMG_CRASH_AFTER_WRITES";

static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
static DONE: AtomicU64 = AtomicU64::new(0);

/// Called before every change to a file: dies at the armed point.
pub(crate) fn before_change() {
    let Some(limit) = *LIMIT.get_or_init(|| std::env::var(ENV).ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    if DONE.fetch_add(1, Ordering::SeqCst) >= limit {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
