//! qimg's engine: image formats on top of the generated layouts, backing
//! chains, refcounts and allocation, the copy engine, probing and locking.
//! Nothing here parses command lines or prints.
