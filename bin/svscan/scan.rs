//! The scan: read the directory, start a supervise (and a logging one)
//! for every new service, restart the ones that died, forget the ones
//! that are gone and whose supervisors have exited.

use crate::handover::Handover;
use crate::limit::Cap;
use crate::own::OwnLog;
use crate::say::{self, Once};
use crate::spawn::{log_pipe, Fds, Launcher};
use crate::stop::Stop;
use crate::table::{Pipe, Table, Which};
use crate::tick::Stamp;
use nix::sys::stat::{stat, SFlag};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;
use svkit::errstr::errno_text;

pub struct Scanner {
    pub table: Table,
    pub own: OwnLog,
    pub launcher: Launcher,
    pub once: Once,
    pub stop: Option<Stop>,
    pub cap: Cap,
    /// Supervisors being replaced after an in-place upgrade.
    pub handover: Option<Handover>,
    /// Where the next name's entry probably is (names come sorted, and
    /// entries were added in that order): keeps a scan linear.
    cursor: usize,
    /// DIR's identity and times at the last full scan (None: not to be
    /// trusted, scan fully next time).
    pub stamp: Option<Stamp>,
    pub last_full: Option<Instant>,
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

fn is_dir(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

/// `DIR/run` must exist before svscan starts a supervise on DIR, so a
/// directory still being set up is not started half-made.
fn check_run(dir: &Path) -> Result<(), String> {
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

fn log_key(name: &OsStr) -> OsString {
    let mut k = name.to_owned();
    k.push("/log");
    k
}

impl Scanner {
    pub fn new(launcher: Launcher, cap: Cap) -> Scanner {
        Scanner {
            table: Table {
                cap: cap.max(),
                ..Table::default()
            },
            cap,
            handover: None,
            own: OwnLog::new(),
            launcher,
            once: Once::default(),
            stop: None,
            cursor: 0,
            stamp: None,
            last_full: None,
        }
    }

    pub fn scan(&mut self, now: Instant) {
        let names = match read_names() {
            Ok(n) => {
                self.once.clear(OsStr::new("."));
                n
            }
            Err(e) => {
                let msg = format!("unable to read directory: {}", svkit::errstr::text(&e));
                self.once.warn(OsStr::new("."), msg);
                return;
            }
        };
        self.start_own(now);
        for e in &mut self.table.entries {
            e.active = false;
        }
        self.cursor = 0;
        for name in &names {
            self.consider(name, now);
        }
        if !self.once.is_empty() {
            let mut keys: HashSet<OsString> = names.iter().map(|n| log_key(n)).collect();
            keys.extend(names.iter().cloned());
            keys.insert(".".into());
            keys.insert(svkit::svdir::SVSCAN_LOG.into());
            self.once.retain(|k| keys.contains(k));
        }
        for e in &mut self.table.entries {
            if !e.active && !e.gone_noted {
                e.gone_noted = true;
                say::warn(&format!(
                    "{} is gone from the scan directory: its supervise keeps running until told to exit (svc -dx)",
                    e.show()
                ));
            }
        }
        for name in self.table.forget_finished() {
            say::info(&format!(
                "forgot {}: directory gone and its supervise exited",
                name.to_string_lossy()
            ));
        }
    }

    /// `.svscan/log` (the logging patch): set up when it appears, restarted
    /// like any supervise.
    pub fn start_own(&mut self, now: Instant) {
        if self.stop.is_some() || self.own.slot.running() {
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

    fn consider(&mut self, name: &OsStr, now: Instant) {
        let shown = name.to_string_lossy();
        let st = match stat(name) {
            Ok(st) => st,
            Err(e) => {
                let msg = format!("unable to stat {shown}: {}", errno_text(e as i32));
                self.once.warn(name, msg);
                return;
            }
        };
        if !is_dir(st.st_mode) {
            self.once.clear(name);
            return;
        }
        let (dev, ino) = (st.st_dev, st.st_ino);
        let i = match self.table.find_from(dev, ino, self.cursor) {
            Some(i) => i,
            None => match self.add(name, dev, ino) {
                Some(i) => i,
                None => return,
            },
        };
        self.cursor = i + 1;
        let e = &mut self.table.entries[i];
        e.active = true;
        e.gone_noted = false;
        if e.name != name {
            e.name = name.to_owned();
        }
        self.start_missing(i, now);
    }

    fn add(&mut self, name: &OsStr, dev: u64, ino: u64) -> Option<usize> {
        let shown = name.to_string_lossy();
        if self.table.full() {
            let msg = format!(
                "unable to start {shown}: running too many services (limit {}, {})",
                self.cap.max(),
                self.cap.why()
            );
            self.once.warn(name, msg);
            return None;
        }
        let has_log = match stat(&Path::new(name).join(svkit::svdir::LOG)) {
            Ok(st) => is_dir(st.st_mode),
            Err(nix::errno::Errno::ENOENT) => false,
            Err(e) => {
                let msg = format!("unable to stat {shown}/log: {}", errno_text(e as i32));
                self.once.warn(name, msg);
                return None;
            }
        };
        let pipe = if has_log {
            match log_pipe() {
                Ok((read, write)) => Some(Pipe { read, write }),
                Err(e) => {
                    let msg = format!(
                        "unable to create pipe for {shown}: {}",
                        svkit::errstr::text(&e)
                    );
                    self.once.warn(name, msg);
                    return None;
                }
            }
        } else {
            None
        };
        Some(self.table.add(dev, ino, name, pipe))
    }

    /// Starts whichever of entry `i`'s supervisors is not running.
    pub fn start_missing(&mut self, i: usize, now: Instant) {
        if self.stop.is_none() {
            self.start_sides(i, now, true);
        }
    }

    /// Starts entry `i`'s logger if it is not running (also during a
    /// shutdown: its pipe must drain).
    pub fn start_logger(&mut self, i: usize, now: Instant) {
        self.start_sides(i, now, false);
    }

    fn start_sides(&mut self, i: usize, now: Instant, main_too: bool) {
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

    /// A child exited: clear its slot; restart a supervise that had run
    /// for a while at once (a quick death waits for the next scan).
    pub fn on_exit(&mut self, pid: Pid, now: Instant) {
        if let Some(long) = self.own.exited(pid, now) {
            if long {
                self.start_own(now);
            }
            self.handed_over(pid, now);
            return;
        }
        if let Some((i, which)) = self.table.by_pid(pid) {
            let e = &mut self.table.entries[i];
            let long = match which {
                Which::Main => e.main.exited(pid, now),
                Which::Log => e.log.as_mut().and_then(|l| l.slot.exited(pid, now)),
            };
            if long == Some(true) {
                self.start_missing(i, now);
            }
            self.handed_over(pid, now);
            return;
        }
        self.script_exited(pid);
    }

    /// The scanner an upgrade handed over: its table, pipes and own
    /// logger, every supervise counted as long-lived (restarted at once).
    pub fn resumed(launcher: Launcher, st: &crate::state::State, now: Instant) -> Scanner {
        use crate::upgrade::adopt;
        let started = now.checked_sub(crate::table::QUICK_DEATH);
        let mut sv = Scanner::new(launcher, st.cap);
        for e in &st.entries {
            let pipe = e.pipe.map(|(r, w)| Pipe {
                read: adopt(r),
                write: adopt(w),
            });
            let i = sv.table.add(e.dev, e.ino, &e.name, pipe);
            let entry = &mut sv.table.entries[i];
            entry.active = e.active;
            entry.main.pid = e.main.map(Pid::from_raw);
            entry.main.started = started;
            if let Some(l) = entry.log.as_mut() {
                l.slot.pid = e.log.map(Pid::from_raw);
                l.slot.started = started;
            }
        }
        sv.own = OwnLog::resumed(&st.own, started);
        sv
    }
}

/// Names in the scan directory not starting with `.`, sorted so services
/// start in a predictable order.
fn read_names() -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for ent in std::fs::read_dir(".")? {
        let name = ent?.file_name();
        if name.as_bytes().first() != Some(&b'.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
