//! One automatically rotated log directory: the lock, start-up recovery,
//! and `current`: a batch's bytes are gathered in memory and written with
//! one write(2); rotation falls due at batch ends.

use crate::ondisk::{is_regular, Dir, CURRENT, LOCK};
use crate::rotate::{self, Pause, Proc, Settings};
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmod, fstat, Mode};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use svkit::multilog_pending::Mark;
use svkit::multilog_script::DirSpec;

/// Close `current` at a newline once it is this close to the limit.
const SLACK: u64 = 2000;
/// The fast path writes stamped lines in pieces of about this size.
const WRITE: usize = 32 * 1024;

/// A directory locked for us, before recovery and `current`.
pub struct Locked {
    pub dir: Dir,
    lock: File,
    settings: Settings,
}

pub struct LogDir {
    pub dir: Dir,
    _lock: File,
    pub settings: Settings,
    current: File,
    /// Bytes in `current`, buffered ones included.
    pub bytes: u64,
    /// The batch's bytes, not yet written.
    pub buf: Vec<u8>,
    /// The fast path's batch: bytes gathered, written from the input.
    gathered: u64,
    /// `current` is full: rotate once the batch is taken.
    pub due: bool,
    pub pause: Pause,
    /// The `!` processor's run on `previous`, if any.
    pub proc: Proc,
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

impl Locked {
    /// Creates (mode 0700) and locks the directory.
    pub fn acquire(spec: &DirSpec) -> Result<Locked, StartError> {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&spec.path));
        // A failed mkdir shows up as the open's error, worded as daemontools.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&path);
        let dir = match Dir::open(&path) {
            Ok(d) => d,
            Err(e) => return fail("unable to open directory", &path, e),
        };
        let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
        let lock = match dir.open_file(LOCK, flags, 0o600) {
            Ok(f) => f,
            Err(e) => return fail("unable to open", &path.join(LOCK), e),
        };
        if let Err(e) = svkit::sys::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            return fail("unable to lock directory", &path, e);
        }
        let settings = Settings {
            size: spec.size,
            num: spec.num,
            processor: spec.processor.clone(),
        };
        Ok(Locked {
            dir,
            lock,
            settings,
        })
    }

    /// Recovers what an outage left and opens `current`, before any input
    /// is read.
    pub fn start(self) -> Result<LogDir, StartError> {
        let Locked {
            dir,
            lock,
            settings,
        } = self;
        let path = dir.path.clone();
        let cur = match dir.stat(CURRENT) {
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
            if let Err(e) = rotate::recover(&dir, settings.num) {
                return fail("unable to recover", &path, e);
            }
        }
        let current = match open_current(&dir) {
            Ok(f) => f,
            Err(e) => return fail("unable to open", &path.join(CURRENT), e),
        };
        let bytes = match current.metadata() {
            Ok(m) => m.len(),
            Err(e) => return fail("unable to stat", &path.join(CURRENT), e),
        };
        Ok(LogDir {
            dir,
            _lock: lock,
            settings,
            current,
            bytes,
            buf: Vec::new(),
            gathered: 0,
            due: false,
            pause: Pause::default(),
            proc: Proc::Idle,
        })
    }
}

impl LogDir {
    /// Room left in `current` before the size limit.
    pub fn room(&self) -> u64 {
        self.settings.size.saturating_sub(self.bytes)
    }

    /// Output that makes rotation due: a newline within SLACK of the limit.
    pub fn due_room(&self) -> u64 {
        self.settings
            .size
            .saturating_sub(SLACK)
            .saturating_sub(self.bytes)
    }

    /// Counts `len` bytes of whole lines (the fast path) that fit the room.
    pub fn gather(&mut self, len: u64) {
        self.gathered = len;
        self.bytes += len;
        if self.bytes + SLACK >= self.settings.size {
            self.due = true;
        }
    }

    /// Writes the fast path's batch: `stamp` before each line of `data`.
    /// Without a stamp the input goes out as it is; with one, lines are
    /// gathered into WRITE-byte pieces (one contiguous copy in the kernel
    /// is cheaper than writev's two tiny segments per line).
    pub fn write_lines(&mut self, stamp: &[u8], data: &[u8]) {
        if stamp.is_empty() {
            self.buf.extend_from_slice(data);
            self.flush();
        } else {
            let mut pos = 0;
            while pos < data.len() {
                let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i + 1);
                if self.buf.len() + stamp.len() + (end - pos) > WRITE && !self.buf.is_empty() {
                    self.flush();
                }
                self.buf.extend_from_slice(stamp);
                self.buf.extend_from_slice(&data[pos..end]);
                pos = end;
            }
            self.flush();
        }
        self.gathered = 0;
    }

    /// Appends bytes (a newline, if any, last). At the size limit, or at a
    /// newline within SLACK bytes of it, rotation falls due; a line longer
    /// than the room is cut at the limit there and then (as daemontools).
    pub fn put(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.bytes >= self.settings.size {
                self.rotate();
            }
            let room = self.room() as usize;
            let (piece, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(piece);
            self.bytes += piece.len() as u64;
            data = rest;
            let at_newline = data.is_empty() && piece.last() == Some(&b'\n');
            if self.bytes >= self.settings.size
                || (at_newline && self.bytes + SLACK >= self.settings.size)
            {
                self.due = true;
            }
        }
    }

    /// Where the buffered batch goes (for the pending record). Checks first
    /// that `current` is still linked, starting a new one if it was removed.
    pub fn mark(&mut self) -> Mark {
        let (dev, ino) = self.check_current();
        let len = self.buf.len() as u64 + self.gathered;
        Mark {
            dev,
            ino,
            off: self.bytes - len,
            len,
        }
    }

    /// Writes the batch to `current`, pausing and retrying on errors (a
    /// full disk) until everything is written. Reports once per episode.
    pub fn flush(&mut self) {
        let mut off = 0;
        while off < self.buf.len() {
            match io::Write::write(&mut self.current, &self.buf[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let what = format!("write to {}", self.dir.show(CURRENT));
                    self.pause.trouble(&what, &e);
                }
            }
        }
        self.pause.clear();
        self.buf.clear();
    }

    /// If `current` was removed under us, start a new one (what was
    /// written to the removed file went with it, as its remover decided).
    /// Returns its device and inode.
    fn check_current(&mut self) -> (u64, u64) {
        let st = fstat(self.current.as_raw_fd()).ok();
        let id = st.map_or((0, 0), |st| (st.st_dev, st.st_ino));
        if st.is_some_and(|st| st.st_nlink == 0) {
            svkit::exit::warn(
                "multilog",
                &format!("{} was removed; starting a new one", self.dir.show(CURRENT)),
            );
            let dir = &self.dir;
            self.current = self
                .pause
                .retry("open current", dir, || reopen_current(dir));
            self.bytes = self.buf.len() as u64 + self.gathered;
            let st = fstat(self.current.as_raw_fd()).ok();
            return st.map_or((0, 0), |st| (st.st_dev, st.st_ino));
        }
        id
    }

    /// True when the name `current` still refers to the file we write.
    fn current_is_ours(&self) -> bool {
        let Ok(mine) = fstat(self.current.as_raw_fd()) else {
            return false;
        };
        matches!(self.dir.stat(CURRENT),
            Ok(Some(st)) if st.st_dev == mine.st_dev && st.st_ino == mine.st_ino)
    }

    /// Flushes, syncs and marks `current` complete (mode 744): at EOF and
    /// on SIGTERM, and before every rotation.
    /// Returns false, with a warning, when the sync failed: Linux reports
    /// a writeback error once, so a retried sync would succeed with the
    /// data lost. Such a file stays unfinished (mode 644, `.u` when
    /// rotated), never reported durable.
    pub fn complete(&mut self) -> bool {
        if !self.buf.is_empty() {
            self.check_current();
            self.flush();
        }
        let (dir, cur) = (&self.dir, &self.current);
        if let Err(e) = cur.sync_all() {
            svkit::exit::warn(
                "multilog",
                &format!(
                    "unable to sync {}: {}; it may not all be on disk: kept unfinished",
                    dir.show(CURRENT),
                    svkit::errstr::text(&e)
                ),
            );
            return false;
        }
        self.pause.retry("chmod current", dir, || {
            fchmod(cur.as_raw_fd(), Mode::from_bits_truncate(0o744)).map_err(Into::into)
        });
        // The data is on disk; this only makes the mode last.
        let _ = cur.sync_all();
        true
    }

    /// Closes `current` as an old file (through the processor if any) and
    /// opens a fresh one. A `current` whose sync failed becomes `.u`.
    pub fn rotate(&mut self) {
        // `previous` is still being processed: that run ends first.
        self.finish_proc();
        let durable = self.complete();
        if !self.current_is_ours() {
            // Moved away or replaced under us: never archive (or process) a
            // stranger; our file is wherever it was moved to.
            svkit::exit::warn(
                "multilog",
                &format!(
                    "{} was moved or replaced; not archiving it",
                    self.dir.show(CURRENT)
                ),
            );
        } else if durable {
            self.proc = rotate::finish_current(&self.dir, &self.settings, &mut self.pause);
        } else {
            rotate::keep_unfinished(&self.dir, &self.settings, &mut self.pause);
        }
        let dir = &self.dir;
        self.current = self
            .pause
            .retry("open current", dir, || reopen_current(dir));
        self.bytes = 0;
        self.due = false;
        let _ = self.dir.sync();
    }
}

impl LogDir {
    /// Moves the processor's run along, without blocking.
    pub fn step_proc(&mut self) {
        let p = std::mem::replace(&mut self.proc, Proc::Idle);
        self.proc = rotate::step(p, &self.dir, &self.settings, &mut self.pause);
    }

    /// Waits until the processor's run is over.
    pub fn finish_proc(&mut self) {
        if self.proc.busy() {
            let p = std::mem::replace(&mut self.proc, Proc::Idle);
            self.proc = rotate::finish(p, &self.dir, &self.settings, &mut self.pause);
        }
    }
}

/// Opens `current` for appending, mode 644 (the "being written" mark).
pub fn open_current(dir: &Dir) -> io::Result<File> {
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
    let f = dir.open_file(CURRENT, flags, 0o644)?;
    fchmod(f.as_raw_fd(), Mode::from_bits_truncate(0o644))?;
    Ok(f)
}

/// Opens a new `current` while running. The name is ours: whatever sits
/// there now (a planted symlink or hard link) is removed, never followed
/// or appended to, and the new file is created exclusively.
fn reopen_current(dir: &Dir) -> io::Result<File> {
    dir.unlink(CURRENT)?;
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_EXCL;
    let f = dir.open_file(CURRENT, flags, 0o644)?;
    fchmod(f.as_raw_fd(), Mode::from_bits_truncate(0o644))?;
    Ok(f)
}
