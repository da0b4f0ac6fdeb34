//! supervise's decisions, pure: [`Machine::on`] takes an event and returns
//! the actions to perform; it does no I/O and reads no clock (the time
//! comes with the event). `state.rs` performs the actions (fork, signal,
//! write records) and feeds back what came of them.
//!
//! What makes the two promises hold by construction:
//! - a process is signalled only while the machine holds it (`run`,
//!   `finish`, or a held leader), and the machine lets go of it only when
//!   told it is reaped or gone, dropping its deadlines with it;
//! - `SpawnRun` is returned only when neither `run` nor `finish` is held.

use nix::sys::signal::Signal;
use std::time::{Duration, Instant};
use svkit::control::Command;
use svkit::procsig::ProcSig;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{self, Death, XStatus};

/// The restart floor: at most one start of `run` per second.
pub const FLOOR: Duration = Duration::from_secs(1);

/// The service-directory files a transition may need, read by the caller
/// before the event (never in the middle of a transition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub down_signal: Signal,
    pub timeout_kill: Option<Duration>,
    pub timeout_finish: Option<Duration>,
    /// The opt-in `backoff` file.
    pub backoff: Option<crate::config::Backoff>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            down_signal: Signal::SIGTERM,
            timeout_kill: None,
            timeout_finish: Some(Duration::from_millis(crate::config::FINISH_DEFAULT_MS)),
            backoff: None,
        }
    }
}

/// `finish`'s exit code for "permanent failure: do not restart" (s6).
pub const PERMANENT_FAILURE: i32 = 125;

/// `wall + d`, saturating.
fn tai_plus(wall: Tai64n, d: Duration) -> Tai64n {
    let mut secs = wall.secs.saturating_add(d.as_secs());
    let mut nanos = wall.nanos.min(999_999_999) + d.subsec_nanos();
    if nanos >= 1_000_000_000 {
        nanos -= 1_000_000_000;
        secs = secs.saturating_add(1);
    }
    Tai64n { secs, nanos }
}

/// Which process an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    Run,
    Finish,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Control(u8),
    /// Time passed: due deadlines fire, a due start happens.
    Tick,
    /// `run` was forked (and is not running its program yet).
    RunForked(ProcSig),
    /// `run` could not be forked or exec'ed: it never ran.
    RunFailed,
    /// `run` is dead (wait status, or UNKNOWN for an adopted one); for our
    /// own child, whether other members of its group still run (asked
    /// only when [`Machine::kill_armed`]).
    RunExited {
        wstatus: i32,
        group_alive: bool,
    },
    FinishForked(ProcSig),
    /// `finish` is reaped (its exit code when known), gone, or never ran.
    FinishExited(Option<i32>),
    /// The readiness newline arrived.
    Ready,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fork `run` (gated), feed back `RunForked` or `RunFailed`.
    SpawnRun,
    /// Fork `finish CODE SIGNAL` if there is one; feed back
    /// `FinishForked`, or `FinishExited(None)` when none ran.
    SpawnFinish {
        wstatus: i32,
    },
    /// A signal to `run` alone, through its pidfd.
    Signal(Signal),
    /// SIGKILL to the process group of `run` or `finish` (still held).
    KillGroup(Proc),
    /// Reap the dead `run` now.
    Reap(u32),
    /// Keep the dead `run` (pid) unreaped until its group's deadline.
    Hold(u32),
    /// SIGKILL the group of a held leader, then reap it.
    KillHeld(u32),
    Warn(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub sig: ProcSig,
    /// Inherited from a killed supervise (not our child).
    pub adopted: bool,
    /// After `d` with `timeout-kill`: when its group gets SIGKILL.
    pub kill_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub sig: ProcSig,
    pub adopted: bool,
    pub kill_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub pid: u32,
    pub kill_at: Instant,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub label: String,
    pub want: Want,
    pub paused: bool,
    pub exiting: bool,
    /// A start is due (after `u`, `o`, or a death while wanted up).
    pub pending: bool,
    pub run: Option<Run>,
    pub finish: Option<Finish>,
    pub held: Vec<Held>,
    pub last_start: Option<Instant>,
    /// When supervise started: the first start is due at once.
    pub born: Instant,
    pub x: XStatus,
    /// `changed` before a start that then failed.
    changed_before: Tai64n,
    /// `finish` exited 125: down until `u` (or `o`).
    pub failed: bool,
    /// The backoff: the current delay, and the earliest next start.
    pub delay: Option<Duration>,
    pub backoff_until: Option<Instant>,
    backoff_until_wall: Tai64n,
    garbage_warned: bool,
}

impl Machine {
    pub fn new(label: String, want: Want, me: ProcSig, now: Instant, wall: Tai64n) -> Machine {
        let mut x = XStatus::new(me);
        x.changed = wall;
        x.set(xstatus::FLAG_NORMALLY_UP, want == Want::Up);
        Machine {
            label,
            want,
            paused: false,
            exiting: false,
            pending: want == Want::Up,
            run: None,
            finish: None,
            held: Vec::new(),
            last_start: None,
            born: now,
            x,
            changed_before: Tai64n::ZERO,
            failed: false,
            delay: None,
            backoff_until: None,
            backoff_until_wall: Tai64n::ZERO,
            garbage_warned: false,
        }
    }

    /// Does `ev` need the service-directory snapshot?
    pub fn wants_snapshot(&self, ev: &Event) -> bool {
        match ev {
            Event::Control(b'd') => self.run.is_some(),
            Event::FinishForked(_) | Event::RunExited { .. } => true,
            _ => false,
        }
    }

    /// True when `run`'s exit must be checked for live group members (a
    /// kill deadline is armed for our own child).
    pub fn kill_armed(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| !r.adopted && r.kill_at.is_some())
    }

    /// The two records as they should read now.
    pub fn records(&mut self) -> (Status, XStatus) {
        let pid = self.run.as_ref().map_or(0, |r| r.sig.pid);
        self.x.want = self.want;
        self.x.child = self.run.as_ref().map_or(ProcSig::default(), |r| r.sig);
        self.x.set(xstatus::FLAG_PAUSED, pid != 0 && self.paused);
        self.x.set(xstatus::FLAG_FINISHING, self.finish.is_some());
        self.x.finish = self.finish.as_ref().map_or(ProcSig::default(), |f| f.sig);
        self.x.set(xstatus::FLAG_EXITING, self.exiting);
        self.x.set(xstatus::FLAG_FAILED, self.failed);
        let backing_off = self.backoff_until.is_some() && self.pending;
        self.x.set(xstatus::FLAG_BACKOFF, backing_off);
        self.x.next_start = if backing_off {
            self.backoff_until_wall
        } else {
            Tai64n::ZERO
        };
        self.x.backoff_ms = self
            .delay
            .filter(|_| backing_off)
            .map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        let st = Status {
            when: self.x.changed,
            pid,
            paused: self.paused,
            want: self.want,
        };
        (st, self.x.clone())
    }

    /// When a start is allowed by the floor.
    fn start_time(&self) -> Option<Instant> {
        // `x` does not cancel a start asked for before it (`svc -ox`):
        // djb's supervise would have started it already.
        if !self.pending || self.run.is_some() || self.finish.is_some() {
            return None;
        }
        let floor = self.last_start.map_or(self.born, |t| t + FLOOR);
        Some(self.backoff_until.map_or(floor, |b| b.max(floor)))
    }

    /// Sets the earliest next start `d` from now (the backoff).
    pub fn back_off(&mut self, d: Duration, now: Instant, wall: Tai64n) {
        self.delay = Some(d);
        self.backoff_until = Some(svkit::duration::deadline(now, d));
        self.backoff_until_wall = tai_plus(wall, d);
    }

    fn no_backoff(&mut self) {
        self.delay = None;
        self.backoff_until = None;
    }

    /// The next moment something is due, for poll's timeout.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.start_time(),
            self.finish.as_ref().and_then(|f| f.kill_at),
            self.run.as_ref().and_then(|r| r.kill_at),
        ]
        .into_iter()
        .flatten()
        .chain(self.held.iter().map(|h| h.kill_at))
        .min()
    }

    /// True when supervise should exit now (`x`, nothing runs, nothing
    /// is due, no group waits for its kill deadline).
    pub fn done(&self) -> bool {
        self.exiting
            && !self.pending
            && self.run.is_none()
            && self.finish.is_none()
            && self.held.is_empty()
    }

    /// One event: the new state, and what to do.
    pub fn on(&mut self, ev: Event, now: Instant, wall: Tai64n, snap: &Snapshot) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::Control(b) => self.control(b, now, snap, &mut out),
            Event::Tick => self.tick(now, &mut out),
            Event::RunForked(sig) => {
                self.changed_before = self.x.changed;
                self.run = Some(Run {
                    sig,
                    adopted: false,
                    kill_at: None,
                });
                self.x.changed = wall;
                self.pending = false;
                self.paused = false;
            }
            Event::RunFailed => {
                if self.run.as_ref().is_some_and(|r| !r.adopted) {
                    self.run = None;
                    self.x.changed = self.changed_before;
                }
                // Retry at the floor; after `x`, a failed start counts as
                // a death.
                self.pending = self.want == Want::Up && !self.exiting;
            }
            Event::RunExited {
                wstatus,
                group_alive,
            } => {
                let young = self.run.as_ref().is_some_and(|r| !r.adopted)
                    && self.last_start.is_some_and(|t| {
                        snap.backoff
                            .is_some_and(|b| now.saturating_duration_since(t) < b.window)
                    });
                match snap.backoff {
                    Some(b) if young && self.run.is_some() => {
                        let d = self.delay.map_or(b.min, |d| (d * 2).clamp(b.min, b.max));
                        self.back_off(d, now, wall);
                    }
                    _ if self.run.is_some() => self.no_backoff(),
                    _ => {}
                }
                self.run_exited(wstatus, group_alive, wall, &mut out)
            }
            Event::FinishForked(sig) => {
                self.finish = Some(Finish {
                    sig,
                    adopted: false,
                    kill_at: snap
                        .timeout_finish
                        .map(|d| svkit::duration::deadline(now, d)),
                });
            }
            Event::FinishExited(code) => {
                if self.finish.take().is_some() && code == Some(PERMANENT_FAILURE) {
                    // s6's convention: the service is not to be restarted.
                    self.failed = true;
                    self.want = Want::Down;
                    self.pending = false;
                    self.no_backoff();
                }
            }
            Event::Ready => {
                if self.run.is_some() {
                    self.x.ready = wall;
                    self.x.set(xstatus::FLAG_READY, true);
                }
            }
        }
        out
    }

    fn control(&mut self, byte: u8, now: Instant, snap: &Snapshot, out: &mut Vec<Action>) {
        let Some(cmd) = Command::from_byte(byte) else {
            if !self.garbage_warned {
                self.garbage_warned = true;
                out.push(Action::Warn(format!(
                    "ignoring unknown control byte 0x{byte:02x} on {}/{}",
                    self.label,
                    svkit::svdir::CONTROL
                )));
            }
            return;
        };
        match cmd {
            Command::Up => {
                self.want = Want::Up;
                self.pending = self.run.is_none();
                self.failed = false;
                self.no_backoff();
            }
            Command::Once => {
                self.want = Want::None;
                self.pending = self.run.is_none();
                self.failed = false;
                self.no_backoff();
            }
            Command::Down => {
                self.want = Want::Down;
                self.pending = false;
                if let Some(r) = self.run.as_mut() {
                    out.push(Action::Signal(snap.down_signal));
                    out.push(Action::Signal(Signal::SIGCONT));
                    self.paused = false;
                    if let Some(d) = snap.timeout_kill {
                        r.kill_at = Some(svkit::duration::deadline(now, d));
                    }
                }
            }
            Command::Exit => self.exiting = true,
            Command::Signal(sig) => {
                match sig {
                    Signal::SIGSTOP => self.paused = true,
                    Signal::SIGCONT => self.paused = false,
                    _ => {}
                }
                if self.run.is_some() {
                    out.push(Action::Signal(sig));
                }
            }
        }
    }

    fn run_exited(&mut self, wstatus: i32, group_alive: bool, wall: Tai64n, out: &mut Vec<Action>) {
        let Some(r) = self.run.take() else {
            return;
        };
        if !r.adopted {
            match r.kill_at {
                Some(t) if group_alive => {
                    self.held.push(Held {
                        pid: r.sig.pid,
                        kill_at: t,
                    });
                    out.push(Action::Hold(r.sig.pid));
                }
                _ => out.push(Action::Reap(r.sig.pid)),
            }
        }
        self.x.changed = wall;
        self.x.push_death(Death {
            when: wall,
            wstatus,
        });
        self.x.ready = Tai64n::ZERO;
        self.x.set(xstatus::FLAG_READY, false);
        self.paused = false;
        self.pending = self.want == Want::Up && !self.exiting;
        out.push(Action::SpawnFinish { wstatus });
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(f) = self.finish.as_mut() {
            if f.kill_at.is_some_and(|t| now >= t) {
                f.kill_at = None;
                out.push(Action::KillGroup(Proc::Finish));
            }
        }
        if let Some(r) = self.run.as_mut() {
            if r.kill_at.is_some_and(|t| now >= t) {
                r.kill_at = None;
                out.push(Action::KillGroup(Proc::Run));
            }
        }
        let (due, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| now >= h.kill_at);
        self.held = keep;
        out.extend(due.into_iter().map(|h| Action::KillHeld(h.pid)));
        if self.start_time().is_some_and(|t| now >= t) {
            self.last_start = Some(now);
            out.push(Action::SpawnRun);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: u32 = 4242;

    fn sig(pid: u32) -> ProcSig {
        ProcSig { pid, start: 7 }
    }

    fn base(want: Want, now: Instant) -> Machine {
        Machine::new("t".into(), want, sig(1), now, Tai64n::now())
    }

    /// Named states covering every shape the machine can be in.
    fn states(now: Instant) -> Vec<(&'static str, Machine)> {
        let past = now - Duration::from_millis(1);
        let run = |adopted, kill_at| Run {
            sig: sig(PID),
            adopted,
            kill_at,
        };
        let mut v = Vec::new();
        v.push(("idle_down", base(Want::Down, now)));
        v.push(("start_due", base(Want::Up, now)));
        let mut m = base(Want::Up, now);
        m.last_start = Some(now);
        v.push(("floor_blocked", m));
        let mut m = base(Want::Up, now);
        m.pending = false;
        m.last_start = Some(now);
        m.run = Some(run(false, None));
        v.push(("running", m.clone()));
        m.run = Some(run(false, Some(past)));
        v.push(("running_kill_due", m.clone()));
        m.run = Some(run(true, Some(past)));
        v.push(("adopted_kill_due", m.clone()));
        m.run = Some(run(false, None));
        m.exiting = true;
        v.push(("exiting_running", m));
        let mut m = base(Want::Up, now);
        m.last_start = Some(now - FLOOR * 2);
        m.finish = Some(Finish {
            sig: sig(PID + 1),
            adopted: false,
            kill_at: Some(past),
        });
        v.push(("finishing_kill_due", m));
        let mut m = base(Want::Down, now);
        m.held.push(Held {
            pid: PID,
            kill_at: past,
        });
        v.push(("held_due", m));
        v
    }

    fn events() -> Vec<Event> {
        let mut v: Vec<Event> = svkit::control::LETTERS
            .iter()
            .chain(b"z")
            .map(|&b| Event::Control(b))
            .collect();
        v.extend([
            Event::Tick,
            Event::RunForked(sig(PID + 2)),
            Event::RunFailed,
            Event::RunExited {
                wstatus: 0,
                group_alive: false,
            },
            Event::RunExited {
                wstatus: 9,
                group_alive: true,
            },
            Event::FinishForked(sig(PID + 3)),
            Event::FinishExited(None),
            Event::FinishExited(Some(PERMANENT_FAILURE)),
            Event::Ready,
        ]);
        v
    }

    fn snap() -> Snapshot {
        Snapshot {
            down_signal: Signal::SIGHUP,
            timeout_kill: Some(Duration::from_secs(2)),
            timeout_finish: Some(Duration::from_secs(5)),
            backoff: None,
        }
    }

    /// Every state × every event: the promises hold whatever happens.
    #[test]
    fn table_every_state_and_event() {
        let now = Instant::now();
        let mut pairs = 0;
        for (name, before) in states(now) {
            for ev in events() {
                let mut m = before.clone();
                let out = m.on(ev.clone(), now, Tai64n::now(), &snap());
                pairs += 1;
                let at = format!("{name} × {ev:?} -> {out:?}");
                for a in &out {
                    match a {
                        // Never a second copy, never run beside finish.
                        Action::SpawnRun => {
                            assert!(before.run.is_none() && before.finish.is_none(), "{at}");
                            assert_eq!(m.last_start, Some(now), "{at}");
                        }
                        // Signals only to a process the machine holds.
                        Action::Signal(_) => assert!(before.run.is_some(), "{at}"),
                        Action::KillGroup(Proc::Run) => {
                            assert!(before.run.is_some() && m.run.is_some(), "{at}")
                        }
                        Action::KillGroup(Proc::Finish) => {
                            assert!(before.finish.is_some() && m.finish.is_some(), "{at}")
                        }
                        Action::KillHeld(pid) => {
                            assert!(before.held.iter().any(|h| h.pid == *pid), "{at}");
                            assert!(!m.held.iter().any(|h| h.pid == *pid), "{at}");
                        }
                        // Reaped or held only when it was our run, and let
                        // go of with its deadline in the same step.
                        Action::Reap(pid) | Action::Hold(pid) => {
                            let r = before.run.as_ref().unwrap_or_else(|| panic!("{at}"));
                            assert!(r.sig.pid == *pid && !r.adopted, "{at}");
                            assert!(m.run.is_none(), "{at}");
                        }
                        Action::SpawnFinish { .. } => {
                            assert!(before.run.is_some() && m.run.is_none(), "{at}")
                        }
                        Action::Warn(_) => {}
                    }
                }
                if m.done() {
                    assert!(
                        m.run.is_none() && m.finish.is_none() && m.held.is_empty(),
                        "{at}"
                    );
                }
                // The records agree with the state.
                let (st, x) = m.records();
                assert_eq!(st.pid, m.run.as_ref().map_or(0, |r| r.sig.pid), "{at}");
                assert_eq!(x.has(xstatus::FLAG_FINISHING), m.finish.is_some(), "{at}");
            }
        }
        assert_eq!(pairs, 9 * (15 + 9));
    }

    fn on(m: &mut Machine, ev: Event, now: Instant) -> Vec<Action> {
        m.on(ev, now, Tai64n::now(), &snap())
    }

    #[test]
    fn up_then_tick_starts_once() {
        let now = Instant::now();
        let mut m = base(Want::Down, now);
        assert!(on(&mut m, Event::Tick, now).is_empty());
        assert!(on(&mut m, Event::Control(b'u'), now).is_empty());
        assert_eq!(on(&mut m, Event::Tick, now), vec![Action::SpawnRun]);
        on(&mut m, Event::RunForked(sig(PID)), now);
        assert!(on(&mut m, Event::Tick, now + FLOOR * 3).is_empty());
        assert_eq!(m.records().0.pid, PID);
    }

    #[test]
    fn down_signals_and_arms_the_kill_deadline() {
        let now = Instant::now();
        let mut m = base(Want::Up, now);
        on(&mut m, Event::Tick, now);
        on(&mut m, Event::RunForked(sig(PID)), now);
        assert_eq!(
            on(&mut m, Event::Control(b'd'), now),
            vec![
                Action::Signal(Signal::SIGHUP),
                Action::Signal(Signal::SIGCONT)
            ]
        );
        assert!(m.kill_armed());
        let t = now + Duration::from_secs(2);
        assert_eq!(m.deadline(), Some(t));
        assert_eq!(
            on(&mut m, Event::Tick, t),
            vec![Action::KillGroup(Proc::Run)]
        );
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn a_dead_leader_is_held_only_while_its_group_lives() {
        let now = Instant::now();
        for alive in [false, true] {
            let mut m = base(Want::Up, now);
            on(&mut m, Event::Tick, now);
            on(&mut m, Event::RunForked(sig(PID)), now);
            on(&mut m, Event::Control(b'd'), now);
            let out = on(
                &mut m,
                Event::RunExited {
                    wstatus: 15,
                    group_alive: alive,
                },
                now,
            );
            let first = if alive {
                Action::Hold(PID)
            } else {
                Action::Reap(PID)
            };
            assert_eq!(out, vec![first, Action::SpawnFinish { wstatus: 15 }]);
            assert_eq!(m.records().0.pid, 0, "down at once");
            let t = now + Duration::from_secs(2);
            let due = on(&mut m, Event::Tick, t);
            assert_eq!(
                due,
                if alive {
                    vec![Action::KillHeld(PID)]
                } else {
                    vec![]
                }
            );
            assert!(m.held.is_empty());
        }
    }

    #[test]
    fn an_adopted_run_is_never_reaped_by_us() {
        let now = Instant::now();
        let mut m = base(Want::Up, now);
        m.pending = false;
        m.run = Some(Run {
            sig: sig(PID),
            adopted: true,
            kill_at: None,
        });
        let out = on(
            &mut m,
            Event::RunExited {
                wstatus: -1,
                group_alive: true,
            },
            now,
        );
        assert_eq!(out, vec![Action::SpawnFinish { wstatus: -1 }]);
        assert!(m.held.is_empty());
    }

    #[test]
    fn no_start_beside_finish() {
        let now = Instant::now();
        let mut m = base(Want::Up, now);
        on(&mut m, Event::Tick, now);
        on(&mut m, Event::RunForked(sig(PID)), now);
        on(
            &mut m,
            Event::RunExited {
                wstatus: 0,
                group_alive: false,
            },
            now,
        );
        on(&mut m, Event::FinishForked(sig(PID + 1)), now);
        let later = now + FLOOR * 2;
        assert!(on(&mut m, Event::Tick, later).is_empty());
        on(&mut m, Event::FinishExited(None), later);
        assert_eq!(on(&mut m, Event::Tick, later), vec![Action::SpawnRun]);
    }

    #[test]
    fn o_then_x_runs_once_and_x_then_u_exits() {
        let now = Instant::now();
        let mut m = base(Want::Down, now);
        on(&mut m, Event::Control(b'o'), now);
        on(&mut m, Event::Control(b'x'), now);
        assert!(!m.done());
        assert_eq!(on(&mut m, Event::Tick, now), vec![Action::SpawnRun]);
        on(&mut m, Event::RunForked(sig(PID)), now);
        on(
            &mut m,
            Event::RunExited {
                wstatus: 0,
                group_alive: false,
            },
            now,
        );
        assert!(m.done());
        let mut m = base(Want::Down, now);
        on(&mut m, Event::Control(b'x'), now);
        assert!(m.done(), "the caller reads no further byte");
    }

    #[test]
    fn failed_start_is_not_a_death() {
        let now = Instant::now();
        let mut m = base(Want::Up, now);
        let changed = m.x.changed;
        on(&mut m, Event::Tick, now);
        on(&mut m, Event::RunForked(sig(PID)), now);
        on(&mut m, Event::RunFailed, now);
        assert!(m.run.is_none() && m.x.history.is_empty());
        assert_eq!(m.x.changed, changed);
        assert_eq!(m.deadline(), Some(now + FLOOR), "retried at the floor");
    }

    fn crash(m: &mut Machine, now: Instant, s: &Snapshot) {
        assert_eq!(
            m.on(Event::Tick, now, Tai64n::now(), s),
            vec![Action::SpawnRun]
        );
        m.on(Event::RunForked(sig(PID)), now, Tai64n::now(), s);
        let ev = Event::RunExited {
            wstatus: 1 << 8,
            group_alive: false,
        };
        m.on(ev, now + Duration::from_millis(10), Tai64n::now(), s);
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_resets() {
        let s = Snapshot {
            backoff: Some(crate::config::Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(4),
                window: Duration::from_secs(5),
            }),
            ..Snapshot::default()
        };
        let mut now = Instant::now();
        let mut m = base(Want::Up, now);
        let mut delays = Vec::new();
        for _ in 0..4 {
            crash(&mut m, now, &s);
            delays.push(m.delay.unwrap().as_secs());
            assert!(m.records().1.has(xstatus::FLAG_BACKOFF));
            now = m.deadline().unwrap();
        }
        assert_eq!(delays, vec![1, 2, 4, 4]);
        // A run that lives past the window resets it.
        m.on(Event::Tick, now, Tai64n::now(), &s);
        m.on(Event::RunForked(sig(PID)), now, Tai64n::now(), &s);
        let ev = Event::RunExited {
            wstatus: 0,
            group_alive: false,
        };
        m.on(ev, now + Duration::from_secs(6), Tai64n::now(), &s);
        assert_eq!(m.delay, None);
        assert!(!m.records().1.has(xstatus::FLAG_BACKOFF));
    }

    #[test]
    fn finish_125_keeps_it_down_until_u() {
        let now = Instant::now();
        let mut m = base(Want::Up, now);
        let s = Snapshot::default();
        crash(&mut m, now, &s);
        m.on(Event::FinishForked(sig(PID + 1)), now, Tai64n::now(), &s);
        m.on(Event::FinishExited(Some(125)), now, Tai64n::now(), &s);
        assert!(m.failed && m.want == Want::Down && m.deadline().is_none());
        assert!(m.records().1.has(xstatus::FLAG_FAILED));
        m.on(Event::Control(b'u'), now, Tai64n::now(), &s);
        assert!(!m.failed && m.deadline().is_some());
        // Any other code: the usual restart.
        let mut m = base(Want::Up, now);
        crash(&mut m, now, &s);
        m.on(Event::FinishForked(sig(PID + 1)), now, Tai64n::now(), &s);
        m.on(Event::FinishExited(Some(1)), now, Tai64n::now(), &s);
        assert!(!m.failed && m.deadline().is_some());
    }

    #[test]
    fn garbage_is_reported_once() {
        let now = Instant::now();
        let mut m = base(Want::Down, now);
        assert_eq!(on(&mut m, Event::Control(b'z'), now).len(), 1);
        assert!(on(&mut m, Event::Control(b'z'), now).is_empty());
    }

    #[test]
    fn paused_shows_only_with_a_child() {
        let now = Instant::now();
        let mut m = base(Want::Down, now);
        on(&mut m, Event::Control(b'p'), now);
        let (st, x) = m.records();
        assert_eq!(st.pack()[16], 0);
        assert!(!x.has(xstatus::FLAG_PAUSED));
    }
}
