//! Diagnostics that qemu prints from deep inside a driver while it works
//! (a check's per-cluster findings, the repair of a dirty image on open,
//! corruption events), in the order they happen.
//!
//! The runtime never prints: it hands each line to the sink the program
//! installed with [`set_sink`] (the CLI writes them to stderr). Without a
//! sink they are dropped.

use std::sync::OnceLock;

/// One diagnostic line (without its newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diag<'a> {
    /// Printed as is (qemu's `fprintf(stderr, …)`).
    Plain(&'a str),
    /// Printed with the program's name in front (qemu's `error_report`).
    Report(&'a str),
}

/// Where diagnostics go.
pub type Sink = Box<dyn Fn(Diag<'_>) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the process-wide sink; only the first call has an effect.
pub fn set_sink(sink: Sink) {
    let _ = SINK.set(sink);
}

/// Emits a diagnostic line.
pub fn emit(d: Diag<'_>) {
    if let Some(sink) = SINK.get() {
        sink(d);
    }
}

/// Emits a plain line.
pub fn plain(line: &str) {
    emit(Diag::Plain(line));
}

/// Emits a line with the program's name in front.
pub fn report(line: &str) {
    emit(Diag::Report(line));
}
