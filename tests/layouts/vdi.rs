//! Golden round trips of vdi structures in corpus images.
