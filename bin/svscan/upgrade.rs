//! In-place upgrade, svscan's half (`svscan.rc upgrade DIR` is the other):
//! on SIGUSR2 svscan reads `DIR/.svscan.upgrade` (`upgrade PATH`), makes
//! sure PATH runs and can resume (`PATH --resume-check`), writes its state
//! (see `state`) into a memfd and re-executes PATH under its own pid with
//! the memfd, the lock and every log pipe inherited. The new image resumes
//! the table and replaces each supervise (see `handover`), then answers
//! `ok …` in the same file. Any failure before the exec leaves this svscan
//! running and answers `fail REASON`.

use crate::limit::Cap;
use crate::say;
use crate::state::{set_cloexec, EntryState, State};
use crate::tree::Tree;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the inherited state descriptor.
pub const RESUME_ENV: &str = "SVSCAN_RESUME";
/// What `--resume-check` prints: this svscan can resume state version 1.
pub const RESUME_CHECK: &str = "svscan resume 1";
/// How long the new binary has to answer `--resume-check`.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// Signals held blocked from just before the exec until the new image has
/// its handlers: a TERM in between must not kill svscan.
pub const SIGNALS: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR2,
];

fn sigset() -> SigSet {
    let mut set = SigSet::empty();
    for s in SIGNALS {
        set.add(s);
    }
    set
}

/// Unblocks the signals `exec` blocked (a no-op when none are).
pub fn unblock() {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&sigset()), None);
}

/// Writes the answer for `svscan.rc upgrade` (atomically).
pub fn reply(text: &str) {
    let dst = Path::new(svkit::svdir::SVSCAN_UPGRADE);
    let tmp = PathBuf::from(format!("{}.new", svkit::svdir::SVSCAN_UPGRADE));
    if let Err(e) = svkit::atomic::replace(&tmp, dst, text.as_bytes(), false) {
        say::warn(&svkit::exit::unable("write", dst, &e));
    }
}

fn fail(msg: &str) {
    say::warn(&format!("not upgrading: {msg}"));
    reply(&format!("fail {msg}\n"));
}

/// The program to become: `upgrade PATH` in the request file, else our
/// own executable's path (the new file there once the old was replaced).
fn requested() -> Result<PathBuf, String> {
    if let Ok(text) = std::fs::read_to_string(svkit::svdir::SVSCAN_UPGRADE) {
        if let Some(p) = text.lines().next().and_then(|l| l.strip_prefix("upgrade ")) {
            return Ok(PathBuf::from(p));
        }
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| format!("unable to read /proc/self/exe: {}", svkit::errstr::text(&e)))?;
    let s = exe.as_os_str().as_bytes();
    let s = s.strip_suffix(b" (deleted)").unwrap_or(s);
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(s)))
}

/// Runs `exe ARG` and returns its stdout, within PROBE_LIMIT.
fn probe(exe: &Path, arg: &str) -> Result<String, String> {
    let shown = exe.display();
    let mut child = Command::new(exe)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("unable to run {shown}: {}", svkit::errstr::text(&e)))?;
    let end = Instant::now() + PROBE_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                // Still our unreaped child: its pid cannot have been reused.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} {arg} did not finish"));
            }
        }
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("{shown} {arg} failed ({status})"));
    }
    Ok(out)
}

/// The new svscan, and the supervise beside it when there is one, run.
fn check(exe: &Path) -> Result<(), String> {
    let out = probe(exe, "--resume-check")?;
    if out.trim_end() != RESUME_CHECK {
        return Err(format!(
            "{} cannot resume this svscan (it says {:?})",
            exe.display(),
            out.trim_end()
        ));
    }
    let sup = exe.with_file_name("supervise");
    if crate::spawn::is_executable(&sup) {
        probe(&sup, "--version")?;
    }
    Ok(())
}

/// The state of this svscan, descriptors by number.
fn capture(s: &Tree, cap: Cap, lock: Option<RawFd>) -> State {
    let entries = s
        .table
        .entries
        .iter()
        .map(|e| EntryState {
            dev: e.dev,
            ino: e.ino,
            active: e.active,
            main: e.main.pid.map(|p| p.as_raw()),
            pipe: e
                .log
                .as_ref()
                .and_then(|l| l.pipe.as_ref())
                .map(|p| (p.read.as_raw_fd(), p.write.as_raw_fd())),
            log: e.log.as_ref().and_then(|l| l.slot.pid).map(|p| p.as_raw()),
            name: e.name.clone(),
        })
        .collect();
    State {
        cap,
        lock,
        own: s.own.state(),
        entries,
    }
}

/// SIGUSR2: become the program named in the request. Returns only when
/// this svscan stays (the reason is in the answer file).
pub fn upgrade(tree: &Tree, cap: Cap, lock: Option<RawFd>, busy: bool) {
    if busy {
        fail("busy (stopping, or an upgrade is still replacing supervisors)");
        return;
    }
    let exe = match requested().and_then(|e| check(&e).map(|()| e)) {
        Ok(e) => e,
        Err(m) => return fail(&m),
    };
    let state = capture(tree, cap, lock);
    let memfd = match write_state(&state) {
        Ok(fd) => fd,
        Err(m) => return fail(&m),
    };
    let mut fds = state.fds();
    fds.push(memfd.as_raw_fd());
    if let Err(m) = set_cloexec(&fds, false) {
        let _ = set_cloexec(&fds, true);
        return fail(&m);
    }
    say::info(&format!("upgrading: executing {}", exe.display()));
    let err = exec(&exe, memfd.as_raw_fd());
    let _ = set_cloexec(&fds, true);
    std::env::remove_var(RESUME_ENV);
    unblock();
    fail(&format!(
        "unable to execute {}: {}",
        exe.display(),
        err.desc()
    ));
}

fn write_state(st: &State) -> Result<OwnedFd, String> {
    let why = |e: std::io::Error| format!("unable to pass the state: {}", svkit::errstr::text(&e));
    let fd = nix::sys::memfd::memfd_create(
        c"svscan-state",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| why(e.into()))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(st.pack().as_bytes()).map_err(why)?;
    f.rewind().map_err(why)?;
    Ok(f.into())
}

/// execv with the state descriptor named in the environment and our
/// signals blocked; returns only on failure.
fn exec(exe: &Path, fd: RawFd) -> nix::errno::Errno {
    let Ok(path) = CString::new(exe.as_os_str().as_bytes()) else {
        return nix::errno::Errno::EINVAL;
    };
    let argv: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    std::env::set_var(RESUME_ENV, fd.to_string());
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigset()), None);
    match nix::unistd::execv(&path, &argv) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// In a re-executed svscan: the state handed over, if any (`Err` when it
/// cannot be read). The variable is removed so children never see it.
pub fn resume() -> Option<Result<State, String>> {
    let v = std::env::var_os(RESUME_ENV)?;
    std::env::remove_var(RESUME_ENV);
    let fd: RawFd = match v.to_str().and_then(|s| s.parse().ok()) {
        Some(fd) if fd > 2 && crate::state::is_open(fd) => fd,
        _ => return Some(Err(format!("{RESUME_ENV}: not a descriptor"))),
    };
    // SAFETY-free: own_fd takes a descriptor nothing else owns (checked
    // open above, handed to us alone by the old image).
    let mut f = std::fs::File::from(svkit::sys::own_fd(fd));
    let mut text = String::new();
    if let Err(e) = f.read_to_string(&mut text) {
        return Some(Err(format!("unable to read the state: {e}")));
    }
    Some(State::unpack(&text).and_then(|st| {
        match st.fds().into_iter().find(|&fd| !crate::state::is_open(fd)) {
            Some(fd) => Err(format!("descriptor {fd} of the state is not open")),
            None => Ok(st),
        }
    }))
}
