//! qimg's on-disk layouts.
//!
//! Each `formats/NAME.spec` becomes the module `NAME`, generated at build time
//! by `qimg-codegen`: typed structures (binrw), packed table entries
//! (modular-bitfield), enums and flag sets with their unknown-value policies,
//! TLV lists, tables kept as bytes, `const` offsets and masks, validation and
//! a layout table. Nothing here does I/O beyond parsing and encoding buffers.

pub mod rt;

include!(concat!(env!("OUT_DIR"), "/formats.rs"));

/// Finds a format's layout by name.
pub fn layout(format: &str) -> Option<&'static rt::FormatLayout> {
    ALL.iter().copied().find(|f| f.name == format)
}
