//! The intermediate representation of a spec file, after parsing and before
//! checking. Every node keeps its span so that later passes can report errors.

use crate::expr::{Expr, Rule};
use proc_macro2::Span;

/// Byte order of a structure, field or table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Big,
    Little,
}

impl Endian {
    pub fn short(self) -> &'static str {
        match self {
            Endian::Big => "be",
            Endian::Little => "le",
        }
    }
}

/// An unsigned or signed integer type of a fixed width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntTy {
    pub bits: u32,
    pub signed: bool,
}

impl IntTy {
    pub const U64: IntTy = IntTy::unsigned(64);

    /// The unsigned type of `bits` bits.
    pub const fn unsigned(bits: u32) -> IntTy {
        IntTy { bits, signed: false }
    }

    pub fn parse(name: &str) -> Option<IntTy> {
        let (signed, rest) = match name.as_bytes().first()? {
            b'u' => (false, &name[1..]),
            b'i' => (true, &name[1..]),
            _ => return None,
        };
        let bits = match rest {
            "8" => 8,
            "16" => 16,
            "32" => 32,
            "64" => 64,
            "128" => 128,
            _ => return None,
        };
        Some(IntTy { bits, signed })
    }

    pub fn bytes(self) -> u64 {
        (self.bits / 8) as u64
    }

    pub fn name(self) -> String {
        format!("{}{}", if self.signed { 'i' } else { 'u' }, self.bits)
    }
}

/// A whole spec file.
#[derive(Debug)]
pub struct SpecFile {
    pub format: String,
    pub endian: Endian,
    pub doc: String,
    pub items: Vec<Item>,
}

/// One declaration of a spec file.
#[derive(Debug)]
pub enum Item {
    Struct(StructDef),
    Enum(EnumDef),
    Flags(FlagsDef),
    Bitfield(BitfieldDef),
    Tlv(TlvDef),
    Table(TableDef),
}

impl Item {
    pub fn name(&self) -> &syn::Ident {
        match self {
            Item::Struct(s) => &s.name,
            Item::Enum(e) => &e.name,
            Item::Flags(f) => &f.name,
            Item::Bitfield(b) => &b.name,
            Item::Tlv(t) => &t.name,
            Item::Table(t) => &t.name,
        }
    }
}

/// A structure: fields laid out one after the other.
#[derive(Debug)]
pub struct StructDef {
    pub name: syn::Ident,
    pub doc: String,
    pub endian: Endian,
    /// `size = N`: the structure always takes exactly N bytes.
    pub size: Option<(u64, Span)>,
    /// `len = expr`: the structure's length is given by its own fields.
    pub len: Option<Expr>,
    /// `min_len = N`: the smallest valid `len`.
    pub min_len: Option<u64>,
    /// `pad_to = N`: the encoded length is rounded up to a multiple of N with zeros.
    pub pad_to: Option<u64>,
    /// `at = expr`: where the structure sits in its file.
    pub placement: Option<Expr>,
    /// `at = [a, b, ...]`: further copies of the structure (constants), after `placement`.
    pub copies: Vec<Expr>,
    pub fields: Vec<Field>,
}

/// The declared type of a structure field.
#[derive(Debug, Clone)]
pub enum FieldType {
    Int(IntTy),
    /// `[u8; N]`
    ByteArray(u64),
    /// `Bytes`: a run of bytes whose length is `len = ...` or the rest of the structure.
    Bytes,
    /// `Str<N>`: N bytes of text padded with NULs.
    Str(u64),
    /// `Utf16Le<N>` / `Utf16Be<N>`: N bytes of UTF-16 text padded with zeros.
    Utf16(u64, Endian),
    /// A GUID in Microsoft byte order (first three groups little-endian).
    Guid,
    /// A UUID in RFC 4122 byte order (big-endian).
    Uuid,
    /// An enum, flag set, bitfield or structure of this file.
    Named(syn::Ident),
    /// `[T; N]` of integers or named types.
    Array(Box<FieldType>, u64),
    /// `Vec<T>` with `count = ...`.
    Vec(Box<FieldType>),
    /// `()`: a field that only carries a magic value.
    Unit,
}

/// The checksum algorithms the language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    /// Ones' complement of the byte sum (VHD).
    OnesComplement,
    /// CRC-32C (Castagnoli), stored little-endian (VHDX).
    Crc32c,
}

/// A checksum field: the checksum of `over` bytes from the start of the
/// structure, computed with the field itself zeroed.
#[derive(Debug, Clone)]
pub struct Checksum {
    pub kind: ChecksumKind,
    pub over: Option<Expr>,
    pub span: Span,
}

/// A constant value a field must hold.
#[derive(Debug, Clone)]
pub enum Magic {
    Bytes(Vec<u8>),
    Int(u64),
    /// `magic = [b"...", b"..."]`: any one of these byte strings (all the same length).
    /// The field keeps the bytes read, so a reader can tell which one it was.
    Alternatives(Vec<Vec<u8>>),
}

/// A named group of rules on a field, with its own message and condition:
/// `#[spec(check(too_large, valid = ..=N, msg = "..."))]`.
#[derive(Debug, Clone)]
pub struct CheckGroup {
    pub name: syn::Ident,
    pub rules: Vec<Rule>,
    pub msg: Option<String>,
    pub check_if: Option<Expr>,
}

/// One field of a structure.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: syn::Ident,
    pub doc: String,
    pub ty: FieldType,
    pub ty_span: Span,
    pub magic: Option<Magic>,
    pub when: Option<Expr>,
    pub default: Option<Expr>,
    pub len: Option<Expr>,
    pub count: Option<Expr>,
    pub rest: bool,
    pub reserved: bool,
    pub zero: bool,
    pub rules: Vec<Rule>,
    pub msg: Option<String>,
    /// `check_if = cond`: the field's checks apply only when `cond` holds.
    pub check_if: Option<Expr>,
    /// `check(NAME, ...)`: further rules with their own message, checked by `check_FIELD_NAME`.
    pub checks: Vec<CheckGroup>,
    pub at: Option<(u64, Span)>,
    pub endian: Option<Endian>,
    pub checksum: Option<Checksum>,
}

/// What to do with values that the spec does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// Validation fails.
    Reject,
    /// Accepted and kept.
    Keep,
    /// Accepted, kept on read, cleared before the structure is rewritten (flag sets only).
    ClearOnWrite,
}

impl UnknownPolicy {
    pub fn text(self) -> &'static str {
        match self {
            UnknownPolicy::Reject => "reject",
            UnknownPolicy::Keep => "ignore",
            UnknownPolicy::ClearOnWrite => "clear on write",
        }
    }
}

/// A C-like enum stored as an integer.
#[derive(Debug)]
pub struct EnumDef {
    pub name: syn::Ident,
    pub doc: String,
    pub repr: IntTy,
    pub unknown: UnknownPolicy,
    pub variants: Vec<Variant>,
}

#[derive(Debug)]
pub struct Variant {
    pub name: syn::Ident,
    pub doc: String,
    pub value: u64,
}

/// A set of single-bit flags stored as an integer.
#[derive(Debug)]
pub struct FlagsDef {
    pub name: syn::Ident,
    pub doc: String,
    pub repr: IntTy,
    pub unknown: UnknownPolicy,
    pub flags: Vec<Flag>,
}

#[derive(Debug)]
pub struct Flag {
    pub name: syn::Ident,
    pub doc: String,
    pub bit: u32,
}

/// An integer packed with bit fields (table entries, descriptors).
#[derive(Debug)]
pub struct BitfieldDef {
    pub name: syn::Ident,
    pub doc: String,
    pub width: u32,
    /// Image parameters that the bit positions depend on.
    pub params: Vec<(syn::Ident, IntTy)>,
    pub fields: Vec<BitField>,
    /// Reserved ranges (inclusive) that must be zero.
    pub reserved: Vec<(u32, u32, Span)>,
}

/// What a bit field holds.
#[derive(Debug, Clone)]
pub enum BitValue {
    Bool,
    /// An unsigned number; `in_place` keeps it at its bit position.
    Uint { in_place: bool },
    /// A value of an enum of this file.
    Enum(syn::Ident),
}

#[derive(Debug, Clone)]
pub struct BitField {
    pub name: syn::Ident,
    pub doc: String,
    /// Lowest bit.
    pub lo: Expr,
    /// Highest bit, inclusive.
    pub hi: Expr,
    pub value: BitValue,
    pub span: Span,
}

/// How a TLV payload is decoded.
#[derive(Debug, Clone)]
pub enum Payload {
    Bytes,
    Struct(syn::Ident),
    /// `count` may use `len`, the payload length.
    Vec { elem: syn::Ident, count: Expr },
}

#[derive(Debug)]
pub struct TlvVariant {
    pub name: syn::Ident,
    pub doc: String,
    /// `None` for the catch-all `other` variant.
    pub tag: Option<u64>,
    pub payload: Payload,
    pub span: Span,
}

/// A tag-length-value list (header extensions).
#[derive(Debug)]
pub struct TlvDef {
    pub name: syn::Ident,
    pub doc: String,
    /// The tag and length types. With `header`, they are the types of the
    /// header's fields instead: ask `Model::tlv_types`.
    pub tag: IntTy,
    pub len: IntTy,
    /// `header = Struct, tag = field, len = field`: each entry starts with this
    /// fixed-size structure, whose other fields (flags, padding) are kept.
    pub header: Option<TlvHeader>,
    pub align: u64,
    pub end: u64,
    pub endian: Endian,
    pub placement: Option<Expr>,
    pub variants: Vec<TlvVariant>,
}

/// The entry header of a TLV list whose entries carry more than a tag and a length.
#[derive(Debug, Clone)]
pub struct TlvHeader {
    pub structure: syn::Ident,
    pub tag_field: syn::Ident,
    pub len_field: syn::Ident,
}

/// What a table's entries are.
#[derive(Debug, Clone)]
pub enum TableEntry {
    Int(IntTy),
    Bitfield(syn::Ident),
}

/// A table of fixed-size entries kept as bytes and decoded on access.
#[derive(Debug)]
pub struct TableDef {
    pub name: syn::Ident,
    pub doc: String,
    pub entry: TableEntry,
    pub entry_span: Span,
    pub endian: Endian,
    pub count: Option<Expr>,
    pub placement: Option<Expr>,
    /// `bits = expr`: entries are packed integers of this many bits (1 to 64,
    /// a power of two); narrower than a byte, bit 0 of a byte comes first.
    pub bits: Option<Expr>,
}
