//! Golden round trips of qed structures in corpus images.
