//! `convert`: copy guest data into a new (or, with `-n`, an existing) image.

use super::{secrets, Env};
use crate::args::{Convert, SnapshotParam};
use crate::output::progress::{progress_line, PROGRESS_END};
use qimg_runtime::convert::{convert, BitmapCopy, Request, SnapshotRef};
use qimg_runtime::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// qemu prints progress when it moved by more than this many percent.
const MIN_SKIP: f32 = 1.0;

/// Set by SIGUSR1: print the progress once on stderr.
static PRINT_PENDING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    PRINT_PENDING.store(true, Ordering::SeqCst);
}

/// qemu's progress reporting: lines on stdout with `-p`; otherwise SIGUSR1
/// asks for one line on stderr at the next report.
pub struct ProgressPrinter<'a> {
    env: &'a Env,
    enabled: bool,
    last: Mutex<Option<f32>>,
}

impl<'a> ProgressPrinter<'a> {
    pub fn new(env: &'a Env, enabled: bool) -> Self {
        if !enabled {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGUSR1, on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t);
            }
        }
        ProgressPrinter { env, enabled, last: Mutex::new(None) }
    }

    /// Reports `current` if it moved enough since the last report, or is 0 or 100.
    pub fn update(&self, current: f32) {
        let current = current.min(100.0);
        let Ok(mut last) = self.last.lock() else { return };
        let moved = match *last {
            None => true,
            Some(l) => current > l + MIN_SKIP || current < l - MIN_SKIP || current == 100.0 || current == 0.0,
        };
        if moved {
            *last = Some(current);
            if self.enabled {
                self.env.out_now(progress_line(current as f64).as_bytes());
            } else if PRINT_PENDING.swap(false, Ordering::SeqCst) {
                let line = progress_line(current as f64);
                self.env.err(format!("{}\n", line.trim_end_matches('\r')).as_bytes());
            }
        }
    }

    /// Ends the progress output.
    pub fn end(&self) {
        if self.enabled {
            self.env.out_now(PROGRESS_END.as_bytes());
        }
    }
}

/// Runs `convert`.
pub fn run(env: &Env, a: &Convert) -> i32 {
    let named = || -> Result<_, Error> {
        let secrets = secrets(&a.objects)?;
        let sources = a
            .sources
            .iter()
            .map(|s| env.image_ref(s, a.source_format.as_deref(), a.image_opts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((secrets, sources, env.image_ref(&a.target, None, a.target_image_opts)?))
    };
    let (secrets, sources, target) = match named() {
        Ok(n) => n,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let backing = a.backing.as_ref().map(|b| b.to_string_lossy().into_owned());
    let snapshot = a.snapshot.as_ref().map(|s| match s {
        SnapshotParam::IdOrName(x) => SnapshotRef::IdOrName(x.as_str()),
        SnapshotParam::Opts { id, name } => SnapshotRef::Exact { id: id.as_deref(), name: name.as_deref() },
    });
    let req = Request {
        sources: &sources,
        target: &target,
        secrets: &secrets,
        target_format: a.target_format.as_deref().unwrap_or("raw"),
        options: a.options.as_deref(),
        backing: backing.as_deref(),
        backing_format: a.backing_format.as_deref(),
        no_create: a.no_create,
        target_is_zero: a.target_is_zero,
        compress: a.compress,
        sparse_size: a.sparse_size,
        parallel: a.parallel as usize,
        oob_writes: a.oob_writes,
        rate_limit: a.rate_limit,
        target_cache: &a.target_cache,
        force_share: a.force_share,
        snapshot,
        salvage: a.salvage,
        copy_offload: a.copy_range,
        bitmaps: a.bitmaps.then_some(BitmapCopy { skip_broken: a.skip_broken_bitmaps }),
    };
    let printer = ProgressPrinter::new(env, a.progress && !a.quiet);
    printer.update(0.0);
    let result = convert(&req, &|p| printer.update(p), &|pre, w| {
        if let Some(p) = pre {
            env.err(p.as_bytes());
        }
        env.warn(w)
    });
    if result.is_ok() {
        printer.update(100.0);
    }
    printer.end();
    match result {
        Ok(()) => 0,
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
