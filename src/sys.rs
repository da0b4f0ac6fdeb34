//! Every raw `unsafe` call in svkit lives here, each with its SAFETY note.
//! Programs append their wrappers under a heading naming the program.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A pipe whose ends are both non-blocking and close-on-exec.
pub fn pipe_nonblock_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid 2-element array for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Async-signal-safe: writes one byte, keeping errno as it was.
pub fn selfpipe_write(fd: RawFd, byte: u8) {
    if fd < 0 {
        return;
    }
    // SAFETY: errno location is thread-local and valid; write(2) is
    // async-signal-safe; the buffer is one valid byte on our stack.
    unsafe {
        let saved = *libc::__errno_location();
        let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = saved;
    }
}

/// Installs `handler` for `sig` with SA_RESTART and all signals blocked
/// during the handler.
pub fn set_handler(sig: Signal, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    let act = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::all(),
    );
    // SAFETY: the handler only calls selfpipe_write, which is async-signal-safe.
    unsafe { sigaction(sig, &act) }
        .map(|_| ())
        .map_err(io::Error::from)
}

/// Restores default dispositions for every catchable signal and empties
/// the signal mask. Call in a forked child before exec (Rust ignores
/// SIGPIPE at start-up; a service must not inherit that).
pub fn reset_signals_for_exec() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler-safety requirements.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = SigSet::empty().thread_set_mask();
}

/// flock(2) on a descriptor the caller keeps open.
pub fn flock(fd: RawFd, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock takes an integer fd and flags; a bad fd gives EBADF.
    if unsafe { libc::flock(fd, op) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits.
/// Lets a supervisor wait for a process that is not its child.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

// --- supervise ---

/// Makes `cmd`'s child start a new session (setsid: its own process
/// group, so a whole service can be signalled at once), with default
/// signal dispositions, and moves descriptor `fd_move.0` to `fd_move.1`
/// (the readiness pipe at the service's `notification-fd`).
pub fn command_in_session(cmd: &mut std::process::Command, fd_move: Option<(RawFd, RawFd)>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec in the child and only
    // calls async-signal-safe functions (sigaction, sigprocmask, setsid,
    // dup2, fcntl); it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            reset_signals_for_exec();
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some((from, to)) = fd_move {
                if from == to {
                    let fl = libc::fcntl(to, libc::F_GETFD);
                    if fl < 0 || libc::fcntl(to, libc::F_SETFD, fl & !libc::FD_CLOEXEC) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(from, to) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// pidfd_send_signal(2): signals the process behind a pidfd, which cannot
/// hit a recycled pid.
pub fn pidfd_send_signal(fd: RawFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// --- multilog ---

/// Spawns `cmd` with `fd4` and `fd5` duplicated onto descriptors 4 and 5
/// in the child (multilog's processor state in/out), signals reset.
pub fn spawn_with_fd45(
    cmd: &mut std::process::Command,
    fd4: RawFd,
    fd5: RawFd,
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // Move both sources above 9 first so dup2 onto 4/5 cannot clobber one
    // with the other; the copies are close-on-exec and closed on return.
    let high4 = dup_above(fd4, 10)?;
    let high5 = dup_above(fd5, 10)?;
    let (a, b) = (
        std::os::fd::AsRawFd::as_raw_fd(&high4),
        std::os::fd::AsRawFd::as_raw_fd(&high5),
    );
    // SAFETY: between fork and exec the closure only calls setpgid, dup2
    // and sigaction/sigprocmask (via reset_signals_for_exec), all
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            reset_signals_for_exec();
            // Its own process group, so a hung processor can be killed
            // together with whatever it started.
            if libc::setpgid(0, 0) < 0 || libc::dup2(a, 4) < 0 || libc::dup2(b, 5) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// F_DUPFD_CLOEXEC: a close-on-exec copy of `fd` numbered at least `min`.
pub fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC takes integers; a bad fd gives EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fcntl returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Takes ownership of a descriptor a successful syscall (openat) returned.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass only a descriptor just returned by the kernel
    // to them, which nothing else owns or will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// --- tai64nlocal ---

/// localtime_r(3) for Unix seconds: (year, month 1-12, day, hour, minute,
/// second), None when the C library cannot represent it.
pub fn localtime(secs: i64) -> Option<(i64, u32, u32, u32, u32, u32)> {
    #[allow(clippy::useless_conversion)] // time_t is narrower on 32-bit targets
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: tm is plain old data, zero is a valid bit pattern for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call;
    // localtime_r is thread-safe and writes only into tm.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return None;
    }
    Some((
        i64::from(tm.tm_year) + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_of_self() {
        assert!(pidfd_open(std::process::id()).is_ok());
    }
}
