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
