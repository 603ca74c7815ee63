//! `map`: where each range of guest data lives (qemu-img's `img_map`).
//!
//! The entries come from [`qimg_runtime::map`]; this module prints them as
//! qemu-img does. Human output lists only ranges that hold data readable in
//! place and fails (exit 1, after what it printed so far) at the first range
//! that holds data with no host offset: compressed or encrypted clusters.

use super::{secrets, Env};
use crate::args::{Map, OutputFormat};
use crate::output::map_rows::{
    map_human_row, map_json_entry, MapJsonEntry, MAP_HUMAN_HEADER, MAP_JSON_CLOSE, MAP_JSON_OPEN,
};
use qimg_runtime::image::OpenOptions;
use qimg_runtime::map::{map, MapEntry, Options};
use qimg_runtime::Error;

/// Output is written in blocks of about this size (qemu's stdout is fully
/// buffered too; a large map has hundreds of thousands of lines).
const FLUSH_AT: usize = 64 << 10;

/// Runs `map`.
pub fn run(env: &Env, a: &Map) -> i32 {
    let opened = secrets(&a.objects).and_then(|secrets| {
        env.image_ref(&a.filename, a.format.as_deref(), a.image_opts)?
            .open(OpenOptions::read(None, a.force_share), &secrets)
    });
    let img = match opened {
        Ok(img) => img,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    let human = a.output == OutputFormat::Human;
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    out.extend_from_slice(if human { MAP_HUMAN_HEADER } else { MAP_JSON_OPEN }.as_bytes());
    let opts = Options { start: a.start_offset, max_length: a.max_length, coalesce_zeros: human };
    let mut entries = map(img.as_ref(), &opts);
    let mut failure = None;
    while let Some(item) = entries.next() {
        match item {
            Ok((e, _)) if human => {
                if e.data && e.offset.is_none() {
                    failure = Some(Error::unsupported("File contains external, encrypted or compressed clusters."));
                    break;
                }
                if e.data && !e.zero {
                    let name = entries.file_name(&e).unwrap_or_default();
                    out.extend(map_human_row(e.start, e.length, e.offset.unwrap_or(0), name.as_bytes()));
                }
            }
            Ok((e, more)) => out.extend_from_slice(map_json_entry(&json(&e), more).as_bytes()),
            Err(e) => {
                failure = Some(metadata_error(e));
                break;
            }
        }
        if out.len() >= FLUSH_AT {
            env.out(&out);
            out.clear();
        }
    }
    if failure.is_none() && !human {
        out.extend_from_slice(MAP_JSON_CLOSE.as_bytes());
    }
    env.out(&out);
    match failure {
        Some(e) => {
            env.error(&e);
            1
        }
        None => 0,
    }
}

/// `Could not read file metadata: REASON`, after what the driver reported.
fn metadata_error(e: Error) -> Error {
    let reason = match e.errno {
        Some(errno) => qimg_runtime::error::strerror(errno),
        None => e.message.clone(),
    };
    let mut out = Error::new(e.kind, format!("Could not read file metadata: {reason}"));
    out.preamble = e.preamble;
    out
}

fn json(e: &MapEntry) -> MapJsonEntry {
    MapJsonEntry {
        start: e.start as i64,
        length: e.length as i64,
        depth: e.depth as i64,
        present: e.present,
        zero: e.zero,
        data: e.data,
        compressed: e.compressed,
        offset: e.offset.map(|o| o as i64),
    }
}
