//! The ordered shutdown on SIGTERM/SIGINT (svscan.rc stop signals svscan
//! for it): loggers told to exit when their input ends (`o` + `x`), each
//! service's `shutdown` script, services down and their supervisors out
//! (`d` + `x`), leftover orphans, then svscan closes its copies of the log
//! pipes so every logger reads EOF and drains, and `.svscan/log` last.
//! Every wait has a deadline; past it svscan escalates and says so. A
//! `Stop` works on the tree it is given; it never starts a service.

use crate::reach::{self, control_dir, is_up, loggers, target_dir, target_pid, Target};
use crate::say;
use crate::spawn::is_executable;
use crate::tree::Tree;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use svkit::duration::{deadline, parse_file_millis, FileMillis};

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
    /// Control letters a supervise could not take yet.
    pending: Vec<(Target, &'static [u8])>,
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
    let path = Path::new(svkit::svdir::SVSCAN_TIMEOUT_STOP);
    let Ok(text) = std::fs::read_to_string(path) else {
        return DEFAULT_TIMEOUT;
    };
    match parse_file_millis(&text) {
        FileMillis::Ok(d) => d,
        FileMillis::Clamped(d) => {
            say::warn(&format!(
                "{}: too long: using {} ms",
                path.display(),
                d.as_millis()
            ));
            d
        }
        FileMillis::Invalid => {
            say::warn(&format!(
                "{}: not a number of milliseconds: using {} ms",
                path.display(),
                DEFAULT_TIMEOUT.as_millis()
            ));
            DEFAULT_TIMEOUT
        }
    }
}

/// Escalation deadlines after a phase starts: `timeout`, then one `GRACE`
/// more for each further step (saturating: a clamped timeout is huge).
fn ladder<const N: usize>(timeout: Duration) -> [Duration; N] {
    std::array::from_fn(|i| timeout.saturating_add(GRACE * i as u32))
}

/// Starts `NAME/shutdown` when the service is up and has one.
fn run_shutdown(t: &Tree, i: usize) -> Option<Pid> {
    let dir = control_dir(t, Target::Main(i))?;
    let script = dir.join(svkit::svdir::SHUTDOWN);
    if !is_up(&dir) || !is_executable(&script) {
        return None;
    }
    let e = t.table.entries.get(i)?;
    let fds = e.service_fds(t.own.child_out());
    match t.launcher.script(&dir, fds) {
        Ok(pid) => Some(pid),
        Err(err) => {
            let shown = e.dir().join(svkit::svdir::SHUTDOWN);
            say::warn(&svkit::exit::unable("run", &shown, &err));
            None
        }
    }
}

/// Children the leftover-orphans phase leaves alone: every supervise
/// svscan started and every logger, however adopted (it must drain after
/// the services are down).
fn spared(t: &Tree) -> HashSet<Pid> {
    let mut known: HashSet<Pid> = t.table.pids().chain(t.own.slot.pid).collect();
    known.extend(loggers(t));
    known
}

impl Stop {
    /// Starts the shutdown: dead loggers started again (their pipes must
    /// drain), loggers told `ox`, shutdown scripts started, the other
    /// services told `dx`.
    pub fn begin(t: &mut Tree, why: &str, now: Instant) -> Stop {
        let timeout = read_timeout();
        say::info(&format!("{why}: stopping services, loggers last"));
        for i in 0..t.table.entries.len() {
            if !t.table.entries[i].log_running() {
                t.start_logger(i, now);
            }
        }
        let mut stop = Stop {
            phase: Phase::Scripts,
            since: now,
            step: 0,
            timeout,
            scripts: Vec::new(),
            pending: Vec::new(),
            clean: true,
            spared: HashSet::new(),
        };
        let logs = (0..t.table.entries.len())
            .filter(|&i| t.table.entries[i].log_running())
            .map(Target::Log)
            .chain(t.own.slot.running().then_some(Target::Own))
            .collect::<Vec<_>>();
        for x in logs {
            let up = control_dir(t, x).map(|d| is_up(&d)).unwrap_or(true);
            stop.send(t, x, if up { b"ox" } else { b"x" });
        }
        for i in 0..t.table.entries.len() {
            if !t.table.entries[i].main.running() {
                continue;
            }
            match run_shutdown(t, i) {
                Some(pid) => stop.scripts.push((pid, i)),
                None => stop.send(t, Target::Main(i), b"dx"),
            }
        }
        stop
    }

    fn send(&mut self, t: &Tree, x: Target, what: &'static [u8]) {
        if !reach::send(t, x, what) {
            self.pending.push((x, what));
        }
    }

    fn retry_pending(&mut self, t: &Tree) {
        for (x, what) in std::mem::take(&mut self.pending) {
            if reach::running(t, x) == Some(true) {
                self.send(t, x, what);
            }
        }
    }

    /// A child was reaped: if it was a shutdown script, its service now
    /// goes down.
    pub fn script_exited(&mut self, t: &Tree, pid: Pid) {
        if let Some(k) = self.scripts.iter().position(|&(p, _)| p == pid) {
            let (_, i) = self.scripts.swap_remove(k);
            self.send(t, Target::Main(i), b"dx");
        }
    }

    fn enter(&mut self, t: &mut Tree, phase: Phase, now: Instant) {
        self.phase = phase;
        self.since = now;
        self.step = 0;
        match phase {
            Phase::Orphans => {
                self.spared = spared(t);
                for pid in crate::reap::children() {
                    // Unreaped children of ours: no pid here is recycled.
                    if !self.spared.contains(&pid) {
                        let _ = kill(pid, Signal::SIGTERM);
                        let _ = kill(pid, Signal::SIGCONT);
                    }
                }
            }
            Phase::Loggers => {
                for e in &mut t.table.entries {
                    if let Some(l) = e.log.as_mut() {
                        l.pipe = None;
                    }
                }
            }
            Phase::OwnLog => t.own.restore(),
            _ => {}
        }
    }

    /// Moves the shutdown on as far as it can go now; says when to call
    /// again, or the exit code once everything is down.
    pub fn advance(&mut self, t: &mut Tree, now: Instant) -> Next {
        self.retry_pending(t);
        loop {
            let (since, step, timeout) = (self.since, self.step, self.timeout);
            let tick = now + TICK;
            match self.phase {
                Phase::Scripts => {
                    if self.scripts.is_empty() {
                        self.enter(t, Phase::Services, now);
                        continue;
                    }
                    let end = deadline(since, timeout);
                    if now < end {
                        return Next::Wait(tick.min(end));
                    }
                    self.kill_scripts(t);
                    self.enter(t, Phase::Services, now);
                }
                Phase::Services => {
                    let left: Vec<Target> = (0..t.table.entries.len())
                        .filter(|&i| t.table.entries[i].main.running())
                        .map(Target::Main)
                        .collect();
                    let steps: [Duration; 3] = ladder(timeout);
                    if let Some(w) = self.escalate(t, &left, &steps, b"k", now, "down") {
                        return w;
                    }
                    self.enter(t, Phase::Orphans, now);
                }
                Phase::Orphans => {
                    let left: Vec<Pid> = crate::reap::children()
                        .into_iter()
                        .filter(|p| !self.spared.contains(p))
                        .collect();
                    if left.is_empty() || step >= 2 {
                        self.enter(t, Phase::Loggers, now);
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
                        self.clean = false;
                    }
                    self.step += 1;
                }
                Phase::Loggers => {
                    let left: Vec<Target> = (0..t.table.entries.len())
                        .filter(|&i| t.table.entries[i].log_running())
                        .map(Target::Log)
                        .collect();
                    let steps: [Duration; 4] = ladder(timeout);
                    if let Some(w) = self.escalate(t, &left, &steps, b"d", now, "drain") {
                        return w;
                    }
                    self.enter(t, Phase::OwnLog, now);
                }
                Phase::OwnLog => {
                    let left: Vec<Target> = t
                        .own
                        .slot
                        .running()
                        .then_some(Target::Own)
                        .into_iter()
                        .collect();
                    let steps: [Duration; 4] = ladder(timeout);
                    if let Some(w) = self.escalate(t, &left, &steps, b"d", now, "drain") {
                        return w;
                    }
                    self.enter(t, Phase::Last, now);
                }
                Phase::Last => {
                    let left = crate::reap::children();
                    if left.is_empty() || now >= since + GRACE {
                        if !left.is_empty() {
                            say::warn(&format!(
                                "{} process(es) would not die: exiting anyway",
                                left.len()
                            ));
                            self.clean = false;
                        }
                        return Next::Exit(if self.clean { 0 } else { svkit::exit::TEMP });
                    }
                    if step == 0 {
                        for &p in &left {
                            let _ = kill(p, Signal::SIGKILL);
                        }
                        self.step += 1;
                    }
                    return Next::Wait(tick);
                }
            }
        }
    }

    fn kill_scripts(&mut self, t: &Tree) {
        for (pid, i) in std::mem::take(&mut self.scripts) {
            // Not reaped yet (script_exited drops reaped ones): the group
            // id cannot have been recycled.
            let _ = killpg(pid, Signal::SIGKILL);
            if let Some(e) = t.table.entries.get(i) {
                say::warn(&format!(
                    "{}/shutdown did not finish within {} ms: killed it",
                    e.show(),
                    self.timeout.as_millis()
                ));
            }
            self.send(t, Target::Main(i), b"dx");
            self.clean = false;
        }
    }

    /// Waits for `left` to be empty. At each of `steps` past the phase's
    /// start: first the control letter `first` (`k` for services, `d` for
    /// loggers, then `k`), then SIGKILL to the supervise itself, then give
    /// up. None when the phase is over.
    fn escalate(
        &mut self,
        t: &Tree,
        left: &[Target],
        steps: &[Duration],
        first: &'static [u8],
        now: Instant,
        verb: &str,
    ) -> Option<Next> {
        if left.is_empty() || self.step >= steps.len() {
            return None;
        }
        let step = self.step;
        let due = deadline(self.since, steps[step]);
        if now < due {
            return Some(Next::Wait(due.min(now + TICK)));
        }
        let last = steps.len() - 1;
        for &x in left {
            let name = target_dir(&t.table, x)
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
                if let Some(pid) = target_pid(t, x) {
                    say::warn(&format!(
                        "{name} did not {verb} within {secs:.1}s: killing its supervise (pid {pid})"
                    ));
                    // Our unreaped child (the slot empties when reaped).
                    let _ = kill(pid, Signal::SIGKILL);
                }
            } else {
                let how = if letters == b"k" { "KILL" } else { "TERM" };
                say::warn(&format!(
                    "{name} did not {verb} within {secs:.1}s: sending {how} (svc -{})",
                    letters[0] as char
                ));
                self.send(t, x, letters);
            }
        }
        self.clean = false;
        self.step += 1;
        Some(Next::Wait(now))
    }
}
