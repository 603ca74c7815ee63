//! `create`: a new image, and `-o help`.

use super::Env;
use crate::args::{Create, OptionsHelp, OptionsHelpKind};
use qimg_runtime::create::{prepare, Request};
use qimg_runtime::create_opts::{amend_schema, create_schema, create_schema_with_protocol};
use qimg_runtime::format;
use qimg_runtime::opts::render_help;

/// Runs `create`.
pub fn run(env: &Env, a: &Create) -> i32 {
    let filename = a.filename.to_string_lossy().into_owned();
    let backing = a.backing.as_ref().map(|b| b.to_string_lossy().into_owned());
    let req = Request {
        format: &a.format,
        filename: &filename,
        options: a.options.as_deref(),
        size: a.size,
        backing: backing.as_deref(),
        backing_format: a.backing_format.as_deref(),
        backing_unsafe: a.backing_unsafe,
    };
    let plan = match prepare(&req) {
        Ok(p) => p,
        Err(e) => {
            env.error_about(&filename, &e);
            return 1;
        }
    };
    if !a.quiet {
        env.out(format!("{}\n", plan.formatting_line()).as_bytes());
    }
    match plan.execute(&mut |w| env.warn(&w)) {
        Ok(()) => 0,
        Err(e) => {
            env.error_about(&filename, &e);
            1
        }
    }
}

/// Prints a format's option list (`-o help`).
pub fn options_help(env: &Env, h: &OptionsHelp) -> i32 {
    let known = format::driver(&h.format).is_some();
    let (schema, header) = match h.kind {
        OptionsHelpKind::Create => {
            let schema = match &h.filename {
                Some(_) => create_schema_with_protocol(&h.format),
                None => create_schema(&h.format).map(|s| s.to_vec()),
            };
            (schema, "Supported options:".to_string())
        }
        OptionsHelpKind::Amend => (amend_schema(&h.format).map(|s| s.to_vec()), format!("Amend options for '{}':", h.format)),
    };
    let Some(schema) = schema else {
        let msg = match (known, h.kind) {
            (false, _) => format!("Unknown file format '{}'", h.format),
            (true, OptionsHelpKind::Create) => format!("Format driver '{}' does not support image creation", h.format),
            (true, OptionsHelpKind::Amend) => format!("Format driver '{}' does not support option amendment", h.format),
        };
        env.err(format!("{}: {msg}\n", env.prog).as_bytes());
        return 1;
    };
    let mut text = String::new();
    match (h.kind, &h.filename) {
        (OptionsHelpKind::Create, None) => {
            text.push_str(&format!("Supported {} options:\n", h.format));
            text.push_str(&render_help(&schema));
            text.push_str("\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n");
        }
        _ => {
            text.push_str(&header);
            text.push('\n');
            text.push_str(&render_help(&schema));
        }
    }
    env.out(text.as_bytes());
    0
}
