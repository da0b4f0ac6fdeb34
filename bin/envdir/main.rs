//! envdir: runs a program with environment variables set from the files
//! of a directory, as daemontools 0.76. Each file not starting with `.`
//! names a variable: its first line (trailing spaces and tabs removed,
//! NULs turned into newlines) is the value; an empty file unsets it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use svkit::exit::fatal;
use svkit::pathexec;

const PROG: &str = "envdir";
const SYNOPSIS: &str = "dir child";

/// djb's envdir says usage and exits 111, not 100.
fn usage() -> ! {
    let _ = io::Write::write_all(
        &mut io::stderr(),
        format!("{PROG}: usage: {PROG} {SYNOPSIS}\n").as_bytes(),
    );
    std::process::exit(svkit::exit::TEMP)
}

/// The value a file's contents give, or None for "unset".
fn value_of(contents: &[u8]) -> Option<Vec<u8>> {
    if contents.is_empty() {
        return None;
    }
    let mut v = &contents[..memchr::memchr(b'\n', contents).unwrap_or(contents.len())];
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    Some(v.iter().map(|&c| if c == 0 { b'\n' } else { c }).collect())
}

fn die(what: &str, dir: &OsStr, e: &io::Error) -> ! {
    fatal(
        PROG,
        &format!(
            "{what}{}: {}",
            dir.to_string_lossy(),
            svkit::errstr::text(e)
        ),
    )
}

/// The edits the directory asks for, in readdir order. Read from inside
/// the directory, as djb's (so permissions and messages match).
fn read_dir_edits(dir: &OsStr) -> Vec<Vec<u8>> {
    let orig = match std::fs::File::open(".") {
        Ok(f) => f,
        Err(e) => fatal(
            PROG,
            &format!(
                "unable to switch to current directory: {}",
                svkit::errstr::text(&e)
            ),
        ),
    };
    if let Err(e) = std::env::set_current_dir(dir) {
        die("unable to switch to directory ", dir, &e);
    }
    let rd = match std::fs::read_dir(".") {
        Ok(rd) => rd,
        Err(e) => die("unable to read directory ", dir, &e),
    };
    let mut edits = Vec::new();
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => die("unable to read directory ", dir, &e),
        };
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        let contents = match std::fs::read(&name) {
            Ok(c) => c,
            // Gone (or a dangling link): nothing to set, as an empty file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => fatal(
                PROG,
                &format!(
                    "unable to read {}/{}: {}",
                    dir.to_string_lossy(),
                    name.to_string_lossy(),
                    svkit::errstr::text(&e)
                ),
            ),
        };
        edits.push(pathexec::edit(
            name.as_bytes(),
            value_of(&contents).as_deref(),
        ));
    }
    if let Err(e) = nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&orig)) {
        fatal(
            PROG,
            &format!(
                "unable to switch to starting directory: {}",
                svkit::errstr::text(&io::Error::from(e))
            ),
        );
    }
    edits
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Runs child with the environment changed by the files in dir: each file\n\
         sets the variable of its name to its first line (trailing spaces and tabs\n\
         removed, NULs as newlines); an empty file removes the variable.",
    );
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage();
    }
    let edits = read_dir_edits(&args[1]);
    let mut env = pathexec::environ();
    pathexec::apply(&mut env, &edits);
    let e = pathexec::run(&args[2..], env);
    pathexec::die_run(PROG, &args[2], &e)
}

#[cfg(test)]
mod tests {
    use super::value_of;

    #[test]
    fn values_as_djb() {
        assert_eq!(value_of(b""), None);
        assert_eq!(value_of(b"\n"), Some(vec![]));
        assert_eq!(value_of(b"a b \t \nsecond\n"), Some(b"a b".to_vec()));
        assert_eq!(value_of(b"x\0y  "), Some(b"x\ny".to_vec()));
        assert_eq!(value_of(b" \t"), Some(vec![]));
    }
}
