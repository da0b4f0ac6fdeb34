//! pgrphack: runs a program in a new session and process group, as
//! daemontools 0.76 (setsid; if that fails the program runs anyway).

use std::ffi::OsString;
use svkit::pathexec;

const PROG: &str = "pgrphack";
const SYNOPSIS: &str = "child";

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child in a new session, so it has a process group of its own.",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 2 {
        svkit::exit::usage(PROG, SYNOPSIS);
    }
    // As djb's: a process-group leader cannot setsid; it runs as it is.
    let _ = nix::unistd::setsid();
    let e = pathexec::run_plain(&args[1..]);
    pathexec::die_run(PROG, &args[1], &e)
}
