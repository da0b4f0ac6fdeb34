//! A process held by a pidfd and signalled only through it, never by
//! number (SPEC round 2). A pidfd does not reserve the pid *number*: it
//! holds the kernel's pid object, so a signal sent through it reaches
//! that process or nobody — never a process that got the number later.
//! Needs Linux 5.3 (pidfd_open); group signalling through a pidfd needs
//! 6.9, before which only our own unreaped children's groups are reached
//! (by `kill(-pid)`, exact while the leader is unreaped).

use nix::sys::signal::Signal;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// `pidfd_send_signal` flag (Linux 6.9): the process group whose id is
/// the held process's pid.
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 1 << 2;

pub struct PidFd {
    fd: OwnedFd,
    pid: u32,
    /// Our own child, not reaped yet: its number cannot be recycled, so
    /// on kernels without group signalling through a pidfd, `kill(-pid)`
    /// is still exact (SPEC: "hold it unreaped").
    unreaped_child: bool,
}

/// What a group signal reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The whole process group led by the process (also after the leader
    /// itself has exited, while a member lives).
    Group,
    /// The process alone: it leads no group (yet).
    Process,
    /// The process alone: this kernel cannot signal a group through a
    /// pidfd and the process is not our child, so its group's other
    /// members are out of reach.
    LeaderOnly,
    /// Nothing left to signal.
    Gone,
}

impl PidFd {
    /// Holds the process that has `pid` now. Whoever calls this must check
    /// afterwards that it is the process meant (for instance its
    /// [`crate::procsig::ProcSig`]): before the pidfd exists, the number
    /// could have been recycled.
    pub fn open(pid: u32) -> io::Result<PidFd> {
        Ok(PidFd {
            fd: crate::sys::pidfd_open(pid)?,
            pid,
            unreaped_child: false,
        })
    }

    /// Holds our own child `pid`, which we have not reaped (so the number
    /// is certainly the child's).
    pub fn of_child(pid: u32) -> io::Result<PidFd> {
        let mut p = PidFd::open(pid)?;
        p.unreaped_child = true;
        Ok(p)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Signals the process alone.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        crate::sys::pidfd_send_signal_flags(self.fd.as_raw_fd(), sig as libc::c_int, 0)
    }

    /// Signals the process group this process leads, else (no group of
    /// that id) the process alone. See [`Reached`] for pre-6.9 kernels.
    pub fn signal_group(&self, sig: Signal) -> Reached {
        let fd = self.fd.as_raw_fd();
        let s = sig as libc::c_int;
        match crate::sys::pidfd_send_signal_flags(fd, s, PIDFD_SIGNAL_PROCESS_GROUP) {
            Ok(()) => return Reached::Group,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // No group signalling through pidfds on this kernel.
                if self.unreaped_child {
                    let p = nix::unistd::Pid::from_raw(-(self.pid as i32));
                    if nix::sys::signal::kill(p, sig).is_ok() {
                        return Reached::Group;
                    }
                } else {
                    return match self.signal(sig) {
                        Ok(()) => Reached::LeaderOnly,
                        Err(_) => Reached::Gone,
                    };
                }
            }
            // ESRCH: no group with this id (the process has not made its
            // session yet); anything else: try the process itself.
            Err(_) => {}
        }
        match self.signal(sig) {
            Ok(()) => Reached::Process,
            Err(_) => Reached::Gone,
        }
    }

    /// True once the process has exited (it may still be a zombie).
    pub fn has_exited(&self) -> bool {
        let mut p = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        matches!(crate::sys::poll_fds(&mut p, 0), Ok(n) if n > 0)
    }
}

impl std::os::fd::AsFd for PidFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
