//! The runtime's error type: a message in qemu-img's wording, an optional
//! hint line (qemu's `error_append_hint`), and a class for callers that map
//! errors to exit codes.

use qimg_formats::rt::FormatError;
use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An operating-system error (read, write, open, …).
    Io,
    /// A bad argument or option value.
    InvalidInput,
    /// The format or driver cannot do this.
    Unsupported,
    /// The image's metadata is inconsistent or hostile.
    Corrupt,
    /// Another process holds a conflicting image lock.
    Locked,
}

/// A runtime error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// The message, without the `qemu-img: ` prefix.
    pub message: String,
    /// Extra lines printed after the message (each ending in a newline).
    pub hint: Option<String>,
    /// The errno behind an I/O error, if any.
    pub errno: Option<i32>,
    /// Diagnostics printed before the message (qemu prints some from deep
    /// inside a driver, such as corruption events).
    pub preamble: Option<String>,
}

/// Result type of the runtime.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), hint: None, errno: None, preamble: None }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn corrupt(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, message)
    }

    /// An errno, described as `strerror` describes it.
    pub fn errno(errno: i32) -> Error {
        Error { kind: ErrorKind::Io, message: strerror(errno), hint: None, errno: Some(errno), preamble: None }
    }

    /// `prefix: strerror(errno)`, like qemu's `error_setg_errno`.
    pub fn errno_with(errno: i32, prefix: impl fmt::Display) -> Error {
        Error::errno(errno).prefix(prefix)
    }

    /// Records the errno behind the error.
    pub fn with_errno(mut self, errno: i32) -> Error {
        self.errno = Some(errno);
        self
    }

    /// Prepends `prefix: ` to the message.
    pub fn prefix(mut self, prefix: impl fmt::Display) -> Error {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    /// Adds a hint line (the newline is added).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        let mut h = hint.into();
        if !h.ends_with('\n') {
            h.push('\n');
        }
        self.hint = Some(match self.hint.take() {
            Some(old) => old + &h,
            None => h,
        });
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(n) => Error::errno(n),
            None if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::errno(libc::EIO),
            None => Error::new(ErrorKind::Io, e.to_string()),
        }
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Error {
        let kind = match e {
            FormatError::Truncated { .. } => ErrorKind::Io,
            FormatError::Inconsistent { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::Corrupt,
        };
        Error::new(kind, e.message())
    }
}

/// The C library's description of an errno (`strerror`), which qemu prints.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the GNU/XSI variants both
    // write a NUL-terminated string into it or return an error code.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The program name qemu's `error_report` lines start with.
static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the program name of [`report_line`] (the CLI's argv\[0\] base name);
/// `qemu-img` until set.
pub fn set_program_name(name: &str) {
    let _ = PROGRAM.set(name.to_string());
}

/// A line as qemu's `error_report` prints it from deep inside a driver,
/// before the command reports its own failure: `PROGRAM: MESSAGE` and a newline.
pub fn report_line(message: &str) -> String {
    format!("{}: {message}\n", PROGRAM.get().map_or("qemu-img", String::as_str))
}

/// A number as C's `%#x` prints it: `0x` and lowercase hex, but plain `0` for zero.
pub fn c_hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_wording() {
        assert_eq!(strerror(libc::ENOENT), "No such file or directory");
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
        assert_eq!(Error::errno_with(libc::EIO, "Could not read").message, "Could not read: Input/output error");
    }
}
