//! `measure`: the file size a new image needs, for `--size` or as a
//! conversion of an image (with `-l`, of one of its snapshots).

use super::open_warnings::print_open_warnings;
use super::{secrets, Env};
use crate::args::{Measure, OutputFormat, SnapshotParam};
use crate::output::json::to_json_output;
use crate::output::qobject::{QDict, QObject};
use qimg_runtime::convert::{load_snapshot, SnapshotRef};
use qimg_runtime::image::{Image, OpenOptions};
use qimg_runtime::measure::{self, Input, Measurement};
use qimg_runtime::secret::SecretStore;
use qimg_runtime::Error;
use std::ffi::OsStr;

/// Opens the source read-only and shows the requested snapshot.
fn open_source(env: &Env, a: &Measure, filename: &OsStr, secrets: &SecretStore) -> Result<Box<dyn Image>, Error> {
    let img = env
        .image_ref(filename, a.format.as_deref(), a.image_opts)?
        .open(OpenOptions::read(None, a.force_share), secrets)?;
    print_open_warnings(env, img.as_ref());
    if let Some(snap) = &a.snapshot {
        let snap = match snap {
            SnapshotParam::IdOrName(x) => SnapshotRef::IdOrName(x),
            SnapshotParam::Opts { id, name } => SnapshotRef::Exact { id: id.as_deref(), name: name.as_deref() },
        };
        load_snapshot(img.as_ref(), snap)?;
    }
    Ok(img)
}

/// The output, human or JSON (keys in QDict order: bitmaps, required,
/// fully-allocated).
fn render(m: &Measurement, output: OutputFormat) -> String {
    match output {
        OutputFormat::Human => {
            let mut s = format!("required size: {}\nfully allocated size: {}\n", m.required, m.fully_allocated);
            if let Some(b) = m.bitmaps {
                s.push_str(&format!("bitmaps size: {b}\n"));
            }
            s
        }
        OutputFormat::Json => {
            let mut d = QDict::new();
            d.put_uint("required", m.required);
            d.put_uint("fully-allocated", m.fully_allocated);
            if let Some(b) = m.bitmaps {
                d.put_uint("bitmaps", b);
            }
            to_json_output(&QObject::from(d))
        }
    }
}

/// Runs `measure`.
pub fn run(env: &Env, a: &Measure) -> i32 {
    let secrets = match secrets(&a.objects) {
        Ok(s) => s,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let source = match &a.filename {
        Some(f) => match open_source(env, a, f, &secrets) {
            Ok(img) => Some(img),
            Err(e) => {
                env.error(&e);
                return 1;
            }
        },
        None => None,
    };
    let target = match measure::target(&a.target_format) {
        Ok(t) => t,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let opts = match target.options(a.options.as_deref(), a.size) {
        Ok(o) => o,
        Err(e) => {
            env.error(&e);
            env.error(&Error::invalid(format!("Invalid options for file format '{}'", a.target_format)));
            return 1;
        }
    };
    let input = Input { opts: &opts, source: source.as_deref(), secrets: &secrets };
    match target.measure(&input) {
        Ok(m) => {
            env.out(render(&m, a.output).as_bytes());
            0
        }
        Err(e) => {
            env.error(&e);
            1
        }
    }
}
