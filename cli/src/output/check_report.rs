//! `check`'s report: qemu's `ImageCheck` object, printed as qemu-img's
//! `dump_human_image_check` prints it or as JSON, and the banner of a repair.

use super::c_printf::format_f;
use super::qobject::QDict;
use qimg_runtime::check::CheckResult;

/// The QAPI `ImageCheck`: what a check found, for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheck {
    pub filename: String,
    pub format: String,
    pub check_errors: i64,
    pub image_end_offset: u64,
    pub corruptions: i64,
    pub leaks: i64,
    pub corruptions_fixed: i64,
    pub leaks_fixed: i64,
    pub total_clusters: u64,
    pub allocated_clusters: u64,
    pub fragmented_clusters: u64,
    pub compressed_clusters: u64,
}

impl ImageCheck {
    /// The report of a check of `filename` (in `format`).
    pub fn new(filename: &str, format: &str, r: &CheckResult) -> ImageCheck {
        ImageCheck {
            filename: filename.into(),
            format: format.into(),
            check_errors: r.check_errors,
            image_end_offset: r.image_end_offset,
            corruptions: r.corruptions,
            leaks: r.leaks,
            corruptions_fixed: r.corruptions_fixed,
            leaks_fixed: r.leaks_fixed,
            total_clusters: r.total_clusters,
            allocated_clusters: r.allocated_clusters,
            fragmented_clusters: r.fragmented_clusters,
            compressed_clusters: r.compressed_clusters,
        }
    }

    /// The JSON object, with the optional counters present only when
    /// non-zero, inserted in QAPI schema order.
    pub fn qdict(&self) -> QDict {
        let mut d = QDict::new();
        d.put_str("filename", &self.filename);
        d.put_str("format", &self.format);
        d.put_int("check-errors", self.check_errors);
        let optional: [(&str, i64); 9] = [
            ("image-end-offset", self.image_end_offset as i64),
            ("corruptions", self.corruptions),
            ("leaks", self.leaks),
            ("corruptions-fixed", self.corruptions_fixed),
            ("leaks-fixed", self.leaks_fixed),
            ("total-clusters", self.total_clusters as i64),
            ("allocated-clusters", self.allocated_clusters as i64),
            ("fragmented-clusters", self.fragmented_clusters as i64),
            ("compressed-clusters", self.compressed_clusters as i64),
        ];
        for (key, value) in optional {
            if value != 0 {
                d.put_int(key, value);
            }
        }
        d
    }
}

/// The human report.
pub fn human(c: &ImageCheck) -> String {
    let mut out = String::new();
    if c.corruptions == 0 && c.leaks == 0 && c.check_errors == 0 {
        out.push_str("No errors were found on the image.\n");
    } else {
        if c.corruptions != 0 {
            out.push_str(&format!(
                "\n{} errors were found on the image.\nData may be corrupted, or further writes to the image may \
                 corrupt it.\n",
                c.corruptions
            ));
        }
        if c.leaks != 0 {
            out.push_str(&format!(
                "\n{} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n",
                c.leaks
            ));
        }
        if c.check_errors != 0 {
            out.push_str(&format!("\n{} internal errors have occurred during the check.\n", c.check_errors));
        }
    }
    if c.total_clusters != 0 && c.allocated_clusters != 0 {
        let allocated = c.allocated_clusters as f64;
        out.push_str(&format!(
            "{}/{} = {}% allocated, {}% fragmented, {}% compressed clusters\n",
            c.allocated_clusters,
            c.total_clusters,
            format_f(allocated * 100.0 / c.total_clusters as f64, 2),
            format_f(c.fragmented_clusters as f64 * 100.0 / allocated, 2),
            format_f(c.compressed_clusters as f64 * 100.0 / allocated, 2),
        ));
    }
    if c.image_end_offset != 0 {
        out.push_str(&format!("Image end offset: {}\n", c.image_end_offset));
    }
    out
}

/// What `check -r` prints after repairing something, before checking again.
pub fn repaired_banner(r: &CheckResult) -> String {
    format!(
        "The following inconsistencies were found and repaired:\n\n    {} leaked clusters\n    {} corruptions\n\n\
         Double checking the fixed image now...\n",
        r.leaks_fixed, r.corruptions_fixed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ImageCheck {
        let r = CheckResult {
            corruptions: 1,
            leaks: 3,
            image_end_offset: 1507328,
            total_clusters: 1024,
            allocated_clusters: 16,
            ..CheckResult::default()
        };
        ImageCheck::new("leak.qcow2", "qcow2", &r)
    }

    #[test]
    fn human_report_with_problems() {
        assert_eq!(
            human(&sample()),
            "\n1 errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt \
             it.\n\n3 leaked clusters were found on the image.\nThis means waste of disk space, but no harm to \
             data.\n16/1024 = 1.56% allocated, 0.00% fragmented, 0.00% compressed clusters\nImage end offset: \
             1507328\n"
        );
    }

    #[test]
    fn json_keys_in_qemus_order() {
        let keys: Vec<String> = sample().qdict().iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "image-end-offset",
                "total-clusters",
                "corruptions",
                "check-errors",
                "leaks",
                "allocated-clusters",
                "filename",
                "format"
            ]
        );
    }
}
