//! softlimit: runs a program with soft resource limits set, as
//! daemontools 0.76. Each limit is a number or `=` (the hard limit); a
//! number above the hard limit means the hard limit.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use svkit::exit::fatal;
use svkit::pathexec;
use svkit::sgetopt::{complain, Getopt};

const PROG: &str = "softlimit";
const SYNOPSIS: &str = "[-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] \
[-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] \
[-s stackbytes] [-t cpusecs] child";

fn usage() -> ! {
    svkit::exit::usage(PROG, SYNOPSIS)
}

/// The resources an option sets, in djb's order (`-m` is every memory limit).
fn resources(opt: u8) -> &'static [Resource] {
    match opt {
        b'a' => &[Resource::RLIMIT_AS],
        b'c' => &[Resource::RLIMIT_CORE],
        b'd' => &[Resource::RLIMIT_DATA],
        b'f' => &[Resource::RLIMIT_FSIZE],
        b'l' => &[Resource::RLIMIT_MEMLOCK],
        b'm' => &[
            Resource::RLIMIT_DATA,
            Resource::RLIMIT_STACK,
            Resource::RLIMIT_MEMLOCK,
            Resource::RLIMIT_AS,
        ],
        b'o' => &[Resource::RLIMIT_NOFILE],
        b'p' => &[Resource::RLIMIT_NPROC],
        b'r' => &[Resource::RLIMIT_RSS],
        b's' => &[Resource::RLIMIT_STACK],
        b't' => &[Resource::RLIMIT_CPU],
        _ => &[],
    }
}

/// What an argument asks for: `=` is the hard limit (None); digits are a
/// number (an empty string is 0, as djb's scan_ulong); anything else is a
/// usage error. A number too big for 64 bits means "as high as allowed"
/// (djb's wraps around).
fn parse_limit(arg: &[u8]) -> Result<Option<u64>, ()> {
    if arg == b"=" {
        return Ok(None);
    }
    let mut n: u64 = 0;
    for &c in arg {
        if !c.is_ascii_digit() {
            return Err(());
        }
        n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Ok(Some(n))
}

fn set(resource: Resource, want: Option<u64>) {
    let (_, hard) = match getrlimit(resource) {
        Ok(l) => l,
        Err(e) => fatal(
            PROG,
            &format!(
                "getrlimit failed: {}",
                svkit::errstr::text(&std::io::Error::from(e))
            ),
        ),
    };
    let soft = want.map_or(hard, |n| n.min(hard));
    if let Err(e) = setrlimit(resource, soft, hard) {
        fatal(
            PROG,
            &format!(
                "setrlimit failed: {}",
                svkit::errstr::text(&std::io::Error::from(e))
            ),
        );
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child with soft resource limits: -a address space, -c core file,\n\
         -d data segment, -f file size, -l locked memory, -m all of data, stack,\n\
         locked memory and address space, -o open files, -p processes, -r resident\n\
         set, -s stack (bytes unless said), -t CPU seconds. `=` means the hard limit.",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut opts = Getopt::new(&args, "a:c:d:f:l:m:o:p:r:s:t:");
    for o in opts.by_ref() {
        match o {
            Ok((c, arg)) => {
                let want =
                    parse_limit(arg.map_or(&b""[..], OsStr::as_bytes)).unwrap_or_else(|()| usage());
                for &r in resources(c) {
                    set(r, want);
                }
            }
            Err(p) => {
                complain(&args, &p);
                usage();
            }
        }
    }
    let rest = opts.rest();
    if rest >= args.len() {
        usage();
    }
    let e = pathexec::run_plain(&args[rest..]);
    pathexec::die_run(PROG, &args[rest], &e)
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn limits() {
        assert_eq!(parse_limit(b"="), Ok(None));
        assert_eq!(parse_limit(b""), Ok(Some(0)));
        assert_eq!(parse_limit(b"300000000"), Ok(Some(300_000_000)));
        assert_eq!(parse_limit(b"5x"), Err(()));
        assert_eq!(parse_limit(b"-1"), Err(()));
        assert_eq!(parse_limit(b"99999999999999999999999"), Ok(Some(u64::MAX)));
    }
}
