//! Golden round trips of vmdk structures in corpus images.
