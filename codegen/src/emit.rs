//! Emits Rust for a checked spec: binrw structures, modular-bitfield entries,
//! enums, flag sets, TLV lists, tables, constants, validation and layout tables.

use crate::diag::{bail, Result};
use crate::expr::{EmitCtx, Expr};
use crate::ir::*;
use crate::model::{rules_text, Model, NamedKind, Size};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote};

fn lit_usize(n: u64) -> Literal {
    Literal::usize_unsuffixed(n as usize)
}

fn int_lit(v: u64, t: IntTy) -> TokenStream {
    let l = match (t.bits, t.signed) {
        (8, false) => Literal::u8_suffixed(v as u8),
        (16, false) => Literal::u16_suffixed(v as u16),
        (32, false) => Literal::u32_suffixed(v as u32),
        (64, false) => Literal::u64_suffixed(v),
        (128, false) => Literal::u128_suffixed(v as u128),
        (8, true) => Literal::i8_suffixed(v as i8),
        (16, true) => Literal::i16_suffixed(v as i16),
        (32, true) => Literal::i32_suffixed(v as i32),
        _ => Literal::i64_suffixed(v as i64),
    };
    quote!(#l)
}

fn int_ident(t: IntTy) -> syn::Ident {
    format_ident!("{}", t.name())
}

/// `e as to` for an `e` of type `from`, or `e` alone when the types are the
/// same (a cast to the same type is noise). `e` must bind tighter than `as`.
fn cast(e: TokenStream, from: IntTy, to: IntTy) -> TokenStream {
    if from == to {
        e
    } else {
        let to = int_ident(to);
        quote!(#e as #to)
    }
}

/// `e` (of type `from`) as a `u64`, the type errors and expressions use.
fn to_u64(e: TokenStream, from: IntTy) -> TokenStream {
    cast(e, from, IntTy::U64)
}

fn endian_tokens(e: Endian) -> TokenStream {
    match e {
        Endian::Big => quote!(::binrw::Endian::Big),
        Endian::Little => quote!(::binrw::Endian::Little),
    }
}

fn endian_word(e: Endian) -> TokenStream {
    match e {
        Endian::Big => quote!(big),
        Endian::Little => quote!(little),
    }
}

fn doc_attr(doc: &str) -> TokenStream {
    if doc.is_empty() {
        quote!()
    } else {
        quote!(#[doc = #doc])
    }
}

fn upper(s: &str) -> syn::Ident {
    format_ident!("{}", s.trim_start_matches('_').to_ascii_uppercase())
}

fn render_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for c in b {
        if c.is_ascii_graphic() || *c == b' ' {
            s.push(*c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s.push('"');
    s
}

fn render_magic(m: &Magic) -> String {
    match m {
        Magic::Bytes(b) => format!("= {}", render_bytes(b)),
        Magic::Int(v) => format!("= {v:#x}"),
        Magic::Alternatives(alts) => format!("= {}", alts.iter().map(|b| render_bytes(b)).collect::<Vec<_>>().join(" | ")),
    }
}

/// Emits the whole module for one spec file.
pub fn emit_file(m: &Model) -> Result<TokenStream> {
    let mut out = TokenStream::new();
    let mut layouts = Vec::new();
    for item in &m.file.items {
        let name = item.name();
        match item {
            Item::Struct(s) => {
                out.extend(emit_struct(m, s)?);
                layouts.push(quote!(crate::rt::ItemLayout::Struct(&#name::LAYOUT)));
            }
            Item::Enum(e) => {
                out.extend(emit_enum(m, e));
                layouts.push(quote!(crate::rt::ItemLayout::Enum(&#name::LAYOUT)));
            }
            Item::Flags(f) => {
                out.extend(emit_flags(m, f));
                layouts.push(quote!(crate::rt::ItemLayout::Flags(&#name::LAYOUT)));
            }
            Item::Bitfield(b) => {
                out.extend(emit_bitfield(m, b)?);
                layouts.push(quote!(crate::rt::ItemLayout::Bitfield(&#name::LAYOUT)));
            }
            Item::Tlv(t) => {
                out.extend(emit_tlv(m, t)?);
                layouts.push(quote!(crate::rt::ItemLayout::Tlv(&#name::LAYOUT)));
            }
            Item::Table(t) => {
                out.extend(emit_table(m, t)?);
                layouts.push(quote!(crate::rt::ItemLayout::Table(&#name::LAYOUT)));
            }
        }
    }
    let fmt = &m.file.format;
    let doc = &m.file.doc;
    let endian = match m.file.endian {
        Endian::Big => "big",
        Endian::Little => "little",
    };
    out.extend(quote! {
        /// Every item of this spec, for `qimg spec` and the layout snapshots.
        pub const FORMAT: crate::rt::FormatLayout = crate::rt::FormatLayout {
            name: #fmt,
            doc: #doc,
            endian: #endian,
            items: &[#(#layouts),*],
        };
    });
    Ok(out)
}

/// Emits a `file_offset` function or constant for a placement expression.
fn emit_placement(p: &Option<Expr>) -> TokenStream {
    let Some(p) = p else { return quote!() };
    let text = format!("Where this sits in the file: `{}`.", p.render());
    if let Some(v) = p.const_eval() {
        return quote! {
            #[doc = #text]
            pub const FILE_OFFSET: u64 = #v;
        };
    }
    let mut bases = Vec::new();
    p.path_bases(&mut bases);
    let mut args: Vec<TokenStream> = bases
        .iter()
        .map(|b| {
            let a = format_ident!("{}", crate::expr::to_snake(&b.to_string()));
            quote!(#a: &#b)
        })
        .collect();
    if p.uses_end() {
        args.push(quote!(file_len: u64));
    }
    let body = p.emit(&EmitCtx::fields_bare());
    quote! {
        #[doc = #text]
        pub fn file_offset(#(#args),*) -> Option<u64> {
            #body.get()
        }
    }
}

fn placement_text(p: &Option<Expr>) -> String {
    p.as_ref().map(Expr::render).unwrap_or_default()
}

/// Rust type of a structure field.
fn field_rust_type(ty: &FieldType) -> TokenStream {
    match ty {
        FieldType::Int(t) => {
            let i = int_ident(*t);
            quote!(#i)
        }
        FieldType::ByteArray(n) => {
            let n = lit_usize(*n);
            quote!([u8; #n])
        }
        FieldType::Bytes => quote!(Vec<u8>),
        FieldType::Str(n) => {
            let n = lit_usize(*n);
            quote!(crate::rt::FixedStr<#n>)
        }
        FieldType::Utf16(n, e) => {
            let n = lit_usize(*n);
            let big = *e == Endian::Big;
            quote!(crate::rt::Utf16Str<#n, #big>)
        }
        FieldType::Guid => quote!(crate::rt::Guid),
        FieldType::Uuid => quote!(crate::rt::Uuid),
        FieldType::Named(n) => quote!(#n),
        FieldType::Array(e, n) => {
            let e = field_rust_type(e);
            let n = lit_usize(*n);
            quote!([#e; #n])
        }
        FieldType::Vec(e) => {
            let e = field_rust_type(e);
            quote!(Vec<#e>)
        }
        FieldType::Unit => quote!(()),
    }
}

fn type_text(m: &Model, ty: &FieldType) -> String {
    match ty {
        FieldType::Int(t) => t.name(),
        FieldType::ByteArray(n) => format!("[u8; {n}]"),
        FieldType::Bytes => "bytes".into(),
        FieldType::Str(n) => format!("str[{n}]"),
        FieldType::Utf16(n, e) => format!("utf16{}[{n}]", e.short()),
        FieldType::Guid => "guid".into(),
        FieldType::Uuid => "uuid".into(),
        FieldType::Named(n) => match m.item(n) {
            Some(Item::Enum(e)) => format!("{n}({})", e.repr.name()),
            Some(Item::Flags(f)) => format!("{n}({})", f.repr.name()),
            Some(Item::Bitfield(b)) => format!("{n}(u{})", b.width),
            _ => n.to_string(),
        },
        FieldType::Array(e, n) => format!("[{}; {n}]", type_text(m, e)),
        FieldType::Vec(e) => format!("Vec<{}>", type_text(m, e)),
        FieldType::Unit => "()".into(),
    }
}

/// Whether a type's byte order matters (for the layout table).
fn has_endian(m: &Model, ty: &FieldType) -> bool {
    match ty {
        FieldType::Int(t) => t.bits > 8,
        FieldType::Named(n) => match m.item(n) {
            Some(Item::Enum(e)) => e.repr.bits > 8,
            Some(Item::Flags(f)) => f.repr.bits > 8,
            Some(Item::Bitfield(b)) => b.width > 8,
            _ => false,
        },
        FieldType::Array(e, _) | FieldType::Vec(e) => has_endian(m, e),
        _ => false,
    }
}

fn default_value(f: &Field) -> TokenStream {
    let ty = field_rust_type(&f.ty);
    if let Some(d) = f.default.as_ref().and_then(Expr::const_eval) {
        return match &f.ty {
            FieldType::Int(t) => int_lit(d, *t),
            _ => quote!(<#ty as crate::rt::FromNum>::from_num(#d)),
        };
    }
    match &f.ty {
        FieldType::Int(t) => int_lit(0, *t),
        FieldType::ByteArray(n) => {
            let n = lit_usize(*n);
            quote!([0u8; #n])
        }
        FieldType::Array(..) => quote!(::core::array::from_fn(|_| Default::default())),
        FieldType::Bytes | FieldType::Vec(_) => quote!(Vec::new()),
        FieldType::Unit => quote!(()),
        _ => quote!(Default::default()),
    }
}

/// Whether `#[derive(Default)]` gives a field the value [`default_value`]
/// spells out: a constant magic (stored as `()`), or a field without
/// alternative magics or an explicit default other than 0 whose type's
/// `Default` is all zeros or empty (arrays have one only up to 32 elements).
fn default_is_derivable(f: &Field) -> bool {
    match &f.magic {
        Some(Magic::Alternatives(_)) => return false,
        Some(Magic::Bytes(_) | Magic::Int(_)) => return true,
        None => {}
    }
    if let Some(d) = &f.default {
        return matches!(f.ty, FieldType::Int(_)) && d.const_eval() == Some(0);
    }
    match &f.ty {
        FieldType::ByteArray(n) | FieldType::Array(_, n) => *n <= 32,
        _ => true,
    }
}

/// The `Default` of a structure whose fields take `values`: `None` when
/// `#[derive(Default)]` does the same, else an `impl` listing each value.
fn struct_default_impl(s: &StructDef, values: &[TokenStream]) -> Option<TokenStream> {
    if s.fields.iter().all(default_is_derivable) {
        return None;
    }
    let name = &s.name;
    let fields = s.fields.iter().map(|f| &f.name);
    Some(quote! {
        impl Default for #name {
            fn default() -> Self {
                Self { #(#fields: #values,)* }
            }
        }
    })
}

fn emit_struct(m: &Model, s: &StructDef) -> Result<TokenStream> {
    let info = &m.structs[&s.name.to_string()];
    let name = &s.name;
    let item = format!("{}::{}", m.file.format, s.name);
    let endian = endian_tokens(s.endian);
    let struct_endian = endian_word(s.endian);
    let bare = EmitCtx::fields_bare();
    let on_self = EmitCtx::fields_on_self();
    let total_bare = info.total.emit_arg(&bare);
    let total_self = info.total.emit(&on_self);

    let mut fields = Vec::new();
    let mut defaults = Vec::new();
    let mut consts = Vec::new();
    let mut checks = Vec::new();
    let mut check_calls = Vec::new();
    let mut consistency = Vec::new();
    let mut layout_rows = Vec::new();
    let mut prepare = Vec::new();
    let mut checksum_fns = TokenStream::new();
    let mut has_checksum = false;

    for (i, f) in s.fields.iter().enumerate() {
        let fname = &f.name;
        let fname_str = fname.to_string();
        let fi = &info.fields[i];
        let doc = doc_attr(&f.doc);
        let mut attrs = TokenStream::new();
        // A single magic is a constant (`()`); alternatives keep the bytes read.
        let constant_magic = matches!(f.magic, Some(Magic::Bytes(_) | Magic::Int(_)));
        let ty = if constant_magic { quote!(()) } else { field_rust_type(&f.ty) };
        let present = f.when.as_ref().map(|w| w.emit_arg(&bare));
        let present_self = f.when.as_ref().map(|w| w.emit_arg(&on_self));

        if let Some(c) = &present {
            let dv = default_value(f);
            attrs.extend(quote!(#[br(if(crate::rt::Cond::holds(#c), #dv))] #[bw(if(crate::rt::Cond::holds(#c)))]));
        }
        if let Some(e) = f.endian {
            let w = endian_word(e);
            attrs.extend(quote!(#[brw(#w)]));
        }
        match &f.magic {
            Some(Magic::Bytes(b)) => {
                let lit = syn::LitByteStr::new(b, Span::call_site());
                attrs.extend(quote!(#[brw(magic = #lit)]));
                let c = upper(&fname_str);
                let n = lit_usize(b.len() as u64);
                let cdoc = format!("The constant value of `{fname_str}`.");
                consts.push(quote!(#[doc = #cdoc] pub const #c: [u8; #n] = *#lit;));
            }
            Some(Magic::Int(v)) => {
                let FieldType::Int(t) = f.ty else { bail!(f.ty_span, "integer magic needs an integer type") };
                let lit = int_lit(*v, t);
                attrs.extend(quote!(#[brw(magic = #lit)]));
                let c = upper(&fname_str);
                let it = int_ident(t);
                let cdoc = format!("The constant value of `{fname_str}`.");
                consts.push(quote!(#[doc = #cdoc] pub const #c: #it = #lit;));
            }
            Some(Magic::Alternatives(alts)) => {
                let n = lit_usize(alts[0].len() as u64);
                let k = lit_usize(alts.len() as u64);
                let lits: Vec<_> = alts.iter().map(|b| syn::LitByteStr::new(b, Span::call_site())).collect();
                let all = format_ident!("{}_VALUES", upper(&fname_str));
                let off = fi.nominal_off.const_eval().unwrap_or(0);
                attrs.extend(quote! {
                    #[br(assert(Self::#all.contains(&#fname), crate::rt::FormatError::BadMagic { item: #item, offset: #off }))]
                });
                let cdoc = format!("The values `{fname_str}` may hold, in the order the spec lists them.");
                consts.push(quote!(#[doc = #cdoc] pub const #all: [[u8; #n]; #k] = [#(*#lits),*];));
                for (j, lit) in lits.iter().enumerate() {
                    let c = format_ident!("{}_{}", upper(&fname_str), j);
                    let cdoc = format!("Alternative {j} of `{fname_str}`.");
                    consts.push(quote!(#[doc = #cdoc] pub const #c: [u8; #n] = *#lit;));
                }
            }
            None => {}
        }
        match (&f.ty, &fi.size) {
            (FieldType::Bytes, Size::Rest) => {
                let off = fi.actual_off.emit_arg(&bare);
                attrs.extend(quote!(#[br(parse_with = crate::rt::read_rest, args(#total_bare, #off))]));
                let off_self = fi.actual_off.emit_arg(&on_self);
                consistency.push(quote! {
                    let want = #total_self.saturating_sub(#off_self).get()
                        .ok_or(crate::rt::FormatError::Overflow { item: #item, field: #fname_str })?;
                    if self.#fname.len() as u64 != want {
                        return Err(crate::rt::FormatError::Inconsistent { item: #item, field: #fname_str, expected: want, actual: self.#fname.len() as u64 });
                    }
                });
            }
            (FieldType::Bytes, Size::Expr(len)) => {
                let l = len.emit_arg(&bare);
                attrs.extend(quote!(#[br(parse_with = crate::rt::read_bytes, args(#l, #fname_str, #item))]));
                let ls = len.emit(&on_self);
                let check = quote! {
                    let want = #ls.get().ok_or(crate::rt::FormatError::Overflow { item: #item, field: #fname_str })?;
                    if self.#fname.len() as u64 != want {
                        return Err(crate::rt::FormatError::Inconsistent { item: #item, field: #fname_str, expected: want, actual: self.#fname.len() as u64 });
                    }
                };
                consistency.push(match &present_self {
                    Some(c) => quote!(if crate::rt::Cond::holds(#c) { #check }),
                    None => check,
                });
            }
            (FieldType::Vec(elem), Size::Expr(_)) => {
                let count = f.count.as_ref().map(|c| c.emit_arg(&bare)).unwrap_or_default();
                let elem_size = match elem.as_ref() {
                    FieldType::Int(t) => t.bytes(),
                    FieldType::Guid | FieldType::Uuid => 16,
                    FieldType::Named(n) => m.structs.get(&n.to_string()).and_then(|i| i.fixed_size).unwrap_or(1),
                    _ => 1,
                };
                attrs.extend(quote!(#[br(parse_with = crate::rt::read_vec, args(#count, #elem_size, #fname_str, #item))]));
                let cs = f.count.as_ref().map(|c| c.emit(&on_self)).unwrap_or_default();
                let check = quote! {
                    let want = #cs.get().ok_or(crate::rt::FormatError::Overflow { item: #item, field: #fname_str })?;
                    if self.#fname.len() as u64 != want {
                        return Err(crate::rt::FormatError::Inconsistent { item: #item, field: #fname_str, expected: want, actual: self.#fname.len() as u64 });
                    }
                };
                consistency.push(match &present_self {
                    Some(c) => quote!(if crate::rt::Cond::holds(#c) { #check }),
                    None => check,
                });
            }
            _ => {}
        }
        fields.push(quote!(#doc #attrs pub #fname: #ty,));
        let dv = match &f.magic {
            Some(Magic::Alternatives(alts)) => {
                let lit = syn::LitByteStr::new(&alts[0], Span::call_site());
                quote!(*#lit)
            }
            Some(_) => quote!(()),
            None => default_value(f),
        };
        defaults.push(dv);

        if let Some(off) = fi.nominal_off.const_eval() {
            let c = format_ident!("OFF_{}", fname_str.trim_start_matches('_').to_ascii_uppercase());
            let off = lit_usize(off);
            let cdoc = format!("Offset of `{fname_str}` from the start of the structure.");
            consts.push(quote!(#[doc = #cdoc] pub const #c: usize = #off;));
        }

        // Validation of this field.
        let mut field_checks = Vec::new();
        if let Some(Magic::Alternatives(_)) = &f.magic {
            // Reading refuses other bytes; this catches a value set by hand.
            let all = format_ident!("{}_VALUES", upper(&fname_str));
            let off = fi.nominal_off.const_eval().unwrap_or(0);
            field_checks.push(quote! {
                if !Self::#all.contains(&self.#fname) {
                    return Err(crate::rt::FormatError::BadMagic { item: #item, offset: #off });
                }
            });
        }
        let msg = match &f.msg {
            Some(s) => quote!(Some(#s)),
            None => quote!(None),
        };
        // Rules apply to numeric fields only, which are all `Copy`.
        let value = quote!(crate::rt::num(self.#fname));
        for r in &f.rules {
            let cond = r.emit(&value, &on_self);
            let rule = r.render();
            field_checks.push(quote! {
                if !crate::rt::Cond::holds(#cond) {
                    return Err(crate::rt::FormatError::Invalid {
                        item: #item, field: #fname_str, value: crate::rt::AsNum::as_num(&self.#fname), rule: #rule, message: #msg,
                    });
                }
            });
        }
        if f.zero {
            let nonzero = match &f.ty {
                FieldType::Int(_) => quote!(self.#fname != 0),
                FieldType::Guid | FieldType::Uuid => quote!(!self.#fname.0.iter().all(|b| *b == 0)),
                _ => quote!(!self.#fname.iter().all(|b| *b == 0)),
            };
            let value = match &f.ty {
                FieldType::Int(_) => quote!(crate::rt::AsNum::as_num(&self.#fname)),
                FieldType::Guid | FieldType::Uuid => quote!(self.#fname.0.iter().position(|b| *b != 0).unwrap_or(0) as u64),
                _ => quote!(self.#fname.iter().position(|b| *b != 0).unwrap_or(0) as u64),
            };
            field_checks.push(quote! {
                if #nonzero {
                    return Err(crate::rt::FormatError::Invalid { item: #item, field: #fname_str, value: #value, rule: "zero", message: #msg });
                }
            });
        }
        if let FieldType::Named(n) = &f.ty {
            match m.item(n) {
                Some(Item::Enum(e)) if e.unknown == UnknownPolicy::Reject => {
                    let rule = format!("a known {n}");
                    field_checks.push(quote! {
                        if !self.#fname.is_known() {
                            return Err(crate::rt::FormatError::Invalid { item: #item, field: #fname_str, value: crate::rt::AsNum::as_num(&self.#fname), rule: #rule, message: #msg });
                        }
                    });
                }
                Some(Item::Flags(fl)) => {
                    if fl.unknown == UnknownPolicy::Reject {
                        let bits = to_u64(quote!(self.#fname.unknown_bits()), fl.repr);
                        field_checks.push(quote! {
                            if self.#fname.unknown_bits() != 0 {
                                return Err(crate::rt::FormatError::Invalid { item: #item, field: #fname_str, value: #bits, rule: "known bits only", message: #msg });
                            }
                        });
                    }
                    if fl.unknown == UnknownPolicy::ClearOnWrite {
                        prepare.push(quote!(self.#fname = self.#fname.without_unknown();));
                    }
                }
                Some(Item::Bitfield(b)) if !b.reserved.is_empty() => {
                    let bits = to_u64(quote!(self.#fname.reserved_bits()), bitfield_repr(b));
                    field_checks.push(quote! {
                        if self.#fname.reserved_bits() != 0 {
                            return Err(crate::rt::FormatError::Invalid { item: #item, field: #fname_str, value: #bits, rule: "reserved bits zero", message: #msg });
                        }
                    });
                }
                Some(Item::Struct(_)) => field_checks.push(quote!(self.#fname.validate()?;)),
                _ => {}
            }
        }
        if let FieldType::Array(e, _) | FieldType::Vec(e) = &f.ty {
            if let FieldType::Named(n) = e.as_ref() {
                if m.kind(n) == Some(NamedKind::Struct) {
                    field_checks.push(quote!(for x in self.#fname.iter() { x.validate()?; }));
                }
            }
        }
        if f.msg.is_some() && field_checks.is_empty() && f.checksum.is_none() {
            bail!(f.name.span(), "`msg` needs a check to go with (a rule, `zero`, a checksum, or a type that rejects unknown values)");
        }
        if f.check_if.is_some() && field_checks.is_empty() {
            bail!(f.name.span(), "`check_if` needs a check to go with (a rule, `zero`, or a type that rejects unknown values)");
        }
        let guard = present_self.as_ref().map(|c| quote!(if !crate::rt::Cond::holds(#c) { return Ok(()); }));
        let check_if_guard = |c: &Option<Expr>| {
            c.as_ref().map(|c| {
                let c = c.emit_arg(&on_self);
                quote!(if !crate::rt::Cond::holds(#c) { return Ok(()); })
            })
        };
        if !field_checks.is_empty() {
            let check_fn = format_ident!("check_{}", fname_str.trim_start_matches('_'));
            let cdoc = match &f.check_if {
                Some(c) => format!("Checks the rules of `{fname_str}` (when `{}`).", c.render()),
                None => format!("Checks the rules of `{fname_str}`."),
            };
            let cond_guard = check_if_guard(&f.check_if);
            checks.push(quote! {
                #[doc = #cdoc]
                pub fn #check_fn(&self) -> Result<(), crate::rt::FormatError> {
                    #guard
                    #cond_guard
                    #(#field_checks)*
                    Ok(())
                }
            });
            check_calls.push(quote!(self.#check_fn()?;));
        }
        // Named rule groups, each with its own message and condition.
        for g in &f.checks {
            let check_fn = format_ident!("check_{}_{}", fname_str.trim_start_matches('_'), g.name);
            let gmsg = match &g.msg {
                Some(s) => quote!(Some(#s)),
                None => quote!(None),
            };
            let group_checks = g.rules.iter().map(|r| {
                let cond = r.emit(&value, &on_self);
                let rule = r.render();
                quote! {
                    if !crate::rt::Cond::holds(#cond) {
                        return Err(crate::rt::FormatError::Invalid {
                            item: #item, field: #fname_str, value: crate::rt::AsNum::as_num(&self.#fname), rule: #rule, message: #gmsg,
                        });
                    }
                }
            });
            let cdoc = format!("Checks `{}` of `{fname_str}`: {}.", g.name, g.rules.iter().map(|r| r.render()).collect::<Vec<_>>().join(", "));
            let cond_guard = check_if_guard(&g.check_if);
            checks.push(quote! {
                #[doc = #cdoc]
                pub fn #check_fn(&self) -> Result<(), crate::rt::FormatError> {
                    #guard
                    #cond_guard
                    #(#group_checks)*
                    Ok(())
                }
            });
            check_calls.push(quote!(self.#check_fn()?;));
        }

        // Checksum.
        if let Some(c) = &f.checksum {
            has_checksum = true;
            let off = fi.nominal_off.const_eval().unwrap_or(0) as usize;
            let FieldType::Int(t) = f.ty else { bail!(f.ty_span, "checksum field must be an integer") };
            let width = t.bytes() as usize;
            let over = c.over.as_ref().unwrap_or(&info.total).emit(&on_self);
            let algo = match c.kind {
                ChecksumKind::OnesComplement => quote!(crate::rt::ones_complement),
                ChecksumKind::Crc32c => quote!(crate::rt::crc32c),
            };
            // The algorithms return a u64; the field may be narrower.
            let stored = cast(quote!(#algo(region, #off..#off + #width)), IntTy::U64, t);
            let computed = to_u64(stored.clone(), t);
            let field_u64 = to_u64(quote!(self.#fname), t);
            let to_bytes = match f.endian.unwrap_or(s.endian) {
                Endian::Big => quote!(to_be_bytes),
                Endian::Little => quote!(to_le_bytes),
            };
            checksum_fns.extend(quote! {
                fn checksum_region(&self) -> Result<usize, crate::rt::FormatError> {
                    #over.get().map(|v| v as usize).ok_or(crate::rt::FormatError::Overflow { item: #item, field: #fname_str })
                }

                /// Checks the stored checksum against `raw`, the bytes the structure was read from.
                pub fn verify_checksum(&self, raw: &[u8]) -> Result<(), crate::rt::FormatError> {
                    let over = self.checksum_region()?;
                    let region = raw.get(..over).ok_or(crate::rt::FormatError::Truncated { item: #item, needed: over as u64, available: raw.len() as u64 })?;
                    let computed = #computed;
                    if computed != #field_u64 {
                        return Err(crate::rt::FormatError::Checksum { item: #item, field: #fname_str, stored: #field_u64, computed, message: #msg });
                    }
                    Ok(())
                }

                /// Computes the checksum over `raw` (the encoded structure, plus whatever
                /// the checksum also covers) and stores it there.
                pub fn fill_checksum(&self, raw: &mut [u8]) -> Result<(), crate::rt::FormatError> {
                    let over = self.checksum_region()?;
                    let available = raw.len() as u64;
                    let region = raw.get_mut(..over).ok_or(crate::rt::FormatError::Truncated { item: #item, needed: over as u64, available })?;
                    let v = #stored;
                    region[#off..#off + #width].copy_from_slice(&v.#to_bytes());
                    Ok(())
                }
            });
        }

        // Layout row.
        let offset = match fi.nominal_off.const_eval() {
            Some(v) => v.to_string(),
            None => fi.nominal_off.render(),
        };
        let size = match &fi.size {
            Size::Fixed(n) => n.to_string(),
            Size::Expr(e) => e.render(),
            Size::Rest => "rest".into(),
        };
        let endian_text = if has_endian(m, &f.ty) { f.endian.unwrap_or(s.endian).short() } else { "" };
        let ty_text = match type_text(m, &f.ty) {
            t if t.ends_with(')') && !endian_text.is_empty() => format!("{}{endian_text})", &t[..t.len() - 1]),
            t => format!("{t}{endian_text}"),
        };
        let when = f.when.as_ref().map(Expr::render).unwrap_or_default();
        let mut rule = match &f.magic {
            Some(mg) => render_magic(mg),
            None => rules_text(f),
        };
        if let Some(d) = f.default.as_ref().and_then(Expr::const_eval) {
            let d = match f.ty {
                FieldType::Int(IntTy { signed: true, .. }) => (d as i64).to_string(),
                _ => d.to_string(),
            };
            rule = if rule.is_empty() { format!("default {d}") } else { format!("{rule}, default {d}") };
        }
        if let Some(c) = &f.checksum {
            let algo = match c.kind {
                ChecksumKind::OnesComplement => "ones' complement sum",
                ChecksumKind::Crc32c => "crc32c",
            };
            let over = c.over.as_ref().map(|o| format!(" over {}", o.render())).unwrap_or_default();
            rule = format!("{algo}{over}");
        }
        if let FieldType::Named(n) = &f.ty {
            if let Some(Item::Flags(fl)) = m.item(n) {
                let p = format!("unknown bits: {}", fl.unknown.text());
                rule = if rule.is_empty() { p } else { format!("{rule}, {p}") };
            }
        }
        let fdoc = &f.doc;
        layout_rows.push(quote! {
            crate::rt::FieldLayout { name: #fname_str, offset: #offset, size: #size, ty: #ty_text, when: #when, rule: #rule, doc: #fdoc },
        });
    }

    // Struct-level rules.
    if let (Some(min), Some(len)) = (s.min_len, &s.len) {
        let l = len.emit(&on_self);
        let field = match len {
            Expr::Var(v) => v.to_string(),
            _ => "len".into(),
        };
        let rule = format!("{min}..");
        check_calls.push(quote! {
            if !crate::rt::Cond::holds(#l.is_ge(crate::rt::Num::lit(#min))) {
                return Err(crate::rt::FormatError::Invalid { item: #item, field: #field, value: #l.get().unwrap_or(u64::MAX), rule: #rule, message: None });
            }
        });
    }

    if let Some(n) = info.fixed_size.or(s.size.map(|x| x.0)) {
        let n = lit_usize(n);
        consts.push(quote!(#[doc = "Encoded size in bytes."] pub const SIZE: usize = #n;));
    }
    let min_size = lit_usize(info.min_size);
    consts.push(quote!(#[doc = "The fewest bytes any encoding takes."] pub const MIN_SIZE: usize = #min_size;));

    let pad = match s.pad_to {
        Some(p) if p > 1 => quote! {
            let n = crate::rt::align_up(n, #p).ok_or(crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
        },
        _ => quote!(),
    };
    let verify = if has_checksum { quote!(v.verify_checksum(buf)?;) } else { quote!() };
    // A checksum that also covers bytes after the structure (`over` past its
    // end) cannot be computed from the structure alone: `to_bytes` keeps the
    // stored value and the caller fills it over the whole region.
    let fill = if has_checksum {
        quote!(if self.checksum_region()? <= out.len() { self.fill_checksum(&mut out)?; })
    } else {
        quote!()
    };
    let size_text = match (s.size, &s.len, info.fixed_size) {
        (Some((n, _)), _, _) => n.to_string(),
        (None, Some(l), _) => match s.min_len {
            Some(min) => format!("{} (min {min})", l.render()),
            None => l.render(),
        },
        (None, None, Some(n)) => n.to_string(),
        (None, None, None) => "variable".into(),
    };
    let size_text = match s.pad_to {
        Some(p) if p > 1 => format!("{size_text}, padded to {p}"),
        _ => size_text,
    };
    let mut placement = emit_placement(&s.placement);
    let mut placement_text = placement_text(&s.placement);
    if !s.copies.is_empty() {
        let all: Vec<u64> = s.placement.iter().chain(&s.copies).filter_map(Expr::const_eval).collect();
        let n = lit_usize(all.len() as u64);
        placement.extend(quote! {
            /// Where each copy of the structure sits in the file, in order.
            pub const FILE_OFFSETS: [u64; #n] = [#(#all),*];
        });
        placement_text = s.placement.iter().chain(&s.copies).map(Expr::render).collect::<Vec<_>>().join(", ");
    }
    let doc = doc_attr(&s.doc);
    let sdoc = &s.doc;
    let endian_text = s.endian.short();
    let name_str = name.to_string();
    let default_impl = struct_default_impl(s, &defaults);
    let mut derives = vec![quote!(Debug), quote!(Clone), quote!(PartialEq), quote!(Eq)];
    if default_impl.is_none() {
        derives.push(quote!(Default));
    }

    Ok(quote! {
        #doc
        #[::binrw::binrw]
        #[brw(#struct_endian)]
        #[derive(#(#derives),*)]
        pub struct #name {
            #(#fields)*
        }

        #default_impl

        impl #name {
            /// `format::Name`, used in errors.
            pub const ITEM: &'static str = #item;
            #(#consts)*
            #placement

            /// Reads the structure from the start of `buf`, without checking its rules.
            pub fn read(buf: &[u8]) -> Result<Self, crate::rt::FormatError> {
                let mut cursor = ::binrw::io::Cursor::new(buf);
                <Self as ::binrw::BinRead>::read_options(&mut cursor, #endian, ())
                    .map_err(|e| crate::rt::FormatError::from_binrw(#item, buf.len(), e))
            }

            /// Reads the structure and checks every rule, its length and its checksum.
            pub fn parse(buf: &[u8]) -> Result<Self, crate::rt::FormatError> {
                let v = Self::read(buf)?;
                v.validate()?;
                let len = v.encoded_len()?;
                if len > buf.len() as u64 {
                    return Err(crate::rt::FormatError::Truncated { item: #item, needed: len, available: buf.len() as u64 });
                }
                #verify
                Ok(v)
            }

            #(#checks)*

            /// Checks every rule of the spec, in field order.
            pub fn validate(&self) -> Result<(), crate::rt::FormatError> {
                #(#check_calls)*
                Ok(())
            }

            /// Checks that byte and list fields have the lengths their describing fields say.
            pub fn check_consistency(&self) -> Result<(), crate::rt::FormatError> {
                #(#consistency)*
                Ok(())
            }

            /// Length of the encoded structure, padding included.
            pub fn encoded_len(&self) -> Result<u64, crate::rt::FormatError> {
                let n = #total_self.get().ok_or(crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
                #pad
                Ok(n)
            }

            /// Encodes the structure (checksums filled in, padding added).
            pub fn to_bytes(&self) -> Result<Vec<u8>, crate::rt::FormatError> {
                self.check_consistency()?;
                let mut cursor = ::binrw::io::Cursor::new(Vec::new());
                ::binrw::BinWrite::write_options(self, &mut cursor, #endian, ())
                    .map_err(|e| crate::rt::FormatError::Malformed { item: #item, offset: 0, detail: e.to_string() })?;
                let mut out = cursor.into_inner();
                let len = self.encoded_len()? as usize;
                if out.len() < len {
                    out.resize(len, 0);
                }
                #fill
                Ok(out)
            }

            /// Clears unknown bits of flag sets whose policy is to clear them on write.
            pub fn prepare_for_write(&mut self) {
                #(#prepare)*
            }

            #checksum_fns

            /// The on-disk layout of this structure.
            pub const LAYOUT: crate::rt::StructLayout = crate::rt::StructLayout {
                name: #name_str,
                doc: #sdoc,
                endian: #endian_text,
                size: #size_text,
                placement: #placement_text,
                fields: &[#(#layout_rows)*],
            };
        }

        impl crate::rt::Structure for #name {
            const ITEM: &'static str = #item;
            fn read(buf: &[u8]) -> Result<Self, crate::rt::FormatError> { #name::read(buf) }
            fn validate(&self) -> Result<(), crate::rt::FormatError> { #name::validate(self) }
            fn encoded_len(&self) -> Result<u64, crate::rt::FormatError> { #name::encoded_len(self) }
            fn to_bytes(&self) -> Result<Vec<u8>, crate::rt::FormatError> { #name::to_bytes(self) }
        }
    })
}

/// binrw and expression plumbing shared by enums, flags and bitfields: they are
/// stored as one integer of type `repr`. `to` is the stored value of `self`;
/// `from` builds a `Self` from the stored value `v`.
fn emit_int_backed(name: &syn::Ident, repr: IntTy, to: TokenStream, from: TokenStream) -> TokenStream {
    let as_u64 = to_u64(to.clone(), repr);
    let narrow = (repr != IntTy::U64).then(|| {
        let r = int_ident(repr);
        quote!(let v = v as #r;)
    });
    let repr = int_ident(repr);
    quote! {
        impl ::binrw::BinRead for #name {
            type Args<'a> = ();
            fn read_options<R: ::binrw::io::Read + ::binrw::io::Seek>(reader: &mut R, endian: ::binrw::Endian, _: ()) -> ::binrw::BinResult<Self> {
                let v = <#repr as ::binrw::BinRead>::read_options(reader, endian, ())?;
                Ok(#from)
            }
        }

        impl ::binrw::BinWrite for #name {
            type Args<'a> = ();
            fn write_options<W: ::binrw::io::Write + ::binrw::io::Seek>(&self, writer: &mut W, endian: ::binrw::Endian, _: ()) -> ::binrw::BinResult<()> {
                let v: #repr = #to;
                <#repr as ::binrw::BinWrite>::write_options(&v, writer, endian, ())
            }
        }

        impl crate::rt::AsNum for #name {
            fn as_num(&self) -> u64 {
                #as_u64
            }
        }

        impl crate::rt::FromNum for #name {
            fn from_num(v: u64) -> Self {
                #narrow
                #from
            }
        }
    }
}

fn emit_enum(m: &Model, e: &EnumDef) -> TokenStream {
    let name = &e.name;
    let repr = int_ident(e.repr);
    let doc = doc_attr(&e.doc);
    let item = format!("{}::{}", m.file.format, name);
    let from_arms = e.variants.iter().map(|v| {
        let n = &v.name;
        let lit = int_lit(v.value, e.repr);
        quote!(#lit => Self::#n,)
    });
    let to_arms = e.variants.iter().map(|v| {
        let n = &v.name;
        let lit = int_lit(v.value, e.repr);
        quote!(Self::#n => #lit,)
    });
    let name_arms = e.variants.iter().map(|v| {
        let n = &v.name;
        let s = n.to_string();
        quote!(Self::#n => Some(#s),)
    });
    // The default is the value 0: a named variant (derived, marked
    // `#[default]`), or else `Unknown(0)`.
    let zero = e.variants.iter().position(|v| v.value == 0);
    let variants = e.variants.iter().enumerate().map(|(i, v)| {
        let d = doc_attr(&v.doc);
        let n = &v.name;
        let default = (zero == Some(i)).then(|| quote!(#[default]));
        quote!(#d #default #n,)
    });
    let (derive_default, default_impl) = match zero {
        Some(_) => (Some(quote!(Default)), None),
        None => (
            None,
            Some(quote! {
                impl Default for #name {
                    fn default() -> Self {
                        Self::Unknown(0)
                    }
                }
            }),
        ),
    };
    let layout_variants = e.variants.iter().map(|v| {
        let s = v.name.to_string();
        let val = v.value;
        quote!((#s, #val),)
    });
    let name_str = name.to_string();
    let edoc = &e.doc;
    let repr_str = e.repr.name();
    let unknown = e.unknown.text();
    let plumbing = emit_int_backed(name, e.repr, quote!(self.repr()), quote!(Self::from_repr(v)));
    let derives = [quote!(Debug), quote!(Clone), quote!(Copy), quote!(PartialEq), quote!(Eq), quote!(Hash)].into_iter().chain(derive_default);
    quote! {
        #doc
        #[derive(#(#derives),*)]
        pub enum #name {
            #(#variants)*
            /// A value this spec does not name, kept as read.
            Unknown(#repr),
        }

        impl #name {
            pub const ITEM: &'static str = #item;

            /// Maps a stored value to a variant (`Unknown` when the spec does not name it).
            pub const fn from_repr(v: #repr) -> Self {
                match v {
                    #(#from_arms)*
                    other => Self::Unknown(other),
                }
            }

            /// The stored value.
            pub const fn repr(self) -> #repr {
                match self {
                    #(#to_arms)*
                    Self::Unknown(v) => v,
                }
            }

            /// Whether the spec names this value.
            pub const fn is_known(self) -> bool {
                !matches!(self, Self::Unknown(_))
            }

            /// The variant's name in the spec.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    #(#name_arms)*
                    Self::Unknown(_) => None,
                }
            }

            /// The layout of this enum.
            pub const LAYOUT: crate::rt::EnumLayout = crate::rt::EnumLayout {
                name: #name_str, doc: #edoc, repr: #repr_str, unknown: #unknown, variants: &[#(#layout_variants)*],
            };
        }

        #default_impl

        #plumbing
    }
}

fn emit_flags(m: &Model, f: &FlagsDef) -> TokenStream {
    let name = &f.name;
    let repr = int_ident(f.repr);
    let doc = doc_attr(&f.doc);
    let item = format!("{}::{}", m.file.format, name);
    let mut consts = Vec::new();
    let mut accessors = Vec::new();
    let mut known = 0u128;
    let mut debug_arms = Vec::new();
    for fl in &f.flags {
        let c = upper(&fl.name.to_string());
        let bit = int_lit(1u64 << fl.bit, f.repr);
        let d = doc_attr(&fl.doc);
        consts.push(quote!(#d pub const #c: Self = Self(#bit);));
        let get = &fl.name;
        let set = format_ident!("set_{}", fl.name);
        let with = format_ident!("with_{}", fl.name);
        accessors.push(quote! {
            #d
            #[inline]
            pub const fn #get(self) -> bool { self.0 & #bit != 0 }
            #[inline]
            pub fn #set(&mut self, on: bool) { if on { self.0 |= #bit } else { self.0 &= !#bit } }
            #[inline]
            pub const fn #with(self, on: bool) -> Self { if on { Self(self.0 | #bit) } else { Self(self.0 & !#bit) } }
        });
        known |= 1u128 << fl.bit;
        let s = fl.name.to_string();
        debug_arms.push(quote!(if self.#get() { names.push(#s); }));
    }
    let known = int_lit(known as u64, f.repr);
    let layout_flags = f.flags.iter().map(|fl| {
        let s = fl.name.to_string();
        let b = fl.bit;
        quote!((#s, #b),)
    });
    let name_str = name.to_string();
    let fdoc = &f.doc;
    let repr_str = f.repr.name();
    let unknown = f.unknown.text();
    let plumbing = emit_int_backed(name, f.repr, quote!(self.0), quote!(Self(v)));
    // A set that names no bits has nothing to push.
    let names = if debug_arms.is_empty() {
        quote!(let names: Vec<&str> = Vec::new();)
    } else {
        quote!(let mut names: Vec<&str> = Vec::new(); #(#debug_arms)*)
    };
    let debug_head = format!("{name_str}({{:#x}}: {{}}");
    quote! {
        #doc
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct #name(pub #repr);

        impl #name {
            pub const ITEM: &'static str = #item;
            #(#consts)*
            /// Every bit the spec names.
            pub const KNOWN: #repr = #known;

            pub const fn bits(self) -> #repr { self.0 }
            pub const fn from_bits(v: #repr) -> Self { Self(v) }
            pub const fn contains(self, other: Self) -> bool { self.0 & other.0 == other.0 }
            pub const fn union(self, other: Self) -> Self { Self(self.0 | other.0) }
            pub const fn difference(self, other: Self) -> Self { Self(self.0 & !other.0) }
            /// Bits the spec does not name.
            pub const fn unknown_bits(self) -> #repr { self.0 & !Self::KNOWN }
            /// The same set without the bits the spec does not name.
            pub const fn without_unknown(self) -> Self { Self(self.0 & Self::KNOWN) }
            #(#accessors)*

            /// The layout of this flag set.
            pub const LAYOUT: crate::rt::FlagsLayout = crate::rt::FlagsLayout {
                name: #name_str, doc: #fdoc, repr: #repr_str, unknown: #unknown, flags: &[#(#layout_flags)*],
            };
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #names
                write!(f, #debug_head, self.0, names.join(" | "))?;
                if self.unknown_bits() != 0 {
                    write!(f, " + unknown {:#x}", self.unknown_bits())?;
                }
                write!(f, ")")
            }
        }

        #plumbing
    }
}

fn bit_text(f: &BitField) -> String {
    match (f.lo.const_eval(), f.hi.const_eval()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
        _ => format!("{}..={}", f.lo.render(), f.hi.render()),
    }
}

fn bit_type_text(f: &BitField) -> String {
    match &f.value {
        BitValue::Bool => "bool".into(),
        BitValue::Uint { .. } => "uint".into(),
        BitValue::Enum(e) => e.to_string(),
    }
}

fn bit_note(f: &BitField, width: u32) -> String {
    match (&f.value, f.lo.const_eval(), f.hi.const_eval()) {
        (BitValue::Uint { in_place: true }, Some(lo), Some(hi)) => {
            let mask = mask_u128(lo as u32, hi as u32);
            format!("in place, mask {}", hex_mask(mask, width))
        }
        (BitValue::Uint { in_place: true }, _, _) => "in place".into(),
        _ => String::new(),
    }
}

fn mask_u128(lo: u32, hi: u32) -> u128 {
    let w = hi - lo + 1;
    let m = if w >= 128 { u128::MAX } else { (1u128 << w) - 1 };
    m << lo
}

fn hex_mask(v: u128, width: u32) -> String {
    let digits = (width / 4) as usize;
    let s = format!("{v:0digits$x}");
    let mut out = String::from("0x");
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (digits - i).is_multiple_of(4) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// The integer a bitfield is stored as: `u{width}`, or `u64` for the newtype
/// of a parameterised one.
fn bitfield_repr(b: &BitfieldDef) -> IntTy {
    if b.params.is_empty() {
        IntTy::unsigned(b.width)
    } else {
        IntTy::U64
    }
}

fn emit_bitfield(m: &Model, b: &BitfieldDef) -> Result<TokenStream> {
    if b.params.is_empty() {
        emit_fixed_bitfield(m, b)
    } else {
        emit_param_bitfield(m, b)
    }
}

fn bitfield_layout(b: &BitfieldDef, reserved: u128) -> TokenStream {
    let rows = b.fields.iter().map(|f| {
        let n = f.name.to_string();
        let bits = bit_text(f);
        let ty = bit_type_text(f);
        let note = bit_note(f, b.width);
        quote!(crate::rt::BitLayout { name: #n, bits: #bits, ty: #ty, note: #note },)
    });
    let name_str = b.name.to_string();
    let doc = &b.doc;
    let width = b.width;
    let params = b.params.iter().map(|(n, t)| format!("{n}: {}", t.name())).collect::<Vec<_>>().join(", ");
    let reserved = if reserved == 0 { String::new() } else { hex_mask(reserved, b.width) };
    quote! {
        /// The layout of this entry.
        pub const LAYOUT: crate::rt::BitfieldLayout = crate::rt::BitfieldLayout {
            name: #name_str, doc: #doc, width: #width, params: #params, fields: &[#(#rows)*], reserved: #reserved,
        };
    }
}

fn emit_fixed_bitfield(m: &Model, b: &BitfieldDef) -> Result<TokenStream> {
    let name = &b.name;
    let width = b.width;
    let repr_ty = IntTy::unsigned(width);
    let repr = int_ident(repr_ty);
    let item = format!("{}::{}", m.file.format, name);
    let doc = doc_attr(&b.doc);
    // Collect (lo, hi, field) sorted by position, filling gaps with skipped bits.
    let mut spans: Vec<(u32, u32, Option<&BitField>)> = b
        .fields
        .iter()
        .map(|f| (f.lo.const_eval().unwrap_or(0) as u32, f.hi.const_eval().unwrap_or(0) as u32, Some(f)))
        .collect();
    spans.extend(b.reserved.iter().map(|(lo, hi, _)| (*lo, *hi, None)));
    spans.sort_by_key(|s| s.0);
    let mut mb_fields = Vec::new();
    let mut next = 0u32;
    let mut gap_no = 0;
    let mut push_skip = |mb_fields: &mut Vec<TokenStream>, lo: u32, hi: u32| {
        let w = hi - lo + 1;
        let t = format_ident!("B{}", w);
        let n = format_ident!("__bits_{}_{}", lo, hi);
        gap_no += 1;
        mb_fields.push(quote!(#[skip] #n: ::modular_bitfield::specifiers::#t,));
    };
    for (lo, hi, f) in &spans {
        if *lo > next {
            push_skip(&mut mb_fields, next, lo - 1);
        }
        match f {
            None => push_skip(&mut mb_fields, *lo, *hi),
            Some(f) => {
                let n = &f.name;
                let d = doc_attr(&f.doc);
                match &f.value {
                    BitValue::Bool => mb_fields.push(quote!(#d pub #n: bool,)),
                    BitValue::Uint { in_place: false } => {
                        let t = format_ident!("B{}", hi - lo + 1);
                        mb_fields.push(quote!(#d pub #n: ::modular_bitfield::specifiers::#t,));
                    }
                    BitValue::Uint { in_place: true } | BitValue::Enum(_) => push_skip(&mut mb_fields, *lo, *hi),
                }
            }
        }
        next = hi + 1;
    }
    if next < width {
        push_skip(&mut mb_fields, next, width - 1);
    }
    let mut consts = Vec::new();
    let mut accessors = Vec::new();
    let mask_lit = |v: u128| -> TokenStream {
        if width == 128 {
            let l = Literal::u128_suffixed(v);
            quote!(#l)
        } else {
            int_lit(v as u64, IntTy::unsigned(width))
        }
    };
    for f in &b.fields {
        let lo = f.lo.const_eval().unwrap_or(0) as u32;
        let hi = f.hi.const_eval().unwrap_or(0) as u32;
        let mask = mask_lit(mask_u128(lo, hi));
        let up = f.name.to_string().to_ascii_uppercase();
        let mc = format_ident!("{}_MASK", up);
        let sc = format_ident!("{}_SHIFT", up);
        let cdoc = format!("Bits {} of the entry.", bit_text(f));
        consts.push(quote!(#[doc = #cdoc] pub const #mc: #repr = #mask; pub const #sc: u32 = #lo;));
        let get = &f.name;
        let set = format_ident!("set_{}", f.name);
        let with = format_ident!("with_{}", f.name);
        let d = doc_attr(&f.doc);
        match &f.value {
            BitValue::Uint { in_place: true } => accessors.push(quote! {
                #d
                #[inline]
                pub fn #get(self) -> #repr { self.raw() & Self::#mc }
                /// Replaces the field; bits outside its mask are dropped.
                #[inline]
                pub fn #with(self, v: #repr) -> Self { Self::from_raw((self.raw() & !Self::#mc) | (v & Self::#mc)) }
                #[inline]
                pub fn #set(&mut self, v: #repr) { *self = self.#with(v) }
            }),
            BitValue::Enum(e) => {
                let et = m.enum_def(e).map(|d| d.repr).unwrap_or(IntTy::unsigned(8));
                // The field's bits as the enum's type, and the enum's value
                // as the entry's type (casts only where the types differ).
                let bits = quote!((self.raw() & Self::#mc) >> Self::#sc);
                let (field, stored) = if et == repr_ty {
                    (bits, quote!(v.repr()))
                } else {
                    let er = int_ident(et);
                    (quote!((#bits) as #er), quote!((v.repr() as #repr)))
                };
                accessors.push(quote! {
                    #d
                    #[inline]
                    pub fn #get(self) -> #e { #e::from_repr(#field) }
                    #[inline]
                    pub fn #with(self, v: #e) -> Self { Self::from_raw((self.raw() & !Self::#mc) | ((#stored << Self::#sc) & Self::#mc)) }
                    #[inline]
                    pub fn #set(&mut self, v: #e) { *self = self.#with(v) }
                });
            }
            _ => {}
        }
    }
    let reserved: u128 = b.reserved.iter().fold(0, |acc, (lo, hi, _)| acc | mask_u128(*lo, *hi));
    let reserved_lit = mask_lit(reserved);
    let size = lit_usize((width / 8) as u64);
    let layout = bitfield_layout(b, reserved);
    let plumbing = emit_int_backed(name, repr_ty, quote!(self.raw()), quote!(Self::from_raw(v)));
    let reserved_u64 = to_u64(quote!(self.reserved_bits()), repr_ty);
    let bits_lit = Literal::u32_unsuffixed(width);
    Ok(quote! {
        #doc
        #[::modular_bitfield::bitfield(bits = #bits_lit)]
        #[repr(#repr)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct #name {
            #(#mb_fields)*
        }

        impl #name {
            pub const ITEM: &'static str = #item;
            /// Encoded size in bytes.
            pub const SIZE: usize = #size;
            /// Reserved bits, which must be zero.
            pub const RESERVED_MASK: #repr = #reserved_lit;
            #(#consts)*

            #[inline]
            pub fn from_raw(v: #repr) -> Self { Self::from(v) }
            #[inline]
            pub fn raw(self) -> #repr { #repr::from(self) }
            /// Set reserved bits (they must be zero).
            #[inline]
            pub fn reserved_bits(self) -> #repr { self.raw() & Self::RESERVED_MASK }
            #(#accessors)*

            /// Checks that reserved bits are zero.
            pub fn validate(self) -> Result<(), crate::rt::FormatError> {
                if self.reserved_bits() != 0 {
                    return Err(crate::rt::FormatError::Invalid { item: #item, field: "reserved", value: #reserved_u64, rule: "reserved bits zero", message: None });
                }
                Ok(())
            }

            #layout
        }

        impl Default for #name {
            fn default() -> Self { Self::new() }
        }

        #plumbing
    })
}

fn emit_param_bitfield(m: &Model, b: &BitfieldDef) -> Result<TokenStream> {
    let name = &b.name;
    let item = format!("{}::{}", m.file.format, name);
    let doc = doc_attr(&b.doc);
    let params: Vec<TokenStream> = b
        .params
        .iter()
        .map(|(n, t)| {
            let t = int_ident(*t);
            quote!(#n: #t)
        })
        .collect();
    let param_names: Vec<&syn::Ident> = b.params.iter().map(|p| &p.0).collect();
    let ctx = EmitCtx::fields_bare();
    let mut accessors = Vec::new();
    for f in &b.fields {
        let get = &f.name;
        let with = format_ident!("with_{}", f.name);
        let range = format_ident!("{}_bits", f.name);
        let lo = f.lo.emit(&ctx);
        let hi = f.hi.emit(&ctx);
        let d = doc_attr(&f.doc);
        let rdoc = format!("Lowest and highest bit of `{}` (`{}`), if the parameters allow it.", f.name, bit_text(f));
        // Every range function takes all of the entry's parameters, so that
        // the accessors can pass them on alike; a field at a fixed position
        // (a flag bit) uses none of them.
        let unused = b.params.iter().any(|(p, _)| !f.lo.uses_var(p) && !f.hi.uses_var(p));
        let allow_unused = unused.then(|| quote!(#[allow(unused_variables)]));
        accessors.push(quote! {
            #[doc = #rdoc]
            #allow_unused
            pub fn #range(#(#params),*) -> Option<(u32, u32)> {
                let lo = #lo.get()?;
                let hi = #hi.get()?;
                (lo <= hi && hi < 64).then_some((lo as u32, hi as u32))
            }
        });
        let in_place = matches!(f.value, BitValue::Uint { in_place: true });
        match &f.value {
            BitValue::Uint { .. } => {
                let (get_body, with_body) = if in_place {
                    (quote!(self.0 & mask), quote!(if v & !mask != 0 { return None; } Some(Self((self.0 & !mask) | v))))
                } else {
                    (
                        quote!((self.0 & mask) >> lo),
                        quote!(let v = v.checked_shl(lo)?; if v & !mask != 0 { return None; } Some(Self((self.0 & !mask) | v))),
                    )
                };
                accessors.push(quote! {
                    #d
                    #[inline]
                    pub fn #get(self, #(#params),*) -> Option<u64> {
                        let (lo, hi) = Self::#range(#(#param_names),*)?;
                        let mask = (u64::MAX >> (63 - (hi - lo))) << lo;
                        Some(#get_body)
                    }
                    /// Replaces the field; `None` if the value does not fit or the parameters are invalid.
                    #[inline]
                    pub fn #with(self, #(#params,)* v: u64) -> Option<Self> {
                        let (lo, hi) = Self::#range(#(#param_names),*)?;
                        let mask = (u64::MAX >> (63 - (hi - lo))) << lo;
                        #with_body
                    }
                });
            }
            BitValue::Bool => accessors.push(quote! {
                #d
                #[inline]
                pub fn #get(self, #(#params),*) -> Option<bool> {
                    let (lo, _) = Self::#range(#(#param_names),*)?;
                    Some(self.0 >> lo & 1 != 0)
                }
                #[inline]
                pub fn #with(self, #(#params,)* v: bool) -> Option<Self> {
                    let (lo, _) = Self::#range(#(#param_names),*)?;
                    Some(Self((self.0 & !(1 << lo)) | ((v as u64) << lo)))
                }
            }),
            BitValue::Enum(_) => bail!(f.span, "parameterised bitfields hold numbers and bools"),
        }
    }
    let reserved: u128 = b.reserved.iter().fold(0, |acc, (lo, hi, _)| acc | mask_u128(*lo, *hi));
    let reserved_lit = Literal::u64_suffixed(reserved as u64);
    let layout = bitfield_layout(b, reserved);
    let plumbing = emit_int_backed(name, IntTy::U64, quote!(self.0), quote!(Self(v)));
    Ok(quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        pub struct #name(pub u64);

        impl #name {
            pub const ITEM: &'static str = #item;
            /// Encoded size in bytes.
            pub const SIZE: usize = 8;
            /// Reserved bits, which must be zero.
            pub const RESERVED_MASK: u64 = #reserved_lit;
            #[inline]
            pub const fn from_raw(v: u64) -> Self { Self(v) }
            #[inline]
            pub const fn raw(self) -> u64 { self.0 }
            #(#accessors)*
            #layout
        }

        #plumbing
    })
}

fn emit_tlv(m: &Model, t: &TlvDef) -> Result<TokenStream> {
    let name = &t.name;
    let item = format!("{}::{}", m.file.format, name);
    let doc = doc_attr(&t.doc);
    let (tag_ty, len_ty) = m.tlv_types(t)?;
    let tag_t = int_ident(tag_ty);
    let len_t = int_ident(len_ty);
    let tag_bytes = tag_ty.bytes() as usize;
    let len_bytes = len_ty.bytes() as usize;
    let hdr = match &t.header {
        Some(h) => m.structs[&h.structure.to_string()].fixed_size.unwrap_or(0) as usize,
        None => tag_bytes + len_bytes,
    };
    let align = t.align;
    let end_tag = int_lit(t.end, tag_ty);
    let zero_len = int_lit(0, len_ty);
    // Raw entries keep tags as u64; decoding narrows them back.
    let raw_tag_field = if tag_ty == IntTy::U64 {
        quote!(tag)
    } else {
        quote!(tag: tag as u64)
    };
    let raw_tag = cast(quote!(e.tag), IntTy::U64, tag_ty);
    let (from_bytes, to_bytes) = match t.endian {
        Endian::Big => (quote!(from_be_bytes), quote!(to_be_bytes)),
        Endian::Little => (quote!(from_le_bytes), quote!(to_le_bytes)),
    };
    let mut variants = Vec::new();
    let mut consts = Vec::new();
    let mut tag_arms = Vec::new();
    let mut parse_arms = Vec::new();
    let mut payload_arms = Vec::new();
    let mut validate_arms = Vec::new();
    let mut layout_rows = Vec::new();
    let mut other_name = None;
    for v in &t.variants {
        let vn = &v.name;
        let d = doc_attr(&v.doc);
        let payload_text = match &v.payload {
            Payload::Bytes => "bytes".to_string(),
            Payload::Struct(s) => s.to_string(),
            Payload::Vec { elem, count } => format!("Vec<{elem}> (count {})", count.render()),
        };
        let tag_text = match v.tag {
            Some(tag) => format!("{tag:#x}"),
            None => "other".into(),
        };
        let vn_str = vn.to_string();
        layout_rows.push(quote!(crate::rt::TlvVariantLayout { name: #vn_str, tag: #tag_text, payload: #payload_text },));
        let Some(tag) = v.tag else {
            other_name = Some(vn.clone());
            variants.push(quote!(#d #vn { tag: #tag_t, data: Vec<u8> },));
            tag_arms.push(quote!(Self::#vn { tag, .. } => *tag,));
            payload_arms.push(quote!(Self::#vn { data, .. } => Ok(data.clone()),));
            continue;
        };
        let tc = format_ident!("TAG_{}", crate::expr::to_snake(&vn_str).to_ascii_uppercase());
        let tl = int_lit(tag, tag_ty);
        consts.push(quote!(pub const #tc: #tag_t = #tl;));
        tag_arms.push(quote!(Self::#vn(..) => Self::#tc,));
        match &v.payload {
            Payload::Bytes => {
                variants.push(quote!(#d #vn(Vec<u8>),));
                parse_arms.push(quote!(Self::#tc => Self::#vn(data.to_vec()),));
                payload_arms.push(quote!(Self::#vn(data) => Ok(data.clone()),));
            }
            Payload::Struct(s) => {
                variants.push(quote!(#d #vn(#s),));
                parse_arms.push(quote! {
                    Self::#tc => {
                        let v = #s::read(data)?;
                        let n = v.encoded_len()?;
                        if n != data.len() as u64 {
                            return Err(crate::rt::FormatError::Inconsistent { item: #item, field: #vn_str, expected: n, actual: data.len() as u64 });
                        }
                        Self::#vn(v)
                    }
                });
                payload_arms.push(quote!(Self::#vn(v) => v.to_bytes(),));
                validate_arms.push(quote!(Self::#vn(v) => v.validate(),));
            }
            Payload::Vec { elem, count } => {
                variants.push(quote!(#d #vn(Vec<#elem>),));
                let c = count.emit(&EmitCtx::fields_bare());
                let esize = m.structs[&elem.to_string()].fixed_size.unwrap_or(1) as usize;
                parse_arms.push(quote! {
                    Self::#tc => {
                        let len = data.len() as u64;
                        let count = #c.get().ok_or(crate::rt::FormatError::Overflow { item: #item, field: #vn_str })?;
                        let mut out = Vec::new();
                        for i in 0..count as usize {
                            let chunk = data.get(i * #esize..(i + 1) * #esize)
                                .ok_or(crate::rt::FormatError::Truncated { item: #item, needed: ((i + 1) * #esize) as u64, available: len })?;
                            out.push(#elem::read(chunk)?);
                        }
                        Self::#vn(out)
                    }
                });
                payload_arms.push(quote! {
                    Self::#vn(v) => {
                        let mut out = Vec::new();
                        for e in v { out.extend(e.to_bytes()?); }
                        Ok(out)
                    }
                });
                validate_arms.push(quote!(Self::#vn(v) => { for e in v { e.validate()?; } Ok(()) }));
            }
        }
    }
    let other = other_name.expect("checked: tlv has an other variant");
    let placement = emit_placement(&t.placement);
    let placement_text = placement_text(&t.placement);
    let name_str = name.to_string();
    let tdoc = &t.doc;
    let (tag_str, len_str) = match &t.header {
        Some(h) => (format!("{}.{}: {}", h.structure, h.tag_field, tag_ty.name()), format!("{}.{}: {}", h.structure, h.len_field, len_ty.name())),
        None => (tag_ty.name(), len_ty.name()),
    };
    let endian_str = t.endian.short();
    let end_u64 = t.end;

    let read_len = to_u64(quote!(#len_t::#from_bytes(buf[pos + #tag_bytes..pos + #hdr].try_into().unwrap_or_default())), len_ty);
    let list_fns = match &t.header {
        None => quote! {
            /// Splits `buf` into raw entries, up to the end tag or the end of `buf`.
            /// An entry header cut off by the end of `buf`, or a payload longer
            /// than what remains, is an error.
            pub fn parse_raw(buf: &[u8]) -> Result<crate::rt::TlvRawList, crate::rt::FormatError> {
                let mut entries = Vec::new();
                let mut pos = 0usize;
                while pos < buf.len() {
                    if buf.len() - pos < #hdr {
                        return Err(crate::rt::FormatError::Truncated { item: #item, needed: (pos + #hdr) as u64, available: buf.len() as u64 });
                    }
                    let tag = #tag_t::#from_bytes(buf[pos..pos + #tag_bytes].try_into().unwrap_or_default());
                    let len = #read_len;
                    if tag == Self::END_TAG {
                        return Ok(crate::rt::TlvRawList { entries, end: (pos + #hdr) as u64, terminated: true });
                    }
                    let start = pos + #hdr;
                    let available = (buf.len() - start) as u64;
                    if len > available {
                        return Err(crate::rt::FormatError::Truncated { item: #item, needed: start as u64 + len, available: buf.len() as u64 });
                    }
                    entries.push(crate::rt::TlvRaw { offset: pos as u64, #raw_tag_field, data: start..start + len as usize });
                    let next = crate::rt::align_up(start as u64 + len, Self::ALIGN)
                        .ok_or(crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
                    pos = usize::try_from(next).unwrap_or(usize::MAX);
                }
                Ok(crate::rt::TlvRawList { entries, end: pos.min(buf.len()) as u64, terminated: false })
            }

            /// Reads and decodes entries (see [`Self::parse_raw`]).
            pub fn parse_list(buf: &[u8]) -> Result<crate::rt::TlvList<Self>, crate::rt::FormatError> {
                let raw = Self::parse_raw(buf)?;
                let mut entries = Vec::with_capacity(raw.entries.len());
                for e in &raw.entries {
                    entries.push((e.offset, Self::parse_payload(#raw_tag, &buf[e.data.clone()])?));
                }
                Ok(crate::rt::TlvList { entries, end: raw.end, terminated: raw.terminated })
            }

            /// Encodes entries, each padded, followed by the end tag.
            pub fn write_list(items: &[Self]) -> Result<Vec<u8>, crate::rt::FormatError> {
                let mut out = Vec::new();
                for e in items {
                    let data = e.payload()?;
                    let len = #len_t::try_from(data.len())
                        .map_err(|_| crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
                    out.extend_from_slice(&e.tag().#to_bytes());
                    out.extend_from_slice(&len.#to_bytes());
                    out.extend_from_slice(&data);
                    while !(out.len() as u64).is_multiple_of(Self::ALIGN) {
                        out.push(0);
                    }
                }
                out.extend_from_slice(&Self::END_TAG.#to_bytes());
                out.extend_from_slice(&#zero_len.#to_bytes());
                Ok(out)
            }
        },
        Some(h) => {
            let hs = &h.structure;
            let (tf, lf) = (&h.tag_field, &h.len_field);
            let header_len = to_u64(quote!(h.#lf), len_ty);
            quote! {
            /// Splits `buf` into raw entries (each starting with a `#hs`), up to
            /// the end tag or the end of `buf`. An entry header cut off by the
            /// end of `buf`, or a payload longer than what remains, is an error.
            pub fn parse_raw(buf: &[u8]) -> Result<crate::rt::TlvRawList, crate::rt::FormatError> {
                let mut entries = Vec::new();
                let mut pos = 0usize;
                while pos < buf.len() {
                    if buf.len() - pos < #hdr {
                        return Err(crate::rt::FormatError::Truncated { item: #item, needed: (pos + #hdr) as u64, available: buf.len() as u64 });
                    }
                    let h = #hs::read(&buf[pos..pos + #hdr])?;
                    let (tag, len) = (h.#tf, #header_len);
                    if tag == Self::END_TAG {
                        return Ok(crate::rt::TlvRawList { entries, end: (pos + #hdr) as u64, terminated: true });
                    }
                    let start = pos + #hdr;
                    let available = (buf.len() - start) as u64;
                    if len > available {
                        return Err(crate::rt::FormatError::Truncated { item: #item, needed: start as u64 + len, available: buf.len() as u64 });
                    }
                    entries.push(crate::rt::TlvRaw { offset: pos as u64, #raw_tag_field, data: start..start + len as usize });
                    let next = crate::rt::align_up(start as u64 + len, Self::ALIGN)
                        .ok_or(crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
                    pos = usize::try_from(next).unwrap_or(usize::MAX);
                }
                Ok(crate::rt::TlvRawList { entries, end: pos.min(buf.len()) as u64, terminated: false })
            }

            /// Reads and decodes entries, each with its header (see [`Self::parse_raw`]).
            pub fn parse_list(buf: &[u8]) -> Result<crate::rt::TlvList<(#hs, Self)>, crate::rt::FormatError> {
                let raw = Self::parse_raw(buf)?;
                let mut entries = Vec::with_capacity(raw.entries.len());
                for e in &raw.entries {
                    let at = e.offset as usize;
                    let h = #hs::read(&buf[at..at + #hdr])?;
                    entries.push((e.offset, (h, Self::parse_payload(#raw_tag, &buf[e.data.clone()])?)));
                }
                Ok(crate::rt::TlvList { entries, end: raw.end, terminated: raw.terminated })
            }

            /// Encodes entries, each after its header (whose tag and length are
            /// set from the entry) and padded, followed by an end entry: a
            /// default header carrying the end tag.
            pub fn write_list(items: &[(#hs, Self)]) -> Result<Vec<u8>, crate::rt::FormatError> {
                let mut out = Vec::new();
                for (h, e) in items {
                    let data = e.payload()?;
                    let mut h = h.clone();
                    h.#tf = e.tag();
                    h.#lf = #len_t::try_from(data.len())
                        .map_err(|_| crate::rt::FormatError::Overflow { item: #item, field: "len" })?;
                    out.extend_from_slice(&h.to_bytes()?);
                    out.extend_from_slice(&data);
                    while !(out.len() as u64).is_multiple_of(Self::ALIGN) {
                        out.push(0);
                    }
                }
                let end = #hs { #tf: Self::END_TAG, ..Default::default() };
                out.extend_from_slice(&end.to_bytes()?);
                Ok(out)
            }
            }
        }
    };
    Ok(quote! {
        #doc
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum #name {
            #(#variants)*
        }

        impl #name {
            pub const ITEM: &'static str = #item;
            #(#consts)*
            /// The tag that ends the list.
            pub const END_TAG: #tag_t = #end_tag;
            /// Bytes of tag and length before each payload.
            pub const HEADER_SIZE: usize = #hdr;
            /// Payloads are padded to a multiple of this.
            pub const ALIGN: u64 = #align;
            #placement

            /// The entry's tag.
            pub fn tag(&self) -> #tag_t {
                match self {
                    #(#tag_arms)*
                }
            }

            /// Decodes one payload.
            pub fn parse_payload(tag: #tag_t, data: &[u8]) -> Result<Self, crate::rt::FormatError> {
                Ok(match tag {
                    #(#parse_arms)*
                    tag => Self::#other { tag, data: data.to_vec() },
                })
            }

            /// Encodes the payload (without tag, length or padding).
            pub fn payload(&self) -> Result<Vec<u8>, crate::rt::FormatError> {
                match self {
                    #(#payload_arms)*
                }
            }

            /// Checks the payload's rules.
            pub fn validate(&self) -> Result<(), crate::rt::FormatError> {
                match self {
                    #(#validate_arms)*
                    _ => Ok(()),
                }
            }

            #list_fns

            /// The layout of this list.
            pub const LAYOUT: crate::rt::TlvLayout = crate::rt::TlvLayout {
                name: #name_str, doc: #tdoc, tag: #tag_str, len: #len_str, endian: #endian_str,
                align: #align, end: #end_u64, placement: #placement_text, variants: &[#(#layout_rows)*],
            };
        }
    })
}

fn emit_table(m: &Model, t: &TableDef) -> Result<TokenStream> {
    let name = &t.name;
    let item = format!("{}::{}", m.file.format, name);
    let doc = doc_attr(&t.doc);
    let from_bytes = match t.endian {
        Endian::Big => quote!(from_be_bytes),
        Endian::Little => quote!(from_le_bytes),
    };
    let to_bytes = match t.endian {
        Endian::Big => quote!(to_be_bytes),
        Endian::Little => quote!(to_le_bytes),
    };
    let (entry_ty, raw_ty, size, entry_text, decode, encode) = match &t.entry {
        TableEntry::Int(it) => {
            let r = int_ident(*it);
            (quote!(#r), quote!(#r), it.bytes(), it.name(), quote!(v), quote!(entry))
        }
        TableEntry::Bitfield(b) => {
            let def = m.bitfield_def(b).expect("checked: bitfield exists");
            let r = format_ident!("u{}", def.width);
            (quote!(#b), quote!(#r), (def.width / 8) as u64, b.to_string(), quote!(#b::from_raw(v)), quote!(entry.raw()))
        }
    };
    let count = match &t.count {
        Some(c) if c.const_eval().is_some() => {
            let v = c.const_eval().unwrap_or(0);
            quote!(pub const COUNT: u64 = #v;)
        }
        Some(c) => {
            let mut bases = Vec::new();
            c.path_bases(&mut bases);
            let args = bases.iter().map(|b| {
                let a = format_ident!("{}", crate::expr::to_snake(&b.to_string()));
                quote!(#a: &#b)
            });
            let body = c.emit(&EmitCtx::fields_bare());
            let cdoc = format!("Number of entries: `{}`.", c.render());
            quote! {
                #[doc = #cdoc]
                pub fn count(#(#args),*) -> Option<u64> { #body.get() }
            }
        }
        None => quote!(),
    };
    let count_text = t.count.as_ref().map(Expr::render).unwrap_or_default();
    if let Some(bits) = &t.bits {
        return Ok(emit_packed_table(t, &item, bits, count, count_text));
    }
    let placement = emit_placement(&t.placement);
    let placement_text = placement_text(&t.placement);
    let size_lit = lit_usize(size);
    let name_str = name.to_string();
    let tdoc = &t.doc;
    let endian_str = t.endian.short();
    Ok(quote! {
        #doc
        #[derive(Debug, Clone, Copy)]
        pub struct #name;

        impl #name {
            pub const ITEM: &'static str = #item;
            /// Bytes per entry.
            pub const ENTRY_SIZE: usize = #size_lit;
            #count
            #placement

            /// Entry `index` of a table held as bytes; `None` past the end.
            #[inline]
            pub fn get(buf: &[u8], index: usize) -> Option<#entry_ty> {
                let start = index.checked_mul(Self::ENTRY_SIZE)?;
                let b = buf.get(start..start.checked_add(Self::ENTRY_SIZE)?)?;
                let v = #raw_ty::#from_bytes(b.try_into().ok()?);
                Some(#decode)
            }

            /// Stores entry `index`; false past the end.
            #[inline]
            pub fn set(buf: &mut [u8], index: usize, entry: #entry_ty) -> bool {
                let Some(start) = index.checked_mul(Self::ENTRY_SIZE) else { return false };
                let Some(end) = start.checked_add(Self::ENTRY_SIZE) else { return false };
                match buf.get_mut(start..end) {
                    Some(b) => {
                        b.copy_from_slice(&(#encode).#to_bytes());
                        true
                    }
                    None => false,
                }
            }

            /// Number of whole entries in `buf`.
            #[inline]
            pub fn len(buf: &[u8]) -> usize {
                buf.len() / Self::ENTRY_SIZE
            }

            /// The layout of this table.
            pub const LAYOUT: crate::rt::TableLayout = crate::rt::TableLayout {
                name: #name_str, doc: #tdoc, entry: #entry_text, entry_size: #size, endian: #endian_str,
                count: #count_text, placement: #placement_text,
            };
        }
    })
}

/// A table of packed integers whose width comes from the image (refcount blocks).
fn emit_packed_table(t: &TableDef, item: &str, bits: &Expr, count: TokenStream, count_text: String) -> TokenStream {
    let name = &t.name;
    let doc = doc_attr(&t.doc);
    let big = t.endian == Endian::Big;
    let mut bases = Vec::new();
    bits.path_bases(&mut bases);
    let args = bases.iter().map(|b| {
        let a = format_ident!("{}", crate::expr::to_snake(&b.to_string()));
        quote!(#a: &#b)
    });
    let body = bits.emit(&EmitCtx::fields_bare());
    let bdoc = format!("Bits per entry: `{}`; `None` unless a power of two from 1 to 64.", bits.render());
    let placement = emit_placement(&t.placement);
    let placement_text = placement_text(&t.placement);
    let name_str = name.to_string();
    let tdoc = &t.doc;
    let entry_text = format!("u{{{}}}", bits.render());
    let endian_str = t.endian.short();
    quote! {
        #doc
        #[derive(Debug, Clone, Copy)]
        pub struct #name;

        impl #name {
            pub const ITEM: &'static str = #item;
            #count
            #placement

            #[doc = #bdoc]
            pub fn entry_bits(#(#args),*) -> Option<u32> {
                #body.get().filter(|b| b.is_power_of_two() && *b <= 64).map(|b| b as u32)
            }

            /// Entry `index` of a table of `bits`-wide entries held as bytes; `None` past the end.
            #[inline]
            pub fn get(buf: &[u8], index: usize, bits: u32) -> Option<u64> {
                crate::rt::packed_get(buf, index, bits, #big)
            }

            /// Stores entry `index`; false past the end or if `v` does not fit.
            #[inline]
            pub fn set(buf: &mut [u8], index: usize, bits: u32, v: u64) -> bool {
                crate::rt::packed_set(buf, index, bits, #big, v)
            }

            /// Number of whole entries in `buf`.
            #[inline]
            pub fn len(buf: &[u8], bits: u32) -> usize {
                (buf.len() as u64 * 8 / bits.max(1) as u64) as usize
            }

            /// The layout of this table.
            pub const LAYOUT: crate::rt::TableLayout = crate::rt::TableLayout {
                name: #name_str, doc: #tdoc, entry: #entry_text, entry_size: 0, endian: #endian_str,
                count: #count_text, placement: #placement_text,
            };
        }
    }
}
