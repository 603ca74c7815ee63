//! A QEMU `QObject` value tree, and a [`QDict`] that iterates in QEMU's order.
//!
//! qemu-img builds its JSON (`info`, `check`, `measure`) and the human "Format specific
//! information" block from QAPI values converted to QObjects. QEMU's `QDict` is a hash table
//! of 512 buckets; iterating it visits the buckets in ascending order and, inside one bucket,
//! the most recently inserted key first. That order, not the schema order, is what appears
//! in qemu-img's output, so [`QDict`] reproduces it exactly:
//!
//! * a key lives in bucket [`tdb_hash`]`(key) % `[`QDICT_BUCKET_MAX`];
//! * inserting a new key puts it at the head of its bucket;
//! * inserting an existing key replaces its value in place, keeping its position (QEMU's
//!   `qdict_put_obj` frees the old value and stores the new one in the same entry).
//!
//! To reproduce qemu-img, insert the fields of a QAPI struct in the order the QAPI schema
//! declares them (base struct members first, optional members only when present), exactly
//! as QEMU's QObject output visitor does. The order only matters between keys that share a
//! bucket (for example `children` and `backing-filename-format`, both in bucket 206), but
//! following the schema keeps every case right.
//!
//! Strings are byte strings, because names stored in images and file names given on the
//! command line need not be UTF-8; the printers handle them as QEMU does.

/// Number of hash buckets in a QEMU `QDict` (`QDICT_BUCKET_MAX`).
pub const QDICT_BUCKET_MAX: u32 = 512;

/// QEMU's `tdb_hash` (from gdbm via tdb) over the bytes of `key`, used to pick a bucket.
///
/// The arithmetic is on 32-bit unsigned integers and wraps, as in C.
pub fn tdb_hash(key: &[u8]) -> u32 {
    // The initial value depends on the length; C truncates `strlen * constant` to 32 bits.
    let mut value = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    for (i, &byte) in key.iter().enumerate() {
        value = value.wrapping_add(u32::from(byte) << ((i * 5) % 24));
    }
    1_103_515_243u32.wrapping_mul(value).wrapping_add(12345)
}

/// The bucket of `key` in a QEMU `QDict`: `tdb_hash(key) % 512`.
pub fn qdict_bucket(key: &str) -> u32 {
    tdb_hash(key.as_bytes()) % QDICT_BUCKET_MAX
}

/// One QEMU value: what a QAPI output visitor produces.
///
/// QEMU's `QNum` keeps signed and unsigned integers apart (`int64` vs `uint64` QAPI types);
/// both print as plain decimal. `null` and floating-point numbers are not used by qemu-img's
/// output and are not modelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QObject {
    /// A `QBool`: prints as `true` / `false`.
    Bool(bool),
    /// A signed `QNum` (QAPI `int`, `int64`, ...).
    Int(i64),
    /// An unsigned `QNum` (QAPI `uint64`, `uint32`, `size`, ...).
    UInt(u64),
    /// A `QString`, as bytes. Like a C string it ends at its first NUL byte, if any.
    Str(Vec<u8>),
    /// A `QList`, in insertion order.
    List(Vec<QObject>),
    /// A `QDict`, in QEMU's bucket order.
    Dict(QDict),
}

impl QObject {
    /// A string value from anything byte-like (`&str`, `String`, `&[u8]`, `Vec<u8>`...).
    ///
    /// For an `OsStr` on Unix, pass `os_str.as_bytes()`.
    pub fn str(s: impl AsRef<[u8]>) -> Self {
        QObject::Str(s.as_ref().to_vec())
    }

    /// Whether this is a dictionary or a list (QEMU's "composite" values in the human dump).
    pub fn is_composite(&self) -> bool {
        matches!(self, QObject::Dict(_) | QObject::List(_))
    }
}

impl From<bool> for QObject {
    fn from(v: bool) -> Self {
        QObject::Bool(v)
    }
}

impl From<i64> for QObject {
    fn from(v: i64) -> Self {
        QObject::Int(v)
    }
}

impl From<i32> for QObject {
    fn from(v: i32) -> Self {
        QObject::Int(v.into())
    }
}

impl From<u64> for QObject {
    fn from(v: u64) -> Self {
        QObject::UInt(v)
    }
}

impl From<u32> for QObject {
    fn from(v: u32) -> Self {
        QObject::UInt(v.into())
    }
}

impl From<&str> for QObject {
    fn from(v: &str) -> Self {
        QObject::Str(v.as_bytes().to_vec())
    }
}

impl From<String> for QObject {
    fn from(v: String) -> Self {
        QObject::Str(v.into_bytes())
    }
}

impl From<&[u8]> for QObject {
    fn from(v: &[u8]) -> Self {
        QObject::Str(v.to_vec())
    }
}

impl From<Vec<QObject>> for QObject {
    fn from(v: Vec<QObject>) -> Self {
        QObject::List(v)
    }
}

impl From<QDict> for QObject {
    fn from(v: QDict) -> Self {
        QObject::Dict(v)
    }
}

/// One key and value of a [`QDict`], with the key's bucket cached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    bucket: u32,
    key: String,
    value: QObject,
}

/// A QEMU `QDict`: string keys to values, iterated in QEMU's hash-bucket order.
///
/// Entries are kept in iteration order (bucket ascending, newest first inside a bucket), so
/// iteration is a plain walk. Lookups are linear, which is right for the few dozen keys
/// qemu-img's dictionaries hold.
///
/// Equality compares the entries in iteration order, so it also tells whether two
/// dictionaries would print the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QDict {
    entries: Vec<Entry>,
}

impl QDict {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// QEMU's `qdict_put_obj`: a new key goes to the head of its bucket; an existing key
    /// keeps its place and gets the new value. Returns `self` for chaining.
    pub fn put(&mut self, key: &str, value: impl Into<QObject>) -> &mut Self {
        let value = value.into();
        if let Some(entry) = self.entries.iter_mut().find(|e| e.key == key) {
            entry.value = value;
            return self;
        }
        let bucket = qdict_bucket(key);
        // Head of the bucket: before the first entry whose bucket is not smaller.
        let at = self.entries.partition_point(|e| e.bucket < bucket);
        self.entries.insert(
            at,
            Entry {
                bucket,
                key: key.to_owned(),
                value,
            },
        );
        self
    }

    /// Puts a string value (any byte-like value: `&str`, `String`, `&[u8]`, `Vec<u8>`).
    pub fn put_str(&mut self, key: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.put(key, QObject::str(value))
    }

    /// Puts a signed integer (QAPI `int`, `int64`).
    pub fn put_int(&mut self, key: &str, value: i64) -> &mut Self {
        self.put(key, QObject::Int(value))
    }

    /// Puts an unsigned integer (QAPI `uint64`, `uint32`, `size`).
    pub fn put_uint(&mut self, key: &str, value: u64) -> &mut Self {
        self.put(key, QObject::UInt(value))
    }

    /// Puts a boolean.
    pub fn put_bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.put(key, QObject::Bool(value))
    }

    /// Puts a list.
    pub fn put_list(&mut self, key: &str, value: Vec<QObject>) -> &mut Self {
        self.put(key, QObject::List(value))
    }

    /// Puts a nested dictionary.
    pub fn put_dict(&mut self, key: &str, value: QDict) -> &mut Self {
        self.put(key, QObject::Dict(value))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&QObject> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Whether the dictionary has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys and values in QEMU's iteration order (`qdict_first` / `qdict_next`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &QObject)> {
        self.entries.iter().map(|e| (e.key.as_str(), &e.value))
    }
}

impl<K: AsRef<str>, V: Into<QObject>> FromIterator<(K, V)> for QDict {
    /// Puts the pairs in the order given, as repeated [`QDict::put`] calls would.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut dict = QDict::new();
        for (k, v) in iter {
            dict.put(k.as_ref(), v);
        }
        dict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets listed in the reference (section 6), all verified against qemu-img output.
    #[test]
    fn buckets_match_reference() {
        let cases: &[(&str, u32)] = &[
            ("backing-image", 80),
            ("compressed", 90),
            ("backing-filename-format", 206),
            ("children", 206),
            ("snapshots", 263),
            ("virtual-size", 309),
            ("filename", 313),
            ("cluster-size", 316),
            ("format", 337),
            ("actual-size", 351),
            ("format-specific", 354),
            ("full-backing-filename", 360),
            ("encrypted", 413),
            ("backing-filename", 475),
            ("dirty-flag", 501),
            ("name", 39),
            ("info", 496),
            ("type", 425),
            ("data", 505),
            ("compat", 16),
            ("compression-type", 88),
            ("lazy-refcounts", 107),
            ("bitmaps", 114),
            ("refcount-bits", 122),
            ("data-file", 182),
            ("encrypt", 339),
            ("data-file-raw", 354),
            ("corrupt", 477),
            ("extended-l2", 503),
            ("flags", 20),
            ("granularity", 241),
            ("cid", 105),
            ("parent-cid", 147),
            ("create-type", 251),
            ("extents", 427),
            ("ivgen-alg", 7),
            ("detached-header", 28),
            ("hash-alg", 79),
            ("cipher-alg", 120),
            ("uuid", 148),
            ("ivgen-hash-alg", 188),
            ("cipher-mode", 377),
            ("slots", 387),
            ("payload-offset", 397),
            ("master-key-iters", 456),
            ("active", 48),
            ("iters", 85),
            ("key-offset", 264),
            ("stripes", 379),
            ("icount", 18),
            ("vm-clock-nsec", 26),
            ("date-sec", 111),
            ("date-nsec", 230),
            ("vm-clock-sec", 397),
            ("id", 486),
            ("vm-state-size", 494),
            ("image-end-offset", 30),
            ("compressed-clusters", 67),
            ("total-clusters", 169),
            ("corruptions", 181),
            ("corruptions-fixed", 203),
            ("check-errors", 204),
            ("leaks", 246),
            ("leaks-fixed", 290),
            ("allocated-clusters", 304),
            ("fragmented-clusters", 484),
            ("required", 243),
            ("fully-allocated", 328),
            ("extent-size-hint", 180),
        ];
        for &(key, bucket) in cases {
            assert_eq!(qdict_bucket(key), bucket, "bucket of {key}");
        }
    }

    #[test]
    fn hash_of_empty_and_long_keys() {
        assert_eq!(tdb_hash(b""), 12345);
        // Long keys exercise the shift cycle (i * 5 % 24) and 32-bit wrap-around.
        let long = "x".repeat(100);
        let mut expect = 0x238F_13AFu32.wrapping_mul(100);
        for i in 0..100 {
            expect = expect.wrapping_add(u32::from(b'x') << ((i * 5) % 24));
        }
        assert_eq!(
            tdb_hash(long.as_bytes()),
            1_103_515_243u32.wrapping_mul(expect).wrapping_add(12345)
        );
    }

    #[test]
    fn iteration_is_bucket_order_newest_first_within_bucket() {
        let mut d = QDict::new();
        // Schema order of ImageInfo's members that matter here.
        d.put_str("filename", "x")
            .put_str("format", "qcow2")
            .put_int("virtual-size", 1)
            .put_str("backing-filename-format", "raw")
            .put_list("children", vec![])
            .put_bool("dirty-flag", false);
        let keys: Vec<&str> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "children",
                "backing-filename-format",
                "virtual-size",
                "filename",
                "format",
                "dirty-flag"
            ]
        );
    }

    #[test]
    fn put_existing_key_replaces_in_place() {
        let mut d = QDict::new();
        d.put_str("backing-filename-format", "raw")
            .put_list("children", vec![])
            .put_int("format", 1);
        // Re-putting the older key of bucket 206 must not move it to the head.
        d.put_str("backing-filename-format", "qcow2");
        let keys: Vec<&str> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["children", "backing-filename-format", "format"]);
        assert_eq!(
            d.get("backing-filename-format"),
            Some(&QObject::str("qcow2"))
        );
        assert_eq!(d.iter().count(), 3);
    }

    #[test]
    fn conversions() {
        assert_eq!(QObject::from(3u32), QObject::UInt(3));
        assert_eq!(QObject::from(-3i32), QObject::Int(-3));
        assert_eq!(QObject::from("a"), QObject::Str(b"a".to_vec()));
        assert_eq!(QObject::from(String::from("a")), QObject::str(b"a"));
        assert_eq!(QObject::from(&b"\xff"[..]), QObject::Str(vec![0xff]));
        assert!(QObject::from(QDict::new()).is_composite());
    }
}
