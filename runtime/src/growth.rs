//! Reserving a growing file's space ahead of its writes.
//!
//! ext4 books every page of a buffered write into new space in its extent
//! tree one block at a time (delayed allocation), and for a large copy that
//! bookkeeping costs more than copying the data. A file that grows by
//! appends (a qcow2 image being filled) can instead reserve its next
//! [`AHEAD`] bytes past the end with one `fallocate` that keeps the file
//! size: the appends then land in an extent that already exists, and each
//! reservation is one large, contiguous allocation, so the file is laid out
//! as well as delayed allocation lays it out. What is reserved but never
//! written is given back when the file is closed ([`Growth::trim`]); a
//! crash leaves it allocated past the end of the file, where nothing reads.
//!
//! Measured on ext4 (2 vCPUs, warm cache), 2 GiB appended in writes of
//! 64 KiB to 2 MiB: 0.66–0.92 s without reservations, 0.58–0.60 s with
//! them, and the same number of extents (24–27).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

/// How far past the end of the file each reservation reaches (rounded to a
/// multiple of it); files smaller than this never reserve.
pub const AHEAD: u64 = 32 << 20;

/// The reservation state of one writable file on ext4.
#[derive(Debug)]
pub struct Growth {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The file size as this process last made it.
    size: u64,
    /// Where the reserved space past the end stops.
    reserved_to: u64,
    /// False once the file system refused a reservation.
    enabled: bool,
}

impl Growth {
    /// The reservation state for `file`, of `size` bytes; `None` unless it
    /// lives on ext4, whose delayed allocation this works around.
    pub fn new(file: &File, size: u64) -> Option<Growth> {
        on_ext4(file).then(|| Growth { state: Mutex::new(State { size, reserved_to: size, enabled: true }) })
    }

    /// Called before writing `[offset, end)`: reserves ahead when an
    /// append takes the file past its reserved space. A write that starts
    /// past the end (leaving a hole) gives the reservation back instead, so
    /// that no reserved block ends up inside the file where it holds no data.
    pub fn before_write(&self, file: &File, offset: u64, end: u64) {
        let Ok(mut s) = self.state.lock() else { return };
        if end <= s.size {
            return;
        }
        if offset > s.size {
            Self::give_back(&mut s, file);
            s.size = end;
            s.reserved_to = end;
            return;
        }
        s.size = end;
        if !s.enabled || end <= s.reserved_to || end < AHEAD {
            return;
        }
        let from = s.reserved_to;
        let to = end.div_ceil(AHEAD).saturating_mul(AHEAD);
        match keep_size_fallocate(file, from, to - from) {
            Ok(()) => s.reserved_to = to,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) => s.enabled = false,
            // Out of space or any other failure: the write itself will tell.
            Err(_) => {}
        }
    }

    /// Records that the file grew to at least `end` without a write
    /// (allocated or zeroed space): reserved space up to there is used.
    pub fn grew(&self, end: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.size = s.size.max(end);
            s.reserved_to = s.reserved_to.max(s.size);
        }
    }

    /// Called before the file's size is set to `size`: gives back the
    /// reservation first, so that a file extended by a size change reads
    /// as a hole there, as it would have without reservations.
    pub fn before_resize(&self, file: &File, size: u64) {
        let Ok(mut s) = self.state.lock() else { return };
        Self::give_back(&mut s, file);
        s.size = size;
        s.reserved_to = size;
    }

    /// Gives back what is reserved past the end of the file (on close).
    pub fn trim(&self, file: &File) {
        if let Ok(mut s) = self.state.lock() {
            Self::give_back(&mut s, file);
        }
    }

    /// Truncating a file to its own size frees the blocks past its end.
    fn give_back(s: &mut State, file: &File) {
        if s.reserved_to > s.size {
            if let Ok(meta) = file.metadata() {
                let _ = file.set_len(meta.len());
            }
            s.reserved_to = s.size;
        }
    }
}

/// `fallocate(FALLOC_FL_KEEP_SIZE)` over `[offset, offset + len)`.
fn keep_size_fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    };
    loop {
        // SAFETY: the descriptor is valid while `file` is borrowed.
        if unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, off, len) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
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
        let s = Storage::open(&path, Mode::ReadWrite).unwrap();
        for i in 0..33 {
            s.write_at(&data, i * MIB).unwrap();
        }
        s.write_at(&data, 100 * MIB).unwrap();
        assert_eq!(s.len().unwrap(), 101 * MIB);
        let allocated = s.allocated().unwrap();
        assert!((34 * MIB..35 * MIB).contains(&allocated), "only the data is allocated: {allocated}");
        assert_eq!(s.seek_data(33 * MIB).unwrap(), Some(100 * MIB));
        drop(s);
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
