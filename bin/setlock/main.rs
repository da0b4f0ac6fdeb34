//! setlock: runs a program holding an exclusive flock on a file, as
//! daemontools 0.76. The file is opened for appending (created mode 0600)
//! and stays open, not close-on-exec, so the lock lives as long as the
//! program and whatever inherits the descriptor.

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::ffi::OsString;
use svkit::exit::fatal;
use svkit::pathexec;
use svkit::sgetopt::{complain, Getopt};

const PROG: &str = "setlock";
const SYNOPSIS: &str = "[ -nNxX ] file program [ arg ... ]";

fn usage() -> ! {
    svkit::exit::usage(PROG, SYNOPSIS)
}

/// 0 with `-x`, else `PROG: fatal: unable to WHAT FILE: reason` and 111.
fn fail(quiet: bool, what: &str, file: &OsString, e: nix::Error) -> ! {
    if quiet {
        std::process::exit(0);
    }
    fatal(
        PROG,
        &format!(
            "unable to {what} {}: {}",
            file.to_string_lossy(),
            svkit::errstr::text(&std::io::Error::from(e))
        ),
    )
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs program holding an exclusive lock on file, waiting for it, or with -n\n\
         failing at once when it is held (-N waits, the default). With -x a file\n\
         that cannot be opened or locked means exit 0 quietly (-X: exit 111).",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    let (mut nodelay, mut quiet) = (false, false);
    let mut opts = Getopt::new(&args, "nNxX");
    for o in opts.by_ref() {
        match o {
            Ok((b'n', _)) => nodelay = true,
            Ok((b'N', _)) => nodelay = false,
            Ok((b'x', _)) => quiet = true,
            Ok((b'X', _)) => quiet = false,
            Ok(_) => usage(),
            Err(p) => {
                complain(&args, &p);
                usage();
            }
        }
    }
    let rest = opts.rest();
    if args.len() < rest + 2 {
        usage();
    }
    let file = &args[rest];
    // With stdin closed the lock lands on descriptor 0, as under djb's.
    svkit::sys::restore_start_stdio();
    // Not close-on-exec: the program inherits the lock.
    let fd = match open(
        file.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_APPEND | OFlag::O_CREAT,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => fd,
        Err(e) => fail(quiet, "open", file, e),
    };
    let op = if nodelay {
        libc::LOCK_EX | libc::LOCK_NB
    } else {
        libc::LOCK_EX
    };
    loop {
        match svkit::sys::flock(fd, op) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => fail(
                quiet,
                "lock",
                file,
                nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            ),
        }
    }
    let e = pathexec::run_plain(&args[rest + 1..]);
    pathexec::die_run(PROG, &args[rest + 1], &e)
}
