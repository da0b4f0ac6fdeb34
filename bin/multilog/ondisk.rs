//! The names inside a log directory and the directory handle every one of
//! them is reached through: each name is opened relative to the
//! directory's descriptor with O_NOFOLLOW, so a planted symlink is never
//! followed, even if the directory's path is renamed meanwhile.

use nix::fcntl::{openat, renameat, renameat2, OFlag, RenameFlags};
use nix::sys::stat::{fstatat, FileStat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use svkit::tai64n::Tai64n;

pub const CURRENT: &str = "current";
pub const LOCK: &str = "lock";
pub const STATE: &str = "state";
pub const NEWSTATE: &str = "newstate";
pub const PREVIOUS: &str = "previous";
pub const PROCESSED: &str = "processed";
/// What the batch being written takes from the input pipe (svkit only).
pub const PENDING: &str = "pending";

/// An open log directory: its descriptor and (for messages) its path.
pub struct Dir {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

pub fn is_regular(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            path: path.to_path_buf(),
            fd: svkit::sys::own_fd(fd),
        })
    }

    fn raw(&self) -> Option<i32> {
        Some(self.fd.as_raw_fd())
    }

    /// The path of `name` inside, for messages.
    pub fn show(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    pub fn open_file(&self, name: &str, flags: OFlag, mode: u32) -> io::Result<File> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(self.raw(), name, flags, Mode::from_bits_truncate(mode))?;
        Ok(File::from(svkit::sys::own_fd(fd)))
    }

    /// lstat of `name`; None if it does not exist.
    pub fn stat(&self, name: &str) -> io::Result<Option<FileStat>> {
        match fstatat(self.raw(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn unlink(&self, name: &str) -> io::Result<()> {
        match unlinkat(self.raw(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        renameat(self.raw(), from, self.raw(), to).map_err(Into::into)
    }

    pub fn sync(&self) -> io::Result<()> {
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(Into::into)
    }

    /// Renames `from` to a fresh `@<now>.<code>`, never replacing a file.
    pub fn to_old(&self, from: &str, code: char) -> io::Result<()> {
        let mut t = Tai64n::now();
        loop {
            let label = t.hex_label();
            let name = format!("{}.{code}", String::from_utf8_lossy(&label));
            let fd = self.raw();
            match renameat2(fd, from, fd, name.as_str(), RenameFlags::RENAME_NOREPLACE) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EEXIST) => t.nanos = (t.nanos + 1) % 1_000_000_000,
                Err(nix::errno::Errno::EINVAL) => {
                    // A filesystem without RENAME_NOREPLACE: plain rename.
                    if self.stat(&name)?.is_some() {
                        t.nanos = (t.nanos + 1) % 1_000_000_000;
                        continue;
                    }
                    return self.rename(from, &name);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes the oldest `@…` files while `num` or more exist (`current`
    /// counts as one of `num`, as in daemontools).
    pub fn remove_oldest(&self, num: u32) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        // Listed through /proc so that the names come from the very
        // directory the descriptor holds.
        let listing = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let mut old: Vec<Vec<u8>> = Vec::new();
        for entry in std::fs::read_dir(listing)? {
            let name = entry?.file_name();
            if name.as_bytes().first() == Some(&b'@') {
                old.push(name.as_bytes().to_vec());
            }
        }
        old.sort();
        let excess = (old.len() + 1).saturating_sub(num as usize);
        for name in old.iter().take(excess) {
            self.unlink(&String::from_utf8_lossy(name))?;
        }
        Ok(())
    }
}
