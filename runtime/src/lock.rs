//! Image locks compatible with QEMU's: Linux OFD byte-range read locks on the
//! image file, one byte per permission. Byte `100 + p` means "I hold
//! permission p", byte `200 + p` means "I do not let others hold p". Because
//! qemu, qemu-img, qemu-nbd and qimg use the same bytes, they exclude each
//! other with the same messages.

use crate::error::{Error, ErrorKind, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

/// A block-layer permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    ConsistentRead = 0,
    Write = 1,
    WriteUnchanged = 2,
    Resize = 3,
}

impl Perm {
    const ALL: [Perm; 4] = [Perm::ConsistentRead, Perm::Write, Perm::WriteUnchanged, Perm::Resize];

    /// QEMU's name for the permission, used in lock messages.
    pub fn name(self) -> &'static str {
        match self {
            Perm::ConsistentRead => "consistent read",
            Perm::Write => "write",
            Perm::WriteUnchanged => "write unchanged",
            Perm::Resize => "resize",
        }
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms(u8);

impl Perms {
    pub const NONE: Perms = Perms(0);

    pub fn of(perms: &[Perm]) -> Perms {
        Perms(perms.iter().fold(0, |a, p| a | 1 << *p as u8))
    }

    pub fn contains(self, p: Perm) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    fn iter(self) -> impl Iterator<Item = Perm> {
        Perm::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

/// What an opener holds and what it refuses to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockRequest {
    pub held: Perms,
    pub unshared: Perms,
}

const HELD_BASE: i64 = 100;
const UNSHARED_BASE: i64 = 200;

fn flock(fd: BorrowedFd<'_>, cmd: libc::c_int, ty: libc::c_short, byte: i64) -> std::io::Result<libc::flock> {
    let mut fl = libc::flock {
        l_type: ty,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: fd is a valid open descriptor for the duration of the borrow and
    // `fl` is a properly initialised flock structure.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fl)
}

/// Whether another open file description holds a lock on `byte`.
fn taken_by_other(fd: BorrowedFd<'_>, byte: i64) -> std::io::Result<bool> {
    let fl = flock(fd, libc::F_OFD_GETLK, libc::F_WRLCK as libc::c_short, byte)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// Takes the locks of `req` on `fd` and checks for conflicts, as QEMU does:
/// first every held permission against others' "not shared" bytes, then every
/// unshared permission against others' "held" bytes. `name` is the file name
/// shown in the hint. On conflict every lock taken is released.
pub fn acquire(fd: BorrowedFd<'_>, req: LockRequest, name: &str) -> Result<()> {
    let set = |byte: i64| flock(fd, libc::F_OFD_SETLK, libc::F_RDLCK as libc::c_short, byte).map(|_| ());
    let mut result = Ok(());
    for p in req.held.iter() {
        result = result.and_then(|_| set(HELD_BASE + p as i64));
    }
    for p in req.unshared.iter() {
        result = result.and_then(|_| set(UNSHARED_BASE + p as i64));
    }
    let conflict = result.map_err(Error::from).and_then(|_| {
        for p in req.held.iter() {
            if taken_by_other(fd, UNSHARED_BASE + p as i64)? {
                return Err(lock_error(format!("Failed to get \"{}\" lock", p.name()), name));
            }
        }
        for p in req.unshared.iter() {
            if taken_by_other(fd, HELD_BASE + p as i64)? {
                return Err(lock_error(format!("Failed to get shared \"{}\" lock", p.name()), name));
            }
        }
        Ok(())
    });
    if conflict.is_err() {
        release(fd, req);
    }
    conflict
}

/// Releases the locks of `req`.
pub fn release(fd: BorrowedFd<'_>, req: LockRequest) {
    for p in req.held.iter() {
        let _ = flock(fd, libc::F_OFD_SETLK, libc::F_UNLCK as libc::c_short, HELD_BASE + p as i64);
    }
    for p in req.unshared.iter() {
        let _ = flock(fd, libc::F_OFD_SETLK, libc::F_UNLCK as libc::c_short, UNSHARED_BASE + p as i64);
    }
}

fn lock_error(message: String, name: &str) -> Error {
    Error::new(ErrorKind::Locked, message).with_hint(format!("Is another process using the image [{name}]?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn two_writers_exclude_each_other_and_readers_share() {
        let dir = std::env::temp_dir().join(format!("qimg-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("img");
        std::fs::write(&path, [0u8; 512]).unwrap();
        let rw = LockRequest {
            held: Perms::of(&[Perm::ConsistentRead, Perm::Write, Perm::Resize]),
            unshared: Perms::of(&[Perm::Write, Perm::Resize]),
        };
        let ro = LockRequest { held: Perms::of(&[Perm::ConsistentRead]), unshared: Perms::of(&[Perm::Write, Perm::Resize]) };
        let a = std::fs::File::open(&path).unwrap();
        let b = std::fs::File::open(&path).unwrap();
        let c = std::fs::File::open(&path).unwrap();
        acquire(a.as_fd(), ro, "img").unwrap();
        acquire(b.as_fd(), ro, "img").unwrap();
        let err = acquire(c.as_fd(), rw, "img").unwrap_err();
        assert_eq!(err.message, "Failed to get \"write\" lock");
        assert_eq!(err.hint.as_deref(), Some("Is another process using the image [img]?\n"));
        release(a.as_fd(), ro);
        release(b.as_fd(), ro);
        acquire(c.as_fd(), rw, "img").unwrap();
        let err = acquire(a.as_fd(), ro, "img").unwrap_err();
        assert_eq!(err.message, "Failed to get shared \"write\" lock");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
