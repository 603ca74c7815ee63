//! QEMU's `size_to_str`: byte counts as qemu-img shows them (`64 MiB`, `1.21 MiB`,
//! `1e+03 KiB`).
//!
//! Used for `virtual size`, `disk size`, `file length` and the snapshot `VM_SIZE` column.
//! QEMU picks the unit from the binary exponent of `val / (1000 / 1024)` (so it switches to
//! the next unit once the number would reach 1000 in the current one, give or take
//! rounding), divides by that power of 1024 in double precision, and prints with `%0.3g`.
//! Values between 999.5 and 1000 of a unit therefore print as `1e+03`.

use super::c_printf::format_g;

/// Unit prefixes for powers of 1024: `B`, `KiB`, ..., `EiB`.
const PREFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// `size_to_str(val)`: `"<%0.3g of val / 1024^i> <unit>"`.
pub fn size_to_str(val: u64) -> String {
    // C converts the u64 to double (round to nearest), as does `as f64`.
    let scaled = val as f64 / (1000.0 / 1024.0);
    let exp2 = frexp_exponent(scaled);
    // C's integer division truncates toward zero, as Rust's does: (0 - 1) / 10 == 0.
    let unit = ((exp2 - 1) / 10) as usize;
    let divisor = (1u64 << (unit * 10)) as f64;
    format!("{} {}B", format_g(val as f64 / divisor, 3), PREFIXES[unit])
}

/// The exponent `frexp` returns for a finite, non-negative `x`: `x = m * 2^e` with
/// `m` in `[0.5, 1)`, and 0 for zero.
fn frexp_exponent(x: f64) -> i32 {
    if x == 0.0 {
        return 0;
    }
    let biased = ((x.to_bits() >> 52) & 0x7FF) as i32;
    if biased == 0 {
        // Subnormal: normalise first (cannot happen for sizes, kept for completeness).
        return frexp_exponent(x * 2f64.powi(64)) - 64;
    }
    biased - 1022
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of the reference table (section 2.3), plus cases from the brute-force
    /// comparison against a C program using glibc's printf.
    #[test]
    fn matches_qemu() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1, "1 B"),
            (512, "512 B"),
            (999, "999 B"),
            (1000, "0.977 KiB"),
            (1023, "0.999 KiB"),
            (1024, "1 KiB"),
            (2560, "2.5 KiB"),
            (1022976, "999 KiB"),
            (1023488, "1e+03 KiB"),
            (1047552, "0.999 MiB"),
            (1048064, "1 MiB"),
            (1048576, "1 MiB"),
            (1265664, "1.21 MiB"),
            (2359296, "2.25 MiB"),
            (6262784, "5.97 MiB"),
            (67108864, "64 MiB"),
            (67125248, "64 MiB"),
            (2139217920, "1.99 GiB"),
            (2621440000, "2.44 GiB"),
            (3221225472, "3 GiB"),
            (1 << 40, "1 TiB"),
            (1 << 50, "1 PiB"),
            (1 << 60, "1 EiB"),
            (u64::MAX, "16 EiB"),
        ];
        for &(val, expect) in cases {
            assert_eq!(size_to_str(val), expect, "size_to_str({val})");
        }
    }

    #[test]
    fn frexp_exponents() {
        assert_eq!(frexp_exponent(0.0), 0);
        assert_eq!(frexp_exponent(1.0), 1);
        assert_eq!(frexp_exponent(0.5), 0);
        assert_eq!(frexp_exponent(1023.0), 10);
        assert_eq!(frexp_exponent(1024.0), 11);
        assert_eq!(frexp_exponent(5e-324), -1073);
    }
}
