//! Persistent dirty bitmaps of a qcow2 image, as qemu keeps them.
//!
//! Every open reads the bitmap directory and the table of each consistent
//! bitmap with qemu's checks (an image that fails them cannot be opened).
//! The bits stay on disk until something needs them ([`crate::bitmap::dirty`]).
//! A read-write open marks the loaded bitmaps `in-use` in place; guest
//! writes set bits in the enabled ones; closing stores every consistent
//! bitmap anew (data clusters, table, directory, then one cluster-0 write
//! switches to them, then the old clusters are freed): see [`store`].
//! Bitmaps that were `in-use` when the image was opened are inconsistent:
//! they can only be removed.

mod directory;
mod store;
mod table;

pub(super) use store::open_read_write;

use directory::DirEntry;

use super::Qcow2;
use crate::bitmap::command::check_changeable;
use crate::bitmap::{node_name, BitmapState, BitmapStore, DirtyBitmap};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::info::BitmapInfo;
use crate::storage::Storage;
use directory::{entry_size, MAX_BITMAPS, MAX_DIRECTORY_SIZE};
use qimg_formats::qcow2::{BitmapTableEntry, BitmapsExtension, Header};
use std::sync::{Mutex, MutexGuard};

/// Table bytes of all bitmaps together that an image may have qimg read
/// even when its file is shorter (tables past the end read as zeros).
const TABLE_BUDGET_SLACK: u64 = 16 << 20;

/// A bitmap in memory.
#[derive(Debug, Clone)]
struct Live {
    name: String,
    bits: DirtyBitmap,
    enabled: bool,
    /// Loaded `in-use`: its bits are unknown and it is never stored.
    inconsistent: bool,
}

/// The bitmaps of an open image.
#[derive(Debug, Default)]
struct State {
    /// The directory as it is on disk (qemu's bitmap list).
    dir: Vec<DirEntry>,
    /// The bitmaps in memory, in the order they were loaded or made.
    live: Vec<Live>,
}

/// The dirty bitmaps of an open qcow2 image.
#[derive(Debug, Default)]
pub(super) struct Bitmaps {
    state: Mutex<State>,
    /// What qemu would have printed on stderr along the way (failed frees).
    messages: Mutex<Vec<String>>,
    /// The image is open read-write: bitmaps can change and are stored at close.
    writable: bool,
}

/// Reads the data of stored chunks: one cluster at a host offset.
fn cluster_reader(storage: &Storage, cluster_size: u64) -> impl FnMut(u64) -> Result<Vec<u8>> + '_ {
    move |offset| {
        let mut buf = vec![0u8; cluster_size as usize];
        storage.read_zero_padded(&mut buf, offset)?;
        Ok(buf)
    }
}

impl Bitmaps {
    /// Loads the bitmaps named by the extension (qemu's
    /// `qcow2_load_dirty_bitmaps`, without the marking): `len` is the guest
    /// size. Consistent bitmaps get their tables read and checked.
    pub fn load(storage: &Storage, header: &Header, ext: Option<&BitmapsExtension>, len: u64, writable: bool) -> Result<Bitmaps> {
        let mut state = State::default();
        if let Some(ext) = ext {
            let cs = 1u64 << header.cluster_bits;
            let mut dir = vec![0u8; ext.bitmap_directory_size as usize];
            storage.read_zero_padded(&mut dir, ext.bitmap_directory_offset)?;
            state.dir = directory::parse(&dir, ext.nb_bitmaps, cs, len)?;
            // A real image holds each table and data cluster once, inside the
            // file; a hostile one pointing many entries at the same clusters
            // is refused before it costs more than the file itself.
            let file_len = storage.len()?;
            let (mut table_bytes, mut stored) = (0u64, 0u64);
            let over_budget = |d: &DirEntry| Error::invalid(format!("Bitmap '{}' doesn't satisfy the constraints", d.name));
            for d in &state.dir {
                if state.live.iter().any(|l| l.name == d.name) {
                    if d.flags.in_use() {
                        continue;
                    }
                    return Err(Error::invalid(format!("Bitmap already exists: {}", d.name)));
                }
                let mut bits = DirtyBitmap::new(len, d.granularity_bits as u32, cs);
                if !d.flags.in_use() {
                    table_bytes += d.table_size as u64 * 8;
                    if table_bytes > file_len.max(TABLE_BUDGET_SLACK) {
                        return Err(over_budget(d));
                    }
                    let t = table::read(storage, d.table_offset, d.table_size, cs).map_err(|e| {
                        e.prefix(format!("Could not read bitmap_table table from image for bitmap '{}'", d.name))
                    })?;
                    table::attach(&mut bits, &t)
                        .map_err(|e| e.prefix(format!("Could not read bitmap '{}' from image", d.name)))?;
                    stored += t.iter().filter(|e| e.offset() != 0).count() as u64;
                    if stored > file_len / cs + 1 {
                        return Err(over_budget(d));
                    }
                }
                state.live.push(Live {
                    name: d.name.clone(),
                    bits,
                    enabled: d.flags.auto(),
                    inconsistent: d.flags.in_use(),
                });
            }
        }
        Ok(Bitmaps { state: Mutex::new(state), messages: Mutex::new(Vec::new()), writable })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::errno(libc::EIO))
    }

    /// Records a diagnostic qemu prints on stderr without failing.
    fn note(&self, message: String) {
        if let Ok(mut m) = self.messages.lock() {
            m.push(message);
        }
    }

    /// What `info` shows: the directory on disk.
    pub fn info(&self) -> Result<Vec<BitmapInfo>> {
        Ok(self
            .lock()?
            .dir
            .iter()
            .map(|d| BitmapInfo {
                name: d.name.clone(),
                granularity: 1u64 << d.granularity_bits,
                in_use: d.flags.in_use(),
                auto: d.flags.auto(),
            })
            .collect())
    }
}

/// Bytes the persistent bitmaps among `bitmaps` would take in a new image
/// of `cluster_size` (qemu's `qcow2_get_persistent_dirty_bitmap_size`):
/// every bitmap fully allocated, with its table, and the directory.
pub(super) fn persistent_bitmaps_size(bitmaps: &[BitmapState], cluster_size: u64) -> u64 {
    let round = |n: u64| n.div_ceil(cluster_size) * cluster_size;
    let (mut size, mut dir) = (0u64, 0u64);
    for b in bitmaps.iter().filter(|b| b.persistent) {
        let clusters = table::bitmap_bytes_needed(b.size, b.granularity).div_ceil(cluster_size);
        size += clusters * cluster_size + round(clusters * BitmapTableEntry::SIZE as u64);
        dir += entry_size(b.name.len());
    }
    size + round(dir)
}

impl Qcow2 {
    fn bitmap_state(&self) -> Result<MutexGuard<'_, State>> {
        self.bitmaps.lock()
    }

    /// Sets the bits of guest `[offset, offset + len)` in every enabled
    /// bitmap (what qemu does after each write, zero write and discard).
    pub(super) fn mark_dirty(&self, offset: u64, len: u64) -> Result<()> {
        if !self.bitmaps.writable {
            return Ok(());
        }
        let mut st = self.bitmap_state()?;
        let mut load = cluster_reader(&self.storage, self.geom.cluster_size);
        for b in st.live.iter_mut().filter(|b| b.enabled) {
            b.bits.set_range(offset, len, &mut load)?;
        }
        Ok(())
    }

    fn find_mut<'a>(st: &'a mut State, name: &str) -> Result<&'a mut Live> {
        st.live
            .iter_mut()
            .find(|b| b.name == name)
            .ok_or_else(|| Error::invalid(format!("Dirty bitmap '{name}' not found")))
    }
}

impl BitmapStore for Qcow2 {
    fn bitmap_list(&self) -> Vec<BitmapState> {
        let Ok(st) = self.bitmap_state() else { return Vec::new() };
        st.live
            .iter()
            .map(|b| BitmapState {
                name: b.name.clone(),
                granularity: b.bits.granularity(),
                size: b.bits.size(),
                enabled: b.enabled,
                inconsistent: b.inconsistent,
                persistent: true,
                readonly: !self.bitmaps.writable,
            })
            .collect()
    }

    fn supports_persistent(&self) -> bool {
        self.header.version >= 3
    }

    fn can_store(&self, name: &str, granularity: u64) -> Result<()> {
        let st = self.bitmap_state()?;
        if st.live.iter().any(|b| b.name == name) {
            return Err(Error::invalid(format!("Bitmap already exists: {name}")));
        }
        let check = || -> Result<()> {
            if self.header.version < 3 {
                return Err(Error::invalid("Cannot store dirty bitmaps in qcow2 v2 files"));
            }
            table::check_constraints(name, granularity, self.virtual_size(), self.geom.cluster_size)?;
            let count = st.live.len() as u64 + 1;
            let dir_size: u64 = st.live.iter().map(|b| entry_size(b.name.len())).sum::<u64>() + entry_size(name.len());
            if count > MAX_BITMAPS as u64 {
                return Err(Error::invalid("Maximum number of persistent bitmaps is already reached"));
            }
            if dir_size > MAX_DIRECTORY_SIZE {
                return Err(Error::invalid("Not enough space in the bitmap directory"));
            }
            Ok(())
        };
        check().map_err(|e| e.prefix(format!("Can't make bitmap '{name}' persistent in '{}'", node_name())))
    }

    fn create(&self, name: &str, granularity: u64) -> Result<()> {
        let mut st = self.bitmap_state()?;
        let bits = DirtyBitmap::new(self.virtual_size(), granularity.trailing_zeros(), self.geom.cluster_size);
        st.live.push(Live { name: name.to_string(), bits, enabled: true, inconsistent: false });
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        let mut st = self.bitmap_state()?;
        self.remove_stored(&mut st, name)?;
        st.live.retain(|b| b.name != name);
        Ok(())
    }

    fn clear(&self, name: &str) -> Result<()> {
        let mut st = self.bitmap_state()?;
        Self::find_mut(&mut st, name)?.bits.clear();
        Ok(())
    }

    fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let mut st = self.bitmap_state()?;
        Self::find_mut(&mut st, name)?.enabled = enabled;
        Ok(())
    }

    fn export(&self, name: &str) -> Result<DirtyBitmap> {
        let mut st = self.bitmap_state()?;
        let mut load = cluster_reader(&self.storage, self.geom.cluster_size);
        Self::find_mut(&mut st, name)?.bits.materialized(&mut load)
    }

    fn check_resize(&self) -> Result<()> {
        let list = self.bitmap_list();
        let st = self.bitmap_state()?;
        for d in &st.dir {
            let Some(b) = list.iter().find(|b| b.name == d.name) else {
                return Err(Error::unsupported(
                    "Cannot resize qcow2 with persistent bitmaps that were not loaded into memory",
                ));
            };
            check_changeable(b)?;
        }
        Ok(())
    }

    fn resize(&self, size: u64) -> Result<()> {
        let mut st = self.bitmap_state()?;
        let mut load = cluster_reader(&self.storage, self.geom.cluster_size);
        for b in st.live.iter_mut() {
            b.bits.resize(size, &mut load)?;
        }
        Ok(())
    }

    fn take_messages(&self) -> Vec<String> {
        self.bitmaps.messages.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }

    fn merge_into(&self, name: &str, src: &DirtyBitmap) -> Result<()> {
        let mut st = self.bitmap_state()?;
        let mut load = cluster_reader(&self.storage, self.geom.cluster_size);
        Self::find_mut(&mut st, name)?.bits.merge_from(src, &mut load)
    }
}
