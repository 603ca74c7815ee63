//! Golden round trips of vpc structures in corpus images.
