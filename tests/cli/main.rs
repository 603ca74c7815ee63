//! Black-box tests of the qimg binary against the real qemu-img 10.0.2:
//! same stdout, same stderr, same exit code, same files.

#[path = "../support/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[allow(dead_code)]
mod support;

mod convert;
mod crash_bitmap;
mod crash_support;
mod bitmap;
mod compare;
mod create;
mod encryption;
mod info;
mod map;
mod measure;
mod spec;
