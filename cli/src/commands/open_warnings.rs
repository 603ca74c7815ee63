//! Warnings a driver reports while opening an image, printed as qemu prints
//! them: `warn_report` lines, and after the bitmap-consistency warnings the
//! unterminated line qemu adds with `error_printf`.

use super::Env;
use qimg_runtime::image::Image;

/// What qemu prints after warning that bitmaps are inconsistent.
const LEAK_NOTE: &str = "Some clusters may be leaked, run 'qemu-img check -r' on the image file to fix.";

/// Prints the warnings `img` reported when it was opened.
pub fn print_open_warnings(env: &Env, img: &dyn Image) {
    for w in img.warnings() {
        env.warn(&w);
        if w.contains("bitmaps") {
            env.err(LEAK_NOTE.as_bytes());
        }
    }
}
