//! Spec language extensions: conditional rules (`check_if`), named rule
//! groups with their own message (`check(NAME, ...)`), `zero` on identifiers,
//! alternative magics (`magic = [b"..", b".."]`) and TLV lists whose entries
//! start with a header structure (`tlv(header = S, tag = field, len = field)`).
//! The round trips of the generated code are in tests/layouts (qcow, qed,
//! vdi, parallels); these tests cover the compiler's side.

use qimg_codegen::compile_str;

fn compile(src: &str) -> Result<String, String> {
    compile_str("formats/t.spec", src).map(|g| g.code).map_err(|d| d.to_string())
}

const HEAD: &str = "#![spec(format = \"t\", endian = \"big\")]\n";

#[test]
fn check_groups_get_their_own_function_and_message() {
    let code = compile(&format!(
        "{HEAD}#[spec(size = 9)]\npub struct H {{
            #[spec(valid = 2.., msg = \"too small\")]
            #[spec(check(fits, valid = ..=(1 << bits), check_if = bits <= 16, msg = \"too large\"))]
            #[spec(check(even, multiple_of = 2))]
            size: u64,
            #[spec(valid = 9..=16)]
            bits: u8,
        }}"
    ))
    .unwrap();
    for f in ["pub fn check_size(", "pub fn check_size_fits(", "pub fn check_size_even(", "pub fn check_bits("] {
        assert!(code.contains(f), "{f}\n{code}");
    }
    assert!(code.contains("message: Some(\"too small\")") && code.contains("message: Some(\"too large\")"), "{code}");
    // validate() runs each group right after the field's own rules.
    let calls: Vec<_> = ["self.check_size()?", "self.check_size_fits()?", "self.check_size_even()?", "self.check_bits()?"]
        .iter()
        .map(|c| code.find(c).unwrap_or_else(|| panic!("{c}\n{code}")))
        .collect();
    assert!(calls.windows(2).all(|w| w[0] < w[1]), "{code}");
    // The layout row lists every group with its condition.
    assert!(code.contains("2..; fits: ..=1 << bits if bits <= 16; even: multiple of 2"), "{code}");
}

#[test]
fn check_if_guards_the_fields_checks() {
    let code = compile(&format!(
        "{HEAD}#[spec(size = 12)]\npub struct H {{ off: u64, #[spec(valid = ..=1023, check_if = off != 0, msg = \"long\")] len: u32 }}"
    ))
    .unwrap();
    let body = &code[code.find("pub fn check_len(").unwrap()..];
    let guard = body.find("is_ne").unwrap();
    let rule = body.find("is_le").unwrap();
    assert!(guard < rule, "{body}");
    assert!(code.contains("..=1023 if off != 0"), "{code}");
}

#[test]
fn check_mistakes_are_reported() {
    let err = |body: &str| compile(&format!("{HEAD}pub struct H {{ {body} }}")).unwrap_err();
    let e = err("#[spec(check(a, valid = 1..), check(a, valid = ..=9))] n: u32");
    assert!(e.contains("check `a` is declared twice"), "{e}");
    let e = err("#[spec(check(a, msg = \"x\"))] n: u32");
    assert!(e.contains("check `a` needs a rule"), "{e}");
    let e = err("#[spec(check(a, valid = 1..))] s: Str<4>");
    assert!(e.contains("apply to numeric fields"), "{e}");
    let e = err("#[spec(check_if = n > 1)] n: u32");
    assert!(e.contains("`check_if` needs a check"), "{e}");
    let e = err("#[spec(valid = 1.., check_if = n + 1)] n: u32");
    assert!(e.contains("must be a condition"), "{e}");
    let e = err("#[spec(check(a, valid = 1.., bogus = 2))] n: u32");
    assert!(e.contains("unknown spec attribute `bogus` on a check"), "{e}");
    let e = err("#[spec(valid = 1.., valid = 2..)] n: u32");
    assert!(e.contains("`valid` is given twice"), "{e}");
    assert!(e.starts_with("formats/t.spec:2:"), "{e}");
}

#[test]
fn zero_applies_to_identifiers() {
    let code = compile(&format!("{HEAD}#[spec(size = 32)]\npub struct H {{ #[spec(zero, msg = \"link\")] a: Guid, #[spec(zero)] b: Uuid }}")).unwrap();
    assert!(code.contains("self.a.0.iter().all(|b| *b == 0)"), "{code}");
    let e = compile(&format!("{HEAD}pub struct H {{ #[spec(zero)] s: Str<4> }}")).unwrap_err();
    assert!(e.contains("`zero` applies to integers, bytes and identifiers"), "{e}");
}

#[test]
fn alternative_magics_keep_the_bytes_read() {
    let code = compile(&format!("{HEAD}#[spec(size = 8)]\npub struct H {{ #[spec(magic = [b\"AAAA\", b\"BBBB\"])] magic: [u8; 4], n: u32 }}")).unwrap();
    assert!(code.contains("pub magic: [u8; 4]"), "{code}");
    assert!(code.contains("pub const MAGIC_VALUES: [[u8; 4]; 2] = [*b\"AAAA\", *b\"BBBB\"];"), "{code}");
    assert!(code.contains("pub const MAGIC_1: [u8; 4] = *b\"BBBB\";"), "{code}");
    assert!(code.contains("Self::MAGIC_VALUES.contains(&magic)"), "{code}");
    assert!(code.contains("rule: \"= \\\"AAAA\\\" | \\\"BBBB\\\"\""), "{code}");
    // Struct-level shorthand works too.
    compile(&format!("{HEAD}#[spec(magic = [b\"AB\", b\"CD\"])]\npub struct H {{ n: u32 }}")).unwrap();
    let e = compile(&format!("{HEAD}pub struct H {{ #[spec(magic = [b\"AAAA\", b\"BBB\"])] magic: [u8; 4] }}")).unwrap_err();
    assert!(e.contains("every alternative magic must take 4 bytes"), "{e}");
    let e = compile(&format!("{HEAD}pub struct H {{ #[spec(magic = [b\"AAAA\"])] magic: [u8; 4] }}")).unwrap_err();
    assert!(e.contains("at least two alternatives"), "{e}");
    let e = compile(&format!("{HEAD}pub struct H {{ #[spec(magic = [b\"AAAA\", b\"BBBB\"], valid = 1..)] magic: [u8; 4] }}")).unwrap_err();
    assert!(e.contains("a magic field is constant"), "{e}");
}

const TLV: &str = "#[spec(size = 16)]\npub struct EntryHeader { magic: u64, flags: u32, size: u32 }
#[spec(tlv(header = EntryHeader, tag = magic, len = size, align = 8, end = 0))]
pub enum Entry {
    #[spec(tag = 0x20385fae252cb34a)] Known(Bytes),
    #[spec(other)] Unknown(Bytes),
}";

#[test]
fn tlv_entries_can_start_with_a_header_structure() {
    let code = compile(&format!("{HEAD}{TLV}")).unwrap();
    assert!(code.contains("pub const HEADER_SIZE: usize = 16usize;"), "{code}");
    assert!(code.contains(&format!("pub const TAG_KNOWN: u64 = {}u64;", 0x20385fae252cb34au64)), "{code}");
    assert!(code.contains("items: &[(EntryHeader, Self)]"), "{code}");
    assert!(code.contains("TlvList<(EntryHeader, Self)>"), "{code}");
    assert!(code.contains("tag: \"EntryHeader.magic: u64\""), "{code}");
    assert!(code.contains("len: \"EntryHeader.size: u32\""), "{code}");
}

#[test]
fn tlv_header_mistakes_are_reported() {
    let with = |from: &str, to: &str| compile(&format!("{HEAD}{}", TLV.replace(from, to))).unwrap_err();
    let e = with("len = size", "len = nope");
    assert!(e.contains("`EntryHeader` has no field `nope`"), "{e}");
    let e = with("header = EntryHeader", "header = Missing");
    assert!(e.contains("`Missing` is not a structure"), "{e}");
    let e = with("magic: u64, flags: u32,", "magic: u8, flags: [u8; 11],");
    assert!(e.contains("does not fit in u8"), "{e}");
    let e = with("len = size", "len = magic");
    assert!(e.contains("different fields"), "{e}");
    let e = with("#[spec(size = 16)]\npub struct EntryHeader { magic: u64, flags: u32, size: u32 }", "pub struct EntryHeader { magic: u64, size: u32, #[spec(len = size)] extra: Bytes }");
    assert!(e.contains("needs a fixed size"), "{e}");
    let e = with("tag = magic", "tag = u64");
    assert!(e.contains("has no field `u64`"), "{e}");
}
