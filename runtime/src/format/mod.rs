//! The format registry: every format qimg knows, what it can do, and how to
//! open it.

pub mod luks;
pub mod qcow;
pub mod qcow2;
pub mod raw;

use crate::error::Result;
use crate::image::{Image, OpenOptions};
use crate::storage::Storage;

/// Opens an image of one format from its (locked) host file; the number is
/// how deep in a backing chain the image is (0 for the image named by the user).
pub type OpenFn = fn(Storage, &OpenOptions<'_>, usize) -> Result<Box<dyn Image>>;

/// One format.
#[derive(Debug)]
pub struct Driver {
    /// The qemu name of the format.
    pub name: &'static str,
    /// Whether the format lets other users write and resize its file while it
    /// is open (true only for raw, which has no metadata to protect).
    pub shares_writes: bool,
    /// `None` for formats qimg recognises but cannot open yet.
    pub open: Option<OpenFn>,
}

/// Every format, in qemu's `--help` order.
pub const DRIVERS: &[Driver] = &[
    Driver { name: "bochs", shares_writes: false, open: None },
    Driver { name: "cloop", shares_writes: false, open: None },
    Driver { name: "dmg", shares_writes: false, open: None },
    Driver { name: "luks", shares_writes: false, open: Some(luks::open) },
    Driver { name: "parallels", shares_writes: false, open: None },
    Driver { name: "qcow", shares_writes: false, open: Some(qcow::open) },
    Driver { name: "qcow2", shares_writes: false, open: Some(qcow2::open) },
    Driver { name: "qed", shares_writes: false, open: None },
    Driver { name: "raw", shares_writes: true, open: Some(raw::open) },
    Driver { name: "vdi", shares_writes: false, open: None },
    Driver { name: "vhdx", shares_writes: false, open: None },
    Driver { name: "vmdk", shares_writes: false, open: None },
    Driver { name: "vpc", shares_writes: false, open: None },
];

/// Finds a format by name.
pub fn driver(name: &str) -> Option<&'static Driver> {
    DRIVERS.iter().find(|d| d.name == name)
}
