//! `dd`: copy blocks of an image into a new image.

use super::{secrets, Env};
use crate::args::Dd;
use qimg_runtime::dd::{dd, Outcome, Request};
use qimg_runtime::Error;

/// Runs `dd`.
pub fn run(env: &Env, a: &Dd) -> i32 {
    let input_name = a.input.to_string_lossy();
    let output = a.output.to_string_lossy();
    let result = (|| -> Result<Outcome, Error> {
        let secrets = secrets(&a.objects)?;
        let input = env.image_ref(&a.input, a.format.as_deref(), a.image_opts)?;
        let req = Request {
            input: &input,
            output: &output,
            output_format: &a.output_format,
            secrets: &secrets,
            block_size: u64::from(a.bs),
            count: a.count,
            skip: a.skip,
            force_share: a.force_share,
        };
        dd(&req, &|pre, w| {
            if let Some(p) = pre {
                env.err(p.as_bytes());
            }
            env.warn(w)
        })
    })();
    match result {
        Ok(Outcome::Copied) => 0,
        Ok(Outcome::SkipPastEnd) => {
            env.error_about(&input_name, &Error::invalid("cannot skip to specified offset"));
            0
        }
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
