//! setuidgid: runs a program under an account's uid and gid, as
//! daemontools 0.76: the supplementary groups become just that gid. The
//! account comes from /etc/passwd, then NSS through getent (see
//! svkit::account for why not getpwnam).

use std::ffi::OsString;
use svkit::exit::{fatal, usage};
use svkit::pathexec;

const PROG: &str = "setuidgid";
const SYNOPSIS: &str = "account child";

fn die_sys(what: &str, e: nix::Error) -> ! {
    fatal(
        PROG,
        &format!("{what}: {}", svkit::errstr::text(&std::io::Error::from(e))),
    )
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child with account's uid and gid (and no other groups).",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage(PROG, SYNOPSIS);
    }
    let a = svkit::account::lookup_or_exit(PROG, &args[1]);
    let gid = nix::unistd::Gid::from_raw(a.gid);
    if let Err(e) = nix::unistd::setgroups(&[gid]).and_then(|_| nix::unistd::setgid(gid)) {
        die_sys("unable to setgid", e);
    }
    if let Err(e) = nix::unistd::setuid(nix::unistd::Uid::from_raw(a.uid)) {
        die_sys("unable to setuid", e);
    }
    let e = pathexec::run_plain(&args[2..]);
    pathexec::die_run(PROG, &args[2], &e)
}
