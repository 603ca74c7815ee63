//! Golden round trips of qcow structures in corpus images.
