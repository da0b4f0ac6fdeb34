//! daemontools' `pathexec`: how envdir, setuidgid, softlimit, setlock and
//! friends find and start their child. The program is looked up on the
//! caller's PATH (not the child's; default `/bin:/usr/bin`, an empty entry
//! is `.`), with no shell fallback; the environment is the caller's with
//! `pathexec_env` edits applied in order.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The caller's environment as `NAME=value` byte strings, in order, as
/// the C library holds it.
pub fn environ() -> Vec<Vec<u8>> {
    crate::sys::environ_raw()
}

/// Applies `pathexec_env` edits to `env`: each edit is `NAME=value` (set)
/// or `NAME` (unset). The first variable of that name is dropped, its slot
/// taken by the last one (djb's order, which `env` shows), then a set is
/// appended. The name ends at the edit's first `=`, as djb's.
pub fn apply(env: &mut Vec<Vec<u8>>, edits: &[Vec<u8>]) {
    for edit in edits {
        let split = memchr::memchr(b'=', edit).unwrap_or(edit.len());
        let name = &edit[..split];
        if let Some(t) = env
            .iter()
            .position(|e| e.len() > split && e.starts_with(name) && e[split] == b'=')
        {
            env.swap_remove(t);
        }
        if split < edit.len() {
            env.push(edit.clone());
        }
    }
}

/// `NAME=value` (or `NAME` alone with `None`, an unset) as an edit.
pub fn edit(name: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut e = name.to_vec();
    if let Some(v) = value {
        e.push(b'=');
        e.extend_from_slice(v);
    }
    e
}

fn cstring(b: Vec<u8>) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The candidate paths for `file`, in the order djb's `pathexec_run`
/// tries them.
pub fn candidates(file: &[u8], path: Option<&[u8]>) -> Vec<Vec<u8>> {
    if file.contains(&b'/') {
        return vec![file.to_vec()];
    }
    let path = path.unwrap_or(b"/bin:/usr/bin");
    path.split(|&c| c == b':')
        .map(|dir| {
            let mut p = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            p.push(b'/');
            p.extend_from_slice(file);
            p
        })
        .collect()
}

/// Execs `argv[0]` with `argv` and `env`, or returns why not: the last
/// error other than "does not exist", as djb's (it stops at the first
/// error other than ENOENT, EACCES, EPERM or EISDIR).
pub fn run(argv: &[OsString], env: Vec<Vec<u8>>) -> io::Error {
    let Some(file) = argv.first() else {
        return io::Error::from_raw_os_error(libc::ENOENT);
    };
    let args: io::Result<Vec<CString>> =
        argv.iter().map(|a| cstring(a.clone().into_vec())).collect();
    let envs: io::Result<Vec<CString>> = env.into_iter().map(cstring).collect();
    let (args, envs) = match (args, envs) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let path = std::env::var_os("PATH");
    crate::sys::restore_start_sigpipe();
    crate::sys::restore_start_stdio();
    let mut saved: Option<io::Error> = None;
    for cand in candidates(file.as_bytes(), path.as_ref().map(|p| p.as_bytes())) {
        let Ok(c) = cstring(cand) else { continue };
        let e = crate::sys::execve(&c, &args, &envs);
        match e.raw_os_error() {
            Some(libc::ENOENT) => {}
            Some(libc::EACCES | libc::EPERM | libc::EISDIR) => saved = Some(e),
            _ => return e,
        }
    }
    saved.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
}

/// Runs `argv` with the caller's environment unchanged.
pub fn run_plain(argv: &[OsString]) -> io::Error {
    run(argv, environ())
}

/// `PROG: fatal: unable to run CHILD: reason`, exit 111.
pub fn die_run(prog: &str, child: &OsStr, e: &io::Error) -> ! {
    crate::exit::fatal(
        prog,
        &format!(
            "unable to run {}: {}",
            child.to_string_lossy(),
            crate::errstr::text(e)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn edits_in_djb_order() {
        let mut e = env(&["A=1", "B=2", "C=3"]);
        apply(&mut e, &env(&["A=x", "B", "D=4", "AB=5"]));
        // A's slot takes C; A=x appended; B removed (last moves in).
        assert_eq!(e, env(&["C=3", "A=x", "D=4", "AB=5"]));
    }

    #[test]
    fn name_ends_at_first_equals() {
        let mut e = env(&["A=1"]);
        apply(&mut e, &env(&["A=B=c"]));
        assert_eq!(e, env(&["A=B=c"]));
        let mut e = env(&["AB=1"]);
        apply(&mut e, &env(&["A"]));
        assert_eq!(e, env(&["AB=1"]));
    }

    #[test]
    fn path_search_as_djb() {
        assert_eq!(candidates(b"./x", Some(b"/a")), vec![b"./x".to_vec()]);
        assert_eq!(
            candidates(b"x", None),
            vec![b"/bin/x".to_vec(), b"/usr/bin/x".to_vec()]
        );
        assert_eq!(
            candidates(b"x", Some(b":/a:")),
            vec![b"./x".to_vec(), b"/a/x".to_vec(), b"./x".to_vec()]
        );
    }
}
