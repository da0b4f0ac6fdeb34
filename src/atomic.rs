//! Atomic replacement of small state files: write `NEW`, optionally fsync,
//! rename over the target. A reader sees the old or the new file, never a
//! torn one.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `tmp` (mode 0644), fsyncs when `durable`, renames to `dst`.
pub fn replace(tmp: &Path, dst: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(tmp)?;
    f.write_all(bytes)?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(tmp, dst)
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
}
