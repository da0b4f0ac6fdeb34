//! svc's command line, getopt-style as djb's: clustered letters, `--`,
//! options end at the first non-option. Each letter is kept once, in the
//! order of its first appearance (djb's svc drops repeats).

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;
use svkit::control::LETTERS;
use svkit::exit::USAGE;

use crate::wait::Goal;

pub struct Args {
    pub letters: Vec<u8>,
    pub wait: Option<Goal>,
    pub timeout: Option<Duration>,
    pub dirs: Vec<OsString>,
}

/// djb's usage line, extended by the sigq12 letters and `-w` / `-T`.
const OPTIONS: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2, w wait u|U|d|D, T timeout";

fn usage(problem: &str) -> ! {
    let text = format!("svc: {problem}\n{OPTIONS}\n");
    let _ = std::io::stderr().write_all(text.as_bytes());
    std::process::exit(USAGE)
}

pub fn parse(argv: Vec<OsString>) -> Args {
    let mut a = Args {
        letters: Vec::new(),
        wait: None,
        timeout: None,
        dirs: Vec::new(),
    };
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].as_encoded_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        let mut j = 1;
        while j < arg.len() {
            let c = arg[j];
            j += 1;
            if c == b'w' || c == b'T' {
                let value = if j < arg.len() {
                    let v = String::from_utf8_lossy(&arg[j..]).into_owned();
                    j = arg.len();
                    v
                } else {
                    i += 1;
                    match argv.get(i) {
                        Some(v) => v.to_string_lossy().into_owned(),
                        None => usage(&format!("option requires an argument -- {}", c as char)),
                    }
                };
                if c == b'w' {
                    a.wait = Some(Goal::from_arg(&value).unwrap_or_else(|| {
                        usage(&format!("unknown state to wait for -- {value}"))
                    }));
                } else {
                    a.timeout = Some(
                        svkit::duration::parse_arg(&value)
                            .unwrap_or_else(|e| usage(&format!("{e} -- {value}"))),
                    );
                }
            } else if LETTERS.contains(&c) {
                if !a.letters.contains(&c) {
                    a.letters.push(c);
                }
            } else {
                usage(&format!("illegal option -- {}", char::from(c)));
            }
        }
        i += 1;
    }
    if a.timeout.is_some() && a.wait.is_none() {
        usage("-T needs -w");
    }
    a.dirs = argv[i..].to_vec();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Args {
        parse(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn letters_in_order_once() {
        let a = p(&["-dux", "-d", "-q12", "a", "-t"]);
        assert_eq!(a.letters, b"duxq12");
        assert_eq!(a.dirs, vec![OsString::from("a"), OsString::from("-t")]);
    }

    #[test]
    fn wait_forms() {
        let a = p(&["-wU", "-T", "1s", "-d", "x"]);
        assert_eq!(a.wait, Some(Goal::Ready));
        assert_eq!(a.timeout, Some(Duration::from_secs(1)));
        assert_eq!(a.letters, b"d");
        let a = p(&["-w", "d", "-T500ms", "--", "-x"]);
        assert_eq!(a.wait, Some(Goal::Down));
        assert_eq!(a.timeout, Some(Duration::from_millis(500)));
        assert_eq!(a.dirs, vec![OsString::from("-x")]);
        let a = p(&["-dwD", "x"]);
        assert_eq!(a.wait, Some(Goal::Finished));
        assert_eq!(a.letters, b"d");
    }

    #[test]
    fn lone_dash_is_a_directory() {
        let a = p(&["-", "x"]);
        assert_eq!(a.dirs.len(), 2);
    }
}
