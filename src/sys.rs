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

/// waitid(P_PID, pid, WEXITED|WNOHANG|WNOWAIT): the raw wait status of
/// child `pid` if it has exited, leaving it a zombie, so that neither its
/// pid nor its process group id can be recycled until it is reaped.
pub fn peek_exit(pid: u32) -> io::Result<Option<i32>> {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid siginfo_t for waitid to fill.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled si_pid (0 when the child has not exited) and,
    // for an exited child, si_status.
    let (got, status) = unsafe { (info.si_pid(), info.si_status()) };
    if got == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => return Ok(None),
    }))
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

/// SIGPIPE ignored, as Rust's own start-up does (programs that start from
/// a C `main` skip it): a closed stderr must not kill a logger.
pub fn ignore_sigpipe() {
    let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler code.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &ign) };
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

// --- booster / invoker ---

/// fork(2). The booster is single-threaded, so the child may allocate.
pub enum Forked {
    Parent(u32),
    Child,
}

pub fn fork() -> io::Result<Forked> {
    // SAFETY: callers are single-threaded programs (booster), so the child
    // inherits no lock held by another thread.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child.as_raw() as u32)),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// _exit(2): leaves a forked child without running the parent's atexit
/// handlers or flushing its buffers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
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

/// waitpid(2) with WNOHANG: `Some((pid, raw status))` for a reaped child.
pub fn reap_raw(pid: i32) -> io::Result<Option<(u32, i32)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: status is a valid int to fill.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match r {
        0 => Ok(None),
        r if r > 0 => Ok(Some((r as u32, status))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// waitid(WEXITED|WNOHANG|WNOWAIT): a child that has exited but is left
/// a zombie, so its pid (and process group id) cannot be recycled while
/// the caller sweeps its group.
pub fn peek_exited() -> Option<u32> {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid siginfo_t for waitid to fill.
    let r = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: waitid filled si_pid (0 when no child was waitable).
    let pid = unsafe { info.si_pid() };
    (pid > 0).then_some(pid as u32)
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

/// openlog(3) with LOG_PID on LOG_DAEMON. `ident` must live forever.
pub fn open_syslog(ident: &'static std::ffi::CStr) {
    // SAFETY: ident is 'static, as openlog keeps the pointer.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
}

/// syslog(3) of one message, passed through "%s" (never as a format).
pub fn syslog(priority: libc::c_int, msg: &str) {
    let Ok(m) = std::ffi::CString::new(msg.replace('\0', "")) else {
        return;
    };
    // SAFETY: both pointers are valid NUL-terminated strings; "%s" makes
    // the message data, not a format.
    unsafe { libc::syslog(priority, b"%s\0".as_ptr().cast(), m.as_ptr()) };
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

/// accept4(2), non-blocking and close-on-exec; EINTR and ECONNABORTED
/// are retried, anything else (EAGAIN included) is returned.
pub fn accept_nonblock(listener: RawFd) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: null address pointers are allowed; listener is an fd.
        let r = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if r >= 0 {
            // SAFETY: accept4 returned a fresh descriptor we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(r) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
            _ => return Err(e),
        }
    }
}

/// recvmsg(2) of up to `buf.len()` bytes plus up to 4 SCM_RIGHTS
/// descriptors (received close-on-exec; any beyond 4 are discarded by the
/// kernel). Non-blocking when `dontwait`.
pub fn recv_with_fds(
    fd: RawFd,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    recv_with_fds_ctrunc(fd, buf, dontwait).map(|(n, fds, _)| (n, fds))
}

/// As [`recv_with_fds`], also telling whether descriptors were lost
/// (MSG_CTRUNC: more than 4 sent, or the receiver is out of descriptors).
pub fn recv_with_fds_ctrunc(
    fd: RawFd,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, Vec<OwnedFd>, bool)> {
    const MAX_FDS: usize = 4;
    // u64 alignment satisfies cmsghdr's.
    let mut space = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is valid before we fill it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let want =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    msg.msg_controllen = want.min(std::mem::size_of_val(&space));
    let flags = libc::MSG_CMSG_CLOEXEC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: msg points at iov/space, both live and sized as declared.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: the CMSG_* walk stays within msg_controllen as set by the
    // kernel; SCM_RIGHTS data is an array of fds now installed in our
    // table, each of which we take ownership of exactly once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for k in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(k))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, fds, msg.msg_flags & libc::MSG_CTRUNC != 0))
}

// --- svscan ---

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

/// fork + exec for svscan's supervisors, djb style: the parent goes on at
/// once (no vfork wait for the child's exec, which serialises starting
/// a thousand services), the child moves to its own process group, puts
/// `fds` (-1 = keep) on 0/1/2, changes to `cwd`, restores default signal
/// handling and execs `argv[0]` (looked up on PATH when it has no `/`).
/// If that fails the child writes `fail` plus the error text to fd 2 and
/// exits 111. Call only from a single-threaded process.
pub fn fork_exec(
    argv: &[&std::ffi::CStr],
    cwd: Option<&std::ffi::CStr>,
    fds: [RawFd; 3],
    fail: &[u8],
) -> io::Result<i32> {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    if argv.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: svscan is single-threaded, so the child is a full copy with
    // no lock held by another thread; it calls only async-signal-safe
    // functions (setpgid, dup2, fcntl, chdir, sigaction, sigprocmask,
    // execvp, write, _exit) on memory prepared before the fork.
    unsafe {
        let pid = libc::fork();
        if pid != 0 {
            if pid < 0 {
                return Err(io::Error::last_os_error());
            }
            // Also from the parent, so no signal to svscan's group can
            // reach the child before its own setpgid ran (job-control
            // practice); EACCES once it has exec'ed is harmless.
            libc::setpgid(pid, pid);
            return Ok(pid);
        }
        libc::setpgid(0, 0);
        for (i, &fd) in fds.iter().enumerate() {
            let target = i as RawFd;
            if fd < 0 {
                continue;
            }
            if fd == target {
                libc::fcntl(target, libc::F_SETFD, 0);
            } else if libc::dup2(fd, target) < 0 {
                child_fail(fail);
            }
        }
        if let Some(d) = cwd {
            if libc::chdir(d.as_ptr()) != 0 {
                child_fail(fail);
            }
        }
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execvp(ptrs[0], ptrs.as_ptr());
        child_fail(fail)
    }
}

/// In a forked child: `fail` + errno's text on fd 2, then _exit(111).
fn child_fail(fail: &[u8]) -> ! {
    let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: write and _exit are async-signal-safe; buffers are valid.
    unsafe {
        let _ = libc::write(2, fail.as_ptr().cast(), fail.len());
        let msg: &[u8] = match e {
            libc::ENOENT => b"file does not exist\n",
            libc::EACCES => b"access denied\n",
            libc::ENOTDIR => b"not a directory\n",
            libc::ENOEXEC => b"exec format error\n",
            libc::ENOMEM => b"out of memory\n",
            _ => b"unable to exec\n",
        };
        let _ = libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(111)
    }
}

// --- booster ---

/// pidfd_send_signal(2) with `flags` (0, or `PIDFD_SIGNAL_PROCESS_GROUP`).
pub fn pidfd_send_signal_flags(fd: RawFd, sig: libc::c_int, flags: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            flags,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// --- the daemontools toolkit (envdir, setlock, readproctitle, …) ---

/// Start-up facts recorded before Rust's runtime runs: whether SIGPIPE
/// was ignored when we were exec'ed (Rust then ignores it for itself, and
/// an ignored disposition survives exec), and where argv lives.
static START_SIGPIPE_IGNORED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
static START_ARGC: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static START_ARGV: std::sync::atomic::AtomicPtr<*mut libc::c_char> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
static ARGV_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn record_start(
    argc: libc::c_int,
    argv: *mut *mut libc::c_char,
    _envp: *mut *mut libc::c_char,
) {
    use std::sync::atomic::Ordering;
    // SAFETY: sa is plain data; sigaction with a null new action only
    // reads the current disposition into it.
    let ignored = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut sa) == 0
            && sa.sa_sigaction == libc::SIG_IGN
    };
    START_SIGPIPE_IGNORED.store(ignored, Ordering::Relaxed);
    START_ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
    START_ARGV.store(argv, Ordering::Relaxed);
}

/// glibc calls `.init_array` entries with (argc, argv, envp) before
/// `main` (Rust's std relies on the same), static builds included.
#[used]
#[link_section = ".init_array"]
static RECORD_START: extern "C" fn(libc::c_int, *mut *mut libc::c_char, *mut *mut libc::c_char) =
    record_start;

/// Puts SIGPIPE back as it was when we started, so a program we exec
/// does not inherit the SIG_IGN Rust's runtime installed.
pub fn restore_start_sigpipe() {
    let how = if START_SIGPIPE_IGNORED.load(std::sync::atomic::Ordering::Relaxed) {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    let act = SigAction::new(how, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL / SIG_IGN install no handler code.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &act) };
}

/// The bytes of the last command-line argument in place, in the memory
/// `ps` shows (readproctitle's display). Handed out once.
pub fn take_last_arg() -> Option<&'static mut [u8]> {
    use std::sync::atomic::Ordering;
    let argc = START_ARGC.load(Ordering::Relaxed);
    let argv = START_ARGV.load(Ordering::Relaxed);
    if argc < 1 || argv.is_null() || ARGV_TAKEN.swap(true, Ordering::Relaxed) {
        return None;
    }
    // SAFETY: argv is the kernel-built argument vector of argc valid
    // pointers to NUL-terminated, writable strings that live for the
    // whole process; the flag above hands this slice out only once, and
    // nothing else in the programs that call this writes to it (Rust's
    // std copies arguments out when asked).
    unsafe {
        let p = *argv.add(argc - 1);
        if p.is_null() {
            return None;
        }
        let len = libc::strlen(p);
        Some(std::slice::from_raw_parts_mut(p.cast::<u8>(), len))
    }
}

/// execve(2); returns only on failure.
pub fn execve(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    env: &[std::ffi::CString],
) -> io::Error {
    match nix::unistd::execve(path, argv, env) {
        Err(e) => io::Error::from(e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_of_self() {
        assert!(pidfd_open(std::process::id()).is_ok());
    }
}
