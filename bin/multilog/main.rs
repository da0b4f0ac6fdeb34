//! multilog: reads lines from stdin and appends selected lines to any
//! number of automatically rotated logs (daemontools' action language).

#![no_main]

mod logdir;
mod output;
mod rotate;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::os::fd::BorrowedFd;
use svkit::multilog_lines::Engine;
use svkit::multilog_script::{self, Stamp};
use svkit::selfpipe::SelfPipe;

const PROG: &str = "multilog";
/// Input read size: one clock reading stamps every line of one read.
const READ: usize = 16 * 1024;

/// C's main: skipping Rust's start-up (its main-thread stack guard makes
/// glibc parse /proc/self/maps through stdio) saves ~270 KB of resident
/// libc pages. std still gets argv on glibc through .init_array; SIGPIPE
/// is ignored by hand below.
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    multilog();
    0
}

fn multilog() {
    use std::os::unix::ffi::OsStrExt;
    svkit::cli::help_version(
        PROG,
        "script",
        "Reads lines from stdin and carries out the script's actions on each:\n\
         t T (timestamps), -pattern +pattern (select), e (stderr), =file (status),\n\
         sSIZE nNUM !processor lNUM (settings), ./dir /dir (append to a rotated log).",
    );
    svkit::sys::ignore_sigpipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let script = match multilog_script::parse(&bytes) {
        Ok(s) => s,
        Err(e) => svkit::exit::usage(PROG, &format!("script: {e}")),
    };
    let pipe = match SelfPipe::install(&[Signal::SIGTERM, Signal::SIGALRM]) {
        Ok(p) => p,
        Err(e) => svkit::exit::fatal(
            PROG,
            &format!("unable to create self-pipe: {}", svkit::errstr::text(&e)),
        ),
    };
    // Signals are caught before the directories are set up, so an early
    // SIGALRM or SIGTERM is handled rather than killing multilog.
    let mut out = output::Outputs::start(&script);
    let mut engine = Engine::new(&script);
    run(&script.stamps, &mut engine, &mut out, &pipe);
    engine.finish(&mut out);
    out.complete();
}

/// The read loop: one poll over stdin and the self-pipe.
fn run(stamps: &[Stamp], engine: &mut Engine, out: &mut output::Outputs, pipe: &SelfPipe) {
    let mut buf = vec![0u8; READ];
    let mut term = false;
    let mut prefix: Vec<u8> = Vec::with_capacity(64);
    loop {
        if term && !engine.in_line() {
            return;
        }
        let stdin_handle = std::io::stdin();
        let stdin = std::os::fd::AsFd::as_fd(&stdin_handle);
        let mut fds = [
            PollFd::new(stdin, PollFlags::POLLIN),
            PollFd::new(pipe_fd(pipe), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => svkit::exit::fatal(
                PROG,
                &format!("unable to poll: {}", svkit::errstr::errno_text(e as i32)),
            ),
        }
        let input_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let sig_ready = fds[1].revents().is_some_and(|r| !r.is_empty());
        if sig_ready {
            for s in pipe.drain() {
                match s {
                    Signal::SIGTERM => term = true,
                    Signal::SIGALRM => out.rotate_all(),
                    _ => {}
                }
            }
            if term && !engine.in_line() {
                return;
            }
        }
        if !input_ready {
            continue;
        }
        // After SIGTERM, read one byte at a time to the end of the line,
        // leaving the rest of stdin unread (as daemontools).
        let want = if term { 1 } else { READ };
        let n = match nix::unistd::read(0, &mut buf[..want]) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => continue,
            Err(e) => svkit::exit::fatal(
                PROG,
                &format!(
                    "unable to read input: {}",
                    svkit::errstr::errno_text(e as i32)
                ),
            ),
        };
        if n == 0 {
            return;
        }
        if !stamps.is_empty() {
            output::stamp_prefix(stamps, &mut prefix);
            engine.set_stamp(&prefix);
        }
        engine.feed(&buf[..n], out);
        out.flush_all();
    }
}

fn pipe_fd(p: &SelfPipe) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(p)
}
