//! Starting `./run` and `./finish`: each in its own session, default
//! signal dispositions, supervise's stdin/stdout/stderr, and for `run` an
//! optional readiness pipe at the `notification-fd` descriptor.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

/// A started process: its pid, a pidfd for it (None only on kernels
/// without pidfd_open), and for `run` with `notification-fd`, the read
/// end of its readiness pipe.
pub struct Started {
    pub pid: u32,
    pub pidfd: Option<OwnedFd>,
    pub notify: Option<OwnedFd>,
}

/// Starts `./run`. With `notify_fd`, the child finds the write end of a
/// fresh pipe at that descriptor.
pub fn run(notify_fd: Option<i32>) -> io::Result<Started> {
    let mut cmd = Command::new("./run");
    let pipe = match notify_fd {
        Some(_) => Some(svkit::sys::pipe_nonblock_cloexec()?),
        None => None,
    };
    let fd_move = match (&pipe, notify_fd) {
        (Some((_, w)), Some(n)) => Some((w.as_raw_fd(), n)),
        _ => None,
    };
    svkit::sys::command_in_session(&mut cmd, fd_move);
    let child = cmd.spawn()?;
    // The write end stays only in the child; dropping ours lets the read
    // end see EOF when the service closes it or dies.
    let notify = pipe.map(|(r, _w)| r);
    Ok(started(child.id(), notify))
}

/// The pidfd is opened while the child is still unreaped (nothing reaps
/// it before our event loop does), so it surely names the child.
fn started(pid: u32, notify: Option<OwnedFd>) -> Started {
    Started {
        pid,
        pidfd: svkit::sys::pidfd_open(pid).ok(),
        notify,
    }
}

/// Starts `./finish EXITCODE SIGNAL`.
pub fn finish(code: &str, signal: &str) -> io::Result<Started> {
    let mut cmd = Command::new("./finish");
    cmd.arg(code).arg(signal);
    svkit::sys::command_in_session(&mut cmd, None);
    Ok(started(cmd.spawn()?.id(), None))
}

/// s6's arguments for `finish` from a raw wait status: the exit code and
/// 0, or 256 and the signal number.
pub fn finish_args(wstatus: i32) -> (String, String) {
    if libc::WIFSIGNALED(wstatus) {
        ("256".into(), libc::WTERMSIG(wstatus).to_string())
    } else if libc::WIFEXITED(wstatus) {
        (libc::WEXITSTATUS(wstatus).to_string(), "0".into())
    } else {
        // Unknown (a taken-over child): report like s6 does for "no status".
        ("256".into(), "0".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_arguments() {
        assert_eq!(finish_args(3 << 8), ("3".into(), "0".into()));
        assert_eq!(finish_args(9), ("256".into(), "9".into()));
        assert_eq!(finish_args(-1), ("256".into(), "0".into()));
    }
}
