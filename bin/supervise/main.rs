//! supervise DIR: starts and restarts DIR/run, obeys DIR/supervise/control,
//! and publishes DIR/supervise/status (and xstatus). See docs/supervise.md.

mod config;
mod files;
mod machine;
mod spawn;
mod state;
mod takeover;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;
use svkit::exit::{fatal, unable, usage};
use svkit::selfpipe::SelfPipe;
use svkit::status::Want;

const PROG: &str = "supervise";

fn main() {
    // Before anything opens a descriptor (issue 11, defect 6).
    svkit::sys::open_std_fds();
    svkit::cli::help_version(PROG, "dir", "Starts DIR/run and restarts it when it exits; obeys svc through\nDIR/supervise/control and publishes DIR/supervise/status.");
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.len() != 1 {
        usage(PROG, "dir");
    }
    let label = String::from_utf8_lossy(args[0].as_bytes()).into_owned();
    let pipe = SelfPipe::install(&[Signal::SIGCHLD])
        .unwrap_or_else(|e| fatal(PROG, &format!("unable to create self-pipe: {}", e)));
    if let Err(e) = std::env::set_current_dir(&args[0]) {
        fatal(PROG, &unable("chdir to", std::path::Path::new(&label), &e));
    }
    let want = match std::fs::symlink_metadata(svkit::svdir::DOWN) {
        Ok(_) => Want::Down,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Want::Up,
        Err(e) => fatal(
            PROG,
            &unable("stat", std::path::Path::new(&format!("{label}/down")), &e),
        ),
    };
    let lock = files::lock(&label).unwrap_or_else(|e| fatal(PROG, &e.to_string()));
    let control = files::open_control(&label).unwrap_or_else(|e| fatal(PROG, &e.to_string()));
    let mut sup = state::Sup::new(label.clone(), want);
    takeover::adopt(&mut sup);
    sup.announce();
    // `ok` last: once svok says "running", status is already there.
    let ok = files::open_ok(&label).unwrap_or_else(|e| fatal(PROG, &e.to_string()));
    let mut fs = files::Files::new(lock, control, ok);
    run(&mut sup, &mut fs, &pipe);
    sup.announce();
    std::process::exit(0);
}

/// The event loop: one poll over the self-pipe, the control fifo, the
/// readiness pipe and a taken-over child's pidfd; timers are deadlines.
fn run(sup: &mut state::Sup, fs: &mut files::Files, pipe: &SelfPipe) {
    loop {
        let now = Instant::now();
        sup.tick(now);
        sup.announce();
        if sup.done() {
            return;
        }
        let timeout = match sup.deadline() {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = svkit::duration::poll_timeout_ms(Instant::now(), t);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let (sig_ready, ctl_ready, notify_ready, pidfd_ready, finish_ready) = {
            let notify: Option<BorrowedFd> = sup.notify_fd();
            // Our own children are seen through SIGCHLD; adopted ones
            // (not our children) through their pidfds.
            let pidfd: Option<BorrowedFd> = sup.adopted_run_fd();
            let finish_fd: Option<BorrowedFd> = sup.adopted_finish_fd();
            let mut fds = vec![
                PollFd::new(pipe.as_fd(), PollFlags::POLLIN),
                PollFd::new(fs.control.as_fd(), PollFlags::POLLIN),
            ];
            let ni = notify.map(|n| {
                fds.push(PollFd::new(n, PollFlags::POLLIN));
                fds.len() - 1
            });
            let pi = pidfd.map(|p| {
                fds.push(PollFd::new(p, PollFlags::POLLIN));
                fds.len() - 1
            });
            let fi = finish_fd.map(|p| {
                fds.push(PollFd::new(p, PollFlags::POLLIN));
                fds.len() - 1
            });
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => fatal(
                    PROG,
                    &format!("unable to poll: {}", svkit::errstr::errno_text(e as i32)),
                ),
            }
            let hit = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            (
                hit(0),
                hit(1),
                ni.is_some_and(hit),
                pi.is_some_and(hit),
                fi.is_some_and(hit),
            )
        };
        let now = Instant::now();
        if sig_ready {
            pipe.drain();
            reap(sup, now);
        }
        if finish_ready {
            sup.on_finish_gone(None, now);
        }
        if pidfd_ready {
            sup.on_adopted_exit(now);
        }
        if notify_ready {
            sup.on_notify(now);
        }
        if ctl_ready {
            read_control(sup, fs, now);
        }
    }
}

/// Handles every exited child. Each is looked at first without reaping
/// (waitid WNOWAIT): `run` may have to stay a zombie so its process group
/// id is not recycled before a `timeout-kill` deadline (see `state::Held`).
/// Nothing is signalled here, and nothing is ever signalled after reaping.
fn reap(sup: &mut state::Sup, now: Instant) {
    use svkit::sys::{peek_exit, peek_exited, reap_raw};
    // By pid: a held zombie, older, would hide them from a waitid(P_ALL).
    if let Some(pid) = sup.own_run() {
        if let Ok(Some(w)) = peek_exit(pid) {
            // Reaped now, or held for its group's deadline (the machine
            // says which).
            sup.on_run_exit(w, now);
        }
    }
    if let Some(pid) = sup.own_finish() {
        if let Ok(Some((_, w))) = reap_raw(pid as i32) {
            sup.on_finish_gone(svkit::waitstatus::WaitStatus(w).code(), now);
        }
    }
    // Anything else (children supervise inherited across exec).
    while let Some(pid) = peek_exited() {
        let ours = sup.own_run() == Some(pid) || sup.own_finish() == Some(pid) || sup.is_held(pid);
        if ours {
            // Handled above, or at the next SIGCHLD, or kept for a deadline.
            return;
        }
        let _ = reap_raw(pid as i32);
    }
}

/// Handles every byte waiting in the control fifo, in order.
fn read_control(sup: &mut state::Sup, fs: &mut files::Files, now: Instant) {
    let mut buf = [0u8; 64];
    // Bounded, so a flood of bytes cannot starve the child events.
    for _ in 0..64 {
        match fs.control.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                // Byte by byte as djb's supervise: a start that is due
                // happens before the next byte, and once `x` finds nothing
                // running the rest is not read. So bytes in one write act
                // as the same bytes one at a time (`svc -ox` on a down
                // service runs it once, then exits; `-xu` exits at once).
                for &b in &buf[..n] {
                    sup.on_control(b, now);
                    sup.tick(now);
                    if sup.done() {
                        return;
                    }
                }
                if n < buf.len() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
