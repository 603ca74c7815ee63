//! Golden round trips of vhdx structures in corpus images.
