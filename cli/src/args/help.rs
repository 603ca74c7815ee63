//! qimg's help screens (`--help`, `COMMAND --help`), rendered by clap from the
//! declaration in [`decl`](super::decl), so they list exactly the options the
//! parsers accept. qemu-img prints help on stdout and exits 0; the wording is qimg's
//! own.

use super::scan;

/// `qimg --help`.
pub fn global(prog: &str) -> String {
    render(scan::interface(), prog.to_string())
}

/// `COMMAND --help` for the declared command `cmd`.
pub fn command(prog: &str, cmd: &str) -> String {
    render(scan::command(cmd), format!("{prog} {cmd}"))
}

/// The help screen of `decl`, its usage line starting with `invocation`.
///
/// A command's `about` is its line in the command list and its `long_about` heads its
/// own screen. clap's long help would also put every option's text on a line of its
/// own, so the short help is rendered, with the long description as `about`.
fn render(decl: &clap::Command, invocation: String) -> String {
    let usage = match decl.get_overridden_usage() {
        Some(u) => format!("{invocation} {u}"),
        None => invocation,
    };
    let mut page = decl.clone().override_usage(usage);
    if let Some(text) = decl.get_long_about() {
        page = page.about(text.clone());
    }
    page.render_help().to_string()
}
