//! `check`: a consistency check of an image, and with `-r` its repair,
//! reported as qemu-img's `img_check` reports it.

use super::{open_image, Env};
use crate::args::{Check, OutputFormat, RepairMode};
use crate::output::check_report::{human, repaired_banner, ImageCheck};
use crate::output::json::to_json_output;
use crate::output::qobject::QObject;
use qimg_runtime::check::{CheckResult, Repair};
use qimg_runtime::image::{Image, OpenOptions};
use qimg_runtime::error::strerror;
use qimg_runtime::Error;

/// Exit code for a format without a checker.
const NOT_SUPPORTED: i32 = 63;

/// Runs `check`.
pub fn run(env: &Env, a: &Check) -> i32 {
    let repair = a.repair.map(|r| match r {
        RepairMode::Leaks => Repair::Leaks,
        RepairMode::All => Repair::All,
    });
    let opts = OpenOptions::check(None, repair.is_some(), a.force_share);
    let (img, filename) = match open_image(env, &a.filename, a.format.as_deref(), a.image_opts, &a.objects, opts) {
        Ok(v) => v,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let code = report(env, a, img.as_ref(), &filename, repair);
    drop(img);
    code
}

/// Checks (and re-checks after a repair), prints, and returns the exit code.
fn report(env: &Env, a: &Check, img: &dyn Image, filename: &str, repair: Option<Repair>) -> i32 {
    let quiet = a.quiet;
    let mut outcome = img.check(repair);
    if let Err(e) = &outcome {
        if e.errno == Some(libc::ENOTSUP) {
            env.error(&Error::unsupported("This image format does not support checks"));
            return NOT_SUPPORTED;
        }
    }
    let mut fixed = None;
    if let Ok(r) = &outcome {
        if r.corruptions_fixed != 0 || r.leaks_fixed != 0 {
            fixed = Some((r.leaks_fixed, r.corruptions_fixed));
            if a.output == OutputFormat::Human && !quiet {
                env.out(repaired_banner(r).as_bytes());
            }
            outcome = img.check(None);
        }
    }
    let result = match outcome {
        Ok(r) => r,
        Err(e) => {
            let reason = strerror(e.errno.unwrap_or(libc::EIO));
            env.err(format!("{}: Check failed: {reason}\n", env.prog).as_bytes());
            return 1;
        }
    };
    let mut check = ImageCheck::new(filename, img.format(), &result);
    if let Some((leaks, corruptions)) = fixed {
        check.leaks_fixed = leaks;
        check.corruptions_fixed = corruptions;
    }
    if !quiet {
        match a.output {
            OutputFormat::Human => env.out(human(&check).as_bytes()),
            OutputFormat::Json => env.out(to_json_output(&QObject::from(check.qdict())).as_bytes()),
        }
    }
    exit_code(env, &result)
}

fn exit_code(env: &Env, r: &CheckResult) -> i32 {
    if r.check_errors != 0 {
        env.err(format!("{}: Check failed\n", env.prog).as_bytes());
        1
    } else if r.corruptions != 0 {
        2
    } else if r.leaks != 0 {
        3
    } else {
        0
    }
}
