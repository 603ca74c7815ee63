//! `bench`: timed read or write requests over an image, reported as
//! qemu-img's `img_bench` reports them (even with `-q`).

use super::{open_image, warn_probed_raw, Env};
use crate::args::Bench;
use qimg_runtime::bench::{self, Params};
use qimg_runtime::image::{Image, OpenOptions};
use qimg_runtime::Error;

/// Runs `bench`.
pub fn run(env: &Env, a: &Bench) -> i32 {
    let format = a.format.as_deref();
    let opts = if a.write { OpenOptions::write(format) } else { OpenOptions::read(format, a.force_share) };
    let (img, filename) = match open_image(env, &a.filename, format, a.image_opts, &[], opts) {
        Ok(v) => v,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    if a.write && format.is_none() && !a.image_opts {
        warn_probed_raw(env, img.as_ref(), &filename);
    }
    if a.native_aio && !bypasses_host_cache(&a.cache) {
        env.error(&Error::invalid(format!(
            "Could not open '{filename}': aio=native was specified, but it requires cache.direct=on, which was not specified."
        )));
        return 1;
    }
    let p = Params {
        count: a.count.into(),
        depth: a.depth.into(),
        offset: a.offset,
        buffer_size: a.buffer_size.into(),
        step: a.step_size.into(),
        write: a.write,
        pattern: a.pattern,
        flush_interval: a.flush_interval.into(),
    };
    env.out(
        format!(
            "Sending {} {} requests, {} bytes each, {} in parallel (starting at offset {}, step size {})\n",
            p.count,
            if p.write { "write" } else { "read" },
            p.buffer_size,
            p.depth,
            p.offset,
            p.effective_step()
        )
        .as_bytes(),
    );
    if p.flush_interval != 0 {
        env.out(format!("Sending flush every {} requests\n", p.flush_interval).as_bytes());
    }
    match bench::run(img.as_ref(), &p) {
        Ok(elapsed) => {
            env.out(format!("Run completed in {:.3} seconds.\n", elapsed.as_secs_f64()).as_bytes());
            finish(env, img.as_ref(), a)
        }
        Err(e) => {
            env.error(&e);
            1
        }
    }
}

/// Closes the image as qemu does at exit: flushed unless the cache mode
/// is `unsafe`, cached metadata written back.
fn finish(env: &Env, img: &dyn Image, a: &Bench) -> i32 {
    let r = if a.write && a.cache != "unsafe" { img.flush().and_then(|()| img.close()) } else { img.close() };
    match r {
        Ok(()) => 0,
        Err(e) => {
            env.error(&e);
            1
        }
    }
}

/// Cache modes that open the file with `O_DIRECT` (`cache.direct=on`),
/// which native AIO requires.
fn bypasses_host_cache(mode: &str) -> bool {
    matches!(mode, "none" | "directsync")
}
