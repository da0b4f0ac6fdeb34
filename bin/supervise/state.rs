//! The supervisor's state machine: what it wants, what runs, and the
//! transitions on control letters, child deaths, readiness and deadlines.

use crate::{config, files, spawn};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};
use svkit::control::Command;
use svkit::pidfd::PidFd;
use svkit::procsig::ProcSig;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{self, Death, XStatus};

/// The restart floor: at most one start of `run` per second.
pub const FLOOR: Duration = Duration::from_secs(1);

/// Raw wait status recorded when the exit status cannot be known (a child
/// taken over from a previous supervise): neither WIFEXITED nor WIFSIGNALED.
pub const WSTATUS_UNKNOWN: i32 = svkit::waitstatus::WaitStatus::UNKNOWN.0;

/// The running `run`.
pub struct Child {
    pub sig: ProcSig,
    /// Readiness pipe (read end) while the service has not signalled.
    pub notify: Option<OwnedFd>,
    /// Every signal goes through it (`pidfd_send_signal`), never by pid.
    /// None only where the kernel has no pidfd_open; then our own child is
    /// signalled by pid, which is safe while it is unreaped.
    pub pidfd: Option<PidFd>,
    /// Inherited from a killed supervise: not our child, so never reaped
    /// by us; its pidfd in the poll set says when it is gone.
    pub adopted: bool,
    /// After `d` with `timeout-kill`: when its process group gets SIGKILL.
    pub kill_at: Option<Instant>,
}

/// The running `finish` and when its process group gets SIGKILL.
pub struct Finish {
    pub pid: u32,
    pub sig: ProcSig,
    pub pidfd: Option<PidFd>,
    /// Left by a killed supervise: waited for through its pidfd.
    pub adopted: bool,
    pub kill_at: Option<Instant>,
}

/// A `run` that exited while a `timeout-kill` deadline was armed and
/// other processes of its group still ran: kept unreaped (a zombie) so
/// that its pid — the group's id — cannot be recycled before the deadline
/// SIGKILLs what is left of the group. Reaped right after.
pub struct Held {
    pub pid: u32,
    pub kill_at: Instant,
}

pub struct Sup {
    pub label: String,
    pub want: Want,
    pub paused: bool,
    pub exiting: bool,
    /// A start is due (after `u`, `o`, or a death while wanted up).
    pub pending: bool,
    pub child: Option<Child>,
    pub finish: Option<Finish>,
    pub last_start: Option<Instant>,
    /// When supervise started: the first start is due at once.
    born: Instant,
    /// Dead leaders kept unreaped until their group's kill deadline.
    pub held: Vec<Held>,
    pub x: XStatus,
    /// What was last written to `status` and `xstatus`.
    written_status: Option<[u8; svkit::status::LEN]>,
    written_x: Option<Vec<u8>>,
    warned: Vec<String>,
    start_failure: Option<String>,
    garbage_warned: bool,
}

impl Sup {
    pub fn new(label: String, want: Want) -> Sup {
        let me = ProcSig::of_self().unwrap_or(ProcSig {
            pid: std::process::id(),
            start: 0,
        });
        let mut x = XStatus::new(me);
        x.changed = Tai64n::now();
        x.set(xstatus::FLAG_NORMALLY_UP, want == Want::Up);
        Sup {
            label,
            want,
            paused: false,
            exiting: false,
            pending: want == Want::Up,
            child: None,
            finish: None,
            last_start: None,
            born: Instant::now(),
            held: Vec::new(),
            x,
            written_status: None,
            written_x: None,
            warned: Vec::new(),
            start_failure: None,
            garbage_warned: false,
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

    /// The two records as they should read now.
    pub fn records(&mut self) -> (Status, XStatus) {
        let pid = self.child.as_ref().map_or(0, |c| c.sig.pid);
        self.x.want = self.want;
        self.x.child = self.child.as_ref().map_or(ProcSig::default(), |c| c.sig);
        self.x.set(xstatus::FLAG_PAUSED, pid != 0 && self.paused);
        self.x.set(xstatus::FLAG_FINISHING, self.finish.is_some());
        self.x.finish = self.finish.as_ref().map_or(ProcSig::default(), |f| f.sig);
        self.x.set(xstatus::FLAG_EXITING, self.exiting);
        let st = Status {
            when: self.x.changed,
            pid,
            paused: self.paused,
            want: self.want,
        };
        (st, self.x.clone())
    }

    /// Writes `xstatus` if it differs from what was last written.
    pub fn record_x(&mut self) {
        let x = self.records().1.pack();
        if self.written_x.as_ref() == Some(&x) {
            return;
        }
        match files::write_xstatus(&self.label, &x) {
            Ok(()) => self.written_x = Some(x),
            // Keep supervising; say it once per cause, retry at the next change.
            Err(m) => self.warn_once(m),
        }
    }

    /// Writes the records that differ from what was last written:
    /// `xstatus` first, so a reader who sees the new pid in `status` also
    /// finds its signature.
    pub fn announce(&mut self) {
        self.record_x();
        let st = self.records().0.pack();
        if self.written_status == Some(st) {
            return;
        }
        match files::write_status(&self.label, &st) {
            Ok(()) => self.written_status = Some(st),
            Err(m) => self.warn_once(m),
        }
    }

    /// Sends `sig` to the running child, if any.
    fn signal_child(&self, sig: Signal) {
        if let Some(c) = &self.child {
            signal_process(c, sig);
        }
    }

    pub fn on_control(&mut self, byte: u8, now: Instant) {
        let Some(cmd) = Command::from_byte(byte) else {
            if !self.garbage_warned {
                self.garbage_warned = true;
                svkit::exit::warn(
                    "supervise",
                    &format!(
                        "ignoring unknown control byte 0x{byte:02x} on {}/{}",
                        self.label,
                        svkit::svdir::CONTROL
                    ),
                );
            }
            return;
        };
        match cmd {
            Command::Up => {
                self.want = Want::Up;
                self.pending = self.child.is_none();
            }
            Command::Once => {
                self.want = Want::None;
                self.pending = self.child.is_none();
            }
            Command::Down => {
                self.want = Want::Down;
                self.pending = false;
                if self.child.is_some() {
                    let l = self.label.clone();
                    let sig = self.opt(config::down_signal(&l)).unwrap_or(Signal::SIGTERM);
                    self.signal_child(sig);
                    self.signal_child(Signal::SIGCONT);
                    self.paused = false;
                    if let Some(Some(d)) = self.opt(config::timeout_kill(&l)) {
                        if let Some(c) = self.child.as_mut() {
                            c.kill_at = Some(svkit::duration::deadline(now, d));
                        }
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
                self.signal_child(sig);
            }
        }
    }

    /// The child is gone with `wstatus`: record it, run `finish`, plan
    /// the restart. Returns true when our (unreaped) child must stay
    /// unreaped for its group's kill deadline (see [`Held`]).
    pub fn on_child_exit(&mut self, wstatus: i32, now: Instant) -> bool {
        let Some(c) = self.child.take() else {
            return false;
        };
        let hold = match c.kill_at {
            Some(t)
                if !c.adopted && svkit::procstat::group_has_live_members(c.sig.pid, c.sig.pid) =>
            {
                self.held.push(Held {
                    pid: c.sig.pid,
                    kill_at: t,
                });
                true
            }
            _ => false,
        };
        let t = Tai64n::now();
        self.x.changed = t;
        self.x.push_death(Death { when: t, wstatus });
        self.x.ready = Tai64n::ZERO;
        self.x.set(xstatus::FLAG_READY, false);
        self.paused = false;
        self.pending = self.want == Want::Up && !self.exiting;
        self.start_finish(wstatus, now);
        hold
    }

    fn start_finish(&mut self, wstatus: i32, now: Instant) {
        // A stat is cheaper than a fork that fails to exec, in crash loops.
        if !std::path::Path::new(svkit::svdir::FINISH).exists() {
            return;
        }
        let (code, sig) = svkit::waitstatus::WaitStatus(wstatus).finish_args();
        let s = match spawn::finish(&code, &sig) {
            Ok(s) => s,
            Err(e) => return self.finish_failed(&e),
        };
        let l = self.label.clone();
        let limit = match self.opt(config::timeout_finish(&l)) {
            Some(v) => v,
            None => Some(Duration::from_millis(config::FINISH_DEFAULT_MS)),
        };
        self.finish = Some(Finish {
            pid: s.pid,
            sig: signature(s.pid),
            pidfd: s.pidfd,
            adopted: false,
            kill_at: limit.map(|d| svkit::duration::deadline(now, d)),
        });
        // Recorded before it may run: a replacing supervise waits for it
        // instead of starting `run` beside it.
        self.record_x();
        if let Err(e) = s.gate.release() {
            self.finish = None;
            reap_now(s.pid);
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

    /// Our own `run`'s pid (not an adopted one), for the reaper.
    pub fn own_run(&self) -> Option<u32> {
        self.child
            .as_ref()
            .filter(|c| !c.adopted)
            .map(|c| c.sig.pid)
    }

    /// `finish` was reaped: its deadline goes with it.
    pub fn on_finish_reaped(&mut self) {
        self.finish = None;
    }

    /// Readiness pipe readable: a newline means ready; EOF closes it.
    pub fn on_notify(&mut self) {
        let Some(c) = self.child.as_mut() else { return };
        let Some(fd) = c.notify.as_ref() else { return };
        let mut buf = [0u8; 256];
        let done = match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => true,
            Ok(n) => {
                if buf[..n].contains(&b'\n') {
                    self.x.ready = Tai64n::now();
                    self.x.set(xstatus::FLAG_READY, true);
                    true
                } else {
                    false
                }
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => false,
            Err(_) => true,
        };
        if done {
            if let Some(c) = self.child.as_mut() {
                c.notify = None;
            }
        }
    }

    /// When a start is allowed by the floor.
    fn start_time(&self) -> Option<Instant> {
        // `x` does not cancel a start asked for before it (`svc -ox`):
        // djb's supervise would have started it already.
        if !self.pending || self.child.is_some() || self.finish.is_some() {
            return None;
        }
        Some(self.last_start.map_or(self.born, |t| t + FLOOR))
    }

    /// The next moment something is due, for poll's timeout.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.start_time(),
            self.finish.as_ref().and_then(|f| f.kill_at),
            self.child.as_ref().and_then(|c| c.kill_at),
        ]
        .into_iter()
        .flatten()
        .chain(self.held.iter().map(|h| h.kill_at))
        .min()
    }

    /// True when supervise should exit now (`x` and nothing runs, nor
    /// waits for its group's kill deadline).
    pub fn done(&self) -> bool {
        self.exiting
            && !self.pending
            && self.child.is_none()
            && self.finish.is_none()
            && self.held.is_empty()
    }

    /// Fires due deadlines and starts `run` when due.
    pub fn tick(&mut self, now: Instant) {
        // `finish` is unreaped while recorded (the reaper drops it), so
        // its pid still names its group.
        if let Some(f) = self.finish.as_mut() {
            if f.kill_at.is_some_and(|t| now >= t) {
                f.kill_at = None;
                if f.adopted {
                    // Not ours to pin: through its pidfd (the group on
                    // Linux 6.9+, else the leader only).
                    if let Some(p) = &f.pidfd {
                        p.signal_group(Signal::SIGKILL);
                    }
                } else {
                    kill_group(f.pid);
                }
            }
        }
        if let Some(c) = self.child.as_mut() {
            if c.kill_at.is_some_and(|t| now >= t) {
                c.kill_at = None;
                if c.adopted {
                    // Not our child: it could be reaped by another at any
                    // moment, so its group id is not safe to use. The
                    // pidfd reaches the group on Linux 6.9+
                    // (PIDFD_SIGNAL_PROCESS_GROUP), else the leader only.
                    if let Some(p) = &c.pidfd {
                        p.signal_group(Signal::SIGKILL);
                    }
                } else {
                    // Unreaped (the reaper takes it out of `child`).
                    kill_group(c.sig.pid);
                }
            }
        }
        let (due, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| now >= h.kill_at);
        self.held = keep;
        for h in due {
            // The zombie pins the group id until we reap it right here.
            kill_group(h.pid);
            let _ = svkit::sys::reap_raw(h.pid as i32);
        }
        if self.start_time().is_some_and(|t| now >= t) {
            self.start(now);
        }
    }

    fn start(&mut self, now: Instant) {
        self.last_start = Some(now);
        let l = self.label.clone();
        let fd = self.opt(config::notification_fd(&l));
        let s = match spawn::run(fd) {
            Ok(s) => s,
            Err(e) => return self.start_failed(&e),
        };
        let before = self.x.changed;
        self.child = Some(Child {
            sig: signature(s.pid),
            notify: s.notify,
            pidfd: s.pidfd,
            adopted: false,
            kill_at: None,
        });
        self.x.changed = Tai64n::now();
        // Recorded before it may run: a supervise killed from here on is
        // replaced by one that adopts it (or sees it exit, never started).
        self.record_x();
        match s.gate.release() {
            Ok(()) => {
                self.pending = false;
                self.start_failure = None;
                self.paused = false;
            }
            Err(e) => {
                // It never ran and exits at once: not a death to record.
                self.child = None;
                reap_now(s.pid);
                self.x.changed = before;
                self.start_failed(&e);
            }
        }
    }

    fn start_failed(&mut self, e: &std::io::Error) {
        // Keep supervising: retry at the floor, say it once per cause.
        // After `x`, a failed start counts as a death.
        self.pending = self.want == Want::Up && !self.exiting;
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

/// `sig` to one process: through its pidfd; by pid only for our own
/// child on a kernel without pidfds (unreaped, so the pid is still its).
fn signal_process(c: &Child, sig: Signal) {
    match &c.pidfd {
        Some(p) => {
            let _ = p.signal(sig);
        }
        None if !c.adopted => {
            let _ = nix::sys::signal::kill(Pid::from_raw(c.sig.pid as i32), sig);
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wants_and_pending_starts() {
        let now = Instant::now();
        let mut s = Sup::new("t".into(), Want::Down);
        assert!(!s.pending && s.deadline().is_none());
        assert!(!s.x.has(xstatus::FLAG_NORMALLY_UP));
        s.on_control(b'u', now);
        assert_eq!(s.want, Want::Up);
        assert!(s.pending && s.deadline().is_some());
        s.on_control(b'd', now);
        assert!(!s.pending && s.deadline().is_none());
        s.on_control(b'o', now);
        assert_eq!(s.want, Want::None);
        assert!(s.pending);
        s.on_control(b'z', now);
        assert_eq!(s.want, Want::None);
    }

    #[test]
    fn floor_counts_from_the_last_start() {
        let now = Instant::now();
        let mut s = Sup::new("t".into(), Want::Up);
        s.last_start = Some(now);
        assert_eq!(s.deadline(), Some(now + FLOOR));
    }

    #[test]
    fn x_when_down_means_done_and_stops_starts() {
        let mut s = Sup::new("t".into(), Want::Down);
        assert!(!s.done());
        s.on_control(b'x', Instant::now());
        assert!(s.done());
        assert!(s.deadline().is_none());
        let (st, x) = s.records();
        assert_eq!(st.pid, 0);
        assert!(x.has(xstatus::FLAG_EXITING));
    }

    #[test]
    fn x_keeps_a_start_asked_for_before_it() {
        let now = Instant::now();
        let mut s = Sup::new("t".into(), Want::Down);
        s.on_control(b'o', now);
        s.on_control(b'x', now);
        assert!(!s.done(), "the start asked for by o is still due");
        assert!(s.deadline().is_some());
    }

    #[test]
    fn paused_shows_only_with_a_child() {
        let mut s = Sup::new("t".into(), Want::Down);
        s.on_control(b'p', Instant::now());
        let (st, x) = s.records();
        assert_eq!(st.pack()[16], 0);
        assert!(!x.has(xstatus::FLAG_PAUSED));
    }
}
