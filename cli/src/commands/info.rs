//! `info`: what an image (or its whole backing chain) is.

use super::info_render::{human, node_qdict};
use super::open_warnings::print_open_warnings;
use super::Env;
use crate::args::{Info, OutputFormat};
use crate::output::json::to_json_output;
use crate::output::qobject::QObject;
use qimg_runtime::image::{self, OpenOptions};
use qimg_runtime::info::NodeInfo;
use qimg_runtime::Error;

/// Runs `info`.
pub fn run(env: &Env, a: &Info) -> i32 {
    let filename = a.filename.to_string_lossy().into_owned();
    let infos = match collect(env, a, &filename) {
        Ok(i) => i,
        Err(e) => {
            env.error(&e);
            return 1;
        }
    };
    match a.output {
        OutputFormat::Json => {
            let value = if a.backing_chain {
                QObject::List(infos.iter().map(|i| QObject::from(node_qdict(i))).collect())
            } else {
                QObject::from(node_qdict(&infos[0]))
            };
            env.out(to_json_output(&value).as_bytes());
        }
        OutputFormat::Human => {
            let mut out = Vec::new();
            for (i, info) in infos.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                out.extend(human(info));
            }
            env.out(&out);
        }
    }
    0
}

/// Opens the image (and, with `--backing-chain`, each backing file in turn,
/// without opening its own backing) and collects what `info` shows.
fn collect(env: &Env, a: &Info, filename: &str) -> Result<Vec<NodeInfo>, Error> {
    if a.image_opts {
        return Err(Error::unsupported("qimg does not support --image-opts yet"));
    }
    let mut infos = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some((filename.to_string(), a.format.clone()));
    while let Some((name, format)) = next.take() {
        if seen.contains(&name) {
            return Err(Error::invalid(format!("Backing file '{name}' creates an infinite loop.")));
        }
        let opts = OpenOptions::info(format.as_deref(), a.force_share);
        let img = image::open(&name, &opts)?;
        print_open_warnings(env, img.as_ref());
        infos.push(img.info()?);
        seen.push(name);
        if a.backing_chain {
            next = img.backing().map(|b| (b.full_filename.clone(), b.format.clone()));
        }
    }
    Ok(infos)
}
