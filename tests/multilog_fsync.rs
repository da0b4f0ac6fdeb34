//! A failed fsync is never reported durable (issue 12, goal 4). Linux
//! reports a writeback error once: a retried fsync returns 0 although the
//! data is gone. A real failing device: an ext4 filesystem on a loop
//! device whose backing file lives on a small tmpfs; filling the tmpfs
//! makes every later writeback fail. Needs root (mount, losetup); skipped
//! with the reason otherwise.
mod common;

use common::{bin, Scratch};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// tmpfs ⊃ image file → loop device → ext4 mounted at `mnt`.
struct FailingFs {
    tm: PathBuf,
    mnt: PathBuf,
    dev: String,
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl FailingFs {
    fn new(s: &Scratch) -> Result<FailingFs, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not root".into());
        }
        let (tm, mnt) = (s.join("tm"), s.join("mnt"));
        std::fs::create_dir_all(&tm).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        if !quiet(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
                .arg(&tm),
        ) {
            return Err("cannot mount a tmpfs".into());
        }
        let img = tm.join("img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(32 << 20).unwrap();
        drop(f);
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output();
        let dev = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => {
                let _ = quiet(Command::new("umount").arg(&tm));
                return Err("no loop device (losetup failed)".into());
            }
        };
        let fs = FailingFs { tm, mnt, dev };
        if !quiet(Command::new("mkfs.ext4").args(["-q", "-O", "^has_journal", &fs.dev])) {
            return Err("mkfs.ext4 failed".into());
        }
        if !quiet(
            Command::new("mount")
                .args(["-o", "errors=continue", &fs.dev])
                .arg(&fs.mnt),
        ) {
            return Err("cannot mount the loop device".into());
        }
        Ok(fs)
    }

    /// From now on, every block written back fails.
    fn break_it(&self) {
        let mut f = std::fs::File::create(self.tm.join("fill")).unwrap();
        let chunk = vec![0u8; 1 << 16];
        while f.write_all(&chunk).is_ok() {}
    }
}

impl Drop for FailingFs {
    fn drop(&mut self) {
        let _ = quiet(Command::new("umount").arg(&self.mnt));
        let _ = quiet(Command::new("losetup").args(["-d", &self.dev]));
        let _ = quiet(Command::new("umount").arg(&self.tm));
    }
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn failed_fsync_is_never_reported_durable() {
    let s = Scratch::new("ml-fsync");
    let fs = match FailingFs::new(&s) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("failed_fsync: skipped: {why}");
            return;
        }
    };
    let mut child = Command::new(bin("multilog"))
        .args(["s4096", "n100", "./d"])
        .current_dir(&fs.mnt)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let line = |i: usize| format!("{i:05} {}\n", "x".repeat(93));
    for i in 0..10 {
        stdin.write_all(line(i).as_bytes()).unwrap();
    }
    let cur = fs.mnt.join("d/current");
    assert!(common::poll_until(Duration::from_secs(10), || {
        std::fs::metadata(&cur)
            .map(|m| m.len() == 1000)
            .unwrap_or(false)
    }));
    fs.break_it();
    // Rotation falls due (a newline within 2000 bytes of 4096): current is
    // synced, which fails. It must not become a finished `.s` file.
    for i in 10..25 {
        stdin.write_all(line(i).as_bytes()).unwrap();
    }
    drop(stdin);
    let mut stderr = child.stderr.take().unwrap();
    let waited = common::poll_until(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !waited {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
    assert!(waited, "multilog did not exit: {err}");
    let d = fs.mnt.join("d");
    let all = names(&d);
    assert!(!all.iter().any(|n| n.ends_with(".s")), "{all:?} {err}");
    assert!(all.iter().any(|n| n.ends_with(".u")), "{all:?} {err}");
    let mode = std::fs::metadata(&cur).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "current not marked complete: {err}");
    assert!(err.contains("unable to sync"), "{err}");
}
