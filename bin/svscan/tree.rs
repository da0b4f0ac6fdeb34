//! What svscan runs: the table of services, its own logger, the way it
//! starts supervise, and the warn-once bookkeeping. Scanning, stopping and
//! an upgrade's handover all work on this one value.

use crate::own::OwnLog;
use crate::say::Once;
use crate::spawn::{Fds, Launcher};
use crate::table::Table;
use nix::sys::stat::{stat, SFlag};
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;
use svkit::errstr::errno_text;

pub struct Tree {
    pub table: Table,
    pub own: OwnLog,
    pub launcher: Launcher,
    pub once: Once,
}

pub fn show(p: &Path) -> String {
    p.display().to_string()
}

pub fn is_dir(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

/// `DIR/run` must exist before svscan starts a supervise on DIR, so a
/// directory still being set up is not started half-made.
pub fn check_run(dir: &Path) -> Result<(), String> {
    let run = dir.join(svkit::svdir::RUN);
    match stat(&run) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "unable to stat {}: {}",
            show(&run),
            errno_text(e as i32)
        )),
    }
}

/// The warn-once key of an entry's logger.
pub fn log_key(name: &OsStr) -> OsString {
    let mut k = name.to_owned();
    k.push("/log");
    k
}

impl Tree {
    /// `.svscan/log` (the logging patch): set up when it appears, restarted
    /// like any supervise.
    pub fn start_own(&mut self, now: Instant) {
        if self.own.slot.running() {
            return;
        }
        let key = OsStr::new(svkit::svdir::SVSCAN_LOG);
        let dir = Path::new(svkit::svdir::SVSCAN_LOG);
        match stat(dir) {
            Ok(st) if is_dir(st.st_mode) => {}
            Ok(_) | Err(nix::errno::Errno::ENOENT) => {
                self.once.clear(key);
                return;
            }
            Err(e) => {
                let msg = format!("unable to stat {}: {}", show(dir), errno_text(e as i32));
                self.once.warn(key, msg);
                return;
            }
        }
        if let Err(msg) = check_run(dir) {
            self.once
                .warn(key, format!("not starting {} yet: {msg}", show(dir)));
            return;
        }
        match self.own.start(&self.launcher, now) {
            Ok(()) => self.once.clear(key),
            Err(e) => self.once.warn(
                key,
                format!(
                    "unable to start supervise {}: {}",
                    show(dir),
                    svkit::errstr::text(&e)
                ),
            ),
        }
    }

    /// Starts entry `i`'s logger if it is not running (also during a
    /// shutdown: its pipe must drain).
    pub fn start_logger(&mut self, i: usize, now: Instant) {
        self.start_sides(i, now, false);
    }

    /// Starts entry `i`'s supervise (when `main_too`) and its logger's,
    /// those not running.
    pub fn start_sides(&mut self, i: usize, now: Instant, main_too: bool) {
        let Some(e) = self.table.entries.get_mut(i) else {
            return;
        };
        if !e.active {
            return;
        }
        let out = self.own.child_out();
        if main_too && !e.main.running() {
            let dir = e.dir();
            let started = check_run(&dir)
                .map_err(|m| format!("not starting {} yet: {m}", e.show()))
                .and_then(|()| {
                    let fds = e.service_fds(out);
                    self.launcher.supervise(None, &e.name, fds).map_err(|err| {
                        format!(
                            "unable to start supervise {}: {}",
                            e.show(),
                            svkit::errstr::text(&err)
                        )
                    })
                });
            match started {
                Ok(pid) => {
                    e.main.set(pid, now);
                    self.once.clear(&e.name);
                }
                Err(msg) => self.once.warn(&e.name, msg),
            }
        }
        let needs_log = e
            .log
            .as_ref()
            .map(|l| !l.slot.running() && l.pipe.is_some())
            .unwrap_or(false);
        if !needs_log {
            return;
        }
        let dir = e.dir();
        let key = log_key(&e.name);
        let shown = e.show();
        if let Some(log) = e.log.as_mut() {
            let Some(pipe) = log.pipe.as_ref() else {
                return;
            };
            let started = check_run(&dir.join(svkit::svdir::LOG))
                .map_err(|m| format!("not starting {shown}/log yet: {m}"))
                .and_then(|()| {
                    let fds = Fds {
                        stdin: Some(pipe.read.as_fd()),
                        stdout: out,
                        stderr: out,
                    };
                    self.launcher
                        .supervise(Some(&dir), OsStr::new(svkit::svdir::LOG), fds)
                        .map_err(|err| {
                            format!(
                                "unable to start supervise {shown}/log: {}",
                                svkit::errstr::text(&err)
                            )
                        })
                });
            match started {
                Ok(pid) => {
                    log.slot.set(pid, now);
                    self.once.clear(&key);
                }
                Err(msg) => self.once.warn(&key, msg),
            }
        }
    }
}
