//! Processes: fork/exec variants, pidfds, waiting and reaping.

use super::{dup_above, reset_signals_for_exec};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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

/// A child forked by [`spawn_gated`], stopped before its exec until the
/// parent has recorded it.
pub struct Gated {
    pub pid: u32,
    go: OwnedFd,
    err: OwnedFd,
}

impl Gated {
    /// Lets the child exec, then waits until it has (Ok) or has failed
    /// to (the exec's error). A child that dies before the exec reads
    /// as Ok: its death is reported like any other.
    pub fn release(self) -> io::Result<()> {
        let go = [1u8];
        // SAFETY: writing one byte from a valid buffer to our pipe end.
        unsafe {
            libc::write(
                std::os::fd::AsRawFd::as_raw_fd(&self.go),
                go.as_ptr().cast(),
                1,
            )
        };
        drop(self.go);
        let mut e = [0u8; 4];
        let mut got = 0;
        while got < e.len() {
            // SAFETY: reading into the unfilled tail of a valid buffer.
            let r = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&self.err),
                    e[got..].as_mut_ptr().cast(),
                    e.len() - got,
                )
            };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r <= 0 {
                break;
            }
            got += r as usize;
        }
        if got == e.len() {
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(e)));
        }
        Ok(())
    }
}

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid 2-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// fork for supervise's `run` and `finish`: the child starts a new
/// session (setsid), restores default signal handling, moves descriptor
/// `fd_move.0` to `fd_move.1`, and then waits — before its exec — until
/// the parent calls [`Gated::release`]. If the parent dies first (EOF),
/// the child exits 111 without running anything. So a supervise killed
/// between the fork and its record of the new pid never leaves an
/// unrecorded copy of the service behind. Call only from a
/// single-threaded process.
pub fn spawn_gated(argv: &[&std::ffi::CStr], fd_move: Option<(RawFd, RawFd)>) -> io::Result<Gated> {
    if argv.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let (go_r, go_w) = pipe_cloexec()?;
    let (err_r, err_w) = pipe_cloexec()?;
    use std::os::fd::AsRawFd;
    let (gr, gw, er, ew) = (
        go_r.as_raw_fd(),
        go_w.as_raw_fd(),
        err_r.as_raw_fd(),
        err_w.as_raw_fd(),
    );
    // SAFETY: supervise is single-threaded, so the child holds no lock
    // of another thread; between fork and exec it calls only
    // async-signal-safe functions (close, sigaction, sigprocmask, setsid,
    // dup2, fcntl, read, execv, write, _exit) on memory prepared before
    // the fork, and allocates nothing.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            libc::close(gw);
            libc::close(er);
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
            let fail = |ew: RawFd| -> ! {
                let e = *libc::__errno_location();
                let b = e.to_ne_bytes();
                libc::write(ew, b.as_ptr().cast(), b.len());
                libc::_exit(111)
            };
            if libc::setsid() < 0 {
                fail(ew);
            }
            if let Some((from, to)) = fd_move {
                if from == to {
                    let fl = libc::fcntl(to, libc::F_GETFD);
                    if fl < 0 || libc::fcntl(to, libc::F_SETFD, fl & !libc::FD_CLOEXEC) < 0 {
                        fail(ew);
                    }
                } else if libc::dup2(from, to) < 0 {
                    fail(ew);
                }
            }
            let mut b = 0u8;
            loop {
                let r = libc::read(gr, (&mut b as *mut u8).cast(), 1);
                if r == 1 {
                    break;
                }
                if r < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                // The parent is gone before recording us: run nothing.
                libc::_exit(111);
            }
            libc::execv(ptrs[0], ptrs.as_ptr());
            fail(ew)
        }
        drop(go_r);
        drop(err_w);
        Ok(Gated {
            pid: pid as u32,
            go: go_w,
            err: err_r,
        })
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
    Ok(crate::waitstatus::WaitStatus::from_siginfo(info.si_code, status).map(|w| w.0))
}

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

/// waitid(P_PIDFD, fd, WEXITED|WNOHANG|WNOWAIT): true while the process
/// behind the pidfd is a child of ours that nobody has reaped (running,
/// or a zombie); false once it is reaped or when it is not our child
/// (ECHILD). Linux 5.4+; on older kernels (EINVAL) false, the safe side.
pub fn pidfd_is_unreaped_child(fd: RawFd) -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid siginfo_t for waitid to fill; WNOWAIT
    // leaves the child as it is.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            fd as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    r == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_of_self() {
        assert!(pidfd_open(std::process::id()).is_ok());
    }

    fn wait_code(pid: u32) -> i32 {
        let mut st = 0;
        // SAFETY: st is a valid int to fill; pid is our child.
        unsafe { libc::waitpid(pid as i32, &mut st, 0) };
        if libc::WIFEXITED(st) {
            libc::WEXITSTATUS(st)
        } else {
            -1
        }
    }

    /// The parent "dies" (its end of the gate closes) before release: the
    /// child runs nothing.
    #[test]
    fn gated_child_runs_nothing_without_release() {
        let dir = std::env::temp_dir().join(format!("svkit-gate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mark = dir.join("ran");
        let cmd = std::ffi::CString::new(format!("touch {}", mark.display())).unwrap();
        let argv = [c"/bin/sh", c"-c", cmd.as_c_str()];
        let g = spawn_gated(&argv, None).unwrap();
        let pid = g.pid;
        drop(g);
        assert_eq!(wait_code(pid), 111);
        assert!(!mark.exists());
        let g = spawn_gated(&argv, None).unwrap();
        let pid = g.pid;
        g.release().unwrap();
        assert_eq!(wait_code(pid), 0);
        assert!(mark.exists());
        let g = spawn_gated(&[c"/nonexistent/x"], None).unwrap();
        let pid = g.pid;
        let e = g.release().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(wait_code(pid), 111);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
