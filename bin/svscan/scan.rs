//! The scan: read the directory, start a supervise (and a logging one)
//! for every new service, restart the ones that died, forget the ones
//! that are gone and whose supervisors have exited.

use crate::handover::Handover;
use crate::limit::Cap;
use crate::own::OwnLog;
use crate::say::{self, Once};
use crate::spawn::{log_pipe, Launcher};
use crate::stop::{Next, Stop};
use crate::table::{Pipe, Table, Which};
use crate::tick::{self, Due, Stamp};
use crate::tree::{is_dir, log_key, Tree};
use nix::sys::stat::stat;
use nix::unistd::Pid;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};
use svkit::errstr::errno_text;

pub struct Scanner {
    pub tree: Tree,
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
    /// Something waits that a scan may fix (see `work_waiting`): set after
    /// each full scan and whenever a supervise exits.
    waiting: bool,
    /// The entries that were symlinks at the last full scan, with what
    /// they led to: all that can change while DIR does not.
    links: Vec<(OsString, Option<(u64, u64)>)>,
}

impl Scanner {
    pub fn new(launcher: Launcher, cap: Cap) -> Scanner {
        Scanner {
            tree: Tree {
                table: Table {
                    cap: cap.max(),
                    ..Table::default()
                },
                own: OwnLog::new(),
                launcher,
                once: Once::default(),
            },
            cap,
            handover: None,
            stop: None,
            cursor: 0,
            stamp: None,
            last_full: None,
            waiting: true,
            links: Vec::new(),
        }
    }

    pub fn scan(&mut self, now: Instant) {
        let names = match read_names() {
            Ok((n, links)) => {
                self.links = links
                    .into_iter()
                    .map(|l| {
                        let id = stat(l.as_os_str()).ok().map(|st| (st.st_dev, st.st_ino));
                        (l, id)
                    })
                    .collect();
                self.tree.once.clear(OsStr::new("."));
                n
            }
            Err(e) => {
                let msg = format!("unable to read directory: {}", svkit::errstr::text(&e));
                self.tree.once.warn(OsStr::new("."), msg);
                return;
            }
        };
        self.start_own(now);
        for e in &mut self.tree.table.entries {
            e.active = false;
        }
        self.cursor = 0;
        for name in &names {
            self.consider(name, now);
        }
        if !self.tree.once.is_empty() {
            let mut keys: HashSet<OsString> = names.iter().map(|n| log_key(n)).collect();
            keys.extend(names.iter().cloned());
            keys.insert(".".into());
            keys.insert(svkit::svdir::SVSCAN_LOG.into());
            self.tree.once.retain(|k| keys.contains(k));
        }
        for e in &mut self.tree.table.entries {
            if !e.active && !e.gone_noted {
                e.gone_noted = true;
                say::warn(&format!(
                    "{} is gone from the scan directory: its supervise keeps running until told to exit (svc -dx)",
                    e.show()
                ));
            }
        }
        for name in self.tree.table.forget_finished() {
            say::info(&format!(
                "forgot {}: directory gone and its supervise exited",
                name.to_string_lossy()
            ));
        }
    }

    /// `.svscan/log` (the logging patch): set up when it appears, restarted
    /// like any supervise; not during a shutdown.
    pub fn start_own(&mut self, now: Instant) {
        if self.stop.is_none() {
            self.tree.start_own(now);
        }
    }

    fn consider(&mut self, name: &OsStr, now: Instant) {
        let shown = name.to_string_lossy();
        let st = match stat(name) {
            Ok(st) => st,
            Err(e) => {
                let msg = format!("unable to stat {shown}: {}", errno_text(e as i32));
                self.tree.once.warn(name, msg);
                return;
            }
        };
        if !is_dir(st.st_mode) {
            self.tree.once.clear(name);
            return;
        }
        let (dev, ino) = (st.st_dev, st.st_ino);
        let i = match self.tree.table.find_from(dev, ino, self.cursor) {
            Some(i) => i,
            None => match self.add(name, dev, ino) {
                Some(i) => i,
                None => return,
            },
        };
        self.cursor = i + 1;
        let e = &mut self.tree.table.entries[i];
        e.active = true;
        e.gone_noted = false;
        if e.name != name {
            e.name = name.to_owned();
        }
        self.start_missing(i, now);
    }

    fn add(&mut self, name: &OsStr, dev: u64, ino: u64) -> Option<usize> {
        let shown = name.to_string_lossy();
        if self.tree.table.full() {
            let msg = format!(
                "unable to start {shown}: running too many services (limit {}, {})",
                self.cap.max(),
                self.cap.why()
            );
            self.tree.once.warn(name, msg);
            return None;
        }
        let has_log = match stat(&Path::new(name).join(svkit::svdir::LOG)) {
            Ok(st) => is_dir(st.st_mode),
            Err(nix::errno::Errno::ENOENT) => false,
            Err(e) => {
                let msg = format!("unable to stat {shown}/log: {}", errno_text(e as i32));
                self.tree.once.warn(name, msg);
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
                    self.tree.once.warn(name, msg);
                    return None;
                }
            }
        } else {
            None
        };
        Some(self.tree.table.add(dev, ino, name, pipe))
    }

    /// Starts whichever of entry `i`'s supervisors is not running.
    pub fn start_missing(&mut self, i: usize, now: Instant) {
        if self.stop.is_none() {
            self.tree.start_sides(i, now, true);
        }
    }

    /// The periodic scan, as `tick::due` decides: nothing while DIR is
    /// unchanged and nothing waits (one stat of DIR), the symlinked
    /// entries and `.svscan/log` once in a while, else a full scan.
    pub fn tick(&mut self, now: Instant, forced: bool) {
        let stamp = tick::dir_stamp();
        let due = tick::due(now, forced, stamp, self.stamp, self.last_full, self.waiting);
        match due {
            Due::No => return,
            Due::Links => {
                self.last_full = Some(now);
                if !self.links_changed() {
                    self.start_own(now);
                    return;
                }
            }
            Due::Full => self.last_full = Some(now),
        }
        self.stamp = stamp;
        self.scan(now);
        self.waiting = self.work_waiting();
    }

    /// Whether something waits that a scan may fix.
    pub fn waiting(&self) -> bool {
        self.waiting
    }

    /// When the next periodic tick is due: in `rescan` while something
    /// waits, DIR changed too recently to trust its times, or DIR is not
    /// watched; else only when the links check is due (an idle, watched
    /// scanner sleeps).
    pub fn next_tick(&self, now: Instant, rescan: Duration, watched: bool) -> Instant {
        match self.last_full {
            Some(full) if watched && !self.waiting && self.stamp.is_some() => {
                full + tick::FULL_SCAN_EVERY
            }
            _ => now + rescan,
        }
    }

    /// True when a symlinked entry now leads elsewhere (or nowhere).
    fn links_changed(&self) -> bool {
        self.links
            .iter()
            .any(|(name, id)| stat(name.as_os_str()).ok().map(|st| (st.st_dev, st.st_ino)) != *id)
    }

    /// Something a scan may change without DIR changing: a problem
    /// reported (e.g. `run` missing), a supervise waiting to be restarted,
    /// an entry gone from DIR waiting to be forgotten.
    fn work_waiting(&self) -> bool {
        let t = &self.tree;
        !t.once.is_empty()
            || (t.own.configured() && !t.own.slot.running())
            || t.table.entries.iter().any(|e| {
                !e.active
                    || !e.main.running()
                    || e.log.as_ref().map(|l| !l.slot.running()).unwrap_or(false)
            })
    }

    /// A child exited: clear its slot; restart a supervise that had run
    /// for a while at once (a quick death waits for the next scan).
    pub fn on_exit(&mut self, pid: Pid, now: Instant) {
        if let Some(long) = self.tree.own.exited(pid, now) {
            self.waiting = true;
            if long {
                self.start_own(now);
            }
            self.handed_over(pid, now);
            return;
        }
        if let Some((i, which)) = self.tree.table.by_pid(pid) {
            self.waiting = true;
            let e = &mut self.tree.table.entries[i];
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
        if let Some(stop) = self.stop.as_mut() {
            stop.script_exited(&self.tree, pid);
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.is_some()
    }

    /// SIGTERM/SIGINT: the ordered shutdown (see `stop`); an unfinished
    /// upgrade handover ends here.
    pub fn begin_stop(&mut self, why: &str, now: Instant) {
        if self.stop.is_some() {
            say::info(&format!("{why}: already stopping"));
            return;
        }
        if self.handover.take().is_some_and(|h| h.unfinished()) {
            say::warn("stopping during an upgrade: not every supervise was replaced");
        }
        self.stop = Some(Stop::begin(&mut self.tree, why, now));
    }

    /// Moves a shutdown on (see `Stop::advance`).
    pub fn advance(&mut self, now: Instant) -> Next {
        match self.stop.as_mut() {
            Some(stop) => stop.advance(&mut self.tree, now),
            None => Next::Exit(0),
        }
    }

    /// After an upgrade's exec: replace every supervise (see `handover`).
    pub fn begin_handover(&mut self) {
        self.handover = Some(Handover::new(&self.tree));
    }

    /// Moves the handover on; when to look again.
    pub fn advance_handover(&mut self, now: Instant) -> Option<Instant> {
        let next = self.handover.as_mut()?.advance(&self.tree, now);
        if next.is_none() {
            self.handover = None;
        }
        next
    }

    fn handed_over(&mut self, old: Pid, now: Instant) {
        if let Some(h) = self.handover.as_mut() {
            h.handed_over(&self.tree, old, now);
        }
    }

    /// SIGUSR2 (see `upgrade`); returns only when this svscan stays.
    pub fn upgrade(&mut self, lock: Option<std::os::fd::RawFd>) {
        let busy = self.stop.is_some() || self.handover.is_some();
        crate::upgrade::upgrade(&self.tree, self.cap, lock, busy);
    }

    /// The scanner an upgrade handed over: its table, pipes and own
    /// logger, every supervise counted as long-lived (restarted at once).
    pub fn resumed(launcher: Launcher, st: &crate::state::State, now: Instant) -> Scanner {
        use crate::state::adopt;
        let started = now.checked_sub(crate::table::QUICK_DEATH);
        let mut sv = Scanner::new(launcher, st.cap);
        for e in &st.entries {
            let pipe = e.pipe.map(|(r, w)| Pipe {
                read: adopt(r),
                write: adopt(w),
            });
            let i = sv.tree.table.add(e.dev, e.ino, &e.name, pipe);
            let entry = &mut sv.tree.table.entries[i];
            entry.active = e.active;
            entry.main.pid = e.main.map(Pid::from_raw);
            entry.main.started = started;
            if let Some(l) = entry.log.as_mut() {
                l.slot.pid = e.log.map(Pid::from_raw);
                l.slot.started = started;
            }
        }
        sv.tree.own = OwnLog::resumed(&st.own, started);
        sv
    }
}

/// Names in the scan directory not starting with `.`, sorted so services
/// start in a predictable order; and which of them are symlinks.
fn read_names() -> std::io::Result<(Vec<OsString>, Vec<OsString>)> {
    let mut names = Vec::new();
    let mut links = Vec::new();
    for ent in std::fs::read_dir(".")? {
        let ent = ent?;
        let name = ent.file_name();
        if name.as_bytes().first() != Some(&b'.') {
            if ent.file_type().is_ok_and(|t| t.is_symlink()) {
                links.push(name.clone());
            }
            names.push(name);
        }
    }
    names.sort();
    Ok((names, links))
}
