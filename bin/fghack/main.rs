//! fghack: keeps a self-backgrounding program in the foreground, as
//! daemontools 0.76. The child gets 30 extra copies of a pipe's write
//! end; daemons rarely close descriptors they did not open, so fghack
//! waits until every process holding one has exited, then exits with the
//! child's status (111 with "child crashed" if it died by a signal).

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use svkit::exit::fatal;
use svkit::pathexec;
use svkit::sys::Forked;

const PROG: &str = "fghack";
const SYNOPSIS: &str = "child";

fn die_sys(what: &str, e: &std::io::Error) -> ! {
    fatal(PROG, &format!("{what}: {}", svkit::errstr::text(e)))
}

/// Reads the pipe until every writer is gone.
fn wait_for_eof(r: &OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        match nix::unistd::read(r.as_raw_fd(), &mut buf) {
            Ok(0) => return,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child and waits until it and everything that inherited its extra\n\
         descriptors has exited: a daemon that puts itself in the background stays\n\
         in the foreground for its supervisor.",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 2 {
        svkit::exit::usage(PROG, SYNOPSIS);
    }
    // Closed stdio stays closed, so the pipe takes the numbers it takes
    // under djb's (a closed stdin becomes a write end in the child).
    svkit::sys::restore_start_stdio();
    // Plain pipe(2): both ends are inherited across exec on purpose.
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => die_sys("unable to create pipe", &e.into()),
    };
    let pid = match svkit::sys::fork() {
        Err(e) => die_sys("unable to fork", &e),
        Ok(Forked::Child) => {
            drop(r);
            for _ in 0..30 {
                // Left open on purpose: the program inherits them.
                let _ = nix::unistd::dup(w.as_raw_fd());
            }
            let e = pathexec::run_plain(&args[1..]);
            let msg = format!(
                "{PROG}: fatal: unable to run {}: {}\n",
                args[1].to_string_lossy(),
                svkit::errstr::text(&e)
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            svkit::sys::exit_now(svkit::exit::TEMP)
        }
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(w);
    wait_for_eof(&r);
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => std::process::exit(code),
            Ok(nix::sys::wait::WaitStatus::Signaled(..)) => fatal(PROG, "child crashed"),
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(e) => die_sys("wait failed", &e.into()),
        }
    }
}
