//! The `qimg` binary: argument parsing and output, nothing else.

fn main() {}
