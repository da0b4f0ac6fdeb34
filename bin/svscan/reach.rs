//! How svscan reaches a supervise during a shutdown: control letters
//! written to its fifo, found through the supervise's working directory
//! (`/proc/PID/cwd`, right even after the service directory was renamed or
//! moved out of DIR), retried while the supervise has not opened it yet.

use crate::say;
use crate::scan::Scanner;
use crate::table::Table;
use nix::unistd::Pid;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy)]
pub enum Target {
    Main(usize),
    Log(usize),
    Own,
}

/// True when the service in `dir` is up according to its status file
/// (unreadable counts as up, so the logger still gets `o`).
pub fn is_up(dir: &Path) -> bool {
    std::fs::read(dir.join(svkit::svdir::STATUS))
        .ok()
        .and_then(|b| svkit::status::Status::unpack(&b).ok())
        .map(|s| s.pid != 0)
        .unwrap_or(true)
}

/// The child the supervise of `dir` runs, per its status file.
pub fn child_pid(dir: &Path) -> Option<Pid> {
    let b = std::fs::read(dir.join(svkit::svdir::STATUS)).ok()?;
    let st = svkit::status::Status::unpack(&b).ok()?;
    i32::try_from(st.pid)
        .ok()
        .filter(|&p| p > 0)
        .map(Pid::from_raw)
}

/// Every process that is a logger, however it became svscan's child: the
/// loggers' supervisors svscan started, and what each logger directory's
/// status names as running (after a takeover the logger itself is
/// svscan's child under a pid svscan never forked).
pub fn loggers(s: &Scanner) -> Vec<Pid> {
    let mut out: Vec<Pid> = Vec::new();
    let targets = (0..s.table.entries.len())
        .filter(|&i| s.table.entries[i].log.is_some())
        .map(Target::Log)
        .chain(std::iter::once(Target::Own));
    for t in targets {
        out.extend(target_pid(s, t));
        if let Some(pid) = control_dir(s, t).and_then(|d| child_pid(&d)) {
            out.push(pid);
        }
    }
    out
}

/// Where to reach a target's supervise: its working directory through
/// /proc (right even after the service directory was renamed or removed
/// from the scan directory), else its name.
pub fn control_dir(s: &Scanner, t: Target) -> Option<PathBuf> {
    if let Some(pid) = target_pid(s, t) {
        let p = PathBuf::from(format!("/proc/{pid}/cwd"));
        if p.join(svkit::svdir::CONTROL).exists() {
            return Some(p);
        }
    }
    target_dir(&s.table, t)
}

pub fn target_dir(table: &Table, t: Target) -> Option<PathBuf> {
    match t {
        Target::Main(i) => table.entries.get(i).map(|e| e.dir()),
        Target::Log(i) => table.entries.get(i).map(|e| e.log_dir()),
        Target::Own => Some(PathBuf::from(svkit::svdir::SVSCAN_LOG)),
    }
}

pub fn target_pid(s: &Scanner, t: Target) -> Option<Pid> {
    match t {
        Target::Main(i) => s.table.entries.get(i)?.main.pid,
        Target::Log(i) => s.table.entries.get(i)?.log.as_ref()?.slot.pid,
        Target::Own => s.own.slot.pid,
    }
}

impl Scanner {
    /// Writes control letters; a supervise that has not opened its fifo
    /// yet (ENXIO, ENOENT) gets them again at the next tick.
    pub fn send(&mut self, t: Target, what: &'static [u8]) {
        let Some(dir) = control_dir(self, t) else {
            return;
        };
        let r = svkit::control::open_control(&dir).and_then(|mut f| f.write_all(what));
        if let Err(e) = r {
            match e.raw_os_error() {
                Some(libc::ENXIO) | Some(libc::ENOENT) | Some(libc::EAGAIN) => {
                    if let Some(stop) = self.stop.as_mut() {
                        stop.pending.push((t, what));
                    }
                }
                _ => {
                    let shown = target_dir(&self.table, t).unwrap_or(dir);
                    say::warn(&svkit::exit::unable("control", &shown, &e));
                }
            }
        }
    }

    pub fn retry_pending(&mut self) {
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        let again = std::mem::take(&mut stop.pending);

        for (t, what) in again {
            let alive = match t {
                Target::Main(i) => self.table.entries.get(i).map(|e| e.main.running()),
                Target::Log(i) => self.table.entries.get(i).map(|e| e.log_running()),
                Target::Own => Some(self.own.slot.running()),
            };
            if alive == Some(true) {
                self.send(t, what);
            }
        }
    }
}
