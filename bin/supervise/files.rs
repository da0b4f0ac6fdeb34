//! supervise's own files: the `supervise/` directory, its lock, the
//! `control` and `ok` fifos, and atomic rewrites of `status` and `xstatus`.

use nix::sys::stat::Mode;
use std::fs::{File, OpenOptions};
use std::io;
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
    // A symlink, a hard link or anything but a plain file is refused:
    // root must not lock (or create) a file somebody else named.
    let lock = svkit::lock::lock_exclusive_nb_mode(Path::new(svdir::LOCK), 0o600)
        .map_err(|e| anyhow::anyhow!(unable("acquire", Path::new(&full(svdir::LOCK)), &e)))?;
    Ok(lock)
}

/// Makes (mode 0600) and opens a fifo read+write, non-blocking: with our
/// own writer it never reads EOF. Only a fifo is opened: a symlink (to a
/// device, say, or to somebody else's fifo) or any other file planted at
/// `name` is refused without being opened (`lstat` first, then
/// `O_NOFOLLOW`, then `fstat` must name the very fifo `lstat` saw).
fn open_fifo(label: &str, name: &str) -> anyhow::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let path = Path::new(name);
    let shown = format!("{label}/{name}");
    match nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => anyhow::bail!(unable("mkfifo", Path::new(&shown), &io::Error::from(e))),
    }
    let not_fifo = || anyhow::anyhow!("unable to read {shown}: not a fifo");
    let seen = std::fs::symlink_metadata(path)
        .map_err(|e| anyhow::anyhow!(unable("read", Path::new(&shown), &e)))?;
    if !seen.file_type().is_fifo() {
        return Err(not_fifo());
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| anyhow::anyhow!(unable("read", Path::new(&shown), &e)))?;
    let same_fifo = f
        .metadata()
        .is_ok_and(|m| m.file_type().is_fifo() && m.dev() == seen.dev() && m.ino() == seen.ino());
    if !same_fifo {
        return Err(not_fifo());
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
