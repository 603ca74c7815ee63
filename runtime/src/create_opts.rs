//! The `-o` option schemas of every format qemu-img 10.0.2 can create or amend.
//!
//! Each list is in the driver's own order (the order of the `Formatting ...` line),
//! with QEMU's defaults and `-o help` texts, which scripts parse and which therefore
//! are reproduced verbatim (including two trailing spaces in `subformat` texts).
//! A file name on the command line adds the `file` protocol's options
//! ([`FILE_PROTOCOL`]) after the format's own, skipping names already present:
//! [`create_schema_with_protocol`].

use crate::opts::{append_schema, render_help, OptDesc, OptKind};

const B: OptKind = OptKind::Bool;
const S: OptKind = OptKind::Size;
const N: OptKind = OptKind::Number;
const T: OptKind = OptKind::String;

const fn o(name: &'static str, kind: OptKind, help: &'static str) -> OptDesc {
    OptDesc::new(name, kind, help)
}

const SIZE: OptDesc = o("size", S, "Virtual disk size");
const BACKING_FILE: OptDesc = o("backing_file", T, "File name of a base image");
const BACKING_FMT: OptDesc = o("backing_fmt", T, "Image format of the base image");
const ENCRYPTION: OptDesc = o(
    "encryption",
    B,
    "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)",
);
const PBKDF_TIME: &str = "Time to spend in PBKDF in milliseconds";
const CIPHER_ALG: &str = "Name of encryption cipher algorithm";
const CIPHER_MODE: &str = "Name of encryption cipher mode";
const IVGEN_ALG: &str = "Name of IV generator algorithm";
const IVGEN_HASH_ALG: &str = "Name of IV generator hash algorithm";
const HASH_ALG: &str = "Name of encryption hash algorithm";
const COMPAT: OptDesc = o("compat", T, "Compatibility level (v2 [0.10] or v3 [1.1])");
const DATA_FILE: OptDesc = o("data_file", T, "File name of an external data file");
const DATA_FILE_RAW: OptDesc = o(
    "data_file_raw",
    B,
    "The external data file must stay valid as a raw image",
);
const LAZY_REFCOUNTS: OptDesc = o("lazy_refcounts", B, "Postpone refcount updates");
const REFCOUNT_BITS: OptDesc = o(
    "refcount_bits",
    N,
    "Width of a reference count entry in bits",
);
const KEYSLOT: &str = "Select a single keyslot to modify explicitly";
const NEW_SECRET: &str = "New secret to set in the matching keyslots. Empty string to erase";
const OLD_SECRET: &str = "Select all keyslots that match this password";
const STATE: &str = "Select new state of affected keyslots (active/inactive)";

/// Options of the `file` protocol, appended when a target file name is known.
pub const FILE_PROTOCOL: &[OptDesc] = &[
    SIZE,
    o("nocow", B, "Turn off copy-on-write (valid only on btrfs)"),
    o(
        "preallocation",
        T,
        "Preallocation mode (allowed values: off, falloc, full)",
    ),
    o(
        "extent_size_hint",
        S,
        "Extent size hint for the image file, 0 to disable",
    ),
];

/// `raw`.
pub const RAW: &[OptDesc] = &[SIZE];

/// `qcow2`.
pub const QCOW2: &[OptDesc] = &[
    ENCRYPTION,
    o(
        "encrypt.format",
        T,
        "Encrypt the image, format choices: 'aes', 'luks'",
    ),
    o(
        "encrypt.key-secret",
        T,
        "ID of secret providing qcow AES key or LUKS passphrase",
    ),
    o("encrypt.cipher-alg", T, CIPHER_ALG),
    o("encrypt.cipher-mode", T, CIPHER_MODE),
    o("encrypt.ivgen-alg", T, IVGEN_ALG),
    o("encrypt.ivgen-hash-alg", T, IVGEN_HASH_ALG),
    o("encrypt.hash-alg", T, HASH_ALG),
    o("encrypt.iter-time", N, PBKDF_TIME),
    o("cluster_size", S, "qcow2 cluster size").with_default("65536"),
    o("extended_l2", B, "Extended L2 tables").with_default("off"),
    o(
        "preallocation",
        T,
        "Preallocation mode (allowed values: off, metadata, falloc, full)",
    ),
    o(
        "compression_type",
        T,
        "Compression method used for image cluster compression",
    )
    .with_default("zlib"),
    SIZE,
    COMPAT,
    BACKING_FILE,
    BACKING_FMT,
    DATA_FILE,
    DATA_FILE_RAW,
    LAZY_REFCOUNTS.with_default("off"),
    REFCOUNT_BITS.with_default("16"),
];

/// `qcow` (version 1).
pub const QCOW: &[OptDesc] = &[
    SIZE,
    BACKING_FILE,
    o("backing_fmt", T, "Format of the backing image"),
    ENCRYPTION,
    o(
        "encrypt.format",
        T,
        "Encrypt the image, format choices: 'aes'",
    ),
    o(
        "encrypt.key-secret",
        T,
        "ID of the secret that provides the AES encryption key",
    ),
];

/// `qed`.
pub const QED: &[OptDesc] = &[
    SIZE,
    BACKING_FILE,
    BACKING_FMT,
    o("cluster_size", S, "Cluster size (in bytes)").with_default("65536"),
    o("table_size", S, "L1/L2 table size (in clusters)"),
];

/// `vdi`.
pub const VDI: &[OptDesc] = &[
    SIZE,
    o("static", B, "VDI static (pre-allocated) image").with_default("off"),
];

/// `vmdk`.
pub const VMDK: &[OptDesc] = &[
    SIZE,
    o(
        "adapter_type",
        T,
        "Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX",
    ),
    BACKING_FILE,
    o("backing_fmt", T, "Must be 'vmdk' if present"),
    o("compat6", B, "VMDK version 6 image").with_default("off"),
    o("hwversion", T, "VMDK hardware version").with_default("undefined"),
    o("toolsversion", T, "VMware guest tools version"),
    o(
        "subformat",
        T,
        "VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | \
         twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} ",
    ),
    o(
        "zeroed_grain",
        B,
        "Enable efficient zero writes using the zeroed-grain GTE feature",
    ),
];

/// `vpc` (VHD).
pub const VPC: &[OptDesc] = &[
    SIZE,
    o("subformat", T, "Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} "),
    o(
        "force_size",
        B,
        "Force disk size calculation to use the actual size specified, rather than using the nearest \
         CHS-based calculation",
    ),
];

/// `vhdx`.
pub const VHDX: &[OptDesc] = &[
    o("size", S, "Virtual disk size; max of 64TB."),
    o("log_size", S, "Log size; min 1MB.").with_default("1048576"),
    o("block_size", S, "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.")
        .with_default("0"),
    o("subformat", T, "VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'."),
    o(
        "block_state_zero",
        B,
        "Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to 'off' when \
         using 'qemu-img convert' with subformat=dynamic.",
    ),
];

/// `luks`.
pub const LUKS: &[OptDesc] = &[
    SIZE,
    o(
        "key-secret",
        T,
        "ID of the secret that provides the keyslot passphrase",
    ),
    o("cipher-alg", T, CIPHER_ALG),
    o("cipher-mode", T, CIPHER_MODE),
    o("ivgen-alg", T, IVGEN_ALG),
    o("ivgen-hash-alg", T, IVGEN_HASH_ALG),
    o("hash-alg", T, HASH_ALG),
    o("iter-time", N, PBKDF_TIME),
    o("detached-header", B, "Create a detached LUKS header"),
];

/// `parallels`.
pub const PARALLELS: &[OptDesc] = &[
    SIZE,
    o("cluster_size", S, "Parallels image cluster size").with_default("1048576"),
];

/// `qemu-img amend` options of `qcow2`.
pub const QCOW2_AMEND: &[OptDesc] = &[
    SIZE,
    COMPAT,
    BACKING_FILE,
    BACKING_FMT,
    DATA_FILE,
    DATA_FILE_RAW,
    LAZY_REFCOUNTS,
    REFCOUNT_BITS,
    o("encrypt.keyslot", N, KEYSLOT),
    o("encrypt.state", T, STATE),
    o("encrypt.old-secret", T, OLD_SECRET),
    o("encrypt.new-secret", T, NEW_SECRET),
    o("encrypt.iter-time", N, PBKDF_TIME),
];

/// `qemu-img amend` options of `luks`.
pub const LUKS_AMEND: &[OptDesc] = &[
    o("state", T, STATE),
    o("keyslot", N, KEYSLOT),
    o("old-secret", T, OLD_SECRET),
    o("new-secret", T, NEW_SECRET),
    o("iter-time", N, PBKDF_TIME),
];

/// Drivers qemu-img 10.0.2 knows but cannot create images with
/// (`Format driver 'X' does not support image creation`).
pub const NO_CREATE: &[&str] = &[
    "blkdebug",
    "blklogwrites",
    "blkverify",
    "bochs",
    "cloop",
    "compress",
    "copy-before-write",
    "copy-on-read",
    "dmg",
    "null-aio",
    "null-co",
    "preallocate",
    "quorum",
    "replication",
    "snapshot-access",
    "throttle",
    "vvfat",
];

/// The format's own create options, or `None` if qemu-img cannot create it.
pub fn create_schema(format: &str) -> Option<&'static [OptDesc]> {
    Some(match format {
        "file" => FILE_PROTOCOL,
        "raw" => RAW,
        "qcow2" => QCOW2,
        "qcow" => QCOW,
        "qed" => QED,
        "vdi" => VDI,
        "vmdk" => VMDK,
        "vpc" => VPC,
        "vhdx" => VHDX,
        "luks" => LUKS,
        "parallels" => PARALLELS,
        _ => return None,
    })
}

/// The create options once a target file is known: the format's own options followed
/// by the `file` protocol's new ones.
pub fn create_schema_with_protocol(format: &str) -> Option<Vec<OptDesc>> {
    create_schema(format).map(|own| append_schema(own, FILE_PROTOCOL))
}

/// The options `qemu-img amend` accepts for `format`, if it supports amendment.
pub fn amend_schema(format: &str) -> Option<&'static [OptDesc]> {
    match format {
        "qcow2" => Some(QCOW2_AMEND),
        "luks" => Some(LUKS_AMEND),
        _ => None,
    }
}

/// Whether qemu-img 10.0.2 knows a driver of this name (the ones it can create, the
/// ones it cannot, and the protocols that double as formats).
pub fn is_known_driver(format: &str) -> bool {
    create_schema(format).is_some()
        || NO_CREATE.contains(&format)
        || matches!(format, "host_device" | "host_cdrom" | "nbd" | "nvme")
}

/// The whole stdout of `qemu-img create -f FORMAT -o help [FILE]` (also `convert -O
/// FORMAT -o help`), for a plain file as FILE; `Err` is the message (status 1).
pub fn create_help(format: &str, with_file: bool) -> Result<String, String> {
    let Some(own) = create_schema(format) else {
        return Err(if is_known_driver(format) {
            format!("Format driver '{format}' does not support image creation")
        } else {
            format!("Unknown file format '{format}'")
        });
    };
    Ok(if with_file {
        format!(
            "Supported options:\n{}",
            render_help(&append_schema(own, FILE_PROTOCOL))
        )
    } else {
        format!(
            "Supported {format} options:\n{}\nThe protocol level may support further options.\n\
             Specify the target filename to include those options.\n",
            render_help(own)
        )
    })
}

/// The whole stdout of `qemu-img amend -f FORMAT -o help`; `Err` is the message
/// (status 1).
pub fn amend_help(format: &str) -> Result<String, String> {
    match amend_schema(format) {
        Some(schema) => Ok(format!(
            "Amend options for '{format}':\n{}",
            render_help(schema)
        )),
        None if is_known_driver(format) => Err(format!(
            "Format driver '{format}' does not support option amendment"
        )),
        None => Err(format!("Unknown file format '{format}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::Opts;

    #[test]
    fn help_screens_match_qemu_img() {
        assert_eq!(
            create_help("raw", true).unwrap(),
            "Supported options:
  extent_size_hint=<size> - Extent size hint for the image file, 0 to disable
  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)
  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, full)
  size=<size>            - Virtual disk size
"
        );
        assert_eq!(
            create_help("raw", false).unwrap(),
            "Supported raw options:
  size=<size>            - Virtual disk size

The protocol level may support further options.
Specify the target filename to include those options.
"
        );
        assert!(create_help("file", false)
            .unwrap()
            .starts_with("Supported file options:\n  extent_size_hint"));
        assert_eq!(
            create_help("bogus", true),
            Err("Unknown file format 'bogus'".into())
        );
        assert_eq!(
            create_help("dmg", false),
            Err("Format driver 'dmg' does not support image creation".into())
        );
        assert!(amend_help("luks")
            .unwrap()
            .starts_with("Amend options for 'luks':\n  iter-time=<num> "));
        assert_eq!(
            amend_help("raw"),
            Err("Format driver 'raw' does not support option amendment".into())
        );
        assert_eq!(
            amend_help("file"),
            Err("Format driver 'file' does not support option amendment".into())
        );
        assert_eq!(
            amend_help("bogus"),
            Err("Unknown file format 'bogus'".into())
        );
    }

    /// Default `Formatting` lines of `qemu-img create -f FMT /nonexist/x 1M` (10.0.2).
    #[test]
    fn default_formatting_lines() {
        let cases = [
            ("raw", "size=1048576"),
            (
                "qcow2",
                "cluster_size=65536 extended_l2=off compression_type=zlib size=1048576 lazy_refcounts=off refcount_bits=16",
            ),
            ("qcow", "size=1048576"),
            ("qed", "size=1048576 cluster_size=65536"),
            ("vdi", "size=1048576 static=off"),
            ("vmdk", "size=1048576 compat6=off hwversion=undefined"),
            ("vpc", "size=1048576"),
            ("vhdx", "size=1048576 log_size=1048576 block_size=0"),
            ("luks", "size=1048576"),
            ("parallels", "size=1048576 cluster_size=1048576"),
        ];
        for (fmt, want) in cases {
            let schema = create_schema_with_protocol(fmt).unwrap();
            let mut opts = Opts::new();
            opts.set_number(&schema, "size", 1048576).unwrap();
            assert_eq!(opts.format_line(&schema), want, "{fmt}");
        }
    }

    /// Option order with everything given (from `Formatting` lines of qemu-img 10.0.2).
    #[test]
    fn full_formatting_order() {
        let cases = [
            (
                "luks",
                "size=1M,key-secret=s,cipher-alg=a,cipher-mode=m,ivgen-alg=i,ivgen-hash-alg=h,hash-alg=h2,iter-time=5,detached-header=on,preallocation=off,nocow=on,extent_size_hint=0",
                "size=1048576 key-secret=s cipher-alg=a cipher-mode=m ivgen-alg=i ivgen-hash-alg=h hash-alg=h2 iter-time=5 detached-header=on nocow=on preallocation=off extent_size_hint=0",
            ),
            (
                "vmdk",
                "size=1M,adapter_type=ide,compat6=on,hwversion=4,toolsversion=1,subformat=x,zeroed_grain=on,preallocation=off,backing_file=b,backing_fmt=vmdk,nocow=on,extent_size_hint=0",
                "size=1048576 adapter_type=ide backing_file=b backing_fmt=vmdk compat6=on hwversion=4 toolsversion=1 subformat=x zeroed_grain=on nocow=on preallocation=off extent_size_hint=0",
            ),
            (
                "qcow",
                "size=1M,encryption=on,encrypt.format=aes,encrypt.key-secret=s,preallocation=off,backing_file=b,backing_fmt=f,nocow=off,extent_size_hint=0",
                "size=1048576 backing_file=b backing_fmt=f encryption=on encrypt.format=aes encrypt.key-secret=s nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "qed",
                "size=1M,cluster_size=4k,table_size=4,preallocation=off,backing_file=b,backing_fmt=f,nocow=off,extent_size_hint=0",
                "size=1048576 backing_file=b backing_fmt=f cluster_size=4096 table_size=4 nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "vpc",
                "size=1M,subformat=fixed,force_size=on,preallocation=off,nocow=off,extent_size_hint=0",
                "size=1048576 subformat=fixed force_size=on nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "vhdx",
                "size=1M,log_size=1M,block_size=1M,subformat=fixed,block_state_zero=off,preallocation=off,nocow=off,extent_size_hint=0",
                "size=1048576 log_size=1048576 block_size=1048576 subformat=fixed block_state_zero=off nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "vdi",
                "size=1M,static=on,preallocation=off,nocow=off,extent_size_hint=0",
                "size=1048576 static=on nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "parallels",
                "size=1M,cluster_size=1M,preallocation=off,nocow=off,extent_size_hint=0",
                "size=1048576 cluster_size=1048576 nocow=off preallocation=off extent_size_hint=0",
            ),
            (
                "raw",
                "size=1M,preallocation=off,nocow=off,extent_size_hint=0",
                "size=1048576 nocow=off preallocation=off extent_size_hint=0",
            ),
        ];
        for (fmt, list, want) in cases {
            let schema = create_schema_with_protocol(fmt).unwrap();
            assert_eq!(
                Opts::parse(&schema, list).unwrap().format_line(&schema),
                want,
                "{fmt}"
            );
        }
    }

    /// `qemu-img create -f qcow2 -o help x`, minus the `Supported options:` line.
    #[test]
    fn qcow2_help_with_file() {
        let want = "  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  cluster_size=<size>    - qcow2 cluster size
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  compression_type=<str> - Compression method used for image cluster compression
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.cipher-alg=<str> - Name of encryption cipher algorithm
  encrypt.cipher-mode=<str> - Name of encryption cipher mode
  encrypt.format=<str>   - Encrypt the image, format choices: 'aes', 'luks'
  encrypt.hash-alg=<str> - Name of encryption hash algorithm
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.ivgen-alg=<str> - Name of IV generator algorithm
  encrypt.ivgen-hash-alg=<str> - Name of IV generator hash algorithm
  encrypt.key-secret=<str> - ID of secret providing qcow AES key or LUKS passphrase
  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)
  extended_l2=<bool (on/off)> - Extended L2 tables
  extent_size_hint=<size> - Extent size hint for the image file, 0 to disable
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)
  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, falloc, full)
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size
";
        assert_eq!(
            render_help(&create_schema_with_protocol("qcow2").unwrap()),
            want
        );
    }

    /// `qemu-img create -f FMT -o help` (no file name): the format's own options.
    #[test]
    fn own_help_without_file() {
        assert_eq!(
            render_help(RAW),
            "  size=<size>            - Virtual disk size\n"
        );
        assert_eq!(
            render_help(VPC),
            "  force_size=<bool (on/off)> - Force disk size calculation to use the actual size specified, rather than using the nearest CHS-based calculation
  size=<size>            - Virtual disk size
  subformat=<str>        - Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} \n"
        );
        assert_eq!(
            render_help(VHDX),
            "  block_size=<size>      - Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.
  block_state_zero=<bool (on/off)> - Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to 'off' when using 'qemu-img convert' with subformat=dynamic.
  log_size=<size>        - Log size; min 1MB.
  size=<size>            - Virtual disk size; max of 64TB.
  subformat=<str>        - VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'.
"
        );
        assert_eq!(
            render_help(VMDK),
            "  adapter_type=<str>     - Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX
  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Must be 'vmdk' if present
  compat6=<bool (on/off)> - VMDK version 6 image
  hwversion=<str>        - VMDK hardware version
  size=<size>            - Virtual disk size
  subformat=<str>        - VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} 
  toolsversion=<str>     - VMware guest tools version
  zeroed_grain=<bool (on/off)> - Enable efficient zero writes using the zeroed-grain GTE feature
"
        );
        assert_eq!(
            render_help(LUKS),
            "  cipher-alg=<str>       - Name of encryption cipher algorithm
  cipher-mode=<str>      - Name of encryption cipher mode
  detached-header=<bool (on/off)> - Create a detached LUKS header
  hash-alg=<str>         - Name of encryption hash algorithm
  iter-time=<num>        - Time to spend in PBKDF in milliseconds
  ivgen-alg=<str>        - Name of IV generator algorithm
  ivgen-hash-alg=<str>   - Name of IV generator hash algorithm
  key-secret=<str>       - ID of the secret that provides the keyslot passphrase
  size=<size>            - Virtual disk size
"
        );
        assert_eq!(
            render_help(QCOW),
            "  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Format of the backing image
  encrypt.format=<str>   - Encrypt the image, format choices: 'aes'
  encrypt.key-secret=<str> - ID of the secret that provides the AES encryption key
  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)
  size=<size>            - Virtual disk size
"
        );
        assert_eq!(
            render_help(QED),
            "  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  cluster_size=<size>    - Cluster size (in bytes)
  size=<size>            - Virtual disk size
  table_size=<size>      - L1/L2 table size (in clusters)
"
        );
        assert_eq!(
            render_help(VDI),
            "  size=<size>            - Virtual disk size\n  static=<bool (on/off)> - VDI static (pre-allocated) image\n"
        );
        assert_eq!(
            render_help(PARALLELS),
            "  cluster_size=<size>    - Parallels image cluster size\n  size=<size>            - Virtual disk size\n"
        );
    }

    /// `qemu-img amend -f FMT -o help`, minus the `Amend options for 'FMT':` line.
    #[test]
    fn amend_option_lists() {
        assert_eq!(
            render_help(QCOW2_AMEND),
            "  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly
  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty string to erase
  encrypt.old-secret=<str> - Select all keyslots that match this password
  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size
"
        );
        assert_eq!(
            render_help(LUKS_AMEND),
            "  iter-time=<num>        - Time to spend in PBKDF in milliseconds
  keyslot=<num>          - Select a single keyslot to modify explicitly
  new-secret=<str>       - New secret to set in the matching keyslots. Empty string to erase
  old-secret=<str>       - Select all keyslots that match this password
  state=<str>            - Select new state of affected keyslots (active/inactive)
"
        );
    }
}
