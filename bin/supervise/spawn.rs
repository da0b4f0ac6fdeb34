//! Starting `./run` and `./finish`: each in its own session, default
//! signal dispositions, supervise's stdin/stdout/stderr, and for `run` an
//! optional readiness pipe at the `notification-fd` descriptor. Each child
//! waits before its exec until supervise has recorded it (see
//! `svkit::sys::spawn_gated`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use svkit::pidfd::PidFd;
use svkit::sys::Gated;

const RUN: &CStr = match CStr::from_bytes_with_nul(b"./run\0") {
    Ok(c) => c,
    Err(_) => panic!("literal"),
};
const FINISH: &CStr = match CStr::from_bytes_with_nul(b"./finish\0") {
    Ok(c) => c,
    Err(_) => panic!("literal"),
};

/// A forked process, not yet running its program: its pid, a pidfd for
/// it (None only on kernels without pidfd_open), and for `run` with
/// `notification-fd`, the read end of its readiness pipe.
pub struct Started {
    pub pid: u32,
    pub pidfd: Option<PidFd>,
    pub notify: Option<OwnedFd>,
    pub gate: Gated,
}

/// Forks `./run`. With `notify_fd`, the child finds the write end of a
/// fresh pipe at that descriptor.
pub fn run(notify_fd: Option<i32>) -> io::Result<Started> {
    let pipe = match notify_fd {
        Some(_) => Some(svkit::sys::pipe_nonblock_cloexec()?),
        None => None,
    };
    let fd_move = match (&pipe, notify_fd) {
        (Some((_, w)), Some(n)) => Some((w.as_raw_fd(), n)),
        _ => None,
    };
    let gate = svkit::sys::spawn_gated(&[RUN], fd_move)?;
    // The write end stays only in the child; dropping ours lets the read
    // end see EOF when the service closes it or dies.
    let notify = pipe.map(|(r, _w)| r);
    Ok(started(gate, notify))
}

/// The pidfd is opened while the child is still unreaped (nothing reaps
/// it before our event loop does), so it surely names the child.
fn started(gate: Gated, notify: Option<OwnedFd>) -> Started {
    Started {
        pid: gate.pid,
        pidfd: PidFd::of_child(gate.pid).ok(),
        notify,
        gate,
    }
}

/// Forks `./finish EXITCODE SIGNAL`.
pub fn finish(code: &str, signal: &str) -> io::Result<Started> {
    let c = CString::new(code).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let s = CString::new(signal).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let gate = svkit::sys::spawn_gated(&[FINISH, &c, &s], None)?;
    Ok(started(gate, None))
}
