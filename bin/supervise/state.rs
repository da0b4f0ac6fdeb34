//! Performing the machine's actions: the processes (pidfds, readiness
//! pipe, gates), the signals, the records on disk. All decisions are in
//! `machine.rs`; this file only does what it is told and feeds back what
//! happened.

use crate::machine::{Action, Event, Machine, Proc, Snapshot};
use crate::{config, files, spawn};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;
use svkit::pidfd::PidFd;
use svkit::procsig::ProcSig;
use svkit::status::Want;
use svkit::tai64n::Tai64n;

/// Raw wait status recorded when the exit status cannot be known (a child
/// taken over from a previous supervise): neither WIFEXITED nor WIFSIGNALED.
pub const WSTATUS_UNKNOWN: i32 = svkit::waitstatus::WaitStatus::UNKNOWN.0;

pub struct Sup {
    pub label: String,
    pub m: Machine,
    /// `run`'s pidfd (every signal goes through it) and readiness pipe.
    run_pidfd: Option<PidFd>,
    notify: Option<OwnedFd>,
    finish_pidfd: Option<PidFd>,
    /// What was last written to `status` and `xstatus`.
    written_status: Option<[u8; svkit::status::LEN]>,
    written_x: Option<Vec<u8>>,
    warned: Vec<String>,
    start_failure: Option<String>,
}

impl Sup {
    pub fn new(label: String, want: Want) -> Sup {
        let me = ProcSig::of_self().unwrap_or(ProcSig {
            pid: std::process::id(),
            start: 0,
        });
        Sup {
            m: Machine::new(label.clone(), want, me, Instant::now(), Tai64n::now()),
            label,
            run_pidfd: None,
            notify: None,
            finish_pidfd: None,
            written_status: None,
            written_x: None,
            warned: Vec::new(),
            start_failure: None,
        }
    }

    /// Prints a warning the first time this exact text comes up.
    pub fn warn_once(&mut self, msg: String) {
        if !self.warned.contains(&msg) {
            svkit::exit::warn("supervise", &msg);
            self.warned.push(msg);
        }
    }

    fn opt<T>(&mut self, o: config::Opt<T>) -> Option<T> {
        match o {
            config::Opt::Value(v) => Some(v),
            config::Opt::Absent => None,
            config::Opt::Bad(m) => {
                self.warn_once(m);
                None
            }
            config::Opt::Clamped(v, m) => {
                self.warn_once(m);
                Some(v)
            }
        }
    }

    /// The service-directory files `ev`'s transition needs, read before
    /// it (only those: a crash loop reads one file per death).
    fn snapshot(&mut self, ev: &Event) -> Snapshot {
        let l = self.label.clone();
        let mut s = Snapshot::default();
        match ev {
            Event::Control(_) => {
                if let Some(sig) = self.opt(config::down_signal(&l)) {
                    s.down_signal = sig;
                }
                s.timeout_kill = self.opt(config::timeout_kill(&l)).flatten();
            }
            Event::FinishForked(_) => {
                if let Some(v) = self.opt(config::timeout_finish(&l)) {
                    s.timeout_finish = v;
                }
            }
            Event::RunExited { .. } => s.backoff = self.opt(config::backoff(&l)),
            _ => {}
        }
        s
    }

    /// Feeds one event to the machine and performs what it returns.
    pub fn feed(&mut self, ev: Event, now: Instant) {
        let snap = if self.m.wants_snapshot(&ev) {
            self.snapshot(&ev)
        } else {
            Snapshot::default()
        };
        let actions = self.m.on(ev, now, Tai64n::now(), &snap);
        for a in actions {
            self.perform(a, now);
        }
    }

    fn perform(&mut self, a: Action, now: Instant) {
        match a {
            Action::SpawnRun => self.spawn_run(now),
            Action::SpawnFinish { wstatus } => self.spawn_finish(wstatus, now),
            Action::Signal(sig) => {
                let adopted = self.m.run.as_ref().is_some_and(|r| r.adopted);
                let pid = self.m.run.as_ref().map(|r| r.sig.pid);
                match (&self.run_pidfd, pid) {
                    (Some(p), _) => {
                        let _ = p.signal(sig);
                    }
                    // No pidfds on this kernel: our own child, unreaped
                    // (the machine still holds it), so the pid is its.
                    (None, Some(pid)) if !adopted => {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), sig);
                    }
                    _ => {}
                }
            }
            Action::KillGroup(Proc::Run) => {
                let Some(r) = &self.m.run else { return };
                if r.adopted {
                    // Not our child: its group id is not ours to pin. The
                    // pidfd reaches the group on Linux 6.9+
                    // (PIDFD_SIGNAL_PROCESS_GROUP), else the leader only.
                    if let Some(p) = &self.run_pidfd {
                        p.signal_group(Signal::SIGKILL);
                    }
                } else {
                    // Unreaped while the machine holds it.
                    kill_group(r.sig.pid);
                }
            }
            Action::KillGroup(Proc::Finish) => {
                let Some(f) = &self.m.finish else { return };
                if f.adopted {
                    if let Some(p) = &self.finish_pidfd {
                        p.signal_group(Signal::SIGKILL);
                    }
                } else {
                    kill_group(f.sig.pid);
                }
            }
            Action::Reap(pid) => {
                let _ = svkit::sys::reap_raw(pid as i32);
            }
            Action::Hold(_) => {}
            Action::KillHeld(pid) => {
                // The zombie pins the group id until we reap it right here.
                kill_group(pid);
                let _ = svkit::sys::reap_raw(pid as i32);
            }
            Action::Warn(m) => svkit::exit::warn("supervise", &m),
        }
    }

    fn spawn_run(&mut self, now: Instant) {
        let l = self.label.clone();
        // The usual reasons an exec fails, found without a fork: `run` is
        // missing or not executable (also cheaper in such a loop).
        if let Err(e) = svkit::sys::access_exec(std::path::Path::new("./run")) {
            self.feed(Event::RunFailed, now);
            return self.start_failed(&e);
        }
        let fd = self.opt(config::notification_fd(&l));
        let s = match spawn::run(fd) {
            Ok(s) => s,
            Err(e) => {
                self.feed(Event::RunFailed, now);
                return self.start_failed(&e);
            }
        };
        self.feed(Event::RunForked(signature(s.pid)), now);
        self.run_pidfd = s.pidfd;
        self.notify = s.notify;
        // Recorded before it may run: a supervise killed from here on is
        // replaced by one that adopts it (or sees it exit, never started).
        // `status` too, as djb's supervise writes it right after its fork:
        // the new pid shows without waiting for the exec.
        self.announce();
        match s.gate.release() {
            Ok(()) => self.start_failure = None,
            Err(e) => {
                // It never ran and exits at once: not a death to record.
                self.run_pidfd = None;
                self.notify = None;
                reap_now(s.pid);
                self.feed(Event::RunFailed, now);
                self.start_failed(&e);
            }
        }
    }

    fn start_failed(&mut self, e: &std::io::Error) {
        // Say it once per cause; the machine retries at the floor.
        let m = svkit::exit::unable(
            "start",
            std::path::Path::new(&format!("{}/run", self.label)),
            e,
        );
        if self.start_failure.as_deref() != Some(m.as_str()) {
            svkit::exit::warn("supervise", &m);
            self.start_failure = Some(m);
        }
    }

    fn spawn_finish(&mut self, wstatus: i32, now: Instant) {
        // A stat is cheaper than a fork that fails to exec, in crash loops.
        if !std::path::Path::new(svkit::svdir::FINISH).exists() {
            return;
        }
        let (code, sig) = svkit::waitstatus::WaitStatus(wstatus).finish_args();
        let s = match spawn::finish(&code, &sig) {
            Ok(s) => s,
            Err(e) => return self.finish_failed(&e),
        };
        self.feed(Event::FinishForked(signature(s.pid)), now);
        self.finish_pidfd = s.pidfd;
        // Recorded before it may run: a replacing supervise waits for it
        // instead of starting `run` beside it.
        self.record_x();
        if let Err(e) = s.gate.release() {
            self.finish_pidfd = None;
            reap_now(s.pid);
            self.feed(Event::FinishExited(None), now);
            self.finish_failed(&e);
        }
    }

    fn finish_failed(&mut self, e: &std::io::Error) {
        if e.kind() != std::io::ErrorKind::NotFound {
            let m = svkit::exit::unable(
                "start",
                std::path::Path::new(&format!("{}/finish", self.label)),
                e,
            );
            self.warn_once(m);
        }
    }

    /// Writes `xstatus` if it differs from what was last written.
    pub fn record_x(&mut self) {
        let x = self.m.records().1.pack();
        if self.written_x.as_ref() == Some(&x) {
            return;
        }
        match files::write_xstatus(&self.label, &x) {
            Ok(()) => self.written_x = Some(x),
            // Keep supervising; say it once per cause, retry at the next change.
            Err(e) => self.warn_once(e.to_string()),
        }
    }

    /// Writes the records that differ from what was last written:
    /// `xstatus` first, so a reader who sees the new pid in `status` also
    /// finds its signature.
    pub fn announce(&mut self) {
        self.record_x();
        let st = self.m.records().0.pack();
        if self.written_status == Some(st) {
            return;
        }
        match files::write_status(&self.label, &st) {
            Ok(()) => self.written_status = Some(st),
            Err(e) => self.warn_once(e.to_string()),
        }
    }

    pub fn on_control(&mut self, byte: u8, now: Instant) {
        self.feed(Event::Control(byte), now);
    }

    pub fn tick(&mut self, now: Instant) {
        self.feed(Event::Tick, now);
    }

    /// Our own `run` died (`wstatus`); its zombie is reaped or held as the
    /// machine says.
    pub fn on_run_exit(&mut self, wstatus: i32, now: Instant) {
        let group_alive = self.m.kill_armed()
            && self
                .m
                .run
                .as_ref()
                .is_some_and(|r| svkit::procstat::group_has_live_members(r.sig.pid, r.sig.pid));
        self.run_pidfd = None;
        self.notify = None;
        self.feed(
            Event::RunExited {
                wstatus,
                group_alive,
            },
            now,
        );
    }

    /// An adopted `run` is gone (its pidfd said so).
    pub fn on_adopted_exit(&mut self, now: Instant) {
        self.on_run_exit(WSTATUS_UNKNOWN, now);
    }

    /// `finish` is reaped (ours: its exit code) or gone (adopted).
    pub fn on_finish_gone(&mut self, code: Option<i32>, now: Instant) {
        self.finish_pidfd = None;
        self.feed(Event::FinishExited(code), now);
    }

    /// Readiness pipe readable: a newline means ready; EOF closes it.
    pub fn on_notify(&mut self, now: Instant) {
        let Some(fd) = self.notify.as_ref() else {
            return;
        };
        let mut buf = [0u8; 256];
        let (ready, done) = match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => (false, true),
            Ok(n) if buf[..n].contains(&b'\n') => (true, true),
            Ok(_) => (false, false),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => (false, false),
            Err(_) => (false, true),
        };
        if done {
            self.notify = None;
        }
        if ready {
            self.feed(Event::Ready, now);
        }
    }

    /// Takes over a `run` left by a killed supervise.
    pub fn adopt_run(&mut self, sig: ProcSig, pidfd: PidFd) {
        self.m.run = Some(crate::machine::Run {
            sig,
            adopted: true,
            kill_at: None,
        });
        self.run_pidfd = Some(pidfd);
        self.m.pending = false;
    }

    /// Waits for a `finish` left by a killed supervise.
    pub fn adopt_finish(&mut self, sig: ProcSig, pidfd: PidFd, kill_at: Option<Instant>) {
        self.m.finish = Some(crate::machine::Finish {
            sig,
            adopted: true,
            kill_at,
        });
        self.finish_pidfd = Some(pidfd);
    }

    /// Our own `run`'s pid (not an adopted one), for the reaper.
    pub fn own_run(&self) -> Option<u32> {
        self.m
            .run
            .as_ref()
            .filter(|r| !r.adopted)
            .map(|r| r.sig.pid)
    }

    /// Our own `finish`'s pid, for the reaper.
    pub fn own_finish(&self) -> Option<u32> {
        self.m
            .finish
            .as_ref()
            .filter(|f| !f.adopted)
            .map(|f| f.sig.pid)
    }

    pub fn is_held(&self, pid: u32) -> bool {
        self.m.held.iter().any(|h| h.pid == pid)
    }

    pub fn notify_fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.notify.as_ref().map(|f| f.as_fd())
    }

    /// Pidfds watched in the poll set: an adopted `run`, an adopted
    /// `finish` (our own children are seen through SIGCHLD).
    pub fn adopted_run_fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        let adopted = self.m.run.as_ref().is_some_and(|r| r.adopted);
        self.run_pidfd
            .as_ref()
            .filter(|_| adopted)
            .map(|p| p.as_fd())
    }

    pub fn adopted_finish_fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        let adopted = self.m.finish.as_ref().is_some_and(|f| f.adopted);
        self.finish_pidfd
            .as_ref()
            .filter(|_| adopted)
            .map(|p| p.as_fd())
    }

    pub fn done(&self) -> bool {
        self.m.done()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.m.deadline()
    }
}

/// The signature of a child we just forked (unreaped, so it is there).
fn signature(pid: u32) -> ProcSig {
    ProcSig::of(pid).unwrap_or(ProcSig { pid, start: 0 })
}

/// Reaps a child that failed its exec (it exits at once).
fn reap_now(pid: u32) {
    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
}

/// SIGKILL to a whole process group (the service and its grandchildren).
/// Only for the group of a child of ours that is not reaped yet: its pid
/// (the group's id) cannot have been recycled.
fn kill_group(pgid: u32) {
    if let Ok(p) = i32::try_from(pgid) {
        if p > 1 {
            let _ = nix::sys::signal::killpg(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}
