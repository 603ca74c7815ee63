//! `amend`: change options of an existing image.

use super::convert::ProgressPrinter;
use super::{open_to_change, Env};
use crate::args::Amend;
use qimg_runtime::amend::parse_options;
use qimg_runtime::create_opts::amend_help;
use qimg_runtime::image::OpenOptions;
use qimg_runtime::opts::has_help_option;

/// Runs `amend`.
pub fn run(env: &Env, a: &Amend) -> i32 {
    let printer = ProgressPrinter::new(env, a.progress && !a.quiet);
    let code = amend(env, a, &printer);
    printer.end();
    code
}

fn amend(env: &Env, a: &Amend, printer: &ProgressPrinter<'_>) -> i32 {
    let opened = open_to_change(env, &a.filename, a.format.as_deref(), a.image_opts, &a.objects, OpenOptions::write(None));
    let Some((mut img, _)) = opened else { return 1 };
    let format = img.format();
    if has_help_option(&a.options) {
        return match amend_help(format) {
            Ok(text) => {
                env.out(text.as_bytes());
                0
            }
            Err(message) => {
                env.err(format!("{}: {message}\n", env.prog).as_bytes());
                1
            }
        };
    }
    let opts = match parse_options(format, &a.options) {
        Ok(o) => o,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    printer.update(0.0);
    let result = img.amend(&opts, a.force, &mut |done, total| printer.update(100.0 * done as f32 / total as f32));
    printer.update(100.0);
    match result {
        Ok(()) => 0,
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
