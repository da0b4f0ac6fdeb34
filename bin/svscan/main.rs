//! svscan: starts and keeps one supervise per service directory in a scan
//! directory (daemontools 0.76), with a held pipe to each service's
//! logger, its own output through `.svscan/log`, a lock with a process
//! record, orphan reaping (PID 1 / subreaper) and an ordered shutdown on
//! SIGTERM/SIGINT.

mod handover;
mod limit;
mod own;
mod reach;
mod reap;
mod say;
mod scan;
mod spawn;
mod state;
mod stop;
mod table;
mod tick;
mod tree;
mod upgrade;
mod watch;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use say::PROG;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};
use stop::Next;
use svkit::exit;

/// How often the directory is read again without being asked (SIGHUP or
/// SIGALRM ask for a scan at once).
const RESCAN: Duration = Duration::from_secs(5);
const SYNOPSIS: &str = "[-c max] [dir]";

/// `[-c MAX] [DIR]`: the cap on services, the scan directory.
fn parse_args() -> (Option<usize>, Option<String>) {
    let mut args = std::env::args_os().skip(1);
    let mut dir = None;
    let mut cap = None;
    let mut only_operands = false;
    while let Some(a) = args.next() {
        let s = a.to_string_lossy().into_owned();
        if !only_operands && s == "--" {
            only_operands = true;
            continue;
        }
        if !only_operands && s.starts_with("-c") {
            let v = match &s[2..] {
                "" => args.next().map(|v| v.to_string_lossy().into_owned()),
                rest => Some(rest.to_string()),
            };
            match v.and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
                Some(n) => cap = Some(n),
                None => exit::usage(PROG, SYNOPSIS),
            }
            continue;
        }
        if !only_operands && s.starts_with('-') && s != "-" {
            exit::usage(PROG, SYNOPSIS);
        }
        if dir.is_some() {
            exit::usage(PROG, SYNOPSIS);
        }
        dir = Some(s);
    }
    (cap, dir)
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
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "--resume-check")
    {
        println!("{}", upgrade::RESUME_CHECK);
        return;
    }
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Starts and watches a supervise for every service directory in DIR (default:\n\
         the current directory), with a pipe from NAME to NAME/log; rescans every 5 s\n\
         and on HUP or ALRM; TERM or INT stop everything in order, loggers last;\n\
         USR2 re-executes svscan in place (see svscan.rc upgrade).\n\
         -c MAX: at most MAX services (default: what the descriptor limit holds).",
    );
    let (asked, arg) = parse_args();
    let now = Instant::now();
    // After an in-place upgrade: already in DIR, holding the lock.
    let (mut sv, lock) = match upgrade::resume() {
        Some(Ok(st)) => {
            let lock = st.lock.map(|fd| File::from(state::adopt(fd)));
            let mut sv = scan::Scanner::resumed(spawn::Launcher::find(), &st, now);
            sv.begin_handover();
            (sv, lock)
        }
        resumed => {
            if let Some(Err(m)) = &resumed {
                // Too late to go back: go on as a fresh svscan in the same
                // directory (the old supervisors run on as orphans). First
                // drop all the old image left inheritable for the exec (its
                // lock, the log pipes, the state): nothing of it may reach
                // a service, and the lock is taken afresh below.
                svkit::sys::close_from(3);
                say::warn(&format!("unable to resume after an upgrade: {m}"));
            }
            let shown = arg.clone().unwrap_or_else(|| ".".into());
            if let (Some(d), None) = (&arg, &resumed) {
                if let Err(e) = std::env::set_current_dir(d) {
                    exit::fatal(PROG, &exit::unable("chdir to", Path::new(d), &e));
                }
            }
            let lock = take_lock(&shown);
            let cap = limit::decide(asked);
            (scan::Scanner::new(spawn::Launcher::find(), cap), lock)
        }
    };
    // Orphans of our services come to us, not to init: we reap them, and
    // at shutdown nothing we started is left behind.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let pipe = match svkit::selfpipe::SelfPipe::install(&upgrade::SIGNALS) {
        Ok(p) => p,
        Err(e) => exit::fatal(
            PROG,
            &format!("unable to set up signals: {}", svkit::errstr::text(&e)),
        ),
    };
    // Blocked across an upgrade's exec; handlers are in place now.
    upgrade::unblock();
    let watch = watch::Watch::new();
    let code = run(
        &mut sv,
        &pipe,
        watch.as_ref(),
        lock.as_ref().map(|f| f.as_raw_fd()),
    );
    std::process::exit(code);
}

fn run(
    sv: &mut scan::Scanner,
    pipe: &svkit::selfpipe::SelfPipe,
    watch: Option<&watch::Watch>,
    lock: Option<RawFd>,
) -> i32 {
    let mut next_scan = Instant::now();
    let mut forced = true;
    loop {
        let now = Instant::now();
        for pid in reap::reap() {
            sv.on_exit(pid, now);
        }
        if sv.waiting() {
            next_scan = next_scan.min(now + RESCAN);
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
                next_scan = sv.next_tick(now, RESCAN, watch.is_some());
            }
            match sv.advance_handover(now) {
                Some(t) => t.min(next_scan),
                None => next_scan,
            }
        };
        let ms = wake.saturating_duration_since(Instant::now()).as_millis();
        let timeout = PollTimeout::try_from(ms.min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = watch {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout);
        if let Some(w) = watch {
            if w.drain() {
                // DIR changed: look now (a non-forced tick: the stamp says
                // what changed, and a change under 2 s old scans in full).
                w.rearm();
                next_scan = Instant::now();
            }
        }
        for sig in pipe.drain() {
            match sig {
                Signal::SIGHUP | Signal::SIGALRM => {
                    next_scan = Instant::now();
                    forced = true;
                }
                Signal::SIGTERM | Signal::SIGINT => {
                    sv.begin_stop(&format!("got {}", sig.as_str()), Instant::now())
                }
                Signal::SIGUSR2 => sv.upgrade(lock),
                _ => {}
            }
        }
    }
}
