//! Room left on a filesystem: a blob written to local disk (`fsutil::store_blob`), or a
//! compressed archive decompressed into `--tmpdir` (`Guarded`), stops before it leaves less
//! than a reserve free. Most blobs have a size their manifest vouches for, but a layer
//! decompressed on the way (`--dest-decompress`) has none: a gzip bomb expands about
//! 1000-fold, and would otherwise fill the disk under everything else on the machine.
//!
//! The reserve is 1 GiB, or 5% of a filesystem smaller than 20 GiB. Free space is asked
//! of the kernel (`fstatvfs`, the space an unprivileged writer may use) at the start and
//! again after at most 64 MiB or half the room left, so blobs written in parallel, or
//! other writers, cannot take much more than the reserve between two looks.

use std::io;
use std::os::fd::AsRawFd;

const MAX_RESERVE: u64 = 1 << 30;
const MAX_STEP: u64 = 64 << 20;

/// The free space to keep on a filesystem of `total` bytes.
pub fn reserve_for(total: u64) -> u64 {
    (total / 20).min(MAX_RESERVE)
}

/// (available, total) bytes of the filesystem holding `file`.
fn space_of(file: &std::fs::File) -> io::Result<(u64, u64)> {
    // SAFETY: a zeroed statvfs is a valid value; fstatvfs fills it for an open descriptor.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok((
        (st.f_bavail as u64).saturating_mul(unit),
        (st.f_blocks as u64).saturating_mul(unit),
    ))
}

/// Answers (available, total) bytes of a filesystem.
type Look = Box<dyn FnMut() -> io::Result<(u64, u64)> + Send>;

/// The part of the room one writer may use before looking again.
pub struct Room {
    look: Look,
    /// Bytes that may be written before the next look.
    budget: u64,
    written: u64,
}

/// The error a writer that would cross the reserve gets.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped after writing {written} bytes of this blob: its filesystem would have less than {reserve} bytes ({available} now) free"
)]
pub struct NoRoom {
    pub written: u64,
    pub reserve: u64,
    pub available: u64,
}

impl Room {
    /// The room on the filesystem holding `file`.
    pub fn of(file: &std::fs::File) -> io::Result<Room> {
        let file = file.try_clone()?;
        Ok(Room::with(move || space_of(&file)))
    }

    /// `look` answers (available, total) bytes; it is first asked at the first write.
    pub fn with(look: impl FnMut() -> io::Result<(u64, u64)> + Send + 'static) -> Room {
        Room {
            look: Box::new(look),
            budget: 0,
            written: 0,
        }
    }

    /// Accounts for `n` more bytes about to be written; an error (StorageFull) if they
    /// would leave less than the reserve free.
    pub fn take(&mut self, n: u64) -> io::Result<()> {
        if n > self.budget {
            let (available, total) = (self.look)()?;
            let reserve = reserve_for(total);
            let room = available.saturating_sub(reserve);
            if n > room {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    NoRoom {
                        written: self.written,
                        reserve,
                        available,
                    },
                ));
            }
            self.budget = (room / 2).min(MAX_STEP).max(n);
        }
        self.budget -= n;
        self.written += n;
        Ok(())
    }

    /// Returns `n` bytes taken but not written.
    fn give_back(&mut self, n: u64) {
        self.budget += n;
        self.written -= n;
    }
}

/// A writer into a file that keeps its filesystem's reserve.
pub struct Guarded<W> {
    inner: W,
    room: Room,
}

impl<W: io::Write> Guarded<W> {
    /// Writes into `inner`, a writer of `file`.
    pub fn new(inner: W, file: &std::fs::File) -> io::Result<Guarded<W>> {
        Ok(Guarded {
            inner,
            room: Room::of(file)?,
        })
    }
}

impl<W: io::Write> io::Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.room.take(buf.len() as u64)?;
        let n = self.inner.write(buf)?;
        // A short write gives back what it did not use.
        self.room.give_back((buf.len() - n) as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    #[test]
    fn the_reserve_is_a_gib_or_five_percent() {
        assert_eq!(reserve_for(100 << 30), 1 << 30);
        assert_eq!(reserve_for(20 << 30), 1 << 30);
        assert_eq!(reserve_for(64 << 20), (64 << 20) / 20);
        assert_eq!(reserve_for(0), 0);
    }

    /// A filesystem of 100 MiB (reserve 5 MiB) whose free space shrinks as the writer
    /// writes: the writer stops before the reserve, after a few looks, not one per write.
    #[test]
    fn a_writer_stops_at_the_reserve() {
        let total: u64 = 100 << 20;
        let free = Arc::new(AtomicU64::new(total));
        let looks = Arc::new(AtomicU64::new(0));
        let (f, l) = (free.clone(), looks.clone());
        let mut room = Room::with(move || {
            l.fetch_add(1, SeqCst);
            Ok((f.load(SeqCst), total))
        });
        let chunk = 256 * 1024;
        let err = loop {
            match room.take(chunk) {
                Ok(()) => free.fetch_sub(chunk, SeqCst),
                Err(e) => break e,
            };
        };
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        let reserve = reserve_for(total);
        let left = free.load(SeqCst);
        assert!(left >= reserve && left < reserve + chunk, "{left}");
        let written = total - left;
        assert!(
            err.to_string().starts_with(&format!(
                "stopped after writing {written} bytes of this blob: its filesystem would have less than {reserve} bytes"
            )),
            "{err}"
        );
        assert!(looks.load(SeqCst) < 20, "{looks:?} looks for 380 writes");
    }

    #[test]
    fn a_full_filesystem_refuses_the_first_byte() {
        let mut room = Room::with(|| Ok((1 << 20, 100 << 20)));
        assert!(room.take(0).is_ok());
        assert!(room.take(1).is_err());
    }
}
