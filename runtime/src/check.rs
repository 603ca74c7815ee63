//! `check`: what a consistency check of an image found and repaired, in the
//! terms qemu-img reports (its `BdrvCheckResult`), independent of the format.
//!
//! A driver that can check itself implements [`crate::image::Image::check`];
//! the others answer `ENOTSUP`, which qemu-img reports as "This image format
//! does not support checks" (exit code 63). Per-cluster diagnostics are not
//! part of the result: drivers emit them through [`crate::diag`] as they go,
//! in the order qemu prints them.

/// What `check -r` may repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// `-r leaks`: clusters counted but not used.
    Leaks,
    /// `-r all`: leaks and corruptions.
    All,
}

impl Repair {
    /// Whether corruptions are repaired.
    pub fn errors(self) -> bool {
        self == Repair::All
    }
}

/// The outcome of one check pass. Counters are signed, as qemu's are: a
/// repair takes back what the detection counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// Inconsistencies that may lose data or break further writes.
    pub corruptions: i64,
    /// Clusters counted as used that nothing uses.
    pub leaks: i64,
    /// Problems that kept the check itself from completing (I/O errors, …).
    pub check_errors: i64,
    pub corruptions_fixed: i64,
    pub leaks_fixed: i64,
    /// One past the last byte of the image file in use (0 when unknown).
    pub image_end_offset: u64,
    /// Clusters of guest space.
    pub total_clusters: u64,
    /// Guest clusters with data in this image.
    pub allocated_clusters: u64,
    /// Allocated clusters that do not follow the previous one on the host.
    pub fragmented_clusters: u64,
    pub compressed_clusters: u64,
}

impl CheckResult {
    /// Adds the error counters of `other` (qemu's `qcow2_add_check_result`),
    /// and with `allocation` also takes its allocation figures.
    pub fn add(&mut self, other: &CheckResult, allocation: bool) {
        self.corruptions += other.corruptions;
        self.leaks += other.leaks;
        self.check_errors += other.check_errors;
        self.corruptions_fixed += other.corruptions_fixed;
        self.leaks_fixed += other.leaks_fixed;
        if allocation {
            self.image_end_offset = other.image_end_offset;
            self.total_clusters = other.total_clusters;
            self.allocated_clusters = other.allocated_clusters;
            self.fragmented_clusters = other.fragmented_clusters;
            self.compressed_clusters = other.compressed_clusters;
        }
    }
}
