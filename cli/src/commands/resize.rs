//! `resize`: change an image's virtual size.

use super::{open_to_change, Env};
use crate::args::{Resize, ResizeSize};
use qimg_runtime::format::qcow2::create::Prealloc;
use qimg_runtime::image::{Access, OpenOptions};
use qimg_runtime::resize::{target_size, truncate, SizeChange};

/// Runs `resize`.
pub fn run(env: &Env, a: &Resize) -> i32 {
    let prealloc = match a.preallocation.as_deref() {
        Some("metadata") => Prealloc::Metadata,
        Some("falloc") => Prealloc::Falloc,
        Some("full") => Prealloc::Full,
        _ => Prealloc::Off,
    };
    let opts = OpenOptions { access: Access { io: true, write: true, resize: true }, ..OpenOptions::write(None) };
    let Some((mut img, _)) = open_to_change(env, &a.filename, a.format.as_deref(), a.image_opts, &a.objects, opts) else {
        return 1;
    };
    let change = match a.size {
        ResizeSize::Absolute(n) => SizeChange::To(n),
        ResizeSize::Grow(n) => SizeChange::Grow(n),
        ResizeSize::Shrink(n) => SizeChange::Shrink(n),
    };
    let size = match target_size(img.virtual_size(), change, prealloc, a.shrink) {
        Ok(s) => s,
        Err(r) => {
            env.err(format!("{}: {}\n", env.prog, r.message()).as_bytes());
            if let Some(w) = r.warning() {
                env.warn(w);
            }
            return 1;
        }
    };
    match truncate(img.as_mut(), size, prealloc, &mut |w| env.warn(&w)) {
        Ok(()) => {
            if !a.quiet {
                env.out(b"Image resized.\n");
            }
            0
        }
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
