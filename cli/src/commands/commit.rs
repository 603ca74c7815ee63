//! `commit`: write an overlay's data into an image below it (qemu-img's
//! `img_commit`). With `-p` the progress line starts at 0 once the overlay
//! is open (also when no base is found), and the newline that ends it comes
//! before the result.

use super::convert::ProgressPrinter;
use super::{secrets, Env};
use crate::args::Commit;
use qimg_runtime::commit::{open, Request};

/// Runs `commit`.
pub fn run(env: &Env, a: &Commit) -> i32 {
    let started = secrets(&a.objects).and_then(|store| {
        let image = env.image_ref(&a.filename, a.format.as_deref(), a.image_opts)?;
        Ok((store, image))
    });
    let (store, image) = match started {
        Ok(v) => v,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let base = a.base.as_ref().map(|b| b.to_string_lossy().into_owned());
    let req = Request {
        image: &image,
        secrets: &store,
        base: base.as_deref(),
        drop: a.drop,
        rate_limit: a.rate_limit,
        cache: &a.cache,
    };
    let job = match open(&req) {
        Ok(j) => j,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    if a.format.is_none() {
        super::warn_probed_raw(env, job.image(), image.filename());
    }
    let printer = ProgressPrinter::new(env, a.progress);
    printer.update(0.0);
    let result = job.run(&|p| printer.update(p));
    if result.is_ok() {
        printer.update(100.0);
    }
    printer.end();
    match result {
        Ok(()) => {
            if !a.quiet {
                env.out(b"Image committed.\n");
            }
            0
        }
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
