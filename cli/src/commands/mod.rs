//! One module per qemu-img command: each turns parsed arguments into
//! runtime calls and prints the results exactly as qemu-img does.

mod amend;
mod bench;
mod bitmap;
mod check;
mod commit;
mod compare;
mod convert;
mod create;
mod dd;
mod info;
mod info_render;
mod map;
mod measure;
mod open_warnings;
mod rebase;
mod resize;
mod snapshot;
mod spec;

use crate::args::{Command, ObjectDef};
use qimg_runtime::image::{Image, OpenOptions};
use qimg_runtime::image_ref::ImageRef;
use qimg_runtime::secret::{SecretDef, SecretStore};
use qimg_runtime::Error;
use std::ffi::OsStr;
use std::io::Write;
use std::sync::Mutex;

/// glibc's stdio buffer size when the file does not give one.
const BUFSIZ: usize = 8192;

/// The process context: how to report.
pub struct Env {
    /// The prefix of error messages: the base name of argv[0].
    pub prog: String,
    /// stdout as C stdio buffers it for qemu-img: written at once to a
    /// terminal, in blocks of the file's `st_blksize` otherwise (so that, as
    /// with qemu-img, messages on stderr come before the stdout of the same
    /// run when both go to one pipe).
    stdout: Mutex<StdoutBuffer>,
}

struct StdoutBuffer {
    bytes: Vec<u8>,
    /// 0 for a terminal.
    block: usize,
}

impl Env {
    /// The context of a run whose program name is `prog`.
    pub fn new(prog: String) -> Env {
        // SAFETY: isatty and fstat only inspect descriptor 1.
        let block = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::isatty(1) == 1 {
                0
            } else if libc::fstat(1, &mut st) == 0 && st.st_blksize > 0 {
                st.st_blksize as usize
            } else {
                BUFSIZ
            }
        };
        Env { prog, stdout: Mutex::new(StdoutBuffer { bytes: Vec::new(), block }) }
    }

    /// Writes to stdout, ignoring a closed pipe.
    pub fn out(&self, bytes: &[u8]) {
        let Ok(mut b) = self.stdout.lock() else { return };
        b.bytes.extend_from_slice(bytes);
        if b.bytes.len() >= b.block {
            let _ = std::io::stdout().lock().write_all(&b.bytes);
            b.bytes.clear();
        }
    }

    /// Writes what stdout holds (qemu's `fflush(stdout)`).
    pub fn flush_out(&self) {
        let Ok(mut b) = self.stdout.lock() else { return };
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(&b.bytes);
        let _ = o.flush();
        b.bytes.clear();
    }

    /// Writes to stdout and flushes, as qemu's progress output does.
    pub fn out_now(&self, bytes: &[u8]) {
        self.out(bytes);
        self.flush_out();
    }

    /// Writes to stderr (unbuffered, as in C).
    pub fn err(&self, bytes: &[u8]) {
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

    /// The image an operand names: a file name with `format`, or with
    /// `image_opts` an option string (whose warnings are printed here).
    pub fn image_ref(&self, source: &OsStr, format: Option<&str>, image_opts: bool) -> Result<ImageRef, Error> {
        let r = ImageRef::new(&source.to_string_lossy(), format, image_opts)?;
        for (message, hint) in r.opts.iter().flat_map(|o| &o.warnings) {
            self.warn(message);
            self.err(format!("{hint}\n").as_bytes());
        }
        Ok(r)
    }
}

/// Creates the `--object` objects in order, as qemu-img does: secrets are
/// loaded (files read, `keyid` decryption done) with qemu's errors.
pub fn secrets(objects: &[ObjectDef]) -> Result<SecretStore, Error> {
    let mut store = SecretStore::new();
    for o in objects {
        if o.qom_type == "secret" {
            store.add_secret(&SecretDef::from_props(&o.id, &o.props)?)?;
        } else {
            store.add_object(&o.id)?;
        }
    }
    Ok(store)
}

/// Opens the image an operand names (a file name with `format`, or an
/// `--image-opts` string) with the `--object` secrets, for `opts`' access.
/// Returns the image and the file name messages give it.
pub fn open_image(
    env: &Env,
    source: &OsStr,
    format: Option<&str>,
    image_opts: bool,
    objects: &[ObjectDef],
    opts: OpenOptions<'_>,
) -> Result<(Box<dyn Image>, String), Error> {
    let secrets = secrets(objects)?;
    let r = env.image_ref(source, format, image_opts)?;
    let img = r.open(opts, &secrets)?;
    Ok((img, r.filename().to_string()))
}

/// [`open_image`] for a command that changes the image: an error is
/// reported (`None`), and qemu's warning printed when raw was probed.
pub fn open_to_change(
    env: &Env,
    source: &OsStr,
    format: Option<&str>,
    image_opts: bool,
    objects: &[ObjectDef],
    opts: OpenOptions<'_>,
) -> Option<(Box<dyn Image>, String)> {
    match open_image(env, source, format, image_opts, objects, opts) {
        Ok((img, filename)) => {
            if format.is_none() {
                warn_probed_raw(env, img.as_ref(), &filename);
            }
            Some((img, filename))
        }
        Err(e) => {
            env.error(&e);
            None
        }
    }
}

/// qemu's raw driver warns when it was probed for an image opened for
/// writing (its first block is then protected, which qimg does not need).
pub fn warn_probed_raw(env: &Env, img: &dyn Image, filename: &str) {
    if img.format() == "raw" {
        env.err(
            format!(
                "WARNING: Image format was not specified for '{filename}' and probing guessed raw.\n         \
                 Automatically detecting the format is dangerous for raw images, write operations on block 0 will \
                 be restricted.\n         Specify the 'raw' format explicitly to remove the restrictions.\n"
            )
            .as_bytes(),
        );
    }
}

/// Runs a command; returns the exit code.
pub fn run(env: &Env, cmd: Command) -> i32 {
    match cmd {
        Command::Info(a) => info::run(env, &a),
        Command::Check(a) => check::run(env, &a),
        Command::Create(a) => create::run(env, &a),
        Command::Convert(a) => convert::run(env, &a),
        Command::Map(a) => map::run(env, &a),
        Command::Compare(a) => compare::run(env, &a),
        Command::OptionsHelp(h) => create::options_help(env, &h),
        Command::Spec(a) => spec::run(env, &a),
        Command::Snapshot(a) => snapshot::run(env, &a),
        Command::Resize(a) => resize::run(env, &a),
        Command::Amend(a) => amend::run(env, &a),
        Command::Bitmap(a) => bitmap::run(env, &a),
        Command::Measure(a) => measure::run(env, &a),
        Command::Commit(a) => commit::run(env, &a),
        Command::Rebase(a) => rebase::run(env, &a),
        Command::Bench(a) => bench::run(env, &a),
        Command::Dd(a) => dd::run(env, &a),
    }
}
