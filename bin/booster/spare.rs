//! The pre-forked spare: a child of the booster that waits on a private
//! socketpair for a validated request and its three stdio descriptors,
//! then becomes the instance (own session, PDEATHSIG, chdir, dup2, exec).
//! An exec failure comes back on the socketpair as 8 bytes (stage, errno);
//! EOF (close-on-exec) means the exec happened.

use nix::sys::signal::Signal;
use nix::sys::socket::{self, ControlMessage, MsgFlags};
use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use svkit::pidfd::PidFd;
use svkit::sys::{self, Forked};
use svkit::wire;

pub const STAGE_SETUP: u32 = 1;
pub const STAGE_CWD: u32 = 2;
pub const STAGE_EXEC: u32 = 3;

/// Booster side of a spare.
pub struct Spare {
    pub pid: u32,
    /// Every signal to the spare and, later, to its instance goes here.
    pub pidfd: PidFd,
    chan: OwnedFd,
}

pub enum ExecResult {
    Pending,
    Done,
    Failed { stage: u32, errno: u32 },
}

/// Forks a spare. `soft_nofile` is the limit to restore for the program.
pub fn fork(booster: u32, soft_nofile: u64) -> std::io::Result<Spare> {
    let (mine, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::Stream,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    // The hand-off of a large request blocks until the spare has read it;
    // a spare that is stuck (stopped by someone) must not stall the loop
    // for more than this.
    let limit = nix::sys::time::TimeVal::new(1, 0);
    let _ = socket::setsockopt(&mine, socket::sockopt::SendTimeout, &limit);
    match sys::fork()? {
        // Not reaped yet, so the pid is certainly the child's. Should the
        // pidfd fail, dropping `mine` makes the child exit by itself (EOF
        // on its channel): no signal needed.
        Forked::Parent(pid) => Ok(Spare {
            pid,
            pidfd: PidFd::of_child(pid)?,
            chan: mine,
        }),
        Forked::Child => {
            drop(mine);
            spare_main(theirs, booster, soft_nofile)
        }
    }
}

impl Spare {
    /// Gives the spare its request; returns the channel to watch for the
    /// exec result, and the pidfd (also on failure, to kill the spare).
    pub fn hand_off(
        self,
        raw: &[u8],
        fds: &[RawFd],
    ) -> Result<(OwnedFd, PidFd), (std::io::Error, PidFd)> {
        match send_all(&self.chan, raw, fds) {
            Ok(()) => Ok((self.chan, self.pidfd)),
            Err(e) => Err((e, self.pidfd)),
        }
    }
}

fn send_all(chan: &OwnedFd, raw: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let fd = chan.as_raw_fd();
    let cmsg = [ControlMessage::ScmRights(fds)];
    let first = socket::sendmsg::<()>(
        fd,
        &[IoSlice::new(raw)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(std::io::Error::from)?;
    let mut at = first;
    while at < raw.len() {
        match socket::send(fd, &raw[at..], MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => at += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads the exec result without blocking.
pub fn exec_result(chan: &OwnedFd) -> ExecResult {
    let mut b = [0u8; 8];
    match socket::recv(chan.as_raw_fd(), &mut b, MsgFlags::MSG_DONTWAIT) {
        Ok(0) => ExecResult::Done,
        Ok(8) => ExecResult::Failed {
            stage: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            errno: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        },
        Ok(_) => ExecResult::Failed {
            stage: STAGE_SETUP,
            errno: 0,
        },
        Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => ExecResult::Pending,
        Err(_) => ExecResult::Done,
    }
}

const CHAN: RawFd = 3;

fn report(stage: u32, errno: i32) -> ! {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&stage.to_le_bytes());
    b[4..].copy_from_slice(&(errno as u32).to_le_bytes());
    let _ = socket::send(CHAN, &b, MsgFlags::MSG_NOSIGNAL);
    sys::exit_now(127)
}

/// The spare's life in the child; never returns.
fn spare_main(chan: OwnedFd, booster: u32, soft_nofile: u64) -> ! {
    // First of all: the booster's handlers would write into its self-pipe.
    sys::reset_signals_for_exec();
    let raw = chan.into_raw_fd();
    if raw != CHAN && nix::unistd::dup3(raw, CHAN, nix::fcntl::OFlag::O_CLOEXEC).is_err() {
        sys::exit_now(111);
    }
    // Nothing of the booster's (listener, other invokers' sockets) may
    // stay open here: a copy would hide EOF from an invoker.
    sys::close_from(CHAN as u32 + 1);
    let _ = nix::unistd::setsid();
    // While a spare, die with the booster: a new invoker must get 111.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid().as_raw() as u32 != booster {
        sys::exit_now(0);
    }
    let (req, fds) = receive();
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if nix::unistd::getppid().as_raw() as u32 != booster {
        sys::exit_now(0);
    }
    let _ = sys::set_nofile_soft(soft_nofile);
    if let Err(e) = nix::unistd::chdir(std::ffi::OsStr::from_bytes(&req.cwd)) {
        report(STAGE_CWD, e as i32);
    }
    for (i, &fd) in fds.iter().enumerate() {
        if nix::unistd::dup2(fd, i as RawFd).is_err() {
            report(STAGE_SETUP, nix::errno::Errno::last_raw());
        }
    }
    let errno = exec_search(&req.argv, &req.env);
    report(STAGE_EXEC, errno)
}

/// Reads one request and its descriptors from the channel.
fn receive() -> (wire::Request, Vec<RawFd>) {
    let mut decoder = wire::RequestDecoder::new();
    let mut fds: Vec<RawFd> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match sys::recv_with_fds(CHAN, &mut chunk, false) {
            Ok((n, got)) => {
                // Kept open until exec (close-on-exec) on purpose.
                fds.extend(got.into_iter().map(IntoRawFd::into_raw_fd));
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => sys::exit_now(0),
        };
        if n == 0 {
            sys::exit_now(0);
        }
        match decoder.push(&chunk[..n]) {
            Ok(None) => continue,
            Ok(Some(req)) if fds.len() == 3 => return (req, fds),
            _ => report(STAGE_SETUP, libc::EPROTO),
        }
    }
}

fn cstrings(list: &[Vec<u8>]) -> Vec<CString> {
    // The wire format has already refused NULs.
    list.iter()
        .filter_map(|s| CString::new(s.clone()).ok())
        .collect()
}

/// execve with PATH taken from the invoker's environment, as execvp does;
/// returns the errno that explains the failure.
fn exec_search(argv: &[Vec<u8>], env: &[Vec<u8>]) -> i32 {
    let args = cstrings(argv);
    let envp = cstrings(env);
    let prog = &argv[0];
    if prog.contains(&b'/') {
        let Ok(p) = CString::new(prog.clone()) else {
            return libc::EINVAL;
        };
        return nix::unistd::execve(&p, &args, &envp)
            .err()
            .map_or(0, |e| e as i32);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let mut seen_eacces = false;
    for dir in path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut full = dir.to_vec();
        full.push(b'/');
        full.extend_from_slice(prog);
        let Ok(p) = CString::new(full) else { continue };
        match nix::unistd::execve(&p, &args, &envp) {
            Err(nix::errno::Errno::EACCES) => seen_eacces = true,
            Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {}
            Err(e) => return e as i32,
            Ok(_) => {}
        }
    }
    if seen_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    }
}
