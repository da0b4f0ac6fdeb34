//! Atomic replacement of small state files: write `NEW`, optionally fsync,
//! rename over the target. A reader sees the old or the new file, never a
//! torn one.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `tmp` (mode 0644), fsyncs when `durable`, renames to `dst`.
///
/// `tmp` is always a new file (`O_CREAT|O_EXCL|O_NOFOLLOW`; a leftover is
/// unlinked first): in a shared directory a planted symlink or hard link at
/// `tmp` can never make a privileged writer truncate someone else's file.
pub fn replace(tmp: &Path, dst: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut f = match create_new(tmp) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(tmp)?;
            create_new(tmp)?
        }
        r => r?,
    };
    f.write_all(bytes)?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(tmp, dst)
}

/// Like [`replace`], without creating and freeing an inode per update
/// (supervise rewrites its records at every start and death): `tmp` is
/// kept and rewritten in place, then swapped with `dst` by
/// `renameat2(RENAME_EXCHANGE)`. A reader that opens `dst` sees the old or
/// the new record whole. (One that opened it and then stalls across a
/// whole further update may read that update's bytes instead: the same
/// inode is reused two updates later.) `tmp` must be a regular file with
/// one link, opened without following symlinks; anything else is removed
/// and created afresh. Falls back to [`replace`] where the file system
/// cannot exchange.
pub fn exchange(tmp: &Path, dst: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(tmp);
    let f = match f {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file() && m.nlink() == 1) => f,
        // A symlink (ELOOP), a hard link, something odd: start afresh.
        _ => return replace(tmp, dst, bytes, false),
    };
    std::os::unix::fs::FileExt::write_all_at(&f, bytes, 0)?;
    f.set_len(bytes.len() as u64)?;
    drop(f);
    match crate::sys::rename_exchange(tmp, dst) {
        Ok(()) => Ok(()),
        // No `dst` yet: the first record.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => std::fs::rename(tmp, dst),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => replace(tmp, dst, bytes, false),
        Err(e) => Err(e),
    }
}

fn create_new(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_keeps_whole_records() {
        let dir = std::env::temp_dir().join(format!("svkit-xchg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, dst) = (dir.join("x.new"), dir.join("x"));
        exchange(&tmp, &dst, b"first record").unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"first record");
        exchange(&tmp, &dst, b"2nd").unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"2nd");
        exchange(&tmp, &dst, b"third one").unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"third one");
        // A planted symlink at tmp is not followed.
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        exchange(&tmp, &dst, b"fourth").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&dst).unwrap(), b"fourth");
        // Nor a planted hard link.
        let _ = std::fs::remove_file(&tmp);
        std::fs::hard_link(&victim, &tmp).unwrap();
        exchange(&tmp, &dst, b"fifth").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&dst).unwrap(), b"fifth");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("svkit-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, dst) = (dir.join("x.new"), dir.join("x"));
        replace(&tmp, &dst, b"first", true).unwrap();
        replace(&tmp, &dst, b"2", false).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"2");
        assert!(!tmp.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_writes_through_a_planted_link() {
        let dir = std::env::temp_dir().join(format!("svkit-atomic-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let (tmp, dst) = (dir.join("x.new"), dir.join("x"));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        replace(&tmp, &dst, b"new", false).unwrap();
        std::fs::hard_link(&victim, &tmp).unwrap();
        replace(&tmp, &dst, b"newer", false).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&dst).unwrap(), b"newer");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
