//! Sizes and numbers as qemu-img parses them.
//!
//! Two parsers, each consuming a whole argument (trailing garbage is an error):
//!
//! * [`parse_size`] is QEMU's `qemu_strtosz`: a decimal integer, an optional fraction
//!   and an optional binary suffix (`b k m g t p e`, any case; `k` = 1024). A fraction
//!   needs a suffix above bytes (`1.5k` = 1536, `1.5` and `1.5b` are invalid, `1.0` is 1)
//!   and the result is rounded to the nearest byte, halves up (`0.15k` = 154). Hex is
//!   accepted only without fraction or suffix (`0x10`); a leading `0` is still decimal
//!   (`010` = 10). Leading whitespace and `+` are accepted, a `-` is out of range.
//! * [`parse_u64`] is `qemu_strtou64(s, NULL, 0)`, i.e. C `strtoull` with base 0:
//!   `0x` hex, a leading `0` means octal (`010` = 8), no suffixes, and a leading `-`
//!   negates modulo 2^64 (`-1` = `u64::MAX`).
//!
//! Both report *why* a string was rejected ([`NumError`]), because qemu-img words the
//! two cases differently. [`cvtnum`] adds qemu-img's range check and its messages
//! (`Invalid image size specified: '1.5'.` / `Invalid ... specified. Must be between
//! 0 and 9223372036854775807.`).

use std::fmt;

/// Why a string is not an acceptable number (QEMU's `-EINVAL` / `-ERANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// Not a number at all, or trailing characters after it.
    Invalid,
    /// A well-formed number that is negative or does not fit in 64 bits.
    OutOfRange,
}

/// Which parser [`cvtnum`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumKind {
    /// [`parse_size`]: suffixes and fractions allowed.
    Size,
    /// [`parse_u64`]: a plain C integer (decimal, `0x` hex or `0` octal).
    Integer,
}

/// A value rejected by [`cvtnum`]; `Display` is qemu-img's message (without the
/// `qemu-img: ` prefix and without a newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CvtError {
    /// `Invalid <what> specified: '<value>'.`
    Invalid {
        /// What the number is (`image size`, `start offset`, ...).
        what: String,
        /// The argument as given.
        value: String,
    },
    /// `Invalid <what> specified. Must be between <min> and <max>.`
    Range {
        /// What the number is.
        what: String,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
}

impl fmt::Display for CvtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CvtError::Invalid { what, value } => write!(f, "Invalid {what} specified: '{value}'."),
            CvtError::Range { what, min, max } => {
                write!(
                    f,
                    "Invalid {what} specified. Must be between {min} and {max}."
                )
            }
        }
    }
}

impl std::error::Error for CvtError {}

/// qemu-img's `cvtnum_full`: parse `value` as `kind` and require `min..=max`.
///
/// `what` names the value in the message. A malformed string gives
/// [`CvtError::Invalid`]; a well-formed but out-of-range one (including negative
/// sizes and anything above `max`) gives [`CvtError::Range`].
pub fn cvtnum(what: &str, value: &str, kind: NumKind, min: i64, max: i64) -> Result<i64, CvtError> {
    let parsed = match kind {
        NumKind::Size => parse_size(value),
        NumKind::Integer => parse_u64(value),
    };
    let range = || CvtError::Range {
        what: what.to_string(),
        min,
        max,
    };
    match parsed {
        Err(NumError::Invalid) => Err(CvtError::Invalid {
            what: what.to_string(),
            value: value.to_string(),
        }),
        Err(NumError::OutOfRange) => Err(range()),
        Ok(v) => match i64::try_from(v) {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(range()),
        },
    }
}

/// [`cvtnum`] with qemu-img's default range `0..=i64::MAX`.
pub fn cvtnum_default(what: &str, value: &str, kind: NumKind) -> Result<i64, CvtError> {
    cvtnum(what, value, kind, 0, i64::MAX)
}

/// QEMU's `qemu_strtosz` on a whole string (see the module docs).
pub fn parse_size(s: &str) -> Result<u64, NumError> {
    parse_size_bytes(s.as_bytes())
}

/// [`parse_size`] on raw bytes (arguments need not be UTF-8).
pub fn parse_size_bytes(s: &[u8]) -> Result<u64, NumError> {
    let (result, end) = strtosz(s);
    // Called without an end pointer: anything left over makes the input invalid,
    // even when the number itself was out of range.
    if end < s.len() {
        return Err(NumError::Invalid);
    }
    result
}

/// C `strtoull(s, &end, 0)` checked like `qemu_strtou64(s, NULL, 0)`.
pub fn parse_u64(s: &str) -> Result<u64, NumError> {
    parse_u64_bytes(s.as_bytes())
}

/// [`parse_u64`] on raw bytes.
pub fn parse_u64_bytes(s: &[u8]) -> Result<u64, NumError> {
    let r = strtoull(s, 0);
    if !r.converted || r.end < s.len() {
        return Err(NumError::Invalid);
    }
    if r.overflow {
        return Err(NumError::OutOfRange);
    }
    Ok(r.value)
}

/// C `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Outcome of [`strtoull`].
struct Strtoull {
    /// The value (already negated for a leading `-`, `u64::MAX` on overflow).
    value: u64,
    /// Index just past the last consumed character (0 when nothing converted).
    end: usize,
    /// Whether any digit was converted.
    converted: bool,
    /// `errno == ERANGE`.
    overflow: bool,
}

/// glibc `strtoull` for bases 0, 10 and 16 (the ones QEMU uses here).
fn strtoull(s: &[u8], base: u32) -> Strtoull {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(at(i)) {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let mut base = base;
    if at(i) == b'0' && (base == 0 || base == 16) && at(i + 1).eq_ignore_ascii_case(&b'x') {
        // "0x" followed by no hex digit converts just the "0" (end points at the 'x').
        if !at(i + 2).is_ascii_hexdigit() {
            return Strtoull {
                value: 0,
                end: i + 1,
                converted: true,
                overflow: false,
            };
        }
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if at(i) == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(d) = (at(i) as char).to_digit(base) {
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return Strtoull {
            value: 0,
            end: 0,
            converted: false,
            overflow: false,
        };
    }
    let value = if overflow {
        u64::MAX
    } else if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Strtoull {
        value,
        end: i,
        converted: true,
        overflow,
    }
}

/// Multiplier for a size suffix character, if it is one.
fn suffix_mul(c: u8) -> Option<u64> {
    let shift = match c.to_ascii_uppercase() {
        b'B' => 0,
        b'K' => 10,
        b'M' => 20,
        b'G' => 30,
        b'T' => 40,
        b'P' => 50,
        b'E' => 60,
        _ => return None,
    };
    Some(1u64 << shift)
}

/// The fraction QEMU's `strtod` call sees: optional whitespace and sign, a `.`, and at
/// least one digit (an exponent is never part of it). Returns the fraction as a 0.64
/// fixed-point number, whether it rounded up to exactly 1.0, whether it was negative,
/// and how many bytes it spans; `None` if `strtod` would convert nothing.
fn parse_fraction(s: &[u8]) -> Option<Fraction> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(at(i)) {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    if at(i) != b'.' || !at(i + 1).is_ascii_digit() {
        return None;
    }
    let digits_start = i + 1;
    let mut j = digits_start;
    while at(j).is_ascii_digit() {
        j += 1;
    }
    let digits = &s[digits_start..j];
    let text = format!("0.{}", String::from_utf8_lossy(digits));
    let value: f64 = text.parse().unwrap_or(0.0);
    let nonzero = digits.iter().any(|&d| d != b'0');
    let (one, fixed) = if value >= 1.0 {
        (true, 0)
    } else {
        // Exact: scaling by 2^64 only changes the exponent. A non-zero fraction never
        // becomes 0 (QEMU maps underflow and tiny values to the smallest unit).
        let fixed = (value * 18_446_744_073_709_551_616.0) as u64;
        (false, if fixed == 0 && nonzero { 1 } else { fixed })
    };
    Some(Fraction {
        fixed,
        one,
        negative,
        len: j,
    })
}

struct Fraction {
    fixed: u64,
    one: bool,
    negative: bool,
    len: usize,
}

/// `do_strtosz` with an end pointer: the result and the index where parsing stopped.
fn strtosz(s: &[u8]) -> (Result<u64, NumError>, usize) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    // Integral part, as decimal; negative numbers are out of range.
    let int = strtoull(s, 10);
    let mut end = int.end;
    let mut val = if int.converted && !int.overflow {
        int.value
    } else {
        0
    };
    if int.converted {
        if int.overflow {
            return (Err(NumError::OutOfRange), end);
        }
        let first = s.iter().position(|&b| !is_c_space(b)).map(at).unwrap_or(0);
        if first == b'-' {
            return (Err(NumError::OutOfRange), end);
        }
    }
    let mut ok = int.converted;
    let mut valf: u64 = 0;

    if ok && val == 0 && matches!(at(end), b'x' | b'X') {
        // Looks like hex: reparse, and allow neither a fraction nor a suffix.
        let hex = strtoull(s, 16);
        end = hex.end;
        if !hex.converted {
            return (Err(NumError::Invalid), 0);
        }
        if hex.overflow {
            return (Err(NumError::OutOfRange), end);
        }
        val = hex.value;
        if at(end) == b'.' || suffix_mul(at(end)).is_some() {
            return (Err(NumError::Invalid), 0);
        }
    } else if at(end) == b'.' || (!int.converted && s.contains(&b'.')) {
        if ok && at(end) == b'.' && !at(end + 1).is_ascii_digit() {
            // "1." or "1.k": an empty fraction.
            end += 1;
        } else {
            // strtod sees the rest with any exponent cut off.
            let rest = &s[end..];
            let cut = rest
                .iter()
                .position(|&b| b == b'e' || b == b'E')
                .unwrap_or(rest.len());
            match parse_fraction(&rest[..cut]) {
                None => ok = false,
                Some(f) => {
                    end += f.len;
                    if f.negative {
                        return (Err(NumError::OutOfRange), end);
                    }
                    ok = true;
                    if f.one {
                        match val.checked_add(1) {
                            Some(v) => val = v,
                            None => return (Err(NumError::OutOfRange), end),
                        }
                    } else {
                        valf = f.fixed;
                    }
                }
            }
        }
    }
    if !ok {
        return (Err(NumError::Invalid), end);
    }

    let mul = match suffix_mul(at(end)) {
        Some(m) => {
            end += 1;
            m
        }
        None => 1,
    };
    if mul == 1 {
        // A fraction of bytes is meaningless.
        if valf != 0 {
            return (Err(NumError::Invalid), 0);
        }
        return (Ok(val), end);
    }
    // Exact 64.64 fixed-point product, rounded half up.
    let frac = u128::from(valf) * u128::from(mul);
    let round = ((frac as u64) >> 63) as u128;
    let total = u128::from(val) * u128::from(mul) + (frac >> 64) + round;
    match u64::try_from(total) {
        Ok(v) => (Ok(v), end),
        Err(_) => (Err(NumError::OutOfRange), end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row was checked with `qemu-img create -f raw /nonexist/x SIZE` (10.0.2):
    /// `Some(n)` is the size echoed in the `Formatting` line, `None` the message
    /// `Invalid image size specified: 'SIZE'.`, and `Range` the message `Invalid
    /// image size specified. Must be between 0 and 9223372036854775807.`
    #[derive(Debug, PartialEq)]
    enum Want {
        Size(u64),
        Invalid,
        Range,
    }
    use Want::*;

    const CREATE_SIZES: &[(&str, Want)] = &[
        ("1", Size(1)),
        ("1b", Size(1)),
        ("1B", Size(1)),
        ("1k", Size(1024)),
        ("1K", Size(1024)),
        ("1.5k", Size(1536)),
        ("0.1k", Size(102)),
        ("0.15k", Size(154)),
        ("1.00048828125k", Size(1025)),
        ("1.9999k", Size(2048)),
        ("0.0001k", Size(0)),
        (".5k", Size(512)),
        ("1.k", Size(1024)),
        ("1.", Size(1)),
        ("1.0", Size(1)),
        ("1.0k", Size(1024)),
        ("1.5", Invalid),
        ("1.5b", Invalid),
        ("0.5b", Invalid),
        ("7E", Size(8070450532247928832)),
        ("8E", Range),
        ("16E", Range),
        ("9223372036854775807", Size(9223372036854775807)),
        ("9223372036854775808", Range),
        ("18446744073709551615", Range),
        ("18446744073709551616", Range),
        ("+1k", Size(1024)),
        (" 1k", Size(1024)),
        ("0x10", Size(16)),
        ("0X10", Size(16)),
        (" 0x10", Size(16)),
        ("0x10k", Invalid),
        ("0x", Invalid),
        ("0x1p4", Invalid),
        ("010", Size(10)),
        ("1e3", Invalid),
        ("1KB", Invalid),
        ("1KiB", Invalid),
        ("1kb", Invalid),
        ("1Z", Invalid),
        ("1x", Invalid),
        ("abc", Invalid),
        ("1_000", Invalid),
        ("1 k", Invalid),
        ("1k ", Invalid),
        ("", Invalid),
        ("1.5.5", Invalid),
        ("1.5e", Size(1729382256910270464)),
        ("1.5t", Size(1649267441664)),
        (" -1", Range),
        ("+0x10", Size(16)),
        ("0x.5", Invalid),
        ("0x1.5", Invalid),
        ("0x1.8", Invalid),
        ("1e", Size(1152921504606846976)),
        ("1E", Size(1152921504606846976)),
        (".k", Invalid),
        (".", Invalid),
        (".5", Invalid),
        ("k", Invalid),
        ("0.99999999999999999999k", Size(1024)),
        ("1.99999999999999999999k", Size(2048)),
        ("8191.9999999999999999P", Range),
        ("7.99999999999999999E", Range),
        ("00x10", Invalid),
        ("0x0x", Invalid),
        ("0xg", Invalid),
        ("0xffffffffffffffff", Range),
        ("0x7fffffffffffffff", Size(9223372036854775807)),
        ("0x8000000000000000", Range),
        ("0x10000000000000000", Range),
        ("1.5E", Size(1729382256910270464)),
        ("8E-1", Invalid),
        ("8.0E", Range),
        ("\t1k", Size(1024)),
        ("\n1k", Size(1024)),
        ("\x0b1", Size(1)),
        ("1,5k", Invalid),
        ("1.5K", Size(1536)),
        ("2.5m", Size(2621440)),
        ("nan", Invalid),
        ("inf", Invalid),
        ("0.5", Invalid),
        ("1.0b", Size(1)),
        ("1.00", Size(1)),
        ("0.0", Size(0)),
        ("0.0k", Size(0)),
        ("1e-3k", Invalid),
        ("1.e3k", Invalid),
        ("+.5k", Size(512)),
        (" .5k", Size(512)),
        ("8Ex", Invalid),
        ("99999999999999999999x", Invalid),
        ("20E", Range),
        ("1.00000000000000000001", Invalid),
        ("1.00000000000000000001k", Size(1024)),
        ("0.5E", Size(576460752303423488)),
        ("12.345M", Size(12944671)),
        (".5e", Size(576460752303423488)),
        ("1.-5k", Invalid),
        ("0x 1", Invalid),
        ("1k1", Invalid),
        ("0x10 ", Invalid),
        (" +1", Size(1)),
        ("+ 1", Invalid),
        ("++1", Invalid),
        ("0.999999999999999999999999999999b", Size(1)),
        ("1.0000000000000000000000001k", Size(1024)),
        ("18446744073709551615b", Range),
        ("17179869183.99999999999G", Range),
    ];

    #[test]
    fn create_sizes_match_qemu_img() {
        for (input, want) in CREATE_SIZES {
            let got = match cvtnum_default("image size", input, NumKind::Size) {
                Ok(v) => Size(v as u64),
                Err(CvtError::Invalid { .. }) => Invalid,
                Err(CvtError::Range { .. }) => Range,
            };
            assert_eq!(&got, want, "size {input:?}");
        }
    }

    #[test]
    fn tiny_fractions_are_not_zero() {
        let tiny = format!("1.{}1", "0".repeat(400));
        assert_eq!(parse_size(&tiny), Err(NumError::Invalid));
        assert_eq!(parse_size(&format!("{tiny}k")), Ok(1024));
    }

    #[test]
    fn raw_size_parser_distinguishes_range() {
        // `-o size=` uses the unchecked parser: up to 2^64-1 is fine.
        assert_eq!(parse_size("8E"), Ok(1 << 63));
        assert_eq!(parse_size("15.9999999999E").map(|v| v > 1 << 63), Ok(true));
        assert_eq!(parse_size("16E"), Err(NumError::OutOfRange));
        assert_eq!(parse_size("-1"), Err(NumError::OutOfRange));
        assert_eq!(parse_size(" -.5k"), Err(NumError::Invalid));
        assert_eq!(parse_size(" -.5"), Err(NumError::OutOfRange));
        assert_eq!(parse_size(" -.0"), Err(NumError::OutOfRange));
        assert_eq!(parse_size("20Ex"), Err(NumError::Invalid));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    /// `qemu-img convert -m VALUE` (10.0.2): `Ok` means accepted.
    #[test]
    fn coroutine_counts_match_qemu_img() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("010", Ok(8)),
            ("0x10", Ok(16)),
            (
                "-1",
                Err("Invalid number of coroutines specified. Must be between 1 and 16."),
            ),
            ("", Err("Invalid number of coroutines specified: ''.")),
            (" 5", Ok(5)),
            ("+5", Ok(5)),
            ("5k", Err("Invalid number of coroutines specified: '5k'.")),
            ("1.5", Err("Invalid number of coroutines specified: '1.5'.")),
            (
                "0",
                Err("Invalid number of coroutines specified. Must be between 1 and 16."),
            ),
            (
                "17",
                Err("Invalid number of coroutines specified. Must be between 1 and 16."),
            ),
            ("16", Ok(16)),
            (
                " -0",
                Err("Invalid number of coroutines specified. Must be between 1 and 16."),
            ),
            ("08", Err("Invalid number of coroutines specified: '08'.")),
            ("0b1", Err("Invalid number of coroutines specified: '0b1'.")),
            (
                "99999999999999999999",
                Err("Invalid number of coroutines specified. Must be between 1 and 16."),
            ),
        ];
        for (input, want) in cases {
            let got = cvtnum("number of coroutines", input, NumKind::Integer, 1, 16)
                .map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(String::from), "-m {input:?}");
        }
    }

    /// `qemu-img dd count=VALUE` (10.0.2).
    #[test]
    fn dd_counts_match_qemu_img() {
        assert_eq!(cvtnum_default("count", "010", NumKind::Integer), Ok(8));
        assert_eq!(cvtnum_default("count", "0x10", NumKind::Integer), Ok(16));
        assert_eq!(
            cvtnum_default("count", "1k", NumKind::Integer)
                .unwrap_err()
                .to_string(),
            "Invalid count specified: '1k'."
        );
        assert_eq!(
            cvtnum_default("count", "-1", NumKind::Integer)
                .unwrap_err()
                .to_string(),
            "Invalid count specified. Must be between 0 and 9223372036854775807."
        );
        assert_eq!(
            cvtnum_default("count", "9223372036854775808", NumKind::Integer)
                .unwrap_err()
                .to_string(),
            "Invalid count specified. Must be between 0 and 9223372036854775807."
        );
    }

    #[test]
    fn strtoull_edge_cases() {
        assert_eq!(parse_u64("0x"), Err(NumError::Invalid));
        assert_eq!(parse_u64("0"), Ok(0));
        assert_eq!(parse_u64("-0"), Ok(0));
        assert_eq!(parse_u64("-5"), Ok(u64::MAX - 4));
        assert_eq!(parse_u64("99999999999999999999"), Err(NumError::OutOfRange));
        assert_eq!(parse_u64("99999999999999999999x"), Err(NumError::Invalid));
        assert_eq!(parse_u64("077"), Ok(63));
        assert_eq!(parse_u64(" \t+0X1f"), Ok(31));
        assert_eq!(parse_u64("- 1"), Err(NumError::Invalid));
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for s in [
            &b"\xff\xfe"[..],
            b"0x\xff",
            b".\xff",
            b"1.\xffk",
            b"\x00",
            b"-",
            b"+",
            b" ",
        ] {
            let _ = parse_size_bytes(s);
            let _ = parse_u64_bytes(s);
        }
    }
}
