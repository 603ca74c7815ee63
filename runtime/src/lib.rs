//! qimg's engine: image formats on top of the generated layouts, backing
//! chains, refcounts and allocation, the copy engine, probing and locking.
//! Nothing here parses command lines or prints.

pub mod amend;
pub mod bench;
pub mod bitmap;
pub mod blockstatus;
pub mod check;
pub mod commit;
pub mod compare;
pub mod compress;
pub mod convert;
pub mod copy;
pub mod create;
pub mod diag;
pub mod error;
pub mod format;
pub mod image;
pub mod image_opts;
pub mod image_ref;
pub mod info;
pub mod lock;
pub mod measure;
pub mod map;
pub mod crash_point;
pub mod create_opts;
pub mod dd;
pub mod crypto;
pub mod opts;
pub mod probe;
pub mod rebase;
pub mod reorder;
pub mod reserve;
pub mod resize;
pub mod secret;
pub mod storage;
#[cfg(test)]
mod test_image;
pub mod units;

pub use error::{Error, ErrorKind, Result};
