//! One automatically rotated log directory: start-up recovery, the lock,
//! buffered appends to `current`, and rotation (with the `!` processor).
//!
//! Every name inside the directory is opened relative to the directory's
//! descriptor with O_NOFOLLOW, so a symlink planted as `current` (or any
//! other file) is never followed.

use crate::rotate::{self, Pause};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use svkit::multilog_script::DirSpec;

/// Output buffered per directory before a write(2).
pub const BUF: usize = 16 * 1024;
/// Close `current` at a newline once it is this close to the limit.
const SLACK: u64 = 2000;

pub const CURRENT: &str = "current";
pub const LOCK: &str = "lock";
pub const STATE: &str = "state";
pub const NEWSTATE: &str = "newstate";
pub const PREVIOUS: &str = "previous";
pub const PROCESSED: &str = "processed";

pub struct LogDir {
    pub path: PathBuf,
    pub dirfd: OwnedFd,
    _lock: File,
    pub size: u64,
    pub num: u32,
    pub processor: Option<Vec<u8>>,
    current: File,
    /// Bytes in `current`, buffered ones included.
    pub bytes: u64,
    buf: Vec<u8>,
    pub pause: Pause,
}

pub fn nofollow() -> OFlag {
    OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

pub fn open_in(dirfd: &OwnedFd, name: &str, flags: OFlag, mode: u32) -> io::Result<File> {
    let fd = openat(
        Some(dirfd.as_raw_fd()),
        name,
        flags | nofollow(),
        Mode::from_bits_truncate(mode),
    )?;
    Ok(File::from(svkit::sys::own_fd(fd)))
}

/// lstat of `name` in the directory; None if it does not exist.
pub fn stat_in(dirfd: &OwnedFd, name: &str) -> io::Result<Option<nix::sys::stat::FileStat>> {
    match fstatat(
        Some(dirfd.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(st)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn unlink_in(dirfd: &OwnedFd, name: &str) -> io::Result<()> {
    match unlinkat(Some(dirfd.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn is_regular(st: &nix::sys::stat::FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// An error that stops start-up: what failed, and the OS reason.
pub struct StartError {
    pub what: String,
    pub err: io::Error,
}

fn fail<T>(what: &str, path: &Path, err: impl Into<io::Error>) -> Result<T, StartError> {
    Err(StartError {
        what: format!("{what} {}", path.display()),
        err: err.into(),
    })
}

impl LogDir {
    /// Creates (mode 0700) and locks the directory, recovers what an outage
    /// left, and opens `current` — all before any input is read.
    pub fn start(spec: &DirSpec) -> Result<LogDir, StartError> {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&spec.path));
        // A failed mkdir shows up as the open's error, worded as daemontools.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&path);
        let dirfd = match nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => svkit::sys::own_fd(fd),
            Err(e) => return fail("unable to open directory", &path, e),
        };
        let lock = match open_in(
            &dirfd,
            LOCK,
            OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
            0o600,
        ) {
            Ok(f) => f,
            Err(e) => return fail("unable to open", &path.join(LOCK), e),
        };
        if let Err(e) = svkit::sys::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            return fail("unable to lock directory", &path, e);
        }
        let cur = match stat_in(&dirfd, CURRENT) {
            Ok(c) => c,
            Err(e) => return fail("unable to stat", &path.join(CURRENT), e),
        };
        if let Some(st) = &cur {
            if !is_regular(st) {
                let e = io::Error::from_raw_os_error(libc::ELOOP);
                return fail("unable to open", &path.join(CURRENT), e);
            }
        }
        let complete = cur.map(|st| st.st_mode & 0o100 != 0).unwrap_or(false);
        if !complete {
            if let Err(e) = rotate::recover(&dirfd, spec.num) {
                return fail("unable to recover", &path, e);
            }
        }
        let current = match open_current(&dirfd) {
            Ok(f) => f,
            Err(e) => return fail("unable to open", &path.join(CURRENT), e),
        };
        let bytes = match current.metadata() {
            Ok(m) => m.len(),
            Err(e) => return fail("unable to stat", &path.join(CURRENT), e),
        };
        Ok(LogDir {
            path,
            dirfd,
            _lock: lock,
            size: spec.size,
            num: spec.num,
            processor: spec.processor.clone(),
            current,
            bytes,
            buf: Vec::with_capacity(BUF),
            pause: Pause::default(),
        })
    }

    /// Appends bytes (a newline, if any, last), rotating at the size limit
    /// and at a newline within SLACK bytes of it.
    pub fn put(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.bytes >= self.size {
                self.rotate();
            }
            let room = (self.size - self.bytes) as usize;
            let (piece, rest) = data.split_at(room.min(data.len()));
            if self.buf.len() + piece.len() > BUF {
                // Never grow the buffer: write what is there first.
                self.flush();
            }
            if piece.len() >= BUF {
                self.write_out(piece);
            } else {
                self.buf.extend_from_slice(piece);
            }
            self.bytes += piece.len() as u64;
            data = rest;
            let at_newline = data.is_empty() && piece.last() == Some(&b'\n');
            if self.bytes >= self.size || (at_newline && self.bytes + SLACK >= self.size) {
                self.rotate();
            }
        }
    }

    /// Writes the buffer to `current`, pausing and retrying on errors (a
    /// full disk) until everything is written. Reports once per episode.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        self.write_out(&buf);
        self.buf = buf;
        self.buf.clear();
    }

    fn write_out(&mut self, data: &[u8]) {
        self.check_current();
        let mut off = 0;
        while off < data.len() {
            match io::Write::write(&mut self.current, &data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let what = format!("write to {}", self.path.join(CURRENT).display());
                    self.pause.trouble(&what, &e);
                }
            }
        }
        self.pause.clear();
    }

    /// If `current` was removed under us, start a new one (what was
    /// written to the removed file went with it, as its remover decided).
    fn check_current(&mut self) {
        let gone = matches!(fstat(self.current.as_raw_fd()), Ok(st) if st.st_nlink == 0);
        if gone {
            svkit::exit::warn(
                "multilog",
                &format!(
                    "{} was removed; starting a new one",
                    self.path.join(CURRENT).display()
                ),
            );
            self.current = self.retry("open current", |d| reopen_current(&d.dirfd));
            self.bytes = 0;
        }
    }

    /// True when the name `current` still refers to the file we write.
    fn current_is_ours(&self) -> bool {
        let Ok(mine) = fstat(self.current.as_raw_fd()) else {
            return false;
        };
        matches!(stat_in(&self.dirfd, CURRENT),
            Ok(Some(st)) if st.st_dev == mine.st_dev && st.st_ino == mine.st_ino)
    }

    /// Runs `op` until it succeeds, pausing a second between attempts.
    pub fn retry<T>(&mut self, what: &str, mut op: impl FnMut(&mut LogDir) -> io::Result<T>) -> T {
        loop {
            match op(self) {
                Ok(v) => {
                    self.pause.clear();
                    return v;
                }
                Err(e) => {
                    let what = format!("{what} in {}", self.path.display());
                    self.pause.trouble(&what, &e);
                }
            }
        }
    }

    /// Flushes, syncs and marks `current` complete (mode 744): at EOF and
    /// on SIGTERM, and before every rotation.
    pub fn complete(&mut self) {
        self.flush();
        self.retry("sync current", |d| d.current.sync_all());
        self.retry("chmod current", |d| {
            fchmod(d.current.as_raw_fd(), Mode::from_bits_truncate(0o744)).map_err(Into::into)
        });
        self.retry("sync current", |d| d.current.sync_all());
    }

    /// Closes `current` as an old file (through the processor if any) and
    /// opens a fresh one.
    pub fn rotate(&mut self) {
        self.complete();
        if self.current_is_ours() {
            rotate::finish_current(self);
        } else {
            // Moved away or replaced under us: never archive (or process) a
            // stranger; our file is wherever it was moved to.
            svkit::exit::warn(
                "multilog",
                &format!(
                    "{} was moved or replaced; not archiving it",
                    self.path.join(CURRENT).display()
                ),
            );
        }
        self.current = self.retry("open current", |d| reopen_current(&d.dirfd));
        self.bytes = 0;
        let _ = rotate::sync_dir(&self.dirfd);
    }
}

/// Opens `current` for appending, mode 644 (the "being written" mark).
pub fn open_current(dirfd: &OwnedFd) -> io::Result<File> {
    let f = open_in(
        dirfd,
        CURRENT,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
        0o644,
    )?;
    fchmod(f.as_raw_fd(), Mode::from_bits_truncate(0o644))?;
    Ok(f)
}

/// Opens a new `current` while running. The name is ours: whatever sits
/// there now (a planted symlink or hard link) is removed, never followed
/// or appended to, and the new file is created exclusively.
fn reopen_current(dirfd: &OwnedFd) -> io::Result<File> {
    unlink_in(dirfd, CURRENT)?;
    let f = open_in(
        dirfd,
        CURRENT,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_EXCL,
        0o644,
    )?;
    fchmod(f.as_raw_fd(), Mode::from_bits_truncate(0o644))?;
    Ok(f)
}
