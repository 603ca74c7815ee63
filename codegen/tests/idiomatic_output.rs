//! The generated code is meant to be clippy-clean at default lint levels
//! (formats/ is checked with `cargo clippy -p qimg-formats --tests`); these
//! tests pin the emitter's choices behind that: `Default` derived where the
//! derive gives the same values, no casts to the same type, and expressions
//! as operators on `rt::Num` with only the parentheses they need.

use qimg_codegen::compile_str;

fn compile(src: &str) -> String {
    let src = format!("#![spec(format = \"t\", endian = \"big\")]\n{src}");
    compile_str("formats/t.spec", &src).map(|g| g.code).unwrap_or_else(|d| panic!("{d}"))
}

/// The code without whitespace, so that checks do not depend on line breaks.
fn squeezed(code: &str) -> String {
    code.split_whitespace().collect()
}

/// The `#[derive(...)]` line just before `pub struct NAME` or `pub enum NAME`.
fn derives(code: &str, item: &str) -> String {
    let at = code.find(item).unwrap_or_else(|| panic!("no `{item}` in\n{code}"));
    let line = code[..at].lines().rev().find(|l| l.trim_start().starts_with("#[derive(")).unwrap();
    line.trim().to_string()
}

#[test]
fn structures_derive_default_when_every_field_takes_its_types_default() {
    let code = compile(
        "#[spec(size = 40)]
        pub struct Plain { #[spec(magic = b\"ABCD\")] magic: [u8; 4], version: u32, #[spec(when = version >= 3, default = 0)] a: u32, id: [u8; 28] }",
    );
    assert!(derives(&code, "pub struct Plain").contains("Default"), "{code}");
    assert!(!code.contains("impl Default for Plain"), "{code}");
}

#[test]
fn structures_spell_out_defaults_the_derive_cannot_give() {
    // An explicit non-zero default, and an array too long to implement `Default`.
    let code = compile(
        "#[spec(size = 8)]
        pub struct Versioned { version: u32, #[spec(when = version >= 3, default = 4)] order: u32 }
        #[spec(size = 64)]
        pub struct Padded { pad: [u8; 64] }",
    );
    for name in ["Versioned", "Padded"] {
        assert!(!derives(&code, &format!("pub struct {name}")).contains("Default"), "{code}");
        assert!(code.contains(&format!("impl Default for {name}")), "{code}");
    }
    assert!(code.contains("order: 4u32"), "{code}");
    assert!(code.contains("pad: [0u8; 64]"), "{code}");
}

#[test]
fn enums_derive_default_for_their_zero_variant() {
    let code = compile(
        "#[spec(repr = u8, unknown = keep)]
        pub enum Kind { None = 0, Some = 1 }
        #[spec(repr = u8, unknown = keep)]
        pub enum Nonzero { One = 1 }",
    );
    assert!(derives(&code, "pub enum Kind").contains("Default"), "{code}");
    assert!(code.contains("#[default]\n    None,"), "{code}");
    assert!(!derives(&code, "pub enum Nonzero").contains("Default"), "{code}");
    assert!(code.contains("impl Default for Nonzero"), "{code}");
}

#[test]
fn casts_only_where_the_types_differ() {
    let code = compile(
        "#[spec(flags = u64, unknown = reject)]
        pub struct Wide { #[spec(bit = 0)] a: bool }
        #[spec(flags = u32, unknown = reject)]
        pub struct Narrow { #[spec(bit = 0)] a: bool }
        #[spec(size = 16)]
        pub struct S { wide: Wide, narrow: Narrow, #[spec(checksum = crc32c)] sum: u32 }",
    );
    assert!(!code.contains("as u64 as u64") && !code.contains("v as u64;"), "{code}");
    assert!(code.contains("value: self.wide.unknown_bits(),"), "{code}");
    assert!(code.contains("value: self.narrow.unknown_bits() as u64,"), "{code}");
    // crc32c gives a u64; the stored checksum is a u32.
    assert!(squeezed(&code).contains("letcomputed=crate::rt::crc32c(region,12usize..12usize+4usize)asu32asu64;"), "{code}");
}

#[test]
fn rules_borrow_nothing_and_use_operators() {
    let code = compile(
        "#[spec(size = 16)]
        pub struct H { bits: u32, #[spec(valid = ..=(1 << bits) - 1, align = 1 << bits)] offset: u64, n: u32 }",
    );
    let flat = squeezed(&code);
    assert!(!flat.contains("rt::num(&self."), "{code}");
    // `..=(1 << bits) - 1` and `align = 1 << bits`.
    assert!(flat.contains(".is_le((crate::rt::Num::lit(1u64)<<crate::rt::num(self.bits))-crate::rt::Num::lit(1u64)"), "{code}");
    assert!(flat.contains("(crate::rt::num(self.offset)%(crate::rt::Num::lit(1u64)<<crate::rt::num(self.bits))).is_eq("), "{code}");
}
