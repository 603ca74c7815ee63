//! One module per qemu-img command: each turns parsed arguments into
//! runtime calls and prints the results exactly as qemu-img does.

mod bitmap;
mod compare;
mod convert;
mod create;
mod info;
mod info_render;
mod map;
mod measure;
mod open_warnings;
mod spec;

use crate::args::Command;
use qimg_runtime::Error;
use std::io::Write;

/// The process context: how to report.
pub struct Env {
    /// The prefix of error messages: the base name of argv[0].
    pub prog: String,
}

impl Env {
    /// Writes to stdout, ignoring a closed pipe.
    pub fn out(&self, bytes: &[u8]) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(bytes);
    }

    /// Writes to stderr.
    pub fn err(&self, bytes: &[u8]) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().lock().write_all(bytes);
    }

    /// Reports an error as qemu's `error_report` does: `PROG: MESSAGE`, then
    /// the hint; diagnostics the driver printed come first.
    pub fn error(&self, e: &Error) {
        let pre = e.preamble.as_deref().unwrap_or("");
        self.err(format!("{pre}{}: {}\n{}", self.prog, e.message, e.hint.as_deref().unwrap_or("")).as_bytes());
    }

    /// Reports an error about `filename` (`PROG: FILENAME: MESSAGE`).
    pub fn error_about(&self, filename: &str, e: &Error) {
        self.err(format!("{}: {filename}: {}\n{}", self.prog, e.message, e.hint.as_deref().unwrap_or("")).as_bytes());
    }

    /// Prints a warning as qemu's `warn_report` does.
    pub fn warn(&self, message: &str) {
        self.err(format!("{}: warning: {message}\n", self.prog).as_bytes());
    }
}

/// Runs a command; returns the exit code.
pub fn run(env: &Env, cmd: Command) -> i32 {
    match cmd {
        Command::Info(a) => info::run(env, &a),
        Command::Create(a) => create::run(env, &a),
        Command::Convert(a) => convert::run(env, &a),
        Command::Map(a) => map::run(env, &a),
        Command::Compare(a) => compare::run(env, &a),
        Command::OptionsHelp(h) => create::options_help(env, &h),
        Command::Spec(a) => spec::run(env, &a),
        Command::Bitmap(a) => bitmap::run(env, &a),
        Command::Measure(a) => measure::run(env, &a),
        other => {
            let name = format!("{other:?}");
            let name = name.split('(').next().unwrap_or("").to_ascii_lowercase();
            env.err(format!("{}: qimg does not implement '{name}' yet\n", env.prog).as_bytes());
            1
        }
    }
}
