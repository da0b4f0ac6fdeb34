//! envuidgid: runs a program with `UID` and `GID` set to an account's
//! uid and gid, as daemontools 0.76 (the account is looked up as
//! setuidgid's: /etc/passwd, then NSS through getent).

use std::ffi::OsString;
use svkit::exit::usage;
use svkit::pathexec;

const PROG: &str = "envuidgid";
const SYNOPSIS: &str = "account child";

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child with $UID and $GID set to account's uid and gid.",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage(PROG, SYNOPSIS);
    }
    let a = svkit::account::lookup_or_exit(PROG, &args[1]);
    let mut env = pathexec::environ();
    let edits = [
        pathexec::edit(b"GID", Some(a.gid.to_string().as_bytes())),
        pathexec::edit(b"UID", Some(a.uid.to_string().as_bytes())),
    ];
    pathexec::apply(&mut env, &edits);
    let e = pathexec::run(&args[2..], env);
    pathexec::die_run(PROG, &args[2], &e)
}
