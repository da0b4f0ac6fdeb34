//! Exit codes and the one-line messages every program prints:
//! `PROGRAM: fatal: …` (exit 111), `PROGRAM: usage: …` (exit 100),
//! `PROGRAM: warning: …`.

use std::io::{self, Write};
use std::path::Path;

/// Bad command line or permanent error.
pub const USAGE: i32 = 100;
/// Temporary failure.
pub const TEMP: i32 = 111;
/// A wait that ran out of time (`svc -w… -T`, `booster-drain`), as s6-svwait.
pub const TIMEOUT: i32 = 99;

fn line(prog: &str, kind: &str, msg: &str) {
    // One write so concurrent writers never interleave inside a line.
    let text = format!("{prog}: {kind}: {msg}\n");
    let _ = io::stderr().write_all(text.as_bytes());
}

pub fn warn(prog: &str, msg: &str) {
    line(prog, "warning", msg);
}

/// `PROGRAM: fatal: MSG`, exit 111.
pub fn fatal(prog: &str, msg: &str) -> ! {
    line(prog, "fatal", msg);
    std::process::exit(TEMP)
}

/// `PROGRAM: usage: PROGRAM ARGS`, exit 100.
pub fn usage(prog: &str, synopsis: &str) -> ! {
    line(prog, "usage", &format!("{prog} {synopsis}"));
    std::process::exit(USAGE)
}

/// "unable to WHAT PATH: OS error" in daemontools' words.
pub fn unable(what: &str, path: &Path, e: &io::Error) -> String {
    format!(
        "unable to {what} {}: {}",
        path.display(),
        crate::errstr::text(e)
    )
}
