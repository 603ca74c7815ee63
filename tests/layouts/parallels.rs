//! Golden round trips of parallels structures in corpus images.
