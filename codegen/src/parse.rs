//! Turns the Rust-syntax spec file (parsed by syn) into the IR.

use crate::diag::{bail, Result, SpanError};
use crate::expr::{Expr, Rule};
use crate::ir::*;
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;

/// One `key`, `key = value` or `key(...)` inside `#[spec(...)]`.
struct Attr {
    key: syn::Ident,
    value: AttrValue,
}

enum AttrValue {
    Flag,
    /// Boxed: a `syn::Expr` is several times larger than the other variants.
    Value(Box<syn::Expr>),
    List(TokenStream),
}

/// The `#[spec(...)]` attributes of one item, consumed key by key.
struct Attrs {
    attrs: Vec<Attr>,
    what: &'static str,
}

impl Attrs {
    fn from(attrs: &[syn::Attribute], what: &'static str) -> Result<Attrs> {
        let mut out = Vec::new();
        for a in attrs {
            if !a.path().is_ident("spec") {
                continue;
            }
            a.parse_nested_meta(|meta| push_meta(meta, &mut out))?;
        }
        Ok(Attrs { attrs: out, what })
    }

    /// The keys inside a list attribute such as `check(NAME, valid = ...)`.
    fn from_tokens(tokens: TokenStream, what: &'static str) -> Result<Attrs> {
        let mut out = Vec::new();
        syn::meta::parser(|meta| push_meta(meta, &mut out)).parse2(tokens)?;
        Ok(Attrs { attrs: out, what })
    }

    /// Every occurrence of a repeatable key, in order.
    fn take_all(&mut self, key: &str) -> Vec<Attr> {
        let (taken, kept) = std::mem::take(&mut self.attrs).into_iter().partition(|a| a.key == key);
        self.attrs = kept;
        taken
    }

    fn take(&mut self, key: &str) -> Option<Attr> {
        let i = self.attrs.iter().position(|a| a.key == key)?;
        Some(self.attrs.remove(i))
    }

    fn flag(&mut self, key: &str) -> Result<bool> {
        match self.take(key) {
            None => Ok(false),
            Some(Attr { value: AttrValue::Flag, .. }) => Ok(true),
            Some(a) => bail!(a.key.span(), "`{key}` takes no value"),
        }
    }

    fn value(&mut self, key: &str) -> Result<Option<syn::Expr>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr { value: AttrValue::Value(v), .. }) => Ok(Some(*v)),
            Some(a) => bail!(a.key.span(), "`{key}` needs a value: `{key} = ...`"),
        }
    }

    fn expr(&mut self, key: &str) -> Result<Option<Expr>> {
        self.value(key)?.map(|v| Expr::from_syn(&v)).transpose()
    }

    fn int(&mut self, key: &str) -> Result<Option<(u64, Span)>> {
        match self.value(key)? {
            None => Ok(None),
            Some(v) => {
                let span = v.span();
                match Expr::from_syn(&v)?.const_eval() {
                    Some(n) => Ok(Some((n, span))),
                    None => bail!(span, "`{key}` must be a constant"),
                }
            }
        }
    }

    fn ident(&mut self, key: &str) -> Result<Option<syn::Ident>> {
        match self.value(key)? {
            None => Ok(None),
            Some(syn::Expr::Path(p)) if p.path.get_ident().is_some() => Ok(p.path.get_ident().cloned()),
            Some(v) => bail!(v.span(), "`{key}` expects a name"),
        }
    }

    fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.value(key)? {
            None => Ok(None),
            Some(syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })) => Ok(Some(s.value())),
            Some(v) => bail!(v.span(), "`{key}` expects a string"),
        }
    }

    fn list(&mut self, key: &str) -> Result<Option<(TokenStream, Span)>> {
        match self.take(key) {
            None => Ok(None),
            Some(Attr { value: AttrValue::List(t), key }) => Ok(Some((t, key.span()))),
            Some(a) => bail!(a.key.span(), "`{key}` takes a list: `{key}(...)`"),
        }
    }

    /// Fails on any key that no one consumed.
    fn finish(self) -> Result<()> {
        if let Some(a) = self.attrs.first() {
            bail!(a.key.span(), "unknown spec attribute `{}` on {}", a.key, self.what);
        }
        Ok(())
    }
}

/// Keys that may appear more than once on one item.
const REPEATABLE: &[&str] = &["check"];

fn push_meta(meta: syn::meta::ParseNestedMeta, out: &mut Vec<Attr>) -> syn::Result<()> {
    let Some(key) = meta.path.get_ident().cloned() else {
        return Err(meta.error("expected a plain attribute name"));
    };
    let value = if meta.input.peek(syn::Token![=]) {
        AttrValue::Value(Box::new(meta.value()?.parse()?))
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        AttrValue::List(content.parse()?)
    } else {
        AttrValue::Flag
    };
    if !REPEATABLE.contains(&key.to_string().as_str()) && out.iter().any(|a: &Attr| a.key == key) {
        return Err(syn::Error::new(key.span(), format!("`{key}` is given twice")));
    }
    out.push(Attr { key, value });
    Ok(())
}

fn docs(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if let syn::Meta::NameValue(nv) = &a.meta {
            if nv.path.is_ident("doc") {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value {
                    lines.push(s.value().trim().to_string());
                }
            }
        }
    }
    lines.join("\n").trim().to_string()
}

fn endian_of(e: &syn::Expr) -> Result<Endian> {
    match e {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => match s.value().as_str() {
            "big" => Ok(Endian::Big),
            "little" => Ok(Endian::Little),
            _ => bail!(s.span(), "endian must be \"big\" or \"little\""),
        },
        other => bail!(other.span(), "endian must be \"big\" or \"little\""),
    }
}

fn int_ty_of(e: &syn::Expr, what: &str) -> Result<IntTy> {
    if let syn::Expr::Path(p) = e {
        if let Some(t) = p.path.get_ident().and_then(|i| IntTy::parse(&i.to_string())) {
            if !t.signed {
                return Ok(t);
            }
        }
    }
    bail!(e.span(), "{what} must be an unsigned integer type (u8, u16, u32, u64, u128)")
}

fn unknown_policy(attrs: &mut Attrs, allow_clear: bool) -> Result<UnknownPolicy> {
    let Some(id) = attrs.ident("unknown")? else { return Ok(UnknownPolicy::Reject) };
    Ok(match id.to_string().as_str() {
        "reject" => UnknownPolicy::Reject,
        "keep" | "ignore" => UnknownPolicy::Keep,
        "clear_on_write" if allow_clear => UnknownPolicy::ClearOnWrite,
        _ => bail!(
            id.span(),
            "unknown policy must be {}",
            if allow_clear { "reject, ignore or clear_on_write" } else { "reject or keep" }
        ),
    })
}

/// Parses a whole spec file.
pub fn parse_file(src: &str) -> Result<SpecFile> {
    let file = syn::parse_file(src)?;
    let mut format = None;
    let mut endian = None;
    for a in &file.attrs {
        if !a.path().is_ident("spec") {
            continue;
        }
        let mut attrs = Attrs::from(std::slice::from_ref(a), "the file")?;
        if let Some(s) = attrs.string("format")? {
            format = Some(s);
        }
        if let Some(e) = attrs.value("endian")? {
            endian = Some(endian_of(&e)?);
        }
        attrs.finish()?;
    }
    let Some(format) = format else {
        bail!(Span::call_site(), "missing `#![spec(format = \"NAME\", endian = \"big\"|\"little\")]` at the top of the file")
    };
    let Some(endian) = endian else { bail!(Span::call_site(), "missing `endian` in the file's `#![spec(...)]`") };
    let doc = docs(&file.attrs);
    let mut items = Vec::new();
    for item in &file.items {
        items.push(parse_item(item, endian)?);
    }
    Ok(SpecFile { format, endian, doc, items })
}

fn parse_item(item: &syn::Item, file_endian: Endian) -> Result<Item> {
    match item {
        syn::Item::Struct(s) => {
            let mut attrs = Attrs::from(&s.attrs, "a structure")?;
            if let Some(v) = attrs.value("flags")? {
                return parse_flags(s, attrs, &v).map(Item::Flags);
            }
            if let Some(v) = attrs.value("bitfield")? {
                return parse_bitfield(s, attrs, &v).map(Item::Bitfield);
            }
            if let Some((t, span)) = attrs.list("table")? {
                return parse_table(s, attrs, t, span, file_endian).map(Item::Table);
            }
            parse_struct(s, attrs, file_endian).map(Item::Struct)
        }
        syn::Item::Enum(e) => {
            let mut attrs = Attrs::from(&e.attrs, "an enum")?;
            if let Some((t, span)) = attrs.list("tlv")? {
                return parse_tlv(e, attrs, t, span, file_endian).map(Item::Tlv);
            }
            parse_enum(e, attrs).map(Item::Enum)
        }
        other => bail!(other.span(), "only `struct` and `enum` items may appear in a spec"),
    }
}

fn parse_struct(s: &syn::ItemStruct, mut attrs: Attrs, file_endian: Endian) -> Result<StructDef> {
    let endian = attrs.value("endian")?.map(|e| endian_of(&e)).transpose()?.unwrap_or(file_endian);
    let size = attrs.int("size")?;
    let len = attrs.expr("len")?;
    let min_len = attrs.int("min_len")?.map(|(n, _)| n);
    let pad_to = attrs.int("pad_to")?;
    // `at = [a, b, ...]` places identical copies (VHDX headers, region tables).
    let (placement, copies) = match attrs.value("at")? {
        Some(syn::Expr::Array(a)) => {
            let mut all = a.elems.iter().map(Expr::from_syn).collect::<Result<Vec<_>>>()?;
            if all.len() < 2 {
                bail!(a.span(), "a list of placements names at least two copies: `at = [0x10000, 0x20000]`");
            }
            let first = all.remove(0);
            (Some(first), all)
        }
        Some(v) => (Some(Expr::from_syn(&v)?), Vec::new()),
        None => (None, Vec::new()),
    };
    let magic = attrs.value("magic")?;
    attrs.finish()?;
    let syn::Fields::Named(named) = &s.fields else { bail!(s.span(), "a structure needs named fields") };
    let mut fields = Vec::new();
    if let Some(m) = magic {
        // Struct-level magic is shorthand for a leading field called `magic`.
        let magic = parse_magic(&m)?;
        let len = match &magic {
            Magic::Bytes(b) => b.len() as u64,
            Magic::Alternatives(alts) => alts[0].len() as u64,
            Magic::Int(_) => bail!(m.span(), "a structure-level magic must be a byte string; put integer magics on a field"),
        };
        fields.push(Field {
            name: syn::Ident::new("magic", m.span()),
            doc: "Identifies the structure.".into(),
            ty: FieldType::ByteArray(len),
            ty_span: m.span(),
            magic: Some(magic),
            when: None,
            default: None,
            len: None,
            count: None,
            rest: false,
            reserved: false,
            zero: false,
            rules: vec![],
            msg: None,
            check_if: None,
            checks: vec![],
            at: None,
            endian: None,
            checksum: None,
        });
    }
    for f in &named.named {
        fields.push(parse_field(f)?);
    }
    if let Some((0, span)) = pad_to {
        bail!(span, "pad_to must be at least 1");
    }
    Ok(StructDef { name: s.ident.clone(), doc: docs(&s.attrs), endian, size, len, min_len, pad_to: pad_to.map(|p| p.0), placement, copies, fields })
}

fn parse_magic(v: &syn::Expr) -> Result<Magic> {
    match v {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::ByteStr(b), .. }) => Ok(Magic::Bytes(b.value())),
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => Ok(Magic::Int(i.base10_parse()?)),
        syn::Expr::Array(a) => {
            let mut alts = Vec::new();
            for e in &a.elems {
                match parse_magic(e)? {
                    Magic::Bytes(b) => alts.push(b),
                    _ => bail!(e.span(), "magic alternatives are byte strings: `magic = [b\"...\", b\"...\"]`"),
                }
            }
            if alts.len() < 2 {
                bail!(a.span(), "a list of magics names at least two alternatives");
            }
            Ok(Magic::Alternatives(alts))
        }
        other => bail!(other.span(), "a magic is a byte string (b\"QFI\\xfb\"), an integer, or a list of byte strings"),
    }
}

fn parse_type(t: &syn::Type) -> Result<FieldType> {
    match t {
        syn::Type::Tuple(tu) if tu.elems.is_empty() => Ok(FieldType::Unit),
        syn::Type::Array(a) => {
            let n = match Expr::from_syn(&a.len)?.const_eval() {
                Some(n) => n,
                None => bail!(a.len.span(), "array length must be a constant"),
            };
            match parse_type(&a.elem)? {
                FieldType::Int(IntTy { bits: 8, signed: false }) => Ok(FieldType::ByteArray(n)),
                e @ (FieldType::Int(_) | FieldType::Named(_) | FieldType::Guid | FieldType::Uuid) => {
                    Ok(FieldType::Array(Box::new(e), n))
                }
                _ => bail!(a.elem.span(), "array elements must be integers or types of this spec"),
            }
        }
        syn::Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let seg = &p.path.segments[0];
            let name = seg.ident.to_string();
            let generic = || -> Result<syn::GenericArgument> {
                match &seg.arguments {
                    syn::PathArguments::AngleBracketed(a) if a.args.len() == 1 => Ok(a.args[0].clone()),
                    _ => bail!(seg.span(), "`{name}` takes one argument: `{name}<...>`"),
                }
            };
            let const_arg = || -> Result<u64> {
                match generic()? {
                    syn::GenericArgument::Const(e) => match Expr::from_syn(&e)?.const_eval() {
                        Some(n) => Ok(n),
                        None => bail!(e.span(), "expected a constant length"),
                    },
                    other => bail!(other.span(), "expected a constant length"),
                }
            };
            if let Some(int) = IntTy::parse(&name) {
                if !matches!(seg.arguments, syn::PathArguments::None) {
                    bail!(seg.span(), "integer types take no arguments");
                }
                if int.bits == 128 {
                    bail!(seg.span(), "128-bit fields are only allowed in bitfields");
                }
                return Ok(FieldType::Int(int));
            }
            Ok(match name.as_str() {
                "Bytes" => FieldType::Bytes,
                "Guid" => FieldType::Guid,
                "Uuid" => FieldType::Uuid,
                "Str" => FieldType::Str(const_arg()?),
                "Utf16Le" => FieldType::Utf16(const_arg()?, Endian::Little),
                "Utf16Be" => FieldType::Utf16(const_arg()?, Endian::Big),
                "Vec" => match generic()? {
                    syn::GenericArgument::Type(t) => match parse_type(&t)? {
                        e @ (FieldType::Named(_) | FieldType::Int(_) | FieldType::Guid | FieldType::Uuid) => {
                            FieldType::Vec(Box::new(e))
                        }
                        _ => bail!(t.span(), "Vec elements must be integers or types of this spec"),
                    },
                    other => bail!(other.span(), "expected an element type"),
                },
                _ => {
                    if !matches!(seg.arguments, syn::PathArguments::None) {
                        bail!(seg.span(), "unknown generic type `{name}`");
                    }
                    FieldType::Named(seg.ident.clone())
                }
            })
        }
        other => bail!(other.span(), "unsupported field type"),
    }
}

fn parse_field(f: &syn::Field) -> Result<Field> {
    let name = f.ident.clone().ok_or_else(|| SpanError::new(f.span(), "fields must be named"))?;
    let mut attrs = Attrs::from(&f.attrs, "a field")?;
    let ty = parse_type(&f.ty)?;
    let magic = attrs.value("magic")?.map(|m| parse_magic(&m)).transpose()?;
    let when = attrs.expr("when")?;
    let default = attrs.expr("default")?;
    let len = attrs.expr("len")?;
    let count = attrs.expr("count")?;
    let rest = attrs.flag("rest")?;
    // `preserve` documents that unknown bytes are kept on rewrite; every byte field is.
    let _ = attrs.flag("preserve")?;
    let reserved = attrs.flag("reserved")?;
    let zero = attrs.flag("zero")?;
    let (rules, msg, check_if) = take_rules(&mut attrs)?;
    let checks = attrs.take_all("check").into_iter().map(parse_check_group).collect::<Result<Vec<_>>>()?;
    let at = attrs.int("at")?;
    let endian = attrs.value("endian")?.map(|e| endian_of(&e)).transpose()?;
    let checksum = match attrs.ident("checksum")? {
        None => None,
        Some(id) => {
            let kind = match id.to_string().as_str() {
                "ones_complement" => ChecksumKind::OnesComplement,
                "crc32c" => ChecksumKind::Crc32c,
                _ => bail!(id.span(), "unknown checksum (known: ones_complement, crc32c)"),
            };
            Some(Checksum { kind, over: attrs.expr("over")?, span: id.span() })
        }
    };
    attrs.finish()?;
    Ok(Field {
        doc: docs(&f.attrs),
        ty_span: f.ty.span(),
        name,
        ty,
        magic,
        when,
        default,
        len,
        count,
        rest,
        reserved,
        zero,
        rules,
        msg,
        check_if,
        checks,
        at,
        endian,
        checksum,
    })
}

/// Takes the rule keys (`valid`, `align`, `multiple_of`, `power_of_two`), `msg`
/// and `check_if`, shared by fields and their `check(...)` groups.
fn take_rules(attrs: &mut Attrs) -> Result<(Vec<Rule>, Option<String>, Option<Expr>)> {
    let mut rules = Vec::new();
    if let Some(v) = attrs.value("valid")? {
        rules.push(Rule::valid_from_syn(&v)?);
    }
    if let Some(e) = attrs.expr("align")? {
        rules.push(Rule::Align(e));
    }
    if let Some(e) = attrs.expr("multiple_of")? {
        rules.push(Rule::MultipleOf(e));
    }
    if let Some(a) = attrs.take("power_of_two") {
        if !matches!(a.value, AttrValue::Flag) {
            bail!(a.key.span(), "`power_of_two` takes no value");
        }
        rules.push(Rule::PowerOfTwo);
    }
    let msg = attrs.string("msg")?;
    let check_if = attrs.expr("check_if")?;
    Ok((rules, msg, check_if))
}

/// `check(NAME, rule..., msg = "...", check_if = cond)`.
fn parse_check_group(a: Attr) -> Result<CheckGroup> {
    let AttrValue::List(tokens) = a.value else { bail!(a.key.span(), "`check` takes a list: `check(NAME, valid = ..., msg = \"...\")`") };
    let split = |input: syn::parse::ParseStream| -> syn::Result<(syn::Ident, TokenStream)> {
        let name: syn::Ident = input.parse()?;
        if !input.is_empty() {
            input.parse::<syn::Token![,]>()?;
        }
        Ok((name, input.parse()?))
    };
    let (name, rest) = split.parse2(tokens)?;
    let mut attrs = Attrs::from_tokens(rest, "a check")?;
    let (rules, msg, check_if) = take_rules(&mut attrs)?;
    attrs.finish()?;
    if rules.is_empty() {
        bail!(name.span(), "check `{name}` needs a rule (`valid`, `align`, `multiple_of` or `power_of_two`)");
    }
    Ok(CheckGroup { name, rules, msg, check_if })
}

fn parse_enum(e: &syn::ItemEnum, mut attrs: Attrs) -> Result<EnumDef> {
    let repr = match attrs.value("repr")? {
        Some(v) => int_ty_of(&v, "repr")?,
        None => bail!(e.ident.span(), "an enum needs `#[spec(repr = u8|u16|u32|u64)]`"),
    };
    let unknown = unknown_policy(&mut attrs, false)?;
    attrs.finish()?;
    let mut variants = Vec::new();
    for v in &e.variants {
        if !matches!(v.fields, syn::Fields::Unit) {
            bail!(v.span(), "enum variants carry no data (use a tlv enum for tagged payloads)");
        }
        let Some((_, d)) = &v.discriminant else { bail!(v.span(), "every variant needs a value: `Name = 1`") };
        let Some(value) = Expr::from_syn(d)?.const_eval() else { bail!(d.span(), "variant values must be constants") };
        if repr.bits < 64 && value >> repr.bits != 0 {
            bail!(d.span(), "value {value} does not fit in {}", repr.name());
        }
        if variants.iter().any(|x: &Variant| x.value == value) {
            bail!(d.span(), "value {value} is used twice");
        }
        if v.ident == "Unknown" {
            bail!(v.ident.span(), "`Unknown` is reserved for values the spec does not name");
        }
        Attrs::from(&v.attrs, "a variant")?.finish()?;
        variants.push(Variant { name: v.ident.clone(), doc: docs(&v.attrs), value });
    }
    Ok(EnumDef { name: e.ident.clone(), doc: docs(&e.attrs), repr, unknown, variants })
}

fn parse_flags(s: &syn::ItemStruct, mut attrs: Attrs, repr: &syn::Expr) -> Result<FlagsDef> {
    let repr = int_ty_of(repr, "flags")?;
    let unknown = unknown_policy(&mut attrs, true)?;
    attrs.finish()?;
    let mut flags = Vec::new();
    for f in &s.fields {
        let name = f.ident.clone().ok_or_else(|| SpanError::new(f.span(), "flags must be named"))?;
        let mut fa = Attrs::from(&f.attrs, "a flag")?;
        let Some((bit, span)) = fa.int("bit")? else { bail!(name.span(), "a flag needs `#[spec(bit = N)]`") };
        fa.finish()?;
        if !matches!(&f.ty, syn::Type::Path(p) if p.path.is_ident("bool")) {
            bail!(f.ty.span(), "flags are `bool`");
        }
        if bit >= repr.bits as u64 {
            bail!(span, "bit {bit} is outside a {}", repr.name());
        }
        if let Some(other) = flags.iter().find(|x: &&Flag| x.bit as u64 == bit) {
            bail!(span, "bit {bit} is already `{}`", other.name);
        }
        flags.push(Flag { name, doc: docs(&f.attrs), bit: bit as u32 });
    }
    Ok(FlagsDef { name: s.ident.clone(), doc: docs(&s.attrs), repr, unknown, flags })
}

/// Parses `a..=b`, `a..b` or a single bit `n` into inclusive bounds.
fn bit_range(e: &syn::Expr) -> Result<(Expr, Expr)> {
    match e {
        syn::Expr::Range(r) => {
            let (Some(lo), Some(hi)) = (&r.start, &r.end) else { bail!(r.span(), "bit ranges need both ends") };
            let lo = Expr::from_syn(lo)?;
            let hi = Expr::from_syn(hi)?;
            let hi = match r.limits {
                syn::RangeLimits::Closed(_) => hi,
                syn::RangeLimits::HalfOpen(_) => Expr::bin(crate::expr::BinOp::Sub, hi, Expr::lit(1)),
            };
            Ok((lo, hi))
        }
        other => {
            let b = Expr::from_syn(other)?;
            Ok((b.clone(), b))
        }
    }
}

fn parse_bitfield(s: &syn::ItemStruct, mut attrs: Attrs, width: &syn::Expr) -> Result<BitfieldDef> {
    let width = int_ty_of(width, "bitfield")?.bits;
    let mut params = Vec::new();
    if let Some((tokens, _)) = attrs.list("param")? {
        let parser = |input: syn::parse::ParseStream| {
            let mut out = Vec::new();
            while !input.is_empty() {
                let name: syn::Ident = input.parse()?;
                input.parse::<syn::Token![:]>()?;
                let ty: syn::Ident = input.parse()?;
                let Some(t) = IntTy::parse(&ty.to_string()) else {
                    return Err(syn::Error::new(ty.span(), "parameters are integers"));
                };
                out.push((name, t));
                if !input.is_empty() {
                    input.parse::<syn::Token![,]>()?;
                }
            }
            Ok(out)
        };
        params = parser.parse2(tokens)?;
    }
    attrs.finish()?;
    let mut fields = Vec::new();
    let mut reserved = Vec::new();
    for f in &s.fields {
        let name = f.ident.clone().ok_or_else(|| SpanError::new(f.span(), "bit fields must be named"))?;
        let mut fa = Attrs::from(&f.attrs, "a bit field")?;
        if let Some(v) = fa.value("reserved")? {
            fa.finish()?;
            let ranges: Vec<&syn::Expr> = match &v {
                syn::Expr::Array(a) => a.elems.iter().collect(),
                other => vec![other],
            };
            for r in ranges {
                let (lo, hi) = bit_range(r)?;
                let (Some(lo), Some(hi)) = (lo.const_eval(), hi.const_eval()) else {
                    bail!(r.span(), "reserved bits must be constant")
                };
                reserved.push((lo as u32, hi as u32, r.span()));
            }
            continue;
        }
        let (lo, hi, single) = if let Some(b) = fa.value("bit")? {
            let e = Expr::from_syn(&b)?;
            (e.clone(), e, true)
        } else if let Some(r) = fa.value("bits")? {
            let (lo, hi) = bit_range(&r)?;
            (lo, hi, false)
        } else {
            bail!(name.span(), "a bit field needs `bit = N`, `bits = A..=B` or `reserved = [...]`")
        };
        let in_place = fa.flag("in_place")?;
        fa.finish()?;
        let value = match &f.ty {
            syn::Type::Path(p) if p.path.is_ident("bool") => {
                if !single {
                    bail!(f.ty.span(), "a `bool` takes one bit: `bit = N`");
                }
                if in_place {
                    bail!(name.span(), "`in_place` is for multi-bit numbers");
                }
                BitValue::Bool
            }
            syn::Type::Path(p) if p.path.get_ident().and_then(|i| IntTy::parse(&i.to_string())).is_some() => {
                BitValue::Uint { in_place }
            }
            syn::Type::Path(p) if p.path.get_ident().is_some() => {
                if in_place {
                    bail!(name.span(), "`in_place` is for numbers");
                }
                BitValue::Enum(p.path.get_ident().cloned().unwrap_or_else(|| name.clone()))
            }
            other => bail!(other.span(), "bit fields are `bool`, an unsigned integer, or an enum of this spec"),
        };
        fields.push(BitField { name: name.clone(), doc: docs(&f.attrs), lo, hi, value, span: name.span() });
    }
    Ok(BitfieldDef { name: s.ident.clone(), doc: docs(&s.attrs), width, params, fields, reserved })
}

fn parse_tlv(e: &syn::ItemEnum, mut attrs: Attrs, tokens: TokenStream, span: Span, file_endian: Endian) -> Result<TlvDef> {
    let placement = attrs.expr("at")?;
    let endian = attrs.value("endian")?.map(|e| endian_of(&e)).transpose()?.unwrap_or(file_endian);
    attrs.finish()?;
    let metas = syn::punctuated::Punctuated::<syn::MetaNameValue, syn::Token![,]>::parse_terminated.parse2(tokens)?;
    let (mut tag, mut len, mut header, mut align, mut end) = (None, None, None, 1u64, 0u64);
    for m in &metas {
        let key = m.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        match key.as_str() {
            "tag" => tag = Some(&m.value),
            "len" => len = Some(&m.value),
            "header" => header = Some(&m.value),
            "align" | "end" => {
                let Some(v) = Expr::from_syn(&m.value)?.const_eval() else { bail!(m.value.span(), "`{key}` must be a constant") };
                if key == "align" {
                    if v == 0 {
                        bail!(m.value.span(), "align must be at least 1");
                    }
                    align = v;
                } else {
                    end = v;
                }
            }
            _ => bail!(m.path.span(), "unknown tlv option (known: tag, len, header, align, end)"),
        }
    }
    let (Some(tag), Some(len)) = (tag, len) else { bail!(span, "tlv needs `tag = uN` and `len = uN`") };
    let name_of = |e: &syn::Expr, what: &str| -> Result<syn::Ident> {
        if let syn::Expr::Path(p) = e {
            if let Some(id) = p.path.get_ident() {
                return Ok(id.clone());
            }
        }
        bail!(e.span(), "with `header`, `{what}` names a structure or a field of it")
    };
    // With a header structure, `tag` and `len` name its fields; their types are the header's.
    let (tag, len, header) = match header {
        Some(h) => {
            let structure = name_of(h, "header")?;
            let header = TlvHeader { structure, tag_field: name_of(tag, "tag")?, len_field: name_of(len, "len")? };
            let u64_ty = IntTy { bits: 64, signed: false };
            (u64_ty, u64_ty, Some(header))
        }
        None => (int_ty_of(tag, "tag")?, int_ty_of(len, "len")?, None),
    };
    let mut variants = Vec::new();
    for v in &e.variants {
        let mut va = Attrs::from(&v.attrs, "a tlv variant")?;
        let other = va.flag("other")?;
        let vtag = va.int("tag")?;
        va.finish()?;
        let tag_value = match (other, vtag) {
            (true, None) => None,
            (false, Some((t, s))) => {
                if tag.bits < 64 && t >> tag.bits != 0 {
                    bail!(s, "tag {t:#x} does not fit in {}", tag.name());
                }
                if t == end {
                    bail!(s, "tag {t:#x} is the end marker");
                }
                Some(t)
            }
            _ => bail!(v.span(), "a tlv variant needs exactly one of `tag = N` or `other`"),
        };
        let syn::Fields::Unnamed(fields) = &v.fields else { bail!(v.span(), "a tlv variant has one payload: `Name(Type)`") };
        if fields.unnamed.len() != 1 {
            bail!(v.span(), "a tlv variant has one payload");
        }
        let pf = &fields.unnamed[0];
        let mut pa = Attrs::from(&pf.attrs, "a tlv payload")?;
        let count = pa.expr("count")?;
        pa.finish()?;
        let payload = match (parse_type(&pf.ty)?, count) {
            (FieldType::Bytes, None) => Payload::Bytes,
            (FieldType::Named(n), None) => Payload::Struct(n),
            (FieldType::Vec(elem), Some(count)) => match *elem {
                FieldType::Named(n) => Payload::Vec { elem: n, count },
                _ => bail!(pf.ty.span(), "Vec payloads hold structures"),
            },
            (FieldType::Vec(_), None) => bail!(pf.ty.span(), "a Vec payload needs `#[spec(count = ...)]` (it may use `len`)"),
            _ => bail!(pf.ty.span(), "a payload is `Bytes`, a structure, or `Vec<Structure>` with a count"),
        };
        if other && !matches!(payload, Payload::Bytes) {
            bail!(pf.ty.span(), "the `other` variant keeps raw `Bytes`");
        }
        variants.push(TlvVariant { name: v.ident.clone(), doc: docs(&v.attrs), tag: tag_value, payload, span: v.span() });
    }
    Ok(TlvDef { name: e.ident.clone(), doc: docs(&e.attrs), tag, len, header, align, end, endian, placement, variants })
}

fn parse_table(s: &syn::ItemStruct, attrs: Attrs, tokens: TokenStream, span: Span, file_endian: Endian) -> Result<TableDef> {
    attrs.finish()?;
    if !matches!(s.fields, syn::Fields::Unit) {
        bail!(s.span(), "a table is declared as a unit struct: `pub struct L2Table;`");
    }
    let metas = syn::punctuated::Punctuated::<syn::MetaNameValue, syn::Token![,]>::parse_terminated.parse2(tokens)?;
    let (mut entry, mut entry_span, mut endian, mut count, mut placement, mut bits) = (None, span, file_endian, None, None, None);
    for m in &metas {
        let key = m.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        match key.as_str() {
            "entry" => {
                entry_span = m.value.span();
                let syn::Expr::Path(p) = &m.value else { bail!(m.value.span(), "entry must be a type name") };
                let Some(id) = p.path.get_ident() else { bail!(m.value.span(), "entry must be a type name") };
                entry = Some(match IntTy::parse(&id.to_string()) {
                    Some(t) if !t.signed => TableEntry::Int(t),
                    Some(_) => bail!(id.span(), "table entries are unsigned"),
                    None => TableEntry::Bitfield(id.clone()),
                });
            }
            "endian" => endian = endian_of(&m.value)?,
            "count" => count = Some(Expr::from_syn(&m.value)?),
            "at" => placement = Some(Expr::from_syn(&m.value)?),
            "bits" => bits = Some(Expr::from_syn(&m.value)?),
            _ => bail!(m.path.span(), "unknown table option (known: entry, endian, count, at, bits)"),
        }
    }
    let Some(entry) = entry else { bail!(span, "a table needs `entry = Type`") };
    if bits.is_some() && !matches!(entry, TableEntry::Int(IntTy { bits: 64, .. })) {
        bail!(entry_span, "a packed table (`bits = ...`) has `entry = u64`: its entries are read as numbers of up to 64 bits");
    }
    Ok(TableDef { name: s.ident.clone(), doc: docs(&s.attrs), entry, entry_span, endian, count, placement, bits })
}
