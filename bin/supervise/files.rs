//! supervise's own files: the `supervise/` directory, its lock, the
//! `control` and `ok` fifos, and atomic rewrites of `status` and `xstatus`.

use nix::sys::stat::Mode;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use svkit::exit::unable;
use svkit::svdir;

/// The open descriptors supervise keeps for its whole life.
pub struct Files {
    _lock: File,
    pub control: File,
    _ok: File,
}

/// Creates `supervise/` (0700) and takes its lock (0600, flock), as djb's
/// supervise. `label` is DIR as given on the command line, for messages.
pub fn lock(label: &str) -> anyhow::Result<File> {
    let full = |name: &str| format!("{label}/{name}");
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .create(svdir::SUPERVISE)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => anyhow::bail!(unable("mkdir", Path::new(&full(svdir::SUPERVISE)), &e)),
    }
    let lock = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(svdir::LOCK)
        .and_then(|f| svkit::sys::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB).map(|_| f))
        .map_err(|e| anyhow::anyhow!(unable("acquire", Path::new(&full(svdir::LOCK)), &e)))?;
    Ok(lock)
}

/// Makes (mode 0600) and opens a fifo read+write, non-blocking: with our
/// own writer it never reads EOF.
fn open_fifo(label: &str, name: &str) -> anyhow::Result<File> {
    let path = Path::new(name);
    let shown = format!("{label}/{name}");
    match nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => anyhow::bail!(unable("mkfifo", Path::new(&shown), &io::Error::from(e))),
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| anyhow::anyhow!(unable("read", Path::new(&shown), &e)))?;
    let is_fifo = f
        .metadata()
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if !is_fifo {
        anyhow::bail!("unable to read {shown}: not a fifo");
    }
    Ok(f)
}

pub fn open_control(label: &str) -> anyhow::Result<File> {
    open_fifo(label, svdir::CONTROL)
}

pub fn open_ok(label: &str) -> anyhow::Result<File> {
    open_fifo(label, svdir::OK)
}

impl Files {
    pub fn new(lock: File, control: File, ok: File) -> Files {
        Files {
            _lock: lock,
            control,
            _ok: ok,
        }
    }
}

/// Writes `xstatus` atomically (`.new` + rename). Returns the failure as
/// a warning text (path and reason).
pub fn write_xstatus(label: &str, bytes: &[u8]) -> anyhow::Result<()> {
    put(label, svdir::XSTATUS_NEW, svdir::XSTATUS, bytes)
}

/// Writes `status` atomically.
pub fn write_status(label: &str, bytes: &[u8]) -> anyhow::Result<()> {
    put(label, svdir::STATUS_NEW, svdir::STATUS, bytes)
}

fn put(label: &str, tmp: &str, dst: &str, bytes: &[u8]) -> anyhow::Result<()> {
    svkit::atomic::exchange(Path::new(tmp), Path::new(dst), bytes)
        .map_err(|e| anyhow::anyhow!(unable("write", Path::new(&format!("{label}/{tmp}")), &e)))
}
