//! invoker: has a booster launch PROGRAM with this process's argv, env,
//! cwd and stdio, then lives and exits with it (see docs/invoker.md).

mod session;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

pub const PROG: &str = "invoker";
const USAGE: &str =
    "[ -s socket | -t type ] [ -n | --no-wait ] [ -d linger ] [ --fallback ] [ -- ] program [ arg ... ]";

pub struct Args {
    pub socket: PathBuf,
    pub wait: bool,
    pub linger: Option<Duration>,
    pub fallback: bool,
    pub argv: Vec<OsString>,
}

fn usage() -> ! {
    svkit::exit::usage(PROG, USAGE)
}

fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("booster"),
        _ => PathBuf::from("/run/booster"),
    }
}

/// The socket, first that applies: `-s`, `-t`, $BOOSTER_SOCKET,
/// $XDG_RUNTIME_DIR/booster/socket, /run/booster/socket.
fn socket_path(s: Option<OsString>, t: Option<OsString>) -> PathBuf {
    if let Some(s) = s {
        return PathBuf::from(s);
    }
    if let Some(t) = t {
        return runtime_dir().join(t);
    }
    match std::env::var_os("BOOSTER_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => runtime_dir().join("socket"),
    }
}

fn parse_args() -> Args {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (mut s, mut t, mut wait, mut linger, mut fallback) = (None, None, true, None, false);
    let mut i = 0;
    let value = |i: &mut usize, inline: &[u8]| -> OsString {
        if !inline.is_empty() {
            return OsString::from_vec(inline.to_vec());
        }
        *i += 1;
        argv.get(*i).cloned().unwrap_or_else(|| usage())
    };
    while i < argv.len() {
        let a = argv[i].as_bytes();
        match a {
            b"--" => {
                i += 1;
                break;
            }
            b"--no-wait" => wait = false,
            b"--fallback" => fallback = true,
            _ if a.starts_with(b"--") => usage(),
            _ if a.len() > 1 && a[0] == b'-' => {
                let mut k = 1;
                while k < a.len() {
                    match a[k] {
                        b'n' => wait = false,
                        b's' | b't' | b'd' => {
                            let v = value(&mut i, &a[k + 1..]);
                            match a[k] {
                                b's' => s = Some(v),
                                b't' => t = Some(v),
                                _ => {
                                    let d = svkit::duration::parse_arg(&v.to_string_lossy());
                                    linger = Some(d.unwrap_or_else(|_| usage()));
                                }
                            }
                            break;
                        }
                        _ => usage(),
                    }
                    k += 1;
                }
            }
            _ => break,
        }
        i += 1;
    }
    if i >= argv.len() || argv[i].is_empty() {
        usage();
    }
    Args {
        socket: socket_path(s, t),
        wait,
        linger,
        fallback,
        argv: argv[i..].to_vec(),
    }
}

fn main() {
    svkit::cli::help_version(PROG, USAGE, "Has the booster launch PROGRAM with this process's arguments, environment,\ndirectory and stdio, and exits with its status (128+N for signal N).");
    let args = parse_args();
    let code = session::run(&args);
    if let Some(d) = args.linger {
        std::thread::sleep(d);
    }
    std::process::exit(code)
}
