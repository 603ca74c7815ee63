//! `info`: what an image (or its whole backing chain) is.

use super::info_render::{human, node_qdict};
use super::open_warnings::print_open_warnings;
use super::{secrets, Env};
use crate::args::{Info, OutputFormat};
use crate::output::json::to_json_output;
use crate::output::qobject::QObject;
use qimg_runtime::image::OpenOptions;
use qimg_runtime::image_ref::ImageRef;
use qimg_runtime::info::NodeInfo;
use qimg_runtime::Error;

/// Runs `info`.
pub fn run(env: &Env, a: &Info) -> i32 {
    let infos = match collect(env, a) {
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
fn collect(env: &Env, a: &Info) -> Result<Vec<NodeInfo>, Error> {
    let secrets = secrets(&a.objects)?;
    let mut infos = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some(env.image_ref(&a.filename, a.format.as_deref(), a.image_opts)?);
    while let Some(r) = next.take() {
        let name = r.filename().to_string();
        if seen.contains(&name) {
            return Err(Error::invalid(format!("Backing file '{name}' creates an infinite loop.")));
        }
        let img = r.open(OpenOptions::info(None, a.force_share), &secrets)?;
        print_open_warnings(env, img.as_ref());
        let mut info = img.info()?;
        info.filename = r.display_name(img.as_ref());
        infos.push(info);
        seen.push(name);
        if a.backing_chain {
            next = img.backing().map(|b| ImageRef::file(&b.full_filename, b.format.as_deref()));
        }
    }
    Ok(infos)
}
