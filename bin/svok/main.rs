//! svok: exits 0 when a supervise is running for DIR, as daemontools 0.76.
//!
//! 0: something reads `DIR/supervise/ok`; 100: nothing does, or it is
//! missing (ENXIO, ENOENT); 111: DIR cannot be entered or `ok` cannot be
//! opened for another reason; 100 on usage.

use svkit::control::open_fifo_writer;
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
    match open_fifo_writer(std::path::Path::new(svkit::svdir::OK)) {
        Ok(_) => std::process::exit(0),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENXIO | libc::ENOENT)) => {
            std::process::exit(USAGE)
        }
        Err(e) => fatal(
            PROG,
            &format!("unable to open {shown}/supervise/ok: {}", errstr::text(&e)),
        ),
    }
}
