//! How svscan reaches a supervise: control letters written to its fifo,
//! found through the supervise's working directory (`/proc/PID/cwd`,
//! right even after the service directory was renamed or moved out of
//! DIR), and what a directory's status file says. Free functions over the
//! tree; the caller keeps whatever must be retried.

use crate::say;
use crate::table::Table;
use crate::tree::Tree;
use nix::unistd::Pid;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Main(usize),
    Log(usize),
    Own,
}

/// True when the service in `dir` is up according to its status file
/// (unreadable counts as up, so the logger still gets `o`).
pub fn is_up(dir: &Path) -> bool {
    svkit::records::is_up(dir)
}

/// The child the supervise of `dir` runs, per its status file.
pub fn child_pid(dir: &Path) -> Option<Pid> {
    let st = svkit::records::read_status(dir).ok()?;
    i32::try_from(st.pid)
        .ok()
        .filter(|&p| p > 0)
        .map(Pid::from_raw)
}

/// Every process that is a logger, however it became svscan's child: the
/// loggers' supervisors svscan started, and what each logger directory's
/// status names as running (after a takeover the logger itself is
/// svscan's child under a pid svscan never forked).
pub fn loggers(t: &Tree) -> Vec<Pid> {
    let mut out: Vec<Pid> = Vec::new();
    let targets = (0..t.table.entries.len())
        .filter(|&i| t.table.entries[i].log.is_some())
        .map(Target::Log)
        .chain(std::iter::once(Target::Own));
    for x in targets {
        out.extend(target_pid(t, x));
        if let Some(pid) = control_dir(t, x).and_then(|d| child_pid(&d)) {
            out.push(pid);
        }
    }
    out
}

/// Where to reach a target's supervise: its working directory through
/// /proc (right even after the service directory was renamed or removed
/// from the scan directory), else its name.
pub fn control_dir(t: &Tree, x: Target) -> Option<PathBuf> {
    if let Some(pid) = target_pid(t, x) {
        let p = PathBuf::from(format!("/proc/{pid}/cwd"));
        if p.join(svkit::svdir::CONTROL).exists() {
            return Some(p);
        }
    }
    target_dir(&t.table, x)
}

pub fn target_dir(table: &Table, x: Target) -> Option<PathBuf> {
    match x {
        Target::Main(i) => table.entries.get(i).map(|e| e.dir()),
        Target::Log(i) => table.entries.get(i).map(|e| e.log_dir()),
        Target::Own => Some(PathBuf::from(svkit::svdir::SVSCAN_LOG)),
    }
}

pub fn target_pid(t: &Tree, x: Target) -> Option<Pid> {
    match x {
        Target::Main(i) => t.table.entries.get(i)?.main.pid,
        Target::Log(i) => t.table.entries.get(i)?.log.as_ref()?.slot.pid,
        Target::Own => t.own.slot.pid,
    }
}

/// Whether the target's supervise is running (None: no such entry).
pub fn running(t: &Tree, x: Target) -> Option<bool> {
    match x {
        Target::Main(i) => t.table.entries.get(i).map(|e| e.main.running()),
        Target::Log(i) => t.table.entries.get(i).map(|e| e.log_running()),
        Target::Own => Some(t.own.slot.running()),
    }
}

/// Writes control letters. False when the supervise has not opened its
/// fifo yet (ENXIO, ENOENT, EAGAIN): the caller tries again later. Other
/// errors are reported here.
pub fn send(t: &Tree, x: Target, what: &[u8]) -> bool {
    let Some(dir) = control_dir(t, x) else {
        return true;
    };
    let r = svkit::control::open_control(&dir).and_then(|mut f| f.write_all(what));
    match r {
        Ok(()) => true,
        Err(e) => match e.raw_os_error() {
            Some(libc::ENXIO) | Some(libc::ENOENT) | Some(libc::EAGAIN) => false,
            _ => {
                let shown = target_dir(&t.table, x).unwrap_or(dir);
                say::warn(&svkit::exit::unable("control", &shown, &e));
                true
            }
        },
    }
}
