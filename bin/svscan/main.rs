//! svscan: starts and keeps one supervise per service directory in a scan
//! directory (daemontools 0.76), with a held pipe to each service's
//! logger, its own output through `.svscan/log`, a lock with a process
//! record, orphan reaping (PID 1 / subreaper) and an ordered shutdown on
//! SIGTERM/SIGINT.

mod own;
mod reach;
mod reap;
mod say;
mod scan;
mod spawn;
mod stop;
mod table;
mod tick;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use say::PROG;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};
use stop::Next;
use svkit::exit;

/// How often the directory is read again without being asked (SIGHUP or
/// SIGALRM ask for a scan at once).
const RESCAN: Duration = Duration::from_secs(5);
/// Descriptors wanted: two per logged service, plus a margin.
const WANT_FDS: u64 = 2 * table::MAX_SERVICES as u64 + 256;

fn parse_args() -> Option<String> {
    let mut args = std::env::args_os().skip(1);
    let mut dir = None;
    let mut only_operands = false;
    for a in args.by_ref() {
        let s = a.to_string_lossy().into_owned();
        if !only_operands && s == "--" {
            only_operands = true;
            continue;
        }
        if !only_operands && s.starts_with('-') && s != "-" {
            exit::usage(PROG, "[dir]");
        }
        if dir.is_some() {
            exit::usage(PROG, "[dir]");
        }
        dir = Some(s);
    }
    dir
}

/// Takes `.svscan.lock` and writes svscan's record `PID STARTTIME\n` into
/// it. A second svscan on the same directory is refused; a directory where
/// the lock cannot be created (read-only) is scanned without one.
fn take_lock(shown: &str) -> Option<File> {
    let path = Path::new(svkit::svdir::SVSCAN_LOCK);
    let full = format!("{shown}/{}", svkit::svdir::SVSCAN_LOCK);
    match svkit::lock::lock_exclusive_nb(path) {
        Ok(mut f) => {
            let me = svkit::procsig::ProcSig::of_self().unwrap_or_default();
            let pid = if me.pid != 0 {
                me.pid
            } else {
                std::process::id()
            };
            let rec = format!("{pid} {}\n", me.start);
            if let Err(e) = f.set_len(0).and_then(|()| f.write_all(rec.as_bytes())) {
                say::warn(&exit::unable("write", Path::new(&full), &e));
            }
            Some(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            let pid = holder.split_whitespace().next().unwrap_or("?").to_string();
            exit::fatal(
                PROG,
                &format!(
                    "{}: another svscan (pid {pid}) is scanning {shown}",
                    exit::unable("acquire", Path::new(&full), &e)
                ),
            )
        }
        Err(e) => {
            say::warn(&format!(
                "{}: running without a lock",
                exit::unable("lock", Path::new(&full), &e)
            ));
            None
        }
    }
}

fn main() {
    // Before anything opens a descriptor (issue 11, defect 6).
    svkit::sys::open_std_fds();
    svkit::cli::help_version(
        PROG,
        "[dir]",
        "Starts and watches a supervise for every service directory in DIR (default:\n\
         the current directory), with a pipe from NAME to NAME/log; rescans every 5 s\n\
         and on HUP or ALRM; TERM or INT stop everything in order, loggers last.",
    );
    let arg = parse_args();
    let shown = arg.clone().unwrap_or_else(|| ".".into());
    if let Some(d) = &arg {
        if let Err(e) = std::env::set_current_dir(d) {
            exit::fatal(PROG, &exit::unable("chdir to", Path::new(d), &e));
        }
    }
    let _lock = take_lock(&shown);
    if let Err(e) = svkit::sys::raise_nofile(WANT_FDS) {
        say::warn(&format!(
            "unable to raise the descriptor limit: {}",
            svkit::errstr::text(&e)
        ));
    }
    // Orphans of our services come to us, not to init: we reap them, and
    // at shutdown nothing we started is left behind.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let signals = [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGALRM,
        Signal::SIGTERM,
        Signal::SIGINT,
    ];
    let pipe = match svkit::selfpipe::SelfPipe::install(&signals) {
        Ok(p) => p,
        Err(e) => exit::fatal(
            PROG,
            &format!("unable to set up signals: {}", svkit::errstr::text(&e)),
        ),
    };
    let mut sv = scan::Scanner::new(spawn::Launcher::find());
    let code = run(&mut sv, &pipe);
    std::process::exit(code);
}

fn run(sv: &mut scan::Scanner, pipe: &svkit::selfpipe::SelfPipe) -> i32 {
    let mut next_scan = Instant::now();
    let mut forced = true;
    loop {
        let now = Instant::now();
        for pid in reap::reap() {
            sv.on_exit(pid, now);
        }
        let wake = if sv.stopping() {
            match sv.advance(now) {
                Next::Exit(code) => return code,
                Next::Wait(t) => t,
            }
        } else {
            if now >= next_scan {
                sv.tick(now, forced);
                forced = false;
                next_scan = now + RESCAN;
            }
            next_scan
        };
        let ms = wake.saturating_duration_since(Instant::now()).as_millis();
        let timeout = PollTimeout::try_from(ms.min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, timeout);
        for sig in pipe.drain() {
            match sig {
                Signal::SIGHUP | Signal::SIGALRM => {
                    next_scan = Instant::now();
                    forced = true;
                }
                Signal::SIGTERM | Signal::SIGINT => {
                    sv.begin_stop(&format!("got {}", sig.as_str()), Instant::now())
                }
                _ => {}
            }
        }
    }
}
