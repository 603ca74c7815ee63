//! Spec language extensions for structures kept in several copies (`at = [..]`)
//! and for checksums (`msg` on a checksum field, `over` past the structure).

use qimg_codegen::compile_str;

fn compile(src: &str) -> Result<String, String> {
    compile_str("formats/t.spec", src).map(|g| g.code).map_err(|d| d.to_string())
}

const HEAD: &str = "#![spec(format = \"t\", endian = \"little\")]\n";

#[test]
fn copies_get_an_offset_table() {
    let code = compile(&format!(
        "{HEAD}#[spec(size = 8, at = [0x10000, 0x20000])]\npub struct H {{ #[spec(magic = b\"head\")] sig: [u8; 4], n: u32 }}"
    ))
    .unwrap();
    assert!(code.contains("pub const FILE_OFFSET: u64 = 65536u64;"), "{code}");
    assert!(code.contains("pub const FILE_OFFSETS: [u64; 2] = [65536u64, 131072u64];"), "{code}");
    assert!(code.contains("placement: \"0x10000, 0x20000\""), "{code}");
}

#[test]
fn copies_must_be_constant_and_several() {
    let one = compile(&format!("{HEAD}#[spec(size = 4, at = [0x10000])]\npub struct H {{ n: u32 }}")).unwrap_err();
    assert!(one.contains("formats/t.spec:2:") && one.contains("at least two"), "{one}");
    let moving = compile(&format!("{HEAD}#[spec(size = 4, at = [end - 4, 0])]\npub struct H {{ n: u32 }}")).unwrap_err();
    assert!(moving.contains("constant offsets"), "{moving}");
}

#[test]
fn checksum_fields_take_a_message() {
    let code = compile(&format!(
        "{HEAD}#[spec(size = 8)]\npub struct F {{ #[spec(checksum = ones_complement, msg = \"Incorrect header checksum\")] c: u32, n: u32 }}"
    ))
    .unwrap();
    assert!(code.contains("message: Some(\"Incorrect header checksum\")"), "{code}");
    // A message still needs something to check.
    let err = compile(&format!("{HEAD}#[spec(size = 4)]\npub struct F {{ #[spec(msg = \"x\")] n: u32 }}")).unwrap_err();
    assert!(err.contains("`msg` needs a check"), "{err}");
}

#[test]
fn checksums_over_more_than_the_structure_keep_the_stored_value() {
    let code = compile(&format!(
        "{HEAD}#[spec(size = 12)]\npub struct E {{ #[spec(magic = b\"loge\")] sig: [u8; 4], #[spec(checksum = crc32c, over = len)] c: u32, len: u32 }}"
    ))
    .unwrap();
    // to_bytes fills the checksum only when the encoding holds the whole region.
    assert!(code.contains("if self.checksum_region()? <= out.len()"), "{code}");
}
