//! `compare`: whether two images hold the same guest data (qemu-img's
//! `img_compare`).
//!
//! Exit codes: 0 identical, 1 different (or a usage error), 2 an image could
//! not be opened, 3 block status failed, 4 reading failed. Every verdict goes
//! to stdout (`-q` silences it). With `-p`, the progress line is updated as
//! qemu's `qemu_progress_print` updates it (relative steps, printed when they
//! add up to more than 2%), and the newline that ends it comes last, after
//! the verdict, even when an image could not be opened.

use super::{secrets, Env};
use crate::args::Compare;
use crate::output::progress::{progress_line, PROGRESS_END};
use qimg_runtime::compare::{compare, Event, Failure, Options, Outcome, Side};
use qimg_runtime::error::strerror;
use qimg_runtime::image::OpenOptions;
use qimg_runtime::Error;
use std::ffi::OsStr;

/// `compare` prints progress only after this many more percent.
const MIN_SKIP: f32 = 2.0;

/// qemu's progress state for relative updates (`qemu_progress_print(delta, 100)`).
struct Progress<'a> {
    env: &'a Env,
    enabled: bool,
    current: f32,
    last_print: f32,
}

impl Progress<'_> {
    /// Adds `delta` percent, and prints if it moved enough (or is 0 or 100).
    fn add(&mut self, delta: f32) {
        let current = (self.current + delta / 100.0 * 100.0).min(100.0);
        self.current = current;
        if current > self.last_print + MIN_SKIP || current == 100.0 || current == 0.0 {
            self.last_print = current;
            if self.enabled {
                // qemu flushes each line, so that a terminal shows it.
                self.env.out_now(progress_line(current as f64).as_bytes());
            }
        }
    }

    /// Ends the progress output.
    fn end(&self) {
        if self.enabled {
            self.env.out_now(PROGRESS_END.as_bytes());
        }
    }
}

/// Runs `compare`.
pub fn run(env: &Env, a: &Compare) -> i32 {
    let mut progress = Progress { env, enabled: a.progress, current: 0.0, last_print: 0.0 };
    let code = compare_images(env, a, &mut progress);
    progress.end();
    code
}

fn compare_images(env: &Env, a: &Compare, progress: &mut Progress<'_>) -> i32 {
    let say = |text: &str| {
        if !a.quiet {
            env.out(text.as_bytes());
        }
    };
    let names = [a.filename1.to_string_lossy().into_owned(), a.filename2.to_string_lossy().into_owned()];
    let secrets = match secrets(&a.objects) {
        Ok(s) => s,
        Err(e) => {
            env.error(&e);
            return 2;
        }
    };
    let open = |name: &OsStr, format: Option<&str>| {
        env.image_ref(name, format, a.image_opts)?.open(OpenOptions::read(None, a.force_share), &secrets)
    };
    let img1 = match open(&a.filename1, a.format1.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            env.error(&e);
            return 2;
        }
    };
    let img2 = match open(&a.filename2, a.format2.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            env.error(&e);
            return 2;
        }
    };
    let opts = Options { strict: a.strict, ..Options::default() };
    let result = compare(img1.as_ref(), img2.as_ref(), &opts, &mut |e| match e {
        Event::Progress(delta) => progress.add(delta),
        Event::SizeMismatch => say("Warning: Image size mismatch!\n"),
    });
    let name = |side: Side| match side {
        Side::First => &names[0],
        Side::Second => &names[1],
    };
    match result {
        Ok(Outcome::Identical) => {
            say("Images are identical.\n");
            0
        }
        Ok(Outcome::ContentMismatch(offset)) => {
            say(&format!("Content mismatch at offset {offset}!\n"));
            1
        }
        Ok(Outcome::StrictSizeMismatch) => {
            say("Strict mode: Image size mismatch!\n");
            1
        }
        Ok(Outcome::StrictStatusMismatch(offset)) => {
            say(&format!("Strict mode: Offset {offset} block status mismatch!\n"));
            1
        }
        Err(Failure::BlockStatus { side, error }) => {
            let mut e = Error::new(error.kind, format!("Sector allocation test failed for {}", name(side)));
            e.preamble = error.preamble;
            env.error(&e);
            3
        }
        Err(Failure::Read { side, offset, error }) => {
            let reason = error.errno.map_or_else(|| error.message.clone(), strerror);
            let mut e =
                Error::new(error.kind, format!("Error while reading offset {offset} of {}: {reason}", name(side)));
            e.preamble = error.preamble;
            env.error(&e);
            4
        }
    }
}
