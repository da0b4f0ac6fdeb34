//! svok: exits 0 when a supervise is running for DIR, as daemontools 0.76.
//!
//! 0: something reads `DIR/supervise/ok`; 100: nothing does, or it is
//! missing (ENXIO, ENOENT); 111: DIR cannot be entered or `ok` cannot be
//! opened for another reason; 100 on usage.

use svkit::control::supervise_running;
use svkit::errstr;
use svkit::exit::{fatal, usage, USAGE};

const PROG: &str = "svok";

fn main() {
    svkit::cli::help_version(
        PROG,
        "dir",
        "Exits 0 if a supervise is running for DIR, 100 if not, 111 on trouble.",
    );
    let Some(dir) = std::env::args_os().nth(1) else {
        usage(PROG, "dir");
    };
    let shown = dir.to_string_lossy().into_owned();
    // chdir like djb's svok, so the error texts match his byte for byte.
    if let Err(e) = std::env::set_current_dir(&dir) {
        fatal(
            PROG,
            &format!("unable to chdir to {shown}: {}", errstr::text(&e)),
        );
    }
    match supervise_running(std::path::Path::new(".")) {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(USAGE),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => std::process::exit(USAGE),
        Err(e) => fatal(
            PROG,
            &format!("unable to open {shown}/supervise/ok: {}", errstr::text(&e)),
        ),
    }
}
