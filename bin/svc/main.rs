//! svc: controls services monitored by supervise, as daemontools 0.76 (plus
//! the sigq12 letters `q 1 2`), and waits for a state with `-w` / `-T`.

mod args;
mod wait;

use args::Args;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;
use svkit::control::open_control;
use svkit::errstr;
use svkit::exit::{fatal, warn, TEMP, TIMEOUT};
use wait::{Goal, Waited};

const PROG: &str = "svc";

fn main() {
    svkit::cli::help_version(PROG, "[ -udopchaitkxq12 ] [ -w u|U|d|D ] [ -T timeout ] dir ...", "Sends control letters to the supervise of each DIR, in order:\nu up, d down, o once, x exit, p pause, c continue, h hup, a alarm,\ni interrupt, t term, k kill, q quit, 1 usr1, 2 usr2;\n-w waits for up, up-and-ready, down or down-and-finished, -T bounds the wait (exit 99).");
    let args = args::parse(std::env::args_os().skip(1).collect());
    let orig = File::open(".").unwrap_or_else(|e| {
        fatal(
            PROG,
            &format!("unable to open current directory: {}", errstr::text(&e)),
        )
    });
    let ino = match args.wait {
        Some(_) => match wait::inotify() {
            Ok(i) => Some(i),
            Err(e) => fatal(
                PROG,
                &format!("unable to set up inotify: {}", errstr::errno_text(e as i32)),
            ),
        },
        None => None,
    };
    let mut waited = Vec::new();
    let mut failed = false;
    for dir in &args.dirs {
        let shown = dir.to_string_lossy().into_owned();
        match control_one(&args, Path::new(dir), &shown, ino.as_ref()) {
            Ok(Some(w)) => waited.push(w),
            Ok(None) => {}
            Err(()) => failed = true,
        }
        if let Err(e) = nix::unistd::fchdir(orig.as_raw_fd()) {
            fatal(
                PROG,
                &format!("unable to set directory: {}", errstr::errno_text(e as i32)),
            );
        }
    }
    let (Some(_), Some(ino)) = (args.wait, ino) else {
        // daemontools exits 0 even when a directory could not be controlled.
        std::process::exit(0);
    };
    let deadline = args
        .timeout
        .map(|t| svkit::duration::deadline(Instant::now(), t));
    let code = match wait::wait_all(&ino, waited, deadline) {
        wait::Outcome::AllReached => 0,
        wait::Outcome::Lost(dirs) => {
            for (d, goal) in dirs {
                warn(
                    PROG,
                    &format!("supervise for {d} exited before it was {}", goal.words()),
                );
            }
            TEMP
        }
        wait::Outcome::TimedOut(dirs) => {
            for (d, goal) in dirs {
                warn(
                    PROG,
                    &format!("timed out waiting for {d} to be {}", goal.words()),
                );
            }
            TIMEOUT
        }
    };
    std::process::exit(if failed && code == 0 { TEMP } else { code });
}

/// Sends the letters to one directory (from inside it, as djb's svc), and
/// when waiting, sets up the watch before sending so no change is missed.
/// `Err` when the directory cannot be controlled (already reported).
fn control_one(
    args: &Args,
    dir: &Path,
    shown: &str,
    ino: Option<&nix::sys::inotify::Inotify>,
) -> Result<Option<Waited>, ()> {
    if let Err(e) = std::env::set_current_dir(dir) {
        warn(
            PROG,
            &format!("unable to chdir to {shown}: {}", errstr::text(&e)),
        );
        return Err(());
    }
    let mut fifo = match open_control(Path::new(".")) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            warn(
                PROG,
                &format!("unable to control {shown}: supervise not running"),
            );
            return Err(());
        }
        Err(e) => {
            warn(
                PROG,
                &format!("unable to control {shown}: {}", errstr::text(&e)),
            );
            return Err(());
        }
    };
    let waited = match (args.wait, ino) {
        (Some(goal), Some(ino)) => Some(prepare_wait(goal, &args.letters, shown, ino)?),
        _ => None,
    };
    if !args.letters.is_empty() {
        // Blocking from here on, as djb's (ndelay_off): one write of all letters.
        let _ = nix::fcntl::fcntl(
            fifo.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        );
        if let Err(e) = fifo.write_all(&args.letters) {
            warn(
                PROG,
                &format!("error writing commands to {shown}: {}", errstr::text(&e)),
            );
            return Err(());
        }
    }
    Ok(waited)
}

/// Watch first, then read the baseline: a change between the two is seen.
fn prepare_wait(
    goal: Goal,
    letters: &[u8],
    shown: &str,
    ino: &nix::sys::inotify::Inotify,
) -> Result<Waited, ()> {
    let path = std::env::current_dir().map_err(|e| {
        warn(
            PROG,
            &format!("unable to wait for {shown}: {}", errstr::text(&e)),
        )
    })?;
    if let Err(e) = wait::watch(ino, &path) {
        warn(
            PROG,
            &format!(
                "unable to watch {shown}/supervise: {}",
                errstr::errno_text(e as i32)
            ),
        );
        return Err(());
    }
    let pidfd = wait::supervisor_pidfd(&path);
    let before = svkit::records::read_status(&path).ok();
    let ends = letters.iter().any(|l| wait::ENDING_LETTERS.contains(l));
    let old_pid = match before {
        Some(s) if ends => s.pid,
        _ => 0,
    };
    // Without notification-fd, readiness never comes: up is ready (as s6).
    let goal = match goal {
        Goal::Ready if !path.join(svkit::svdir::NOTIFICATION_FD).exists() => Goal::Up,
        g => g,
    };
    Ok(Waited {
        shown: shown.to_string(),
        goal,
        path,
        old_pid,
        pidfd,
    })
}
