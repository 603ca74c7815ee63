//! `bitmap`: add, remove, clear, enable, disable and merge persistent dirty
//! bitmaps, in command-line order; what was done before a failing action
//! is still stored when the image is closed, as qemu-img does.

use super::open_warnings::print_open_warnings;
use super::{secrets, Env};
use crate::args::{Bitmap, BitmapAction};
use qimg_runtime::bitmap::command::{apply, Action};
use qimg_runtime::image::{Image, OpenOptions};
use qimg_runtime::image_ref::ImageRef;
use qimg_runtime::Error;

/// What qemu prints when a write-mode command opens a file it probed as raw.
const PROBED_RAW_WARNING: &str = "WARNING: Image format was not specified for '{}' and probing guessed raw.\n         \
Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n         \
Specify the 'raw' format explicitly to remove the restrictions.\n";

fn action(a: &BitmapAction, granularity: u64) -> Action<'_> {
    match a {
        BitmapAction::Add => Action::Add { granularity },
        BitmapAction::Remove => Action::Remove,
        BitmapAction::Clear => Action::Clear,
        BitmapAction::Enable => Action::Enable,
        BitmapAction::Disable => Action::Disable,
        BitmapAction::Merge(source) => Action::Merge { source },
    }
}

/// Prints what the image's driver reported along the way.
fn print_messages(env: &Env, img: &dyn Image) {
    for m in img.bitmaps().map(|b| b.take_messages()).unwrap_or_default() {
        env.err(m.as_bytes());
    }
}

/// Runs the actions on the open image; false after the first failure.
fn run_actions(env: &Env, a: &Bitmap, img: &dyn Image, source: &dyn Image) -> bool {
    for act in &a.actions {
        let act = action(act, a.granularity);
        let r = apply(img, &a.bitmap, act, source);
        print_messages(env, img);
        if let Err(e) = r {
            let e = e.prefix(format!("Operation {} on bitmap {} failed", act.verb(), a.bitmap));
            env.error(&e);
            return false;
        }
    }
    true
}

/// Runs `bitmap`.
pub fn run(env: &Env, a: &Bitmap) -> i32 {
    let opened = secrets(&a.objects).and_then(|secrets| {
        let r = env.image_ref(&a.filename, a.format.as_deref(), a.image_opts)?;
        let img = r.open(OpenOptions { no_backing: true, ..OpenOptions::write(None) }, &secrets)?;
        Ok((r, img, secrets))
    });
    let (r, img, secrets) = match opened {
        Ok(o) => o,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    print_open_warnings(env, img.as_ref());
    if r.format.is_none() && img.format() == "raw" {
        env.err(PROBED_RAW_WARNING.replace("{}", r.filename()).as_bytes());
    }
    let source = match &a.source_file {
        Some(name) => {
            let opts = OpenOptions { no_backing: true, ..OpenOptions::read(None, false) };
            match ImageRef::file(&name.to_string_lossy(), a.source_format.as_deref()).open(opts, &secrets) {
                Ok(s) => {
                    print_open_warnings(env, s.as_ref());
                    Some(s)
                }
                Err(e) => {
                    env.error(&e);
                    None
                }
            }
        }
        None => None,
    };
    let ok = match (&a.source_file, &source) {
        (Some(_), None) => false,
        (_, Some(s)) => run_actions(env, a, img.as_ref(), s.as_ref()),
        (None, None) => run_actions(env, a, img.as_ref(), img.as_ref()),
    };
    let closed = img.close();
    print_messages(env, img.as_ref());
    if let Err(e) = closed {
        env.error(&e);
        let errno = Error::errno(e.errno.unwrap_or(libc::EIO));
        env.error(&errno.prefix("Error while closing the image"));
        return 1;
    }
    if ok {
        0
    } else {
        1
    }
}
