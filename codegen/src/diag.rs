//! Diagnostics that point into a spec file: `formats/NAME.spec:LINE:COL: message`.

use proc_macro2::Span;
use std::fmt;

/// An error in a spec file, located by line and column (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The path as it should be shown, e.g. `formats/qcow2.spec`.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// An error found while compiling one file, before the file name is attached.
#[derive(Debug, Clone)]
pub struct SpanError {
    pub span: Span,
    pub message: String,
}

impl SpanError {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        SpanError { span, message: message.into() }
    }

    /// Attaches the displayed file path.
    pub fn locate(&self, path: &str) -> Diagnostic {
        let start = self.span.start();
        Diagnostic { path: path.to_string(), line: start.line, column: start.column + 1, message: self.message.clone() }
    }
}

impl From<syn::Error> for SpanError {
    fn from(e: syn::Error) -> Self {
        SpanError { span: e.span(), message: e.to_string() }
    }
}

/// Result type of the compiler's internal passes.
pub type Result<T> = std::result::Result<T, SpanError>;

/// Shorthand: fail at `span` with a formatted message.
macro_rules! bail {
    ($span:expr, $($arg:tt)*) => {
        return Err($crate::diag::SpanError::new($span, format!($($arg)*)))
    };
}
pub(crate) use bail;
