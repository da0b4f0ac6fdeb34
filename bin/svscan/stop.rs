//! The ordered shutdown on SIGTERM/SIGINT, the same order as `svscan.rc
//! stop`: loggers told to exit when their input ends (`o` + `x`), each
//! service's `shutdown` script, services down and their supervisors out
//! (`d` + `x`), leftover orphans, then svscan closes its copies of the log
//! pipes so every logger reads EOF and drains, and `.svscan/log` last.
//! Every wait has a deadline; past it svscan escalates and says so.

use crate::reach::{control_dir, is_up, loggers, target_dir, target_pid, Target};
use crate::say;
use crate::scan::Scanner;
use crate::spawn::is_executable;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Default for each phase's wait; `DIR/.svscan/timeout-stop` (milliseconds)
/// overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Between escalation steps, and for leftover processes.
const GRACE: Duration = Duration::from_secs(5);
/// How often pending control writes and leftover processes are re-checked.
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Scripts,
    Services,
    Orphans,
    Loggers,
    OwnLog,
    Last,
}

pub struct Stop {
    phase: Phase,
    since: Instant,
    step: usize,
    timeout: Duration,
    scripts: Vec<(Pid, usize)>,
    pub pending: Vec<(Target, &'static [u8])>,
    clean: bool,
    /// Children the leftover-orphans phase leaves alone, fixed when it
    /// starts (see `spared`).
    spared: HashSet<Pid>,
}

pub enum Next {
    Wait(Instant),
    Exit(i32),
}

fn read_timeout() -> Duration {
    let path = Path::new(svkit::svdir::SVSCAN_DIR).join("timeout-stop");
    match std::fs::read_to_string(&path) {
        Ok(t) => match t.trim().parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                say::warn(&format!(
                    "{}: not a number of milliseconds: using {} ms",
                    path.display(),
                    DEFAULT_TIMEOUT.as_millis()
                ));
                DEFAULT_TIMEOUT
            }
        },
        Err(_) => DEFAULT_TIMEOUT,
    }
}

impl Scanner {
    pub fn stopping(&self) -> bool {
        self.stop.is_some()
    }

    pub fn begin_stop(&mut self, why: &str, now: Instant) {
        if self.stop.is_some() {
            say::info(&format!("{why}: already stopping"));
            return;
        }
        let timeout = read_timeout();
        say::info(&format!("{why}: stopping services, loggers last"));
        // A dead logger must run again to drain its pipe.
        for i in 0..self.table.entries.len() {
            if !self.table.entries[i].log_running() {
                self.start_logger(i, now);
            }
        }
        self.stop = Some(Stop {
            phase: Phase::Scripts,
            since: now,
            step: 0,
            timeout,
            scripts: Vec::new(),
            pending: Vec::new(),
            clean: true,
            spared: HashSet::new(),
        });
        for i in 0..self.table.entries.len() {
            if self.table.entries[i].log_running() {
                let up = control_dir(self, Target::Log(i))
                    .map(|d| is_up(&d))
                    .unwrap_or(true);
                self.send(Target::Log(i), if up { b"ox" } else { b"x" });
            }
        }
        if self.own.slot.running() {
            let up = control_dir(self, Target::Own)
                .map(|d| is_up(&d))
                .unwrap_or(true);
            self.send(Target::Own, if up { b"ox" } else { b"x" });
        }
        for i in 0..self.table.entries.len() {
            if !self.table.entries[i].main.running() {
                continue;
            }
            if let Some(pid) = self.run_shutdown(i) {
                if let Some(stop) = self.stop.as_mut() {
                    stop.scripts.push((pid, i));
                }
                continue;
            }
            self.send(Target::Main(i), b"dx");
        }
    }

    /// Starts `NAME/shutdown` when the service is up and has one.
    fn run_shutdown(&self, i: usize) -> Option<Pid> {
        let dir = control_dir(self, Target::Main(i))?;
        let script = dir.join(svkit::svdir::SHUTDOWN);
        if !is_up(&dir) || !is_executable(&script) {
            return None;
        }
        let e = self.table.entries.get(i)?;
        let out = self.own.child_out();
        let fds = e.service_fds(out);
        match self.launcher.script(&dir, fds) {
            Ok(pid) => Some(pid),
            Err(err) => {
                let shown = e.dir().join(svkit::svdir::SHUTDOWN);
                say::warn(&svkit::exit::unable("run", &shown, &err));
                None
            }
        }
    }

    /// A shutdown script finished: now its service goes down.
    pub fn script_exited(&mut self, pid: Pid) {
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        if let Some(k) = stop.scripts.iter().position(|&(p, _)| p == pid) {
            let (_, i) = stop.scripts.swap_remove(k);
            self.send(Target::Main(i), b"dx");
        }
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        let spared = if phase == Phase::Orphans {
            self.spared()
        } else {
            HashSet::new()
        };
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        stop.spared = spared;
        stop.phase = phase;
        stop.since = now;
        stop.step = 0;
        match phase {
            Phase::Orphans => {
                for pid in crate::reap::children() {
                    if !stop.spared.contains(&pid) {
                        let _ = kill(pid, Signal::SIGTERM);
                        let _ = kill(pid, Signal::SIGCONT);
                    }
                }
            }
            Phase::Loggers => {
                for e in &mut self.table.entries {
                    if let Some(l) = e.log.as_mut() {
                        l.pipe = None;
                    }
                }
            }
            Phase::OwnLog => self.own.restore(),
            _ => {}
        }
    }

    /// Moves the shutdown on as far as it can go now; says when to call
    /// again, or the exit code once everything is down.
    pub fn advance(&mut self, now: Instant) -> Next {
        self.retry_pending();
        loop {
            let Some(stop) = self.stop.as_ref() else {
                return Next::Exit(0);
            };
            let (phase, since, step, timeout) = (stop.phase, stop.since, stop.step, stop.timeout);
            let tick = now + TICK;
            match phase {
                Phase::Scripts => {
                    if stop.scripts.is_empty() {
                        self.enter(Phase::Services, now);
                        continue;
                    }
                    if now < since + timeout {
                        return Next::Wait(tick.min(since + timeout));
                    }
                    self.kill_scripts(timeout);
                    self.enter(Phase::Services, now);
                }
                Phase::Services => {
                    let left: Vec<Target> = (0..self.table.entries.len())
                        .filter(|&i| self.table.entries[i].main.running())
                        .map(Target::Main)
                        .collect();
                    let steps: [Duration; 3] = ladder(timeout);
                    if let Some(w) = self.escalate(&left, &steps, b"k", now, "down") {
                        return w;
                    }
                    self.enter(Phase::Orphans, now);
                }
                Phase::Orphans => {
                    let left: Vec<Pid> = crate::reap::children()
                        .into_iter()
                        .filter(|p| !stop.spared.contains(p))
                        .collect();
                    if left.is_empty() || step >= 2 {
                        self.enter(Phase::Loggers, now);
                        continue;
                    }
                    if now < since + GRACE * (step as u32 + 1) {
                        return Next::Wait(tick);
                    }
                    if step == 0 {
                        say::warn(&format!(
                            "{} leftover process(es) ignored TERM for {}s: sending KILL",
                            left.len(),
                            GRACE.as_secs()
                        ));
                        for &p in &left {
                            let _ = kill(p, Signal::SIGKILL);
                        }
                        self.mark_unclean();
                    }
                    self.bump();
                }
                Phase::Loggers => {
                    let left: Vec<Target> = (0..self.table.entries.len())
                        .filter(|&i| self.table.entries[i].log_running())
                        .map(Target::Log)
                        .collect();
                    let steps: [Duration; 4] = ladder(timeout);
                    if let Some(w) = self.escalate(&left, &steps, b"d", now, "drain") {
                        return w;
                    }
                    self.enter(Phase::OwnLog, now);
                }
                Phase::OwnLog => {
                    let left: Vec<Target> = if self.own.slot.running() {
                        vec![Target::Own]
                    } else {
                        vec![]
                    };
                    let steps: [Duration; 4] = ladder(timeout);
                    if let Some(w) = self.escalate(&left, &steps, b"d", now, "drain") {
                        return w;
                    }
                    self.enter(Phase::Last, now);
                }
                Phase::Last => {
                    let left = crate::reap::children();
                    if left.is_empty() || now >= since + GRACE {
                        if !left.is_empty() {
                            say::warn(&format!(
                                "{} process(es) would not die: exiting anyway",
                                left.len()
                            ));
                            self.mark_unclean();
                        }
                        let clean = self.stop.as_ref().map(|s| s.clean).unwrap_or(false);
                        return Next::Exit(if clean { 0 } else { svkit::exit::TEMP });
                    }
                    if step == 0 {
                        for &p in &left {
                            let _ = kill(p, Signal::SIGKILL);
                        }
                        self.bump();
                    }
                    return Next::Wait(tick);
                }
            }
        }
    }

    /// Children the leftover-orphans phase leaves alone: every supervise
    /// svscan started and every logger, however adopted (it must drain
    /// after the services are down).
    fn spared(&self) -> HashSet<Pid> {
        let mut known: HashSet<Pid> = self.table.pids().chain(self.own.slot.pid).collect();
        known.extend(loggers(self));
        known
    }

    fn bump(&mut self) {
        if let Some(s) = self.stop.as_mut() {
            s.step += 1;
        }
    }

    fn mark_unclean(&mut self) {
        if let Some(s) = self.stop.as_mut() {
            s.clean = false;
        }
    }

    fn kill_scripts(&mut self, timeout: Duration) {
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        let scripts = std::mem::take(&mut stop.scripts);
        for (pid, i) in scripts {
            let _ = killpg(pid, Signal::SIGKILL);
            if let Some(e) = self.table.entries.get(i) {
                say::warn(&format!(
                    "{}/shutdown did not finish within {} ms: killed it",
                    e.show(),
                    timeout.as_millis()
                ));
            }
            self.send(Target::Main(i), b"dx");
            self.mark_unclean();
        }
    }

    /// Waits for `left` to be empty. At each of `steps` past the phase's
    /// start: first the control letter `first` (`k` for services, `d` for
    /// loggers, then `k`), then SIGKILL to the supervise itself, then give
    /// up. None when the phase is over.
    fn escalate(
        &mut self,
        left: &[Target],
        steps: &[Duration],
        first: &'static [u8],
        now: Instant,
        verb: &str,
    ) -> Option<Next> {
        let stop = self.stop.as_ref()?;
        if left.is_empty() || stop.step >= steps.len() {
            return None;
        }
        let (since, step) = (stop.since, stop.step);
        let due = since + steps[step];
        if now < due {
            return Some(Next::Wait(due.min(now + TICK)));
        }
        let last = steps.len() - 1;
        for &t in left {
            let name = target_dir(&self.table, t)
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let secs = steps[step].as_secs_f64();
            if step == last {
                say::warn(&format!(
                    "{name} still running after {secs:.1}s: giving up on it"
                ));
                continue;
            }
            let letters: &'static [u8] = if step == 0 {
                first
            } else if step + 2 < steps.len() {
                b"k"
            } else {
                b""
            };
            if letters.is_empty() {
                if let Some(pid) = target_pid(self, t) {
                    say::warn(&format!(
                        "{name} did not {verb} within {secs:.1}s: killing its supervise (pid {pid})"
                    ));
                    let _ = kill(pid, Signal::SIGKILL);
                }
            } else {
                let how = if letters == b"k" { "KILL" } else { "TERM" };
                say::warn(&format!(
                    "{name} did not {verb} within {secs:.1}s: sending {how} (svc -{})",
                    letters[0] as char
                ));
                self.send(t, letters);
            }
        }
        self.mark_unclean();
        self.bump();
        Some(Next::Wait(now))
    }
}

/// Escalation deadlines after a phase starts: `timeout`, then one `GRACE`
/// more for each further step.
fn ladder<const N: usize>(timeout: Duration) -> [Duration; N] {
    std::array::from_fn(|i| timeout + GRACE * i as u32)
}
