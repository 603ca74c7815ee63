//! Black-box tests of the qimg binary against the real qemu-img.
