//! Descriptors: pipes, duplicates, flock, closing, limits, poll.

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

/// flock(2) on a descriptor the caller keeps open.
pub fn flock(fd: RawFd, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock takes an integer fd and flags; a bad fd gives EBADF.
    if unsafe { libc::flock(fd, op) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens /dev/null on any of descriptors 0-2 that is closed, so nothing
/// opened later lands there and is handed on as a child's stdio by mistake.
pub fn open_std_fds() {
    for fd in 0..3 {
        if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            if let Ok(f) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                let _ = std::os::fd::IntoRawFd::into_raw_fd(f);
            }
        }
    }
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

/// Closes every descriptor from `first` up.
pub fn close_from(first: u32) {
    // SAFETY: plain syscall with integer arguments; closing descriptors we
    // do not use is the point.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if r != 0 {
        // Old kernels: close one by one up to the soft limit.
        let max = nofile().map(|(s, _)| s).unwrap_or(1024).min(1 << 20);
        for fd in first as u64..max {
            // SAFETY: closing an arbitrary integer fd is harmless (EBADF).
            unsafe { libc::close(fd as libc::c_int) };
        }
    }
}

/// (soft, hard) RLIMIT_NOFILE.
pub fn nofile() -> io::Result<(u64, u64)> {
    // SAFETY: rlimit is plain data for getrlimit to fill.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: rl is valid.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((rl.rlim_cur, rl.rlim_max))
}

pub fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile()?;
    let rl = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: rl is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// poll(2) over a plain array; `timeout_ms` < 0 waits forever. EINTR
/// reads as "nothing ready" so the caller just goes round its loop.
pub fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: fds is a valid, exclusively borrowed array of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

/// Raises the soft RLIMIT_NOFILE to `want` (never above the hard limit,
/// never lowering it). Returns the soft limit in force.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if r.rlim_cur >= want || r.rlim_cur >= r.rlim_max {
        return Ok(r.rlim_cur);
    }
    let new = libc::rlimit {
        rlim_cur: want.min(r.rlim_max),
        rlim_max: r.rlim_max,
    };
    // SAFETY: new is an initialised rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(new.rlim_cur)
}

/// renameat2(RENAME_EXCHANGE): swaps two existing names atomically.
pub fn rename_exchange(a: &std::path::Path, b: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both are valid NUL-terminated paths for the call's duration.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// access(2) with X_OK: may `path` be executed (as exec would judge it)?
pub fn access_exec(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is a valid NUL-terminated path for the call's duration.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
