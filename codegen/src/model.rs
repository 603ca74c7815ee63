//! Checks a parsed spec and computes what the emitters need: resolved types,
//! field sizes and offsets (static where possible, as expressions otherwise).

use crate::diag::{bail, Result};
use crate::expr::{BinOp, Expr, NameKind, Rule, Scope};
use crate::ir::*;
use std::collections::HashMap;

/// What a type name of the spec refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    Enum,
    Flags,
    Bitfield,
    Struct,
    Tlv,
    Table,
}

/// The size of a field in bytes.
#[derive(Debug, Clone)]
pub enum Size {
    Fixed(u64),
    /// Depends on earlier fields (`len = ...`, `count = ...`).
    Expr(Expr),
    /// Everything up to the structure's length.
    Rest,
}

/// Computed layout of one field.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub size: Size,
    /// Offset assuming every conditional field before it is present.
    pub nominal_off: Expr,
    /// Offset as a function of the earlier fields.
    pub actual_off: Expr,
}

/// Computed layout of one structure.
#[derive(Debug, Clone)]
pub struct StructInfo {
    pub fields: Vec<FieldInfo>,
    /// Size when every field is fixed and unconditional.
    pub fixed_size: Option<u64>,
    /// Bytes taken by unconditional fixed-size fields: a lower bound of any encoding.
    pub min_size: u64,
    /// Expression for the encoded length (before `pad_to`), over the structure's fields.
    pub total: Expr,
}

/// A checked spec file.
pub struct Model<'a> {
    pub file: &'a SpecFile,
    kinds: HashMap<String, (NamedKind, usize)>,
    pub structs: HashMap<String, StructInfo>,
}

const BUILTIN_NAMES: &[&str] = &["Bytes", "Guid", "Uuid", "Str", "Utf16Le", "Utf16Be", "Vec", "Num", "Cond"];

impl<'a> Model<'a> {
    /// Checks the file and computes layouts.
    pub fn build(file: &'a SpecFile) -> Result<Model<'a>> {
        let mut kinds = HashMap::new();
        for (i, item) in file.items.iter().enumerate() {
            let name = item.name();
            if BUILTIN_NAMES.contains(&name.to_string().as_str()) || IntTy::parse(&name.to_string()).is_some() {
                bail!(name.span(), "`{name}` is a built-in type name");
            }
            let kind = match item {
                Item::Struct(_) => NamedKind::Struct,
                Item::Enum(_) => NamedKind::Enum,
                Item::Flags(_) => NamedKind::Flags,
                Item::Bitfield(_) => NamedKind::Bitfield,
                Item::Tlv(_) => NamedKind::Tlv,
                Item::Table(_) => NamedKind::Table,
            };
            if kinds.insert(name.to_string(), (kind, i)).is_some() {
                bail!(name.span(), "`{name}` is declared twice");
            }
        }
        let mut model = Model { file, kinds, structs: HashMap::new() };
        // Structures may nest; resolve sizes in dependency order, refusing cycles.
        for item in &file.items {
            if let Item::Struct(s) = item {
                model.struct_info(s, &mut vec![])?;
            }
        }
        for item in &file.items {
            match item {
                Item::Struct(s) => model.check_struct(s)?,
                Item::Bitfield(b) => model.check_bitfield(b)?,
                Item::Tlv(t) => model.check_tlv(t)?,
                Item::Table(t) => model.check_table(t)?,
                Item::Enum(_) | Item::Flags(_) => {}
            }
        }
        Ok(model)
    }

    pub fn kind(&self, name: &syn::Ident) -> Option<NamedKind> {
        self.kinds.get(&name.to_string()).map(|k| k.0)
    }

    pub fn item(&self, name: &syn::Ident) -> Option<&'a Item> {
        self.kinds.get(&name.to_string()).map(|k| &self.file.items[k.1])
    }

    pub fn enum_def(&self, name: &syn::Ident) -> Option<&'a EnumDef> {
        match self.item(name)? {
            Item::Enum(e) => Some(e),
            _ => None,
        }
    }

    pub fn bitfield_def(&self, name: &syn::Ident) -> Option<&'a BitfieldDef> {
        match self.item(name)? {
            Item::Bitfield(b) => Some(b),
            _ => None,
        }
    }

    pub fn struct_def(&self, name: &syn::Ident) -> Option<&'a StructDef> {
        match self.item(name)? {
            Item::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Size in bytes of a named type used as a field, if it has a fixed one.
    fn named_size(&mut self, name: &syn::Ident, stack: &mut Vec<String>) -> Result<u64> {
        let Some(item) = self.item(name) else { bail!(name.span(), "unknown type `{name}`") };
        match item {
            Item::Enum(e) => Ok(e.repr.bytes()),
            Item::Flags(f) => Ok(f.repr.bytes()),
            Item::Bitfield(b) => {
                if !b.params.is_empty() {
                    bail!(name.span(), "`{name}` depends on image parameters and cannot be a structure field");
                }
                Ok((b.width / 8) as u64)
            }
            Item::Struct(s) => {
                let info = self.struct_info(s, stack)?;
                match info.fixed_size.or(s.size.map(|x| x.0)) {
                    Some(n) => Ok(n),
                    None => bail!(name.span(), "`{name}` has no fixed size, so it cannot be nested; give it `size = N`"),
                }
            }
            Item::Tlv(_) | Item::Table(_) => bail!(name.span(), "`{name}` cannot be a field (tables and tlv lists are placed on their own)"),
        }
    }

    fn type_size(&mut self, ty: &FieldType, stack: &mut Vec<String>) -> Result<Option<u64>> {
        Ok(match ty {
            FieldType::Int(t) => Some(t.bytes()),
            FieldType::ByteArray(n) | FieldType::Str(n) | FieldType::Utf16(n, _) => Some(*n),
            FieldType::Guid | FieldType::Uuid => Some(16),
            FieldType::Named(n) => Some(self.named_size(n, stack)?),
            FieldType::Array(e, n) => self.type_size(e, stack)?.map(|s| s * n),
            FieldType::Unit => Some(0),
            FieldType::Bytes | FieldType::Vec(_) => None,
        })
    }

    fn struct_info(&mut self, s: &StructDef, stack: &mut Vec<String>) -> Result<StructInfo> {
        let key = s.name.to_string();
        if let Some(info) = self.structs.get(&key) {
            return Ok(info.clone());
        }
        if stack.contains(&key) {
            bail!(s.name.span(), "`{}` contains itself", s.name);
        }
        stack.push(key.clone());
        let mut fields = Vec::new();
        let mut nominal = Expr::lit(0);
        let mut actual = Expr::lit(0);
        let mut all_fixed = true;
        let mut min_size = 0u64;
        for (i, f) in s.fields.iter().enumerate() {
            let size = if f.rest {
                if !matches!(f.ty, FieldType::Bytes) {
                    bail!(f.ty_span, "`rest` is for `Bytes` fields");
                }
                if i + 1 != s.fields.len() {
                    bail!(f.name.span(), "`rest` takes everything to the end of the structure, so it must be the last field");
                }
                if s.len.is_none() && s.size.is_none() {
                    bail!(f.name.span(), "`rest` needs the structure's length: give the structure `size = N` or `len = field`");
                }
                Size::Rest
            } else {
                match &f.ty {
                    FieldType::Bytes => match &f.len {
                        Some(e) => Size::Expr(e.clone()),
                        None => bail!(f.ty_span, "a `Bytes` field needs `len = ...` or `rest`"),
                    },
                    FieldType::Vec(elem) => {
                        let Some(count) = &f.count else { bail!(f.ty_span, "a `Vec` field needs `count = ...`") };
                        let Some(es) = self.type_size(elem, stack)? else { bail!(f.ty_span, "Vec elements need a fixed size") };
                        Size::Expr(Expr::bin(BinOp::Mul, count.clone(), Expr::lit(es)))
                    }
                    other => Size::Fixed(self.type_size(other, stack)?.unwrap_or(0)),
                }
            };
            if f.len.is_some() && !matches!(f.ty, FieldType::Bytes) {
                bail!(f.name.span(), "`len` is for `Bytes` fields");
            }
            if f.count.is_some() && !matches!(f.ty, FieldType::Vec(_)) {
                bail!(f.name.span(), "`count` is for `Vec` fields");
            }
            let info = FieldInfo { size: size.clone(), nominal_off: nominal.clone(), actual_off: actual.clone() };
            if let Some((at, span)) = f.at {
                match nominal.const_eval() {
                    Some(off) if off == at => {}
                    Some(off) if off > at => bail!(
                        span,
                        "field `{}` is placed at {at} but the fields before it end at {off}: they overlap",
                        f.name
                    ),
                    Some(off) => bail!(
                        span,
                        "field `{}` is placed at {at} but the fields before it end at {off}: declare the {} bytes between",
                        f.name,
                        at - off
                    ),
                    None => bail!(span, "field `{}` follows a variable-size field, so it has no fixed offset", f.name),
                }
            }
            fields.push(info);
            let size_expr = match &size {
                Size::Fixed(n) => Expr::lit(*n),
                Size::Expr(e) => e.clone(),
                Size::Rest => Expr::lit(0),
            };
            if !matches!(size, Size::Fixed(_)) || f.when.is_some() {
                all_fixed = false;
            }
            if let (Size::Fixed(n), None) = (&size, &f.when) {
                min_size += n;
            }
            nominal = add(nominal, size_expr.clone());
            actual = match &f.when {
                Some(c) => add(actual, Expr::If(Box::new(c.clone()), Box::new(size_expr), Box::new(Expr::lit(0)))),
                None => add(actual, size_expr),
            };
        }
        let fixed_size = if all_fixed { nominal.const_eval() } else { None };
        let total = match (&s.size, &s.len) {
            (Some((n, _)), _) => Expr::lit(*n),
            (None, Some(l)) => l.clone(),
            (None, None) => actual,
        };
        stack.pop();
        let info = StructInfo { fields, fixed_size, min_size, total };
        self.structs.insert(key, info.clone());
        Ok(info)
    }

    fn check_struct(&self, s: &StructDef) -> Result<()> {
        let info = &self.structs[&s.name.to_string()];
        let mut seen: Vec<String> = Vec::new();
        for (i, f) in s.fields.iter().enumerate() {
            let name = f.name.to_string();
            if seen.contains(&name) {
                bail!(f.name.span(), "field `{name}` is declared twice");
            }
            seen.push(name);
            let earlier = FieldScope { model: self, s, upto: i };
            if let Some(m) = &f.magic {
                match (m, &f.ty) {
                    (Magic::Bytes(b), FieldType::ByteArray(n)) if b.len() as u64 == *n => {}
                    (Magic::Bytes(b), _) => bail!(f.ty_span, "a {}-byte magic needs the type `[u8; {}]`", b.len(), b.len()),
                    (Magic::Int(v), FieldType::Int(t)) => {
                        if t.bits < 64 && v >> t.bits != 0 {
                            bail!(f.ty_span, "magic {v:#x} does not fit in {}", t.name());
                        }
                    }
                    (Magic::Int(_), _) => bail!(f.ty_span, "an integer magic needs an integer type"),
                    (Magic::Alternatives(alts), FieldType::ByteArray(n)) => {
                        if let Some(b) = alts.iter().find(|b| b.len() as u64 != *n) {
                            bail!(f.ty_span, "every alternative magic must take {n} bytes (one takes {})", b.len());
                        }
                    }
                    (Magic::Alternatives(alts), _) => {
                        bail!(f.ty_span, "{}-byte magics need the type `[u8; {}]`", alts[0].len(), alts[0].len())
                    }
                }
                if f.when.is_some() || !f.rules.is_empty() || f.zero || f.reserved || f.check_if.is_some() || !f.checks.is_empty() {
                    bail!(f.name.span(), "a magic field is constant: it takes no other rules");
                }
            }
            if let Some(w) = &f.when {
                w.check_bool(&earlier, "`when`")?;
            }
            if let Some(d) = &f.default {
                if f.when.is_none() {
                    bail!(d.span(), "`default` is the value of an absent field; it needs `when`");
                }
                if d.const_eval().is_none() {
                    bail!(d.span(), "`default` must be a constant");
                }
                if !self.numeric(&f.ty) {
                    bail!(d.span(), "`default` is for numeric fields");
                }
            }
            if let Some(l) = &f.len {
                l.check_num(&earlier, "`len`")?;
            }
            if let Some(c) = &f.count {
                c.check_num(&earlier, "`count`")?;
            }
            let all = FieldScope { model: self, s, upto: s.fields.len() };
            for r in &f.rules {
                if !self.numeric(&f.ty) {
                    bail!(f.name.span(), "rules like `valid` apply to numeric fields");
                }
                for e in r.exprs() {
                    e.check_num(&all, "a rule's bound")?;
                }
            }
            if let Some(c) = &f.check_if {
                c.check_bool(&all, "`check_if`")?;
            }
            let mut names: Vec<String> = Vec::new();
            for g in &f.checks {
                if !self.numeric(&f.ty) {
                    bail!(g.name.span(), "rules like `valid` apply to numeric fields");
                }
                if names.contains(&g.name.to_string()) {
                    bail!(g.name.span(), "check `{}` is declared twice on `{}`", g.name, f.name);
                }
                names.push(g.name.to_string());
                for e in g.rules.iter().flat_map(Rule::exprs) {
                    e.check_num(&all, "a rule's bound")?;
                }
                if let Some(c) = &g.check_if {
                    c.check_bool(&all, "`check_if`")?;
                }
            }
            if f.zero && !matches!(f.ty, FieldType::Int(_) | FieldType::ByteArray(_) | FieldType::Bytes | FieldType::Guid | FieldType::Uuid) {
                bail!(f.name.span(), "`zero` applies to integers, bytes and identifiers");
            }
            if let Some(c) = &f.checksum {
                if !matches!(f.ty, FieldType::Int(IntTy { bits: 16 | 32, signed: false })) {
                    bail!(f.ty_span, "a checksum field is a u16 or u32");
                }
                if f.when.is_some() {
                    bail!(c.span, "a checksum field cannot be conditional");
                }
                if info.fields[i].nominal_off.const_eval().is_none() {
                    bail!(c.span, "a checksum field needs a fixed offset");
                }
                match &c.over {
                    Some(o) => o.check_num(&all, "`over`")?,
                    None => {
                        if s.size.is_none() && s.len.is_none() && info.fixed_size.is_none() {
                            bail!(c.span, "the checksum covers the structure, whose length is unknown: give `over = ...`");
                        }
                    }
                }
            }
        }
        if let Some(l) = &s.len {
            // `len` is read before `rest`; it may use any field before it.
            let upto = s.fields.iter().position(|f| f.rest).unwrap_or(s.fields.len());
            l.check_num(&FieldScope { model: self, s, upto }, "`len`")?;
            if s.size.is_some() {
                bail!(l.span(), "give either `size` or `len`, not both");
            }
        }
        if s.min_len.is_some() && s.len.is_none() {
            bail!(s.name.span(), "`min_len` goes with `len`");
        }
        if let (Some((n, span)), Some(fixed)) = (s.size, info.fixed_size) {
            if n != fixed {
                bail!(span, "the fields take {fixed} bytes but the structure says size = {n}");
            }
        }
        if let (Some((n, span)), None) = (s.size, info.fixed_size) {
            if info.min_size > n {
                bail!(span, "the fields take at least {} bytes but the structure says size = {n}", info.min_size);
            }
        }
        if let Some(p) = &s.placement {
            p.check_num(&PlacementScope { model: self }, "`at`")?;
        }
        for c in s.placement.iter().filter(|_| !s.copies.is_empty()).chain(&s.copies) {
            if c.const_eval().is_none() {
                bail!(c.span(), "the copies of a structure (`at = [...]`) sit at constant offsets");
            }
        }
        Ok(())
    }

    /// Whether a field's value can be used as a number.
    pub fn numeric(&self, ty: &FieldType) -> bool {
        match ty {
            FieldType::Int(_) => true,
            FieldType::Named(n) => {
                matches!(self.kind(n), Some(NamedKind::Enum | NamedKind::Flags | NamedKind::Bitfield))
            }
            _ => false,
        }
    }

    fn check_bitfield(&self, b: &BitfieldDef) -> Result<()> {
        if ![8, 16, 32, 64, 128].contains(&b.width) {
            bail!(b.name.span(), "a bitfield is u8, u16, u32, u64 or u128");
        }
        let scope = ParamScope { params: &b.params };
        let mut used: Vec<(u32, u32, String)> = Vec::new();
        for (lo, hi, span) in &b.reserved {
            if lo > hi || *hi >= b.width {
                bail!(*span, "reserved bits {lo}..={hi} are outside a {}-bit entry", b.width);
            }
            used.push((*lo, *hi, "reserved".into()));
        }
        let mut names: Vec<String> = Vec::new();
        for f in &b.fields {
            if names.contains(&f.name.to_string()) {
                bail!(f.span, "bit field `{}` is declared twice", f.name);
            }
            names.push(f.name.to_string());
            f.lo.check_num(&scope, "a bit position")?;
            f.hi.check_num(&scope, "a bit position")?;
            if let BitValue::Enum(e) = &f.value {
                if self.kind(e) != Some(NamedKind::Enum) {
                    bail!(e.span(), "`{e}` is not an enum of this spec");
                }
            }
            match (f.lo.const_eval(), f.hi.const_eval()) {
                (Some(lo), Some(hi)) => {
                    if lo > hi || hi >= b.width as u64 {
                        bail!(f.span, "bits {lo}..={hi} are outside a {}-bit entry", b.width);
                    }
                    if hi - lo + 1 > 64 {
                        bail!(f.span, "a bit field is at most 64 bits wide");
                    }
                    let (lo, hi) = (lo as u32, hi as u32);
                    if let Some(o) = used.iter().find(|u| lo <= u.1 && u.0 <= hi) {
                        bail!(f.span, "bits {lo}..={hi} overlap `{}` ({}..={})", o.2, o.0, o.1);
                    }
                    used.push((lo, hi, f.name.to_string()));
                }
                _ if b.params.is_empty() => bail!(f.span, "bit positions must be constants (or declare a `param`)"),
                _ => {}
            }
        }
        if !b.params.is_empty() && b.width > 64 {
            bail!(b.name.span(), "parameterised bitfields are at most 64 bits");
        }
        Ok(())
    }

    /// The types of a TLV list's tag and length: declared in `tlv(...)`, or
    /// those of the header structure's fields.
    pub fn tlv_types(&self, t: &TlvDef) -> Result<(IntTy, IntTy)> {
        let Some(h) = &t.header else { return Ok((t.tag, t.len)) };
        let Some(s) = self.struct_def(&h.structure) else { bail!(h.structure.span(), "`{}` is not a structure of this spec", h.structure) };
        let ty_of = |field: &syn::Ident| -> Result<IntTy> {
            match s.fields.iter().find(|f| &f.name == field) {
                Some(f) if f.when.is_some() || f.magic.is_some() => {
                    bail!(field.span(), "`{}.{field}` must be a plain, unconditional integer", h.structure)
                }
                Some(Field { ty: FieldType::Int(t), .. }) if !t.signed => Ok(*t),
                Some(_) => bail!(field.span(), "`{}.{field}` must be an unsigned integer", h.structure),
                None => bail!(field.span(), "`{}` has no field `{field}`", h.structure),
            }
        };
        Ok((ty_of(&h.tag_field)?, ty_of(&h.len_field)?))
    }

    fn check_tlv(&self, t: &TlvDef) -> Result<()> {
        let (tag_ty, _) = self.tlv_types(t)?;
        if let Some(h) = &t.header {
            if self.structs[&h.structure.to_string()].fixed_size.is_none() {
                bail!(h.structure.span(), "a tlv header needs a fixed size");
            }
            if h.tag_field == h.len_field {
                bail!(h.len_field.span(), "the tag and the length are different fields");
            }
        }
        let mut tags: Vec<u64> = Vec::new();
        let mut other = false;
        for v in &t.variants {
            if let Some(tag) = v.tag {
                if tag_ty.bits < 64 && tag >> tag_ty.bits != 0 {
                    bail!(v.span, "tag {tag:#x} does not fit in {}", tag_ty.name());
                }
            }
            match v.tag {
                Some(tag) => {
                    if tags.contains(&tag) {
                        bail!(v.span, "tag {tag:#x} is used twice");
                    }
                    tags.push(tag);
                }
                None => {
                    if other {
                        bail!(v.span, "only one variant can be `other`");
                    }
                    other = true;
                }
            }
            match &v.payload {
                Payload::Bytes => {}
                Payload::Struct(s) => {
                    if self.kind(s) != Some(NamedKind::Struct) {
                        bail!(s.span(), "`{s}` is not a structure of this spec");
                    }
                }
                Payload::Vec { elem, count } => {
                    if self.kind(elem) != Some(NamedKind::Struct) {
                        bail!(elem.span(), "`{elem}` is not a structure of this spec");
                    }
                    if self.structs[&elem.to_string()].fixed_size.is_none() {
                        bail!(elem.span(), "`{elem}` needs a fixed size to be repeated");
                    }
                    count.check_num(&LenScope, "`count`")?;
                }
            }
        }
        if !other {
            bail!(t.name.span(), "a tlv list needs an `#[spec(other)] Unknown(Bytes)` variant so that unknown tags are kept");
        }
        if let Some(p) = &t.placement {
            p.check_num(&PlacementScope { model: self }, "`at`")?;
        }
        Ok(())
    }

    fn check_table(&self, t: &TableDef) -> Result<()> {
        if let TableEntry::Bitfield(b) = &t.entry {
            match self.bitfield_def(b) {
                Some(def) if def.params.is_empty() => {}
                Some(_) => bail!(t.entry_span, "table entries cannot depend on image parameters"),
                None => bail!(t.entry_span, "`{b}` is not a bitfield of this spec"),
            }
        }
        for e in t.count.iter().chain(t.placement.iter()).chain(t.bits.iter()) {
            e.check_num(&PlacementScope { model: self }, "a table's count or placement")?;
        }
        Ok(())
    }
}

fn add(a: Expr, b: Expr) -> Expr {
    match (a.const_eval(), b.const_eval()) {
        (Some(x), Some(y)) => Expr::lit(x + y),
        (Some(0), None) => b,
        (None, Some(0)) => a,
        _ => Expr::bin(BinOp::Add, a, b),
    }
}

/// Names visible to a field's expressions: the fields before index `upto`.
struct FieldScope<'m, 'a> {
    model: &'m Model<'a>,
    s: &'m StructDef,
    upto: usize,
}

impl Scope for FieldScope<'_, '_> {
    fn var(&self, name: &syn::Ident) -> std::result::Result<NameKind, String> {
        match self.s.fields.iter().position(|f| &f.name == name) {
            None => Err(format!("`{name}` is not a field of `{}`", self.s.name)),
            Some(i) if i >= self.upto => {
                Err(format!("`{name}` is declared after this point; expressions can only use earlier fields"))
            }
            Some(i) if self.model.numeric(&self.s.fields[i].ty) => Ok(NameKind::Num),
            Some(_) => Err(format!("`{name}` is not a number")),
        }
    }

    fn path(&self, base: &syn::Ident, _: &syn::Ident) -> std::result::Result<NameKind, String> {
        Err(format!("`{base}.…` refers to another structure; fields can only use their own structure's fields"))
    }

    fn end_allowed(&self) -> bool {
        false
    }
}

/// Names visible to placements and counts: `end` and `Struct.field`.
struct PlacementScope<'m, 'a> {
    model: &'m Model<'a>,
}

impl Scope for PlacementScope<'_, '_> {
    fn var(&self, name: &syn::Ident) -> std::result::Result<NameKind, String> {
        Err(format!("`{name}`: placements and counts name fields as `Struct.field`, or use `end`"))
    }

    fn path(&self, base: &syn::Ident, field: &syn::Ident) -> std::result::Result<NameKind, String> {
        let Some(s) = self.model.struct_def(base) else { return Err(format!("`{base}` is not a structure of this spec")) };
        match s.fields.iter().find(|f| &f.name == field) {
            None => Err(format!("`{base}` has no field `{field}`")),
            Some(f) if self.model.numeric(&f.ty) => Ok(NameKind::Num),
            Some(_) => Err(format!("`{base}.{field}` is not a number")),
        }
    }

    fn end_allowed(&self) -> bool {
        true
    }
}

/// Names visible in a bitfield's bit positions: its parameters.
struct ParamScope<'p> {
    params: &'p [(syn::Ident, IntTy)],
}

impl Scope for ParamScope<'_> {
    fn var(&self, name: &syn::Ident) -> std::result::Result<NameKind, String> {
        if self.params.iter().any(|p| &p.0 == name) {
            Ok(NameKind::Num)
        } else {
            Err(format!("`{name}` is not a parameter of this bitfield; declare it with `param({name}: u32)`"))
        }
    }

    fn path(&self, base: &syn::Ident, _: &syn::Ident) -> std::result::Result<NameKind, String> {
        Err(format!("`{base}.…`: bit positions use parameters only"))
    }

    fn end_allowed(&self) -> bool {
        false
    }
}

/// Names visible in a TLV payload count: `len`.
struct LenScope;

impl Scope for LenScope {
    fn var(&self, name: &syn::Ident) -> std::result::Result<NameKind, String> {
        if name == "len" {
            Ok(NameKind::Num)
        } else {
            Err(format!("`{name}`: a payload count can only use `len`, the payload length"))
        }
    }

    fn path(&self, base: &syn::Ident, _: &syn::Ident) -> std::result::Result<NameKind, String> {
        Err(format!("`{base}.…`: a payload count can only use `len`"))
    }

    fn end_allowed(&self) -> bool {
        false
    }
}

/// Renders a rule list for layout tables.
pub fn rules_text(f: &Field) -> String {
    let mut parts: Vec<String> = f.rules.iter().map(Rule::render).collect();
    if f.zero {
        parts.push("zero".into());
    }
    if f.reserved {
        parts.push("reserved".into());
    }
    if f.rest {
        parts.push("preserved".into());
    }
    let mut text = parts.join(", ");
    if let Some(c) = &f.check_if {
        text = format!("{text} if {}", c.render());
    }
    for g in &f.checks {
        let mut t = format!("{}: {}", g.name, g.rules.iter().map(Rule::render).collect::<Vec<_>>().join(", "));
        if let Some(c) = &g.check_if {
            t = format!("{t} if {}", c.render());
        }
        text = if text.is_empty() { t } else { format!("{text}; {t}") };
    }
    text
}
