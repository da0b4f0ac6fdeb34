//! The scanner's table: one entry per service directory, identified by
//! device and inode as daemontools does (a rename or a second symlink to
//! the same directory is the same service), each with its supervise, and
//! the optional `log` supervise plus the pipe between them that svscan
//! holds open.

use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A supervise that dies after running at least this long is started again
/// at once; one that dies sooner waits for the next scan (no busy loop when
/// supervise fails at start, e.g. on a held lock).
pub const QUICK_DEATH: Duration = Duration::from_secs(1);

/// One supervise process that svscan starts and restarts.
#[derive(Default)]
pub struct Slot {
    pub pid: Option<Pid>,
    pub started: Option<Instant>,
}

impl Slot {
    pub fn running(&self) -> bool {
        self.pid.is_some()
    }

    pub fn set(&mut self, pid: Pid, now: Instant) {
        self.pid = Some(pid);
        self.started = Some(now);
    }

    /// Clears the slot if `pid` is its process; tells whether it lived long
    /// enough to be restarted at once.
    pub fn exited(&mut self, pid: Pid, now: Instant) -> Option<bool> {
        if self.pid != Some(pid) {
            return None;
        }
        self.pid = None;
        Some(
            self.started
                .map(|s| now.duration_since(s) >= QUICK_DEATH)
                .unwrap_or(true),
        )
    }
}

/// The pipe from a service's stdout to its logger's stdin. svscan keeps
/// both ends so either side can restart without losing a byte.
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

pub struct LogSide {
    pub slot: Slot,
    /// Dropped (closed) only in the last phase of a shutdown.
    pub pipe: Option<Pipe>,
}

pub struct Entry {
    pub dev: u64,
    pub ino: u64,
    /// Name in the scan directory at the last scan.
    pub name: OsString,
    /// Seen in the last scan; an inactive entry's supervise is not restarted.
    pub active: bool,
    /// The "gone from the scan directory" warning was printed.
    pub gone_noted: bool,
    pub main: Slot,
    pub log: Option<LogSide>,
}

impl Entry {
    /// The service supervise's stdio: stdout into its log pipe when it has
    /// a log (else `out`, svscan's own log or stdout), stderr to `out`.
    pub fn service_fds<'a>(&'a self, out: Option<BorrowedFd<'a>>) -> crate::spawn::Fds<'a> {
        crate::spawn::Fds {
            stdin: None,
            stdout: self
                .log
                .as_ref()
                .and_then(|l| l.pipe.as_ref())
                .map(|p| p.write.as_fd())
                .or(out),
            stderr: out,
        }
    }

    pub fn dir(&self) -> PathBuf {
        PathBuf::from(&self.name)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir().join(svkit::svdir::LOG)
    }

    pub fn show(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }

    pub fn log_running(&self) -> bool {
        self.log.as_ref().map(|l| l.slot.running()).unwrap_or(false)
    }
}

/// Which supervise of an entry a pid belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Main,
    Log,
}

pub struct Table {
    pub entries: Vec<Entry>,
    /// Most service directories svscan takes on (see `limit`).
    pub cap: usize,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            entries: Vec::new(),
            cap: usize::MAX,
        }
    }
}

impl Table {
    pub fn find(&self, dev: u64, ino: u64) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.dev == dev && e.ino == ino)
    }

    /// `find`, looking at index `hint` first.
    pub fn find_from(&self, dev: u64, ino: u64, hint: usize) -> Option<usize> {
        match self.entries.get(hint) {
            Some(e) if e.dev == dev && e.ino == ino => Some(hint),
            _ => self.find(dev, ino),
        }
    }

    pub fn full(&self) -> bool {
        self.entries.len() >= self.cap
    }

    pub fn add(&mut self, dev: u64, ino: u64, name: &OsStr, pipe: Option<Pipe>) -> usize {
        self.entries.push(Entry {
            dev,
            ino,
            name: name.to_owned(),
            active: true,
            gone_noted: false,
            main: Slot::default(),
            log: pipe.map(|p| LogSide {
                slot: Slot::default(),
                pipe: Some(p),
            }),
        });
        self.entries.len() - 1
    }

    pub fn by_pid(&self, pid: Pid) -> Option<(usize, Which)> {
        self.entries.iter().enumerate().find_map(|(i, e)| {
            if e.main.pid == Some(pid) {
                Some((i, Which::Main))
            } else if e.log.as_ref().and_then(|l| l.slot.pid) == Some(pid) {
                Some((i, Which::Log))
            } else {
                None
            }
        })
    }

    /// Drops entries that vanished from the directory and whose
    /// supervisors have all exited (daemontools: svscan forgets them and
    /// closes their pipe). Returns the names forgotten.
    pub fn forget_finished(&mut self) -> Vec<OsString> {
        let mut gone = Vec::new();
        self.entries.retain(|e| {
            let keep = e.active || e.main.running() || e.log_running();
            if !keep {
                gone.push(e.name.clone());
            }
            keep
        });
        gone
    }

    /// Every supervise pid svscan started that is still running.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.entries.iter().flat_map(|e| {
            e.main
                .pid
                .into_iter()
                .chain(e.log.as_ref().and_then(|l| l.slot.pid))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_quick_death() {
        let mut s = Slot::default();
        let t0 = Instant::now();
        s.set(Pid::from_raw(10), t0);
        assert_eq!(s.exited(Pid::from_raw(11), t0), None);
        assert_eq!(
            s.exited(Pid::from_raw(10), t0 + Duration::from_millis(10)),
            Some(false)
        );
        assert!(!s.running());
        s.set(Pid::from_raw(12), t0);
        assert_eq!(s.exited(Pid::from_raw(12), t0 + QUICK_DEATH), Some(true));
    }

    #[test]
    fn forget_only_when_inactive_and_down() {
        let mut t = Table::default();
        let a = t.add(1, 1, OsStr::new("a"), None);
        let b = t.add(1, 2, OsStr::new("b"), None);
        t.entries[a].active = false;
        t.entries[b].active = false;
        t.entries[b].main.set(Pid::from_raw(5), Instant::now());
        assert_eq!(t.forget_finished(), vec![OsString::from("a")]);
        assert_eq!(t.find(1, 2), Some(0));
        assert_eq!(t.by_pid(Pid::from_raw(5)), Some((0, Which::Main)));
    }
}
