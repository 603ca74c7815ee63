//! The error type of the formats layer: what went wrong in which structure,
//! field and rule, with the offending value.

use std::fmt;

/// A structure could not be parsed, checked or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer ends before the structure does.
    Truncated { item: &'static str, needed: u64, available: u64 },
    /// A magic value does not match.
    BadMagic { item: &'static str, offset: u64 },
    /// The bytes do not form the structure (reported by the binrw reader).
    Malformed { item: &'static str, offset: u64, detail: String },
    /// A field breaks a rule of the spec. `message` is the user-facing wording
    /// the spec gives for this rule (qemu's, where qemu has one); `{value}`,
    /// `{value:x}` and `{value:016x}` in it stand for the value.
    Invalid { item: &'static str, field: &'static str, value: u64, rule: &'static str, message: Option<&'static str> },
    /// A stored checksum does not match the bytes. `message` is the spec's
    /// user-facing wording for it, if any.
    Checksum { item: &'static str, field: &'static str, stored: u64, computed: u64, message: Option<&'static str> },
    /// A length, count or offset expression overflowed.
    Overflow { item: &'static str, field: &'static str },
    /// A value about to be written disagrees with the field that describes it.
    Inconsistent { item: &'static str, field: &'static str, expected: u64, actual: u64 },
}

impl FormatError {
    /// The user-facing message: the spec's wording for a broken rule when it has
    /// one, otherwise a description naming structure, field, value and rule.
    pub fn message(&self) -> String {
        match self {
            FormatError::Invalid { message: Some(m), value, .. } => fill_value(m, *value),
            FormatError::Checksum { message: Some(m), stored, .. } => fill_value(m, *stored),
            other => other.to_string(),
        }
    }

    /// The field a validation error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            FormatError::Invalid { field, .. }
            | FormatError::Checksum { field, .. }
            | FormatError::Overflow { field, .. }
            | FormatError::Inconsistent { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Converts a binrw error raised while reading `item` from a buffer of `available` bytes.
    pub fn from_binrw(item: &'static str, available: usize, e: binrw::Error) -> FormatError {
        match e {
            binrw::Error::Backtrace(bt) => FormatError::from_binrw(item, available, *bt.error),
            binrw::Error::BadMagic { pos, .. } => FormatError::BadMagic { item, offset: pos },
            binrw::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                FormatError::Truncated { item, needed: available as u64 + 1, available: available as u64 }
            }
            binrw::Error::Custom { err, pos } => match err.downcast::<FormatError>() {
                Ok(fe) => *fe,
                Err(other) => FormatError::Malformed { item, offset: pos, detail: format!("{other:?}") },
            },
            other => FormatError::Malformed { item, offset: 0, detail: other.to_string() },
        }
    }

    /// Wraps the error for a binrw custom parser.
    pub fn into_binrw(self, pos: u64) -> binrw::Error {
        binrw::Error::Custom { pos, err: Box::new(self) }
    }
}

/// Substitutes `{value}`, `{value:x}` and `{value:016x}` (zero-padded hex) in a message.
fn fill_value(m: &str, v: u64) -> String {
    m.replace("{value:016x}", &format!("{v:016x}")).replace("{value:x}", &format!("{v:x}")).replace("{value}", &v.to_string())
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { item, needed, available } => {
                write!(f, "{item}: truncated: needs {needed} bytes, {available} available")
            }
            FormatError::BadMagic { item, offset } => write!(f, "{item}: bad magic at offset {offset}"),
            FormatError::Malformed { item, offset, detail } => write!(f, "{item}: malformed at offset {offset}: {detail}"),
            FormatError::Invalid { item, field, value, rule, .. } => {
                write!(f, "{item}.{field} = {value} ({value:#x}) breaks the rule: {rule}")
            }
            FormatError::Checksum { item, field, stored, computed, .. } => {
                write!(f, "{item}.{field}: checksum {stored:#x} does not match the computed {computed:#x}")
            }
            FormatError::Overflow { item, field } => write!(f, "{item}.{field}: a length or offset overflows"),
            FormatError::Inconsistent { item, field, expected, actual } => {
                write!(f, "{item}.{field}: {actual} bytes where the structure says {expected}")
            }
        }
    }
}

impl std::error::Error for FormatError {}
