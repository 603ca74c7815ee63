//! A host file holding image data or metadata: positioned I/O, sizes,
//! allocation queries and hole punching, and QEMU-compatible locks.

use crate::crash_point;
use crate::error::{Error, Result};
use crate::lock::{self, LockRequest};
use crate::reserve::Reserve;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
    /// Create if missing, read-write (the caller empties it after locking).
    Create,
}

/// An open host file.
#[derive(Debug)]
pub struct Storage {
    file: File,
    /// The file name as the user (or an image) gave it.
    name: String,
    writable: bool,
    lock: Option<LockRequest>,
    /// Space reserved ahead of sequential writes, for writable files on ext4.
    reserve: Option<Reserve>,
}

impl Storage {
    /// Opens `name`. Errors read `Could not open 'NAME': REASON`, as qemu's
    /// file driver words them.
    pub fn open(name: &str, mode: Mode) -> Result<Storage> {
        let mut o = OpenOptions::new();
        match mode {
            Mode::ReadOnly => o.read(true),
            Mode::ReadWrite => o.read(true).write(true),
            Mode::Create => o.read(true).write(true).create(true),
        };
        o.custom_flags(libc::O_CLOEXEC);
        let path = if name.is_empty() { "" } else { name };
        let file = o.open(path).map_err(|e| Error::from(e).prefix(format!("Could not open '{name}'")))?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(Error::invalid(format!("'file' driver requires '{name}' to be a regular file")));
        }
        let writable = mode != Mode::ReadOnly;
        let reserve = if writable && meta.is_file() { Reserve::new(&file, meta.len()) } else { None };
        Ok(Storage { file, name: name.to_string(), writable, lock: None, reserve })
    }

    /// The file name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Takes QEMU-compatible image locks; released when the storage is dropped.
    pub fn lock(&mut self, req: LockRequest) -> Result<()> {
        if req == LockRequest::default() {
            return Ok(());
        }
        lock::acquire(self.file.as_fd(), req, &self.name)?;
        self.lock = Some(req);
        Ok(())
    }

    /// The file length in bytes.
    // A file is not a collection: nothing asks whether it is empty.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Bytes allocated on the host (`st_blocks * 512`), qemu's "disk size".
    pub fn allocated(&self) -> Result<u64> {
        Ok(self.file.metadata()?.blocks() * 512)
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (fewer only at the end of the file).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }

    /// Reads `buf.len()` bytes at `offset`, reading zeros past the end of the file.
    pub fn read_zero_padded(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let n = self.read_at(buf, offset)?;
        buf[n..].fill(0);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes at `offset`; an end of file is an I/O error.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if self.read_at(buf, offset)? < buf.len() {
            return Err(Error::errno(libc::EIO));
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`. Large sequential writes reserve
    /// space ahead on ext4 (see [`crate::reserve`]).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        crash_point::before_change();
        self.before_write(offset, buf.len() as u64, true);
        self.file.write_all_at(buf, offset).map_err(Error::from)
    }

    /// Tells the reservation about a change of `[offset, offset + len)`
    /// (a write may `reserve` more).
    fn before_write(&self, offset: u64, len: u64, reserve: bool) {
        if let Some(r) = &self.reserve {
            r.before_write(&self.file, offset, offset.saturating_add(len), reserve);
        }
    }

    /// Sets the file length.
    pub fn set_len(&self, len: u64) -> Result<()> {
        crash_point::before_change();
        if let Some(r) = &self.reserve {
            r.before_resize(&self.file, len);
        }
        self.file.set_len(len).map_err(Error::from)
    }

    /// Makes written data and metadata durable.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(Error::from)
    }

    /// Allocates host blocks for `[offset, offset + len)` (extending the file
    /// if needed) without writing data.
    pub fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        self.before_write(offset, len, false);
        fallocate(&self.file, 0, offset, len)
    }

    /// Deallocates `[offset, offset + len)`, which then reads as zeros.
    pub fn punch_hole(&self, offset: u64, len: u64) -> Result<()> {
        fallocate(&self.file, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, offset, len)
    }

    /// Makes `[offset, offset + len)` read as zeros, keeping it allocated.
    pub fn zero_range(&self, offset: u64, len: u64) -> Result<()> {
        self.before_write(offset, len, false);
        fallocate(&self.file, libc::FALLOC_FL_ZERO_RANGE, offset, len)
    }

    /// The next offset at or after `offset` that holds data, if any before the end.
    pub fn seek_data(&self, offset: u64) -> Result<Option<u64>> {
        seek(&self.file, offset, libc::SEEK_DATA)
    }

    /// The next hole at or after `offset` (the end of the file counts as one).
    pub fn seek_hole(&self, offset: u64) -> Result<Option<u64>> {
        seek(&self.file, offset, libc::SEEK_HOLE)
    }

    /// Asks the file system not to copy-on-write this (empty) file; failures
    /// are ignored, as qemu ignores them (only btrfs has the flag).
    pub fn set_nocow(&self) {
        use std::os::fd::AsRawFd;
        const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
        const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
        const FS_NOCOW_FL: libc::c_long = 0x0080_0000;
        let mut flags: libc::c_long = 0;
        // SAFETY: the ioctls read and write one long through a valid pointer.
        unsafe {
            if libc::ioctl(self.file.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) == 0 {
                flags |= FS_NOCOW_FL;
                libc::ioctl(self.file.as_raw_fd(), FS_IOC_SETFLAGS, &flags);
            }
        }
    }

    /// Sets the file system's extent size hint (XFS) for this file.
    pub fn set_extent_size_hint(&self, hint: u32) -> Result<()> {
        use std::os::fd::AsRawFd;
        const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
        const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401c_5820;
        const FS_XFLAG_EXTSIZE: u32 = 0x800;
        #[repr(C)]
        #[derive(Default)]
        struct FsXattr {
            xflags: u32,
            extsize: u32,
            nextents: u32,
            projid: u32,
            cowextsize: u32,
            pad: [u8; 8],
        }
        let mut attr = FsXattr::default();
        // SAFETY: the ioctls read and write one fsxattr through a valid pointer.
        unsafe {
            if libc::ioctl(self.file.as_raw_fd(), FS_IOC_FSGETXATTR, &mut attr) < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            attr.xflags |= FS_XFLAG_EXTSIZE;
            attr.extsize = hint;
            if libc::ioctl(self.file.as_raw_fd(), FS_IOC_FSSETXATTR, &attr) < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
        Ok(())
    }

    /// Writes zeros over `[offset, offset + len)` in large chunks.
    pub fn write_zeros(&self, offset: u64, len: u64) -> Result<()> {
        const CHUNK: u64 = 1 << 20;
        let zeros = vec![0u8; CHUNK.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(CHUNK);
            self.write_at(&zeros[..n as usize], offset + done)?;
            done += n;
        }
        Ok(())
    }

    /// Copies `len` bytes at `offset` of this file to `dst_offset` of `dst`
    /// inside the kernel (`copy_file_range`: reflinks or server-side copies
    /// where the file system has them). Returns how many bytes were copied:
    /// less than `len` when the kernel cannot copy between these files, and
    /// the caller copies the rest itself.
    pub fn copy_range(&self, offset: u64, dst: &Storage, dst_offset: u64, len: u64) -> Result<u64> {
        use std::os::fd::AsRawFd;
        let mut done = 0u64;
        while done < len {
            let (Ok(mut from), Ok(mut to)) = (i64::try_from(offset + done), i64::try_from(dst_offset + done)) else {
                return Err(Error::errno(libc::EFBIG));
            };
            let want = (len - done).min(1 << 30) as usize;
            crash_point::before_change();
            dst.before_write(dst_offset + done, want as u64, true);
            // SAFETY: both descriptors are valid while the files are borrowed;
            // the offsets are plain integers the kernel reads and updates.
            let n = unsafe {
                libc::copy_file_range(self.file.as_raw_fd(), &mut from, dst.file.as_raw_fd(), &mut to, want, 0)
            };
            if n > 0 {
                done += n as u64;
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                _ if n == 0 => break,
                Some(libc::EINTR) => continue,
                Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => break,
                _ => return Err(e.into()),
            }
        }
        Ok(done)
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(r) = &self.reserve {
            r.trim(&self.file);
        }
        if let Some(req) = self.lock.take() {
            lock::release(self.file.as_fd(), req);
        }
    }
}

fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> Result<()> {
    crash_point::before_change();
    fallocate_raw(file, mode, offset, len).map_err(Error::from)
}

/// `fallocate(2)` of `[offset, offset + len)` with `mode`, retried when
/// interrupted. Unlike [`Storage`]'s own calls it is no crash point: the
/// space reservations of [`crate::reserve`] change no data.
pub(crate) fn fallocate_raw(file: &File, mode: libc::c_int, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    };
    loop {
        // SAFETY: the descriptor is valid while `file` is borrowed.
        if unsafe { libc::fallocate(file.as_raw_fd(), mode, off, len) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn seek(file: &File, offset: u64, whence: libc::c_int) -> Result<Option<u64>> {
    use std::os::fd::AsRawFd;
    let Ok(off) = i64::try_from(offset) else { return Ok(None) };
    // SAFETY: the descriptor is valid while `file` is borrowed; lseek does not
    // affect positioned I/O.
    let rc = unsafe { libc::lseek(file.as_raw_fd(), off, whence) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Err(e.into()),
        };
    }
    Ok(Some(rc as u64))
}
