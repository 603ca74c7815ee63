//! `rebase`: make an image name another backing file (merging data first
//! unless `-u`).

use super::convert::ProgressPrinter;
use super::{open_image, secrets, Env};
use crate::args::Rebase;
use qimg_runtime::rebase::{open_options, rebase, Request};

/// Runs `rebase`.
pub fn run(env: &Env, a: &Rebase) -> i32 {
    let printer = ProgressPrinter::new(env, a.progress);
    printer.update(0.0);
    let code = match run_rebase(env, a, &printer) {
        Ok(()) => 0,
        Err(e) => {
            env.error(&e);
            1
        }
    };
    printer.end();
    code
}

fn run_rebase(env: &Env, a: &Rebase, printer: &ProgressPrinter<'_>) -> Result<(), qimg_runtime::Error> {
    let opts = open_options(None, a.unsafe_mode);
    let (mut img, filename) = open_image(env, &a.filename, a.format.as_deref(), a.image_opts, &a.objects, opts)?;
    if a.format.is_none() {
        super::warn_probed_raw(env, img.as_ref(), &filename);
    }
    let secrets = secrets(&a.objects)?;
    let backing = a.backing.as_ref().map(|b| b.to_string_lossy().into_owned());
    let req = Request {
        backing: backing.as_deref(),
        backing_format: a.backing_format.as_deref(),
        unsafe_mode: a.unsafe_mode,
        compress: a.compress,
        force_share: a.force_share,
        secrets: &secrets,
    };
    rebase(img.as_mut(), &filename, &req, &|p| printer.update(p))?;
    img.close()
}
