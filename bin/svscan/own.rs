//! svscan's own output (the logging patch): when `DIR/.svscan/log` exists,
//! svscan starts `supervise log` there with a pipe on its stdin and moves
//! its own stdout and stderr onto that pipe. Every supervise svscan starts
//! inherits the pipe as stdout/stderr, so services without a `log/` end up
//! in that logger too. The logger's own supervise keeps svscan's original
//! descriptors, which are also restored at the very end of a shutdown.

use crate::spawn::{log_pipe, Fds, Launcher};
use crate::table::{Pipe, Slot};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

pub struct OwnLog {
    /// svscan's original stdout and stderr (close-on-exec copies).
    saved_out: Option<OwnedFd>,
    saved_err: Option<OwnedFd>,
    pub slot: Slot,
    pipe: Option<Pipe>,
}

impl OwnLog {
    pub fn new() -> OwnLog {
        OwnLog {
            saved_out: std::io::stdout().as_fd().try_clone_to_owned().ok(),
            saved_err: std::io::stderr().as_fd().try_clone_to_owned().ok(),
            slot: Slot::default(),
            pipe: None,
        }
    }

    /// True once `.svscan/log` was set up (until the shutdown's end).
    pub fn configured(&self) -> bool {
        self.pipe.is_some()
    }

    /// What children get as stdout and stderr: the pipe into
    /// `.svscan/log`, or (None) svscan's own descriptors.
    pub fn child_out(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(|p| p.write.as_fd())
    }

    /// Sets up `.svscan/log` the first time, or restarts its supervise.
    pub fn start(&mut self, launcher: &Launcher, now: Instant) -> io::Result<()> {
        let fresh = self.pipe.is_none();
        if fresh {
            let (read, write) = log_pipe()?;
            self.pipe = Some(Pipe { read, write });
        }
        let pipe = self.pipe.as_ref().ok_or(io::ErrorKind::NotFound)?;
        let fds = Fds {
            stdin: Some(pipe.read.as_fd()),
            stdout: self.saved_out.as_ref().map(|f| f.as_fd()),
            stderr: self.saved_err.as_ref().map(|f| f.as_fd()),
        };
        let dir = Path::new(svkit::svdir::SVSCAN_DIR);
        match launcher.supervise(Some(dir), OsStr::new(svkit::svdir::LOG), fds) {
            Ok(pid) => {
                self.slot.set(pid, now);
                if fresh {
                    redirect_self(&pipe.write);
                }
                Ok(())
            }
            Err(e) => {
                if fresh {
                    self.pipe = None;
                }
                Err(e)
            }
        }
    }

    /// What an upgrade hands over (descriptors by number).
    pub fn state(&self) -> crate::state::OwnState {
        crate::state::OwnState {
            pid: self.slot.pid.map(|p| p.as_raw()),
            pipe: self
                .pipe
                .as_ref()
                .map(|p| (p.read.as_raw_fd(), p.write.as_raw_fd())),
            saved_out: self.saved_out.as_ref().map(|f| f.as_raw_fd()),
            saved_err: self.saved_err.as_ref().map(|f| f.as_raw_fd()),
        }
    }

    /// The own logger as an upgrade handed it over; fds 1 and 2 still
    /// point where the old image put them.
    pub fn resumed(st: &crate::state::OwnState, started: Option<Instant>) -> OwnLog {
        use crate::state::adopt;
        OwnLog {
            saved_out: st.saved_out.map(adopt),
            saved_err: st.saved_err.map(adopt),
            slot: Slot {
                pid: st.pid.map(Pid::from_raw),
                started,
            },
            pipe: st.pipe.map(|(r, w)| Pipe {
                read: adopt(r),
                write: adopt(w),
            }),
        }
    }

    pub fn exited(&mut self, pid: Pid, now: Instant) -> Option<bool> {
        self.slot.exited(pid, now)
    }

    /// Puts svscan's original stdout/stderr back and closes its copies of
    /// the pipe, so the logger reads EOF once nobody else writes to it.
    pub fn restore(&mut self) {
        if self.pipe.is_none() {
            return;
        }
        if let Some(f) = &self.saved_out {
            let _ = nix::unistd::dup2(f.as_raw_fd(), 1);
        }
        if let Some(f) = &self.saved_err {
            let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
        }
        self.pipe = None;
    }
}

/// Points svscan's fds 1 and 2 at the pipe through a separate, non-blocking
/// open of it (/proc/self/fd/N opens a new file description), so a stuck
/// logger makes svscan drop its own messages instead of hanging; children
/// still get the blocking description.
fn redirect_self(write: &OwnedFd) {
    let path = format!("/proc/self/fd/{}", write.as_raw_fd());
    let mine: OwnedFd = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(f) => f.into(),
        Err(_) => match write.try_clone() {
            Ok(f) => f,
            Err(_) => return,
        },
    };
    let _ = nix::unistd::dup2(mine.as_raw_fd(), 1);
    let _ = nix::unistd::dup2(mine.as_raw_fd(), 2);
}
