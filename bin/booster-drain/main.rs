//! booster-drain: waits until no instance listed in a booster registry is
//! alive (pid and start time both match), for upgrades (seed 001).

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use svkit::exit::{fatal, usage, TIMEOUT};
use svkit::procsig::ProcSig;

const PROG: &str = "booster-drain";
const USAGE: &str = "registry [ -T timeout ]";

/// A `-T` value; beyond 100 years (or not a duration) is a usage error.
fn duration(text: &str) -> Duration {
    svkit::duration::parse_arg(text).unwrap_or_else(|_| usage(PROG, USAGE))
}

fn parse_args() -> (PathBuf, Option<Duration>) {
    let mut reg = None;
    let mut limit = None;
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "-T" {
            let v = it.next().unwrap_or_else(|| usage(PROG, USAGE));
            limit = Some(duration(&v.to_string_lossy()));
        } else if let Some(v) = s.strip_prefix("-T") {
            limit = Some(duration(v));
        } else if s.starts_with('-') && s != "-" || reg.is_some() {
            usage(PROG, USAGE);
        } else {
            reg = Some(PathBuf::from(a));
        }
    }
    (reg.unwrap_or_else(|| usage(PROG, USAGE)), limit)
}

fn main() {
    svkit::cli::help_version(PROG, USAGE, "Waits until no instance listed in the booster's registry is alive\n(pid and start time both match); exits 99 when the timeout runs out.");
    let (path, limit) = parse_args();
    // Entries of another boot are dropped here: they never match.
    let entries = svkit::registry::load(&path)
        .unwrap_or_else(|m| fatal(PROG, &format!("unable to read {}: {m}", path.display())));
    // A pidfd does not reserve the pid number; it names one process. The
    // signature is checked after opening, so a live entry's pidfd is the
    // listed process and its readiness is that process's exit. Nothing is
    // signalled here; the signature is re-read on every wake-up.
    let mut live: Vec<(ProcSig, Option<std::os::fd::OwnedFd>)> = Vec::new();
    for e in entries {
        let fd = svkit::sys::pidfd_open(e.sig.pid).ok();
        if fd.is_some() && e.sig.is_alive() {
            live.push((e.sig, fd));
        }
    }
    let end = limit.map(|d| svkit::duration::deadline(Instant::now(), d));
    loop {
        live.retain(|(s, _)| s.is_alive());
        if live.is_empty() {
            std::process::exit(0);
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            let pids: Vec<String> = live.iter().map(|(s, _)| s.pid.to_string()).collect();
            svkit::exit::warn(PROG, &format!("timed out; still alive: {}", pids.join(" ")));
            std::process::exit(TIMEOUT);
        }
        // pidfds wake us at exit; the 100 ms cap also covers a zombie
        // (readable, still matching) until its parent reaps it.
        let ms = end.map_or(100, |e| svkit::duration::poll_timeout_ms(now, e).min(100));
        let mut idx = Vec::new();
        let mut p = Vec::new();
        for (k, (_, fd)) in live.iter().enumerate() {
            if let Some(fd) = fd {
                idx.push(k);
                p.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let _ = svkit::sys::poll_fds(&mut p, ms);
        for (k, x) in idx.into_iter().zip(p) {
            if x.revents != 0 {
                live[k].1 = None;
            }
        }
    }
}
