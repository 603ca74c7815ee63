//! The `-p` progress line (QEMU's simple progress printer).
//!
//! Each update prints `"    (%3.2f/100%%)\r"` and no newline; when the operation ends,
//! qemu-img prints a single `\n`. Captured from `qemu-img convert -p` (10.0.2):
//! `    (0.00/100%)\r    (66.67/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n`.

use super::c_printf::format_f;

/// Printed once after the last progress line.
pub const PROGRESS_END: &str = "\n";

/// One progress line for `percent` (0 to 100), ending in `\r`.
///
/// QEMU keeps the percentage in a C `float`; pass that value (an `f32` converts to `f64`
/// exactly) so that the rounding to two decimals is the same.
pub fn progress_line(percent: f64) -> String {
    format!("    ({:>3}/100%)\r", format_f(percent, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_qemu_img() {
        let mut out = String::new();
        for p in [0.0, f64::from(200.0f32 / 3.0), 100.0, 100.0] {
            out.push_str(&progress_line(p));
        }
        out.push_str(PROGRESS_END);
        assert_eq!(
            out,
            "    (0.00/100%)\r    (66.67/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n"
        );
    }

    #[test]
    fn rounds_like_printf() {
        assert_eq!(progress_line(0.125), "    (0.12/100%)\r");
        assert_eq!(progress_line(99.999), "    (100.00/100%)\r");
        assert_eq!(progress_line(f64::from(1.005f32)), "    (1.00/100%)\r");
    }
}
