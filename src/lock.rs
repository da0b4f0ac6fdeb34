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
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
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
}
