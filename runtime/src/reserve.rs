//! Reserving file space ahead of large sequential writes (ext4).
//!
//! ext4 books every page of a buffered write into new space in its extent
//! tree one block at a time (delayed allocation), and for a large copy that
//! bookkeeping costs more than copying the data. A file written front to
//! back (a qcow2 image being filled, a raw image being converted into)
//! instead reserves the next [`AHEAD`] bytes of hole in front of its writes
//! with one `fallocate` that keeps the file size, so the writes land in
//! extents that already exist, and each reservation is one large contiguous
//! allocation, laid out as well as delayed allocation lays it out. Reserved
//! space the writes skip (a hole of the guest) is given back at once, by
//! punching it, or by truncating the file to its own size past its end; what
//! is left when the file is closed or resized is given back then. So the
//! file ends up allocated exactly as it would be without reservations. A
//! crash can leave reserved blocks allocated, reading as zeros, as the hole
//! they were.
//!
//! Only space with nothing allocated in it is reserved (a write over
//! existing data does not need a reservation), and only a reservation's own
//! unused space is ever given back.
//!
//! Measured on ext4 (2 vCPUs, warm cache), the data runs of the 4 GiB bench
//! input (2 GiB in 1857 runs, 2 MiB writes) into a sparse file: 0.48 s
//! without reservations, 0.35 s with them (1857 punches), 120 extents.

use crate::storage::fallocate_raw;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

/// How far ahead of a write each reservation reaches (rounded up to a
/// multiple of it).
pub const AHEAD: u64 = 32 << 20;
/// Writes shorter than this never start a reservation, and files smaller
/// than [`AHEAD`] are never reserved in.
pub const MIN_WRITE: u64 = 64 << 10;

/// The reservation state of one writable file on ext4.
#[derive(Debug)]
pub struct Reserve {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The file size as this process last made it.
    size: u64,
    /// Where the current reservation ends (there is none unless this is
    /// past `frontier`).
    end: u64,
    /// How far writes reached into the reservation: `[frontier, end)` is
    /// reserved and was never written.
    frontier: u64,
    /// False once the file system refused a reservation.
    enabled: bool,
}

impl Reserve {
    /// The reservation state for `file`, of `size` bytes; `None` unless it
    /// lives on ext4, whose delayed allocation this works around.
    pub fn new(file: &File, size: u64) -> Option<Reserve> {
        on_ext4(file).then(|| Reserve {
            state: Mutex::new(State { size, end: 0, frontier: 0, enabled: true }),
        })
    }

    /// Called before `[offset, end)` is written (or allocated, or zeroed,
    /// with `reserve` false): gives back reserved space the write skips,
    /// and reserves ahead when a large write goes past the reservation.
    ///
    /// Writes of other threads may be announced here and not have landed
    /// yet, so nothing at or past the frontier (where announced writes end)
    /// was written, and only space there is reserved or given back.
    pub fn before_write(&self, file: &File, offset: u64, end: u64, reserve: bool) {
        let Ok(mut s) = self.state.lock() else { return };
        if offset > s.frontier && s.frontier < s.end {
            if offset < s.end && offset <= s.size {
                // Skipping ahead inside the reservation and the file.
                let _ = punch(file, s.frontier, offset - s.frontier);
            } else {
                give_back(&mut s, file);
            }
        }
        let from = offset.max(s.end);
        if end > from && from >= s.frontier && reserve && s.enabled && end - offset >= MIN_WRITE && end.max(s.size) >= AHEAD {
            reserve_hole(&mut s, file, from, end);
        }
        s.frontier = s.frontier.max(end);
        s.size = s.size.max(end);
    }

    /// Called before the file's size is set: gives back the reservation
    /// first, so that space a size change adds is a hole, as it would be
    /// without reservations.
    pub fn before_resize(&self, file: &File, size: u64) {
        if let Ok(mut s) = self.state.lock() {
            give_back(&mut s, file);
            s.size = size;
            s.frontier = s.frontier.min(size);
            s.end = s.frontier;
        }
    }

    /// Gives back what is left of the reservation (on close).
    pub fn trim(&self, file: &File) {
        if let Ok(mut s) = self.state.lock() {
            give_back(&mut s, file);
        }
    }
}

/// Reserves from `from` to `end` rounded up to [`AHEAD`], as far as nothing
/// is allocated there (data, or space allocated ahead of time, which
/// `SEEK_DATA` would call a hole). Space past the end of the file is only
/// reserved when nothing at all is allocated there, so that giving it back
/// (truncating) frees only what was reserved.
fn reserve_hole(s: &mut State, file: &File, from: u64, end: u64) {
    let mut to = end.div_ceil(AHEAD).saturating_mul(AHEAD);
    match first_allocated(file, from) {
        Err(()) => return,
        Ok(Some(at)) if at < end => return,
        Ok(Some(at)) => to = to.min(at).min(s.size.max(end)),
        Ok(None) => {}
    }
    match keep_size_fallocate(file, from, to - from) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) => s.enabled = false,
        // Out of space (or another failure) can leave part of the range
        // allocated: it is given back like the rest, and the write itself
        // reports the error.
        _ => {
            s.end = to;
            s.frontier = from;
        }
    }
}

/// Gives back the unwritten rest of the reservation: punched inside the
/// file, truncated past its end (to the file's own size, or past the
/// writes announced so far). Then there is no reservation.
fn give_back(s: &mut State, file: &File) {
    if s.frontier < s.end {
        let inside_end = s.end.min(s.size);
        if s.frontier < inside_end {
            let _ = punch(file, s.frontier, inside_end - s.frontier);
        }
        if s.end > s.size {
            if let Ok(meta) = file.metadata() {
                let _ = file.set_len(meta.len().max(s.size));
            }
        }
    }
    s.end = s.frontier;
}

/// The first offset at or after `offset` where the file has space
/// allocated (written, delayed or unwritten), by `FS_IOC_FIEMAP`; `Err`
/// when the file system cannot tell.
fn first_allocated(file: &File, offset: u64) -> Result<Option<u64>, ()> {
    #[repr(C)]
    #[derive(Default)]
    struct Extent {
        logical: u64,
        physical: u64,
        length: u64,
        reserved64: [u64; 2],
        flags: u32,
        reserved: [u32; 3],
    }
    #[repr(C)]
    #[derive(Default)]
    struct Fiemap {
        start: u64,
        length: u64,
        flags: u32,
        mapped_extents: u32,
        extent_count: u32,
        reserved: u32,
        extents: [Extent; 1],
    }
    const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
    let mut map = Fiemap { start: offset, length: u64::MAX - offset, extent_count: 1, ..Default::default() };
    // SAFETY: the ioctl reads and fills one fiemap with room for one extent.
    if unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, &mut map) } < 0 {
        return Err(());
    }
    Ok((map.mapped_extents > 0).then(|| map.extents[0].logical.max(offset)))
}

/// Allocates `[offset, offset + len)`, keeping the file size.
fn keep_size_fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    fallocate_raw(file, libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

/// Deallocates `[offset, offset + len)`, keeping the file size.
fn punch(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    fallocate_raw(file, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

/// Whether `file` lives on ext4.
fn on_ext4(file: &File) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the statfs it is given for a valid descriptor.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    // SAFETY: fstatfs succeeded, so `st` is initialised.
    rc == 0 && unsafe { st.assume_init() }.f_type == libc::EXT4_SUPER_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Mode, Storage};

    const MIB: u64 = 1 << 20;

    fn scratch(name: &str) -> Option<String> {
        let path = std::env::temp_dir().join(format!("qimg-growth-{}-{name}", std::process::id()));
        let file = File::create(&path).ok()?;
        if !on_ext4(&file) {
            eprintln!("skipped: {} is not on ext4", path.display());
            return None;
        }
        Some(path.to_string_lossy().into_owned())
    }

    #[test]
    fn appends_reserve_ahead_and_give_it_back_on_close() {
        let Some(path) = scratch("append") else { return };
        let data = vec![0xa5u8; MIB as usize];
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            for i in 0..40 {
                s.write_at(&data, i * MIB).unwrap();
            }
            assert_eq!(s.len().unwrap(), 40 * MIB);
            assert!(s.allocated().unwrap() >= 64 * MIB, "reserved up to 64 MiB: {}", s.allocated().unwrap());
        }
        let s = Storage::open(&path, Mode::ReadOnly).unwrap();
        assert_eq!(s.len().unwrap(), 40 * MIB);
        let allocated = s.allocated().unwrap();
        assert!((40 * MIB..40 * MIB + MIB).contains(&allocated), "given back: {allocated}");
        let mut back = vec![0u8; MIB as usize];
        s.read_exact_at(&mut back, 39 * MIB).unwrap();
        assert_eq!(back, data);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_write_past_the_end_leaves_a_hole_not_reserved_blocks() {
        let Some(path) = scratch("gap") else { return };
        let data = vec![0x5au8; MIB as usize];
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            for i in 0..33 {
                s.write_at(&data, i * MIB).unwrap();
            }
            s.write_at(&data, 100 * MIB).unwrap();
            assert_eq!(s.len().unwrap(), 101 * MIB);
        }
        let s = Storage::open(&path, Mode::ReadOnly).unwrap();
        let allocated = s.allocated().unwrap();
        assert!((34 * MIB..35 * MIB).contains(&allocated), "only the data is allocated: {allocated}");
        assert_eq!(s.seek_hole(0).unwrap(), Some(33 * MIB));
        assert_eq!(s.seek_data(33 * MIB).unwrap(), Some(100 * MIB));
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sparse_writes_into_a_hole_allocate_only_their_data() {
        let Some(path) = scratch("sparse") else { return };
        let data = vec![0x33u8; 2 * MIB as usize];
        // (offset, length) in MiB, in guest order as a copy writes them,
        // with holes between, inside and across reservation windows.
        let writes = [(0, 2), (3, 1), (6, 2), (30, 2), (33, 1), (100, 2), (102, 2), (200, 1)];
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            s.set_len(256 * MIB).unwrap();
            for (i, &(at, n)) in writes.iter().enumerate() {
                s.write_at(&data[..(n * MIB) as usize], at * MIB).unwrap();
                if i == 0 {
                    assert!(s.allocated().unwrap() >= 32 * MIB, "a window is reserved: {}", s.allocated().unwrap());
                }
            }
        }
        let s = Storage::open(&path, Mode::ReadOnly).unwrap();
        assert_eq!(s.len().unwrap(), 256 * MIB);
        let written: u64 = writes.iter().map(|w| w.1 * MIB).sum();
        let allocated = s.allocated().unwrap();
        assert!((written..written + MIB).contains(&allocated), "{allocated} allocated for {written} written");
        // Data exactly where it was written: (0..2, 3..4, 6..8, 30..32, 33..34, 100..104, 200..201).
        let mut runs = Vec::new();
        let mut at = 0;
        while let Some(start) = s.seek_data(at).unwrap() {
            let end = s.seek_hole(start).unwrap().unwrap();
            runs.push((start / MIB, end / MIB));
            at = end;
        }
        assert_eq!(runs, [(0, 2), (3, 4), (6, 8), (30, 32), (33, 34), (100, 104), (200, 201)]);
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn writes_over_data_reserve_nothing_and_keep_it() {
        let Some(path) = scratch("overwrite") else { return };
        let old = vec![0x11u8; 4 * MIB as usize];
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            s.set_len(64 * MIB).unwrap();
            s.write_at(&old, 40 * MIB).unwrap();
        }
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            s.write_at(&[0x22u8; 1 << 20], 0).unwrap();
            // Skips 1..40 MiB, then overwrites part of the old data.
            s.write_at(&[0x22u8; 1 << 20], 41 * MIB).unwrap();
        }
        let s = Storage::open(&path, Mode::ReadOnly).unwrap();
        let mut back = vec![0u8; 4 * MIB as usize];
        s.read_exact_at(&mut back, 40 * MIB).unwrap();
        assert!(back[..MIB as usize].iter().all(|&b| b == 0x11));
        assert!(back[MIB as usize..2 * MIB as usize].iter().all(|&b| b == 0x22));
        assert!(back[2 * MIB as usize..].iter().all(|&b| b == 0x11));
        let allocated = s.allocated().unwrap();
        assert!((5 * MIB..6 * MIB).contains(&allocated), "{allocated}");
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn preallocated_space_is_neither_reserved_over_nor_given_back() {
        let Some(path) = scratch("prealloc") else { return };
        {
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            s.allocate(0, 128 * MIB).unwrap();
        }
        let data = vec![7u8; 2 * MIB as usize];
        {
            // As `convert -n` into it would, in a later process.
            let s = Storage::open(&path, Mode::ReadWrite).unwrap();
            for at in [0, 8, 100] {
                s.write_at(&data, at * MIB).unwrap();
            }
        }
        let s = Storage::open(&path, Mode::ReadOnly).unwrap();
        assert!(s.allocated().unwrap() >= 128 * MIB, "still preallocated: {}", s.allocated().unwrap());
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn writes_announced_but_not_landed_are_never_given_back() {
        // Out-of-order writes (`convert -W`): thread B announces a small
        // write far ahead, thread A then writes before it, B's data lands,
        // and a third write skips past both.
        let Some(path) = scratch("announced") else { return };
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        file.set_len(256 * MIB).unwrap();
        let r = Reserve::new(&file, 256 * MIB).unwrap();
        use std::os::unix::fs::FileExt;
        r.before_write(&file, 10 * MIB, 10 * MIB + 32768, true);
        let big = vec![1u8; 2 * MIB as usize];
        r.before_write(&file, 0, 2 * MIB, true);
        file.write_all_at(&big, 0).unwrap();
        file.write_all_at(&[0xa5u8; 32768], 10 * MIB).unwrap();
        r.before_write(&file, 12 * MIB, 14 * MIB, true);
        file.write_all_at(&big, 12 * MIB).unwrap();
        r.before_write(&file, 40 * MIB, 42 * MIB, true);
        file.write_all_at(&big, 40 * MIB).unwrap();
        r.trim(&file);
        let mut back = [0u8; 32768];
        file.read_exact_at(&mut back, 10 * MIB).unwrap();
        assert!(back.iter().all(|&b| b == 0xa5), "B's data survived");
        let allocated = file.metadata().map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512).unwrap();
        assert!((6 * MIB + 32768..7 * MIB).contains(&allocated), "{allocated}");
        drop(file);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_size_change_gives_the_reservation_back() {
        let Some(path) = scratch("resize") else { return };
        let data = vec![1u8; MIB as usize];
        let s = Storage::open(&path, Mode::ReadWrite).unwrap();
        for i in 0..33 {
            s.write_at(&data, i * MIB).unwrap();
        }
        s.set_len(80 * MIB).unwrap();
        let allocated = s.allocated().unwrap();
        assert!((33 * MIB..34 * MIB).contains(&allocated), "the new space is a hole: {allocated}");
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }
}
