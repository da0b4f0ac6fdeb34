//! Advisory whole-file locks (flock), as daemontools' `lock_exnb`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens (creating, mode 0644) and locks `path` exclusively without
/// blocking. The lock lives as long as the returned file (close-on-exec).
/// A held lock gives `WouldBlock`, which reads "temporary failure".
/// A symlink at `path` is refused (`O_NOFOLLOW`): a lock in a shared
/// directory cannot be made to create or touch another file.
pub fn lock_exclusive_nb(path: &Path) -> io::Result<File> {
    lock_exclusive_nb_mode(path, 0o644)
}

/// [`lock_exclusive_nb`], creating the file with `mode`.
///
/// What was opened must be a regular file with one link: a hard link
/// planted at `path` (to `/etc/shadow`, say) would otherwise be locked,
/// then truncated and written by a root svscan. A fifo or a device there
/// is refused too, and opening it neither blocks (`O_NONBLOCK`) nor makes
/// it a controlling terminal (`O_NOCTTY`).
pub fn lock_exclusive_nb_mode(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if m.nlink() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} links to the file (a lock has one)", m.nlink()),
        ));
    }
    crate::sys::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_then_succeeds() {
        let dir = std::env::temp_dir().join(format!("svkit-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lock");
        let held = lock_exclusive_nb(&p).unwrap();
        let e = lock_exclusive_nb(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        assert!(lock_exclusive_nb(&p).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_symlink() {
        let dir = std::env::temp_dir().join(format!("svkit-lock-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lock");
        std::os::unix::fs::symlink(dir.join("elsewhere"), &p).unwrap();
        assert!(lock_exclusive_nb(&p).is_err());
        assert!(!dir.join("elsewhere").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_hard_link_and_leaves_its_target_alone() {
        let dir = std::env::temp_dir().join(format!("svkit-lock-hard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "secret\n").unwrap();
        let p = dir.join("lock");
        std::fs::hard_link(&victim, &p).unwrap();
        let e = lock_exclusive_nb(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
        // Not locked either: the victim is free for its owner.
        let v = File::open(&victim).unwrap();
        assert!(crate::sys::flock(v.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = std::env::temp_dir().join(format!("svkit-lock-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lock");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(lock_exclusive_nb(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
