//! Golden round trips of luks structures in corpus images.
