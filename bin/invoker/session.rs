//! One launch: connect, send the request with stdio in SCM_RIGHTS, then a
//! poll loop over the socket and the self-pipe until EXIT (or ERROR, EOF,
//! or the deadline after our own TERM/INT), ending in an orderly disconnect.

use crate::{Args, PROG};
use nix::sys::signal::Signal;
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};
use svkit::duration::{deadline, from_millis_clamped, poll_timeout_ms};
use svkit::exit::{fatal, TEMP, USAGE};
use svkit::wire::{self, kind, Reply};

/// Grace assumed before LAUNCHED has told us the booster's.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Added to the grace when waiting for EXIT after our own TERM/INT.
const SLACK: Duration = Duration::from_secs(5);
/// The orderly disconnect gives up after this.
const CLOSE_TIME: Duration = Duration::from_secs(5);
/// A booster whose backlog stays full this long is unreachable.
const CONNECT_TIME: Duration = Duration::from_secs(5);

/// When to give up waiting for EXIT after our own TERM/INT.
fn after_term(grace: Duration) -> Instant {
    deadline(deadline(Instant::now(), grace), SLACK)
}

/// connect(2) with a deadline: a unix socket's connect waits while the
/// listener's backlog is full, at most SO_SNDTIMEO, then fails with
/// EAGAIN. The timeout is cleared again once connected: with it set, a
/// send interrupted by our TERM handler would fail (EINTR, never
/// restarted) instead of resuming.
fn connect(path: &std::path::Path) -> nix::Result<OwnedFd> {
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let limit = nix::sys::time::TimeVal::new(CONNECT_TIME.as_secs() as i64, 0);
    socket::setsockopt(&fd, socket::sockopt::SendTimeout, &limit)?;
    let addr = socket::UnixAddr::new(path)?;
    socket::connect(fd.as_raw_fd(), &addr)?;
    let none = nix::sys::time::TimeVal::new(0, 0);
    socket::setsockopt(&fd, socket::sockopt::SendTimeout, &none)?;
    Ok(fd)
}

fn fallback(args: &Args) -> ! {
    use std::os::unix::process::CommandExt;
    svkit::sys::reset_signals_for_exec();
    let e = std::process::Command::new(&args.argv[0])
        .args(&args.argv[1..])
        .exec();
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let what = args.argv[0].to_string_lossy();
    eprintln!(
        "{PROG}: fatal: unable to run {what}: {}",
        svkit::errstr::text(&e)
    );
    std::process::exit(code)
}

fn request(args: &Args) -> wire::Request {
    let cwd = std::env::current_dir().unwrap_or_else(|e| {
        fatal(
            PROG,
            &format!(
                "unable to get current directory: {}",
                svkit::errstr::text(&e)
            ),
        )
    });
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        let mut e = k.as_bytes().to_vec();
        e.push(b'=');
        e.extend_from_slice(v.as_bytes());
        env.push(e);
    }
    wire::Request {
        version: wire::VERSION,
        flags: if args.wait { wire::FLAG_WAIT } else { 0 },
        argv: args.argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        env,
        cwd: cwd.as_os_str().as_bytes().to_vec(),
    }
}

fn send_request(sock: &OwnedFd, bytes: &[u8]) -> nix::Result<()> {
    let fds = [0, 1, 2];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let fd = sock.as_raw_fd();
    let mut at = socket::sendmsg::<()>(
        fd,
        &[IoSlice::new(bytes)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    while at < bytes.len() {
        match socket::send(fd, &bytes[at..], MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => at += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The exit code for a raw wait status: the code, or 128+N for signal N.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

fn error_code(k: u32) -> i32 {
    match k {
        kind::NOT_FOUND => 127,
        kind::NOT_EXECUTABLE => 126,
        kind::NOT_ALLOWED | kind::MALFORMED | kind::TOO_BIG => USAGE,
        _ => TEMP,
    }
}

/// shutdown(SHUT_WR), read until EOF, close; at most CLOSE_TIME.
fn orderly_disconnect(sock: OwnedFd) {
    let _ = socket::shutdown(sock.as_raw_fd(), socket::Shutdown::Write);
    let end = deadline(Instant::now(), CLOSE_TIME);
    let mut b = [0u8; 512];
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let mut p = [libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let _ = svkit::sys::poll_fds(&mut p, poll_timeout_ms(now, end));
        match socket::recv(sock.as_raw_fd(), &mut b, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => return,
            Ok(_) | Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Runs the whole session; returns the exit code.
pub fn run(args: &Args) -> i32 {
    svkit::sys::open_std_fds();
    let req = request(args);
    let bytes = wire::encode_request(&req);
    // The booster's limits, checked here first: over them, nothing is sent.
    if let Err(e) = wire::decode_request(&bytes) {
        svkit::exit::warn(PROG, &format!("{e}"));
        return USAGE;
    }
    let pipe = svkit::selfpipe::SelfPipe::install(&[Signal::SIGTERM, Signal::SIGINT])
        .unwrap_or_else(|e| fatal(PROG, &format!("unable to install signal handlers: {e}")));
    let sock = match connect(&args.socket) {
        Ok(s) => s,
        Err(e) if args.fallback => {
            let _ = e;
            drop(pipe);
            fallback(args)
        }
        Err(nix::errno::Errno::EAGAIN) => fatal(
            PROG,
            &format!(
                "unable to connect to {}: no room in its backlog for {}s",
                args.socket.display(),
                CONNECT_TIME.as_secs()
            ),
        ),
        Err(e) => fatal(
            PROG,
            &svkit::exit::unable("connect to", &args.socket, &e.into()),
        ),
    };
    // A refusal may close the socket before we are done sending; the
    // reply is still there to read.
    let _ = send_request(&sock, &bytes);
    let mut grace = DEFAULT_GRACE;
    let mut deadline: Option<Instant> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let timeout = deadline.map_or(-1, |d| poll_timeout_ms(Instant::now(), d));
        let mut p = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pipe.read_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let _ = svkit::sys::poll_fds(&mut p, timeout);
        if p[1].revents != 0 && !pipe.drain().is_empty() && deadline.is_none() {
            // Our TERM/INT: tell the booster by EOF, then wait for EXIT.
            let _ = socket::shutdown(sock.as_raw_fd(), socket::Shutdown::Write);
            deadline = Some(after_term(grace));
        }
        if p[0].revents != 0 {
            let n = match socket::recv(sock.as_raw_fd(), &mut chunk, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => 0,
            };
            if n == 0 {
                fatal(
                    PROG,
                    &format!("booster on {} gone without a status", args.socket.display()),
                );
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some((reply, used)) = match wire::decode_reply(&buf) {
                Ok(r) => r,
                Err(e) => fatal(PROG, &format!("bad reply from booster: {e}")),
            } {
                buf.drain(..used);
                match reply {
                    Reply::Launched { grace_ms, .. } => {
                        // From the wire: clamped, so no deadline overflows.
                        grace = from_millis_clamped(grace_ms);
                        if !args.wait {
                            orderly_disconnect(sock);
                            return 0;
                        }
                        if let Some(d) = deadline.as_mut() {
                            *d = after_term(grace);
                        }
                    }
                    Reply::Error { kind, text, .. } => {
                        let text = String::from_utf8_lossy(&text);
                        let msg = format!("{PROG}: fatal: {text}\n");
                        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
                        return error_code(kind);
                    }
                    Reply::Exit { status } => {
                        orderly_disconnect(sock);
                        return exit_code(status);
                    }
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            fatal(PROG, "no status from booster in time after TERM");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_error_kinds_map_to_exit_codes() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(42 << 8), 42);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGSEGV | 0x80), 139);
        assert_eq!(error_code(kind::NOT_FOUND), 127);
        assert_eq!(error_code(kind::NOT_EXECUTABLE), 126);
        for k in [kind::NOT_ALLOWED, kind::MALFORMED, kind::TOO_BIG] {
            assert_eq!(error_code(k), 100);
        }
        for k in [
            kind::BUSY,
            kind::CWD,
            kind::STOPPING,
            kind::TIMEOUT,
            kind::INTERNAL,
            999,
        ] {
            assert_eq!(error_code(k), 111);
        }
    }
}
