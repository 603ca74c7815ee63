//! Layout tables: what each generated item looks like on disk, as data that
//! renders to text (`qimg spec`, insta snapshots).

use std::fmt::Write;

/// One field of a structure.
#[derive(Debug)]
pub struct FieldLayout {
    pub name: &'static str,
    /// Offset from the start of the structure (an expression after variable-size fields).
    pub offset: &'static str,
    pub size: &'static str,
    /// Type, with `be`/`le` where byte order matters.
    pub ty: &'static str,
    /// Condition for the field to be present.
    pub when: &'static str,
    pub rule: &'static str,
    pub doc: &'static str,
}

#[derive(Debug)]
pub struct StructLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub endian: &'static str,
    /// Size description: a number, or how the length is found.
    pub size: &'static str,
    /// Where the structure sits in its file, if the spec says.
    pub placement: &'static str,
    pub fields: &'static [FieldLayout],
}

#[derive(Debug)]
pub struct EnumLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub repr: &'static str,
    pub unknown: &'static str,
    pub variants: &'static [(&'static str, u64)],
}

#[derive(Debug)]
pub struct FlagsLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub repr: &'static str,
    pub unknown: &'static str,
    pub flags: &'static [(&'static str, u32)],
}

#[derive(Debug)]
pub struct BitLayout {
    pub name: &'static str,
    /// `63` or `9..=55` (an expression for parameterised entries).
    pub bits: &'static str,
    pub ty: &'static str,
    pub note: &'static str,
}

#[derive(Debug)]
pub struct BitfieldLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub width: u32,
    pub params: &'static str,
    pub fields: &'static [BitLayout],
    /// Reserved bits that must be zero, as a hex mask (empty if none).
    pub reserved: &'static str,
}

#[derive(Debug)]
pub struct TlvVariantLayout {
    pub name: &'static str,
    /// Hex tag, or `other`.
    pub tag: &'static str,
    pub payload: &'static str,
}

#[derive(Debug)]
pub struct TlvLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub tag: &'static str,
    pub len: &'static str,
    pub endian: &'static str,
    pub align: u64,
    pub end: u64,
    pub placement: &'static str,
    pub variants: &'static [TlvVariantLayout],
}

#[derive(Debug)]
pub struct TableLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub entry: &'static str,
    /// Bytes per entry; 0 for packed tables, whose width comes from the image.
    pub entry_size: u64,
    pub endian: &'static str,
    pub count: &'static str,
    pub placement: &'static str,
}

/// Any item of a spec.
#[derive(Debug)]
pub enum ItemLayout {
    Struct(&'static StructLayout),
    Enum(&'static EnumLayout),
    Flags(&'static FlagsLayout),
    Bitfield(&'static BitfieldLayout),
    Tlv(&'static TlvLayout),
    Table(&'static TableLayout),
}

/// A whole spec file.
#[derive(Debug)]
pub struct FormatLayout {
    pub name: &'static str,
    pub doc: &'static str,
    pub endian: &'static str,
    pub items: &'static [ItemLayout],
}

impl ItemLayout {
    pub fn name(&self) -> &'static str {
        match self {
            ItemLayout::Struct(x) => x.name,
            ItemLayout::Enum(x) => x.name,
            ItemLayout::Flags(x) => x.name,
            ItemLayout::Bitfield(x) => x.name,
            ItemLayout::Tlv(x) => x.name,
            ItemLayout::Table(x) => x.name,
        }
    }

    /// Renders the item as a text table headed by `format::Name`.
    pub fn render(&self, format: &str) -> String {
        let mut out = String::new();
        match self {
            ItemLayout::Struct(s) => render_struct(&mut out, format, s),
            ItemLayout::Enum(e) => {
                let _ = writeln!(out, "{format}::{}  enum {}  unknown values: {}", e.name, e.repr, e.unknown);
                for (name, v) in e.variants {
                    let _ = writeln!(out, "  {v:>10}  {name}");
                }
            }
            ItemLayout::Flags(fl) => {
                let _ = writeln!(out, "{format}::{}  flags {}  unknown bits: {}", fl.name, fl.repr, fl.unknown);
                for (name, bit) in fl.flags {
                    let _ = writeln!(out, "  bit {bit:>2}  {name}");
                }
            }
            ItemLayout::Bitfield(b) => {
                let params = if b.params.is_empty() { String::new() } else { format!("  param({})", b.params) };
                let _ = writeln!(out, "{format}::{}  bitfield u{}{params}", b.name, b.width);
                let w = b.fields.iter().map(|f| f.bits.len()).max().unwrap_or(4).max(4);
                let n = b.fields.iter().map(|f| f.name.len()).max().unwrap_or(4).max(4);
                for f in b.fields {
                    let line = format!("  {:<w$}  {:<n$}  {:<6}  {}", f.bits, f.name, f.ty, f.note);
                    let _ = writeln!(out, "{}", line.trim_end());
                }
                if !b.reserved.is_empty() {
                    let _ = writeln!(out, "  reserved, must be zero: {}", b.reserved);
                }
            }
            ItemLayout::Tlv(t) => {
                let placement = if t.placement.is_empty() { String::new() } else { format!("  at {}", t.placement) };
                let _ = writeln!(
                    out,
                    "{format}::{}  tlv list: tag {}{}, len {}{}, align {}, end tag {:#x}{placement}",
                    t.name, t.tag, t.endian, t.len, t.endian, t.align, t.end
                );
                let n = t.variants.iter().map(|v| v.name.len()).max().unwrap_or(4);
                let w = t.variants.iter().map(|v| v.tag.len()).max().unwrap_or(0).max(10);
                for v in t.variants {
                    let _ = writeln!(out, "  {:>w$}  {:<n$}  {}", v.tag, v.name, v.payload);
                }
            }
            ItemLayout::Table(t) => {
                if t.entry_size == 0 {
                    let _ = write!(out, "{format}::{}  packed table of {} ({})", t.name, t.entry, t.endian);
                } else {
                    let _ = write!(out, "{format}::{}  table of {} ({} bytes, {})", t.name, t.entry, t.entry_size, t.endian);
                }
                if !t.count.is_empty() {
                    let _ = write!(out, "  count {}", t.count);
                }
                if !t.placement.is_empty() {
                    let _ = write!(out, "  at {}", t.placement);
                }
                out.push('\n');
            }
        }
        out
    }
}

fn render_struct(out: &mut String, format: &str, s: &StructLayout) {
    let placement = if s.placement.is_empty() { String::new() } else { format!("  at {}", s.placement) };
    let _ = writeln!(out, "{format}::{}  {} endian, size {}{placement}", s.name, if s.endian == "be" { "big" } else { "little" }, s.size);
    let cols = |f: &FieldLayout| {
        [f.offset.to_string(), f.size.to_string(), f.name.to_string(), f.ty.to_string(), f.when.to_string(), f.rule.to_string()]
    };
    let header = ["off", "size", "field", "type", "when", "rule"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header).chain(s.fields.iter().map(cols)).collect();
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Offsets and sizes are right-aligned, unless some are expressions.
    let numeric = |col: usize| rows.iter().skip(1).all(|r| r[col].chars().all(|ch| ch.is_ascii_digit()) || r[col] == "rest");
    let (num0, num1) = (numeric(0), numeric(1));
    let cell = |c: &str, w: usize, right: bool| if right { format!("{c:>w$}") } else { format!("{c:<w$}") };
    for r in &rows {
        let mut line = format!("  {}  {}", cell(&r[0], widths[0], num0), cell(&r[1], widths[1], num1));
        for (i, c) in r.iter().enumerate().skip(2) {
            let _ = write!(line, "  {:<w$}", c, w = widths[i]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

impl FormatLayout {
    /// Renders every item, separated by blank lines.
    pub fn render(&self) -> String {
        let mut out = format!("{}: {} endian\n", self.name, self.endian);
        for item in self.items {
            out.push('\n');
            out.push_str(&item.render(self.name));
        }
        out
    }

    /// Finds an item by name (case-insensitive).
    pub fn item(&self, name: &str) -> Option<&'static ItemLayout> {
        self.items.iter().find(|i| i.name().eq_ignore_ascii_case(name))
    }
}
