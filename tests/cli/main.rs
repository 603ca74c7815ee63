//! Black-box tests of the qimg binary against the real qemu-img 10.0.2:
//! same stdout, same stderr, same exit code, same files.

#[path = "../support/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[allow(dead_code)]
mod support;

mod amend;
mod bench;
mod bitmap;
mod check;
mod commit;
mod compare;
mod convert;
mod crash_amend;
mod crash_bench;
mod crash_bitmap;
mod crash_commit;
mod crash_convert;
mod crash_dd;
mod crash_rebase;
mod crash_resize;
mod crash_snapshot;
#[allow(dead_code)]
mod crash_support;
mod create;
mod dd;
mod encryption;
mod info;
mod map;
mod measure;
mod rebase;
mod resize;
mod snapshot;
mod spec;
#[allow(dead_code)]
mod twin;
