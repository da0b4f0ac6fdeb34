//! svstat: prints the status of services monitored by supervise, as
//! daemontools 0.76, plus `-v` (readiness, exits, recent deaths) and
//! `--json`. Always exits 0 once running (111 only if the current directory
//! cannot be reopened, as djb's).

mod json;
mod probe;
mod prometheus;
mod text;

use nix::unistd::fchdir;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use svkit::errstr;
use svkit::exit::fatal;

const PROG: &str = "svstat";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Djb,
    Verbose,
    Json,
    Prometheus,
}

/// Only the exact option words are options; anything else, even with a
/// leading `-`, is a directory name (djb's svstat takes no options).
fn parse(args: Vec<OsString>) -> (Mode, Vec<OsString>) {
    let mut mode = Mode::Djb;
    let mut i = 0;
    while i < args.len() {
        match args[i].to_str() {
            Some("-v") | Some("--verbose") => mode = Mode::Verbose,
            Some("--json") => mode = Mode::Json,
            Some("--prometheus") => mode = Mode::Prometheus,
            Some("--") => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    (mode, args[i..].to_vec())
}

fn main() {
    svkit::cli::help_version(
        PROG,
        "[ -v | --json | --prometheus ] dir ...",
        "Prints the status of the service monitored by supervise in each DIR, as\ndaemontools; -v adds readiness, the last exit and recent deaths, --json\nprints one JSON object per directory, --prometheus the Prometheus text\nformat. Always exits 0.",
    );
    let (mode, dirs) = parse(std::env::args_os().skip(1).collect());
    let orig = match File::open(".") {
        Ok(f) => f,
        Err(e) => fatal(
            PROG,
            &format!("unable to open current directory: {}", errstr::text(&e)),
        ),
    };
    let mut out = String::new();
    let mut exposition = Vec::new();
    for dir in &dirs {
        let shown = dir.to_string_lossy();
        let p = probe::probe(Path::new(dir));
        match mode {
            Mode::Prometheus => exposition.push((shown.to_string(), json::object(&shown, &p))),
            Mode::Json => {
                out.push_str(&json::object(&shown, &p).to_string());
                out.push('\n');
            }
            _ => {
                out.push_str(&format!("{shown}: {}\n", text::summary(&p)));
                if mode == Mode::Verbose {
                    for l in text::verbose(&p) {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
            }
        }
        if let Err(e) = fchdir(orig.as_raw_fd()) {
            let _ = std::io::stdout().write_all(out.as_bytes());
            fatal(
                PROG,
                &format!("unable to set directory: {}", errstr::errno_text(e as i32)),
            );
        }
    }
    if mode == Mode::Prometheus {
        out = prometheus::render(&exposition);
    }
    // A closed stdout is not worth a panic; djb's svstat ignores it too.
    let _ = std::io::stdout().write_all(out.as_bytes());
}
