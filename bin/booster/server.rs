//! The booster's single poll loop: self-pipe (CHLD, TERM, INT, USR1),
//! listener, connections and spare channels; every timeout is a deadline.

mod admit;
mod launch;

use crate::conn::{Conn, Input, State};
use crate::instances::Instances;
use crate::listen::{Gate, Listener};
use crate::log::{status_text, Log};
use crate::spare::{self, Spare};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};
use svkit::selfpipe::SelfPipe;
use svkit::wire::kind;

/// A request must be complete this long after the connection is accepted.
const REQUEST_TIME: Duration = Duration::from_secs(5);
/// The orderly disconnect gives up after this.
const CLOSE_TIME: Duration = Duration::from_secs(5);
/// Pause after a failed accept (EMFILE and the like).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Connections accepted per loop round, so a flood at the listener and
/// the connections already in take turns.
const ACCEPT_BATCH: usize = 64;
/// A spare that dies unused is re-forked at most this often.
const SPARE_RETRY: Duration = Duration::from_secs(1);
/// After a hand-off, the next spare is not forked for this long unless the
/// booster has nothing else left to do (or a launch needs one): the fork
/// then never competes with the launch in flight (the old spare's wake-up
/// and exec, the program's exit and EXIT) for the CPU.
const SPARE_QUIET: Duration = Duration::from_millis(3);
/// A registry change is written at most this late, so a program that
/// comes and goes within it never touches the file (two renames saved per
/// short launch); stop and quiesce write at once.
const REGISTRY_DELAY: Duration = Duration::from_millis(3);

pub struct Config {
    pub grace: Duration,
    pub max: usize,
    pub gate: Gate,
    pub soft_nofile: u64,
    /// At most this many connections at once (from the descriptor limit).
    pub conn_cap: usize,
    /// At most this many connections of one uid that hold no instance
    /// (request being read, orderly disconnect).
    pub per_uid: usize,
}

pub struct Server {
    cfg: Config,
    log: Log,
    pipe: SelfPipe,
    listener: Option<Listener>,
    conns: BTreeMap<u64, Conn>,
    next_id: u64,
    inst: Instances,
    spare: Option<Spare>,
    spare_retry: Instant,
    /// No spare is forked while idle before this (see SPARE_QUIET).
    spare_quiet: Instant,
    stopping: bool,
    /// No accepting before this (after a failed accept).
    accept_pause: Instant,
    /// The registry needs rewriting at the end of the round this is due.
    registry_due: Option<Instant>,
    me: u32,
    scratch: Vec<u8>,
    /// Refusals are logged at most a few a second.
    refusals: crate::log::Throttle,
}

#[derive(Clone, Copy)]
enum Slot {
    Pipe,
    Listener,
    Sock(u64),
    Chan(u64),
}

impl Server {
    pub fn new(
        cfg: Config,
        log: Log,
        pipe: SelfPipe,
        listener: Listener,
        inst: Instances,
    ) -> Server {
        Server {
            cfg,
            log,
            pipe,
            listener: Some(listener),
            conns: BTreeMap::new(),
            next_id: 0,
            inst,
            spare: None,
            spare_retry: Instant::now(),
            spare_quiet: Instant::now(),
            stopping: false,
            accept_pause: Instant::now(),
            registry_due: None,
            me: std::process::id(),
            scratch: vec![0u8; 64 << 10],
            refusals: crate::log::Throttle::new(),
        }
    }

    /// Serves until stopped and everything is gone; then removes the registry.
    pub fn run(mut self) {
        self.write_registry();
        loop {
            if self.stopping && self.inst.map.is_empty() && self.conns.is_empty() {
                break;
            }
            // The next spare is forked only when nothing is waiting and no
            // launch is in flight (SPARE_QUIET), so the fork never delays
            // a reply; a launch that finds no spare forks one itself.
            let now = Instant::now();
            let want_spare = !self.stopping
                && self.spare.is_none()
                && now >= self.spare_retry
                && now >= self.spare_quiet;
            let (mut pfds, slots) = self.poll_set();
            let timeout = if want_spare { 0 } else { self.timeout_ms() };
            let ready = match svkit::sys::poll_fds(&mut pfds, timeout) {
                Ok(n) => n,
                Err(e) => {
                    self.log.warn(&format!("poll: {e}"));
                    0
                }
            };
            for (p, slot) in pfds.iter().zip(slots) {
                if p.revents != 0 {
                    self.on_ready(slot);
                }
            }
            self.on_deadlines(Instant::now());
            // Replies first, bookkeeping after: the registry is rewritten
            // after every reply of the round was sent, once its change is
            // REGISTRY_DELAY old.
            if self.registry_due.is_some_and(|t| t <= Instant::now()) {
                self.write_registry();
            }
            if want_spare && ready == 0 {
                self.ensure_spare();
            }
        }
        self.inst.remove_registry();
        self.log.info("stopped");
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Slot>) {
        let pfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut p = vec![pfd(self.pipe.read_fd())];
        let mut s = vec![Slot::Pipe];
        // Polled also at the connection cap: a newcomer is then admitted
        // in place of a pending connection of a heavier uid, or refused
        // at once — never left to wait in the backlog.
        if let Some(l) = &self.listener {
            if Instant::now() >= self.accept_pause {
                p.push(pfd(l.raw()));
                s.push(Slot::Listener);
            }
        }
        for (&id, c) in &self.conns {
            match &c.state {
                State::Launching { chan, .. } => {
                    p.push(pfd(chan.as_raw_fd()));
                    s.push(Slot::Chan(id));
                }
                State::Ending { .. } => {}
                _ => {
                    p.push(pfd(c.sock.as_raw_fd()));
                    s.push(Slot::Sock(id));
                }
            }
        }
        (p, s)
    }

    fn timeout_ms(&self) -> i32 {
        let mut next = self.inst.next_deadline();
        for c in self.conns.values() {
            next = match (next, c.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !self.stopping && self.spare.is_none() {
            let t = self.spare_retry.max(self.spare_quiet);
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(t) = self.registry_due {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if self.listener.is_some() && self.accept_pause > Instant::now() {
            next = Some(next.map_or(self.accept_pause, |n| n.min(self.accept_pause)));
        }
        if let Some(t) = self.refusals.deadline() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        match next {
            None => -1,
            Some(t) => svkit::duration::poll_timeout_ms(Instant::now(), t).min(60_000),
        }
    }

    fn on_ready(&mut self, slot: Slot) {
        match slot {
            Slot::Pipe => {
                for sig in self.pipe.drain() {
                    match sig {
                        Signal::SIGCHLD => self.reap(),
                        Signal::SIGTERM | Signal::SIGINT => self.stop(),
                        Signal::SIGUSR1 => self.quiesce(),
                        other => self.log.info(&format!("{} ignored", other.as_str())),
                    }
                }
            }
            Slot::Listener => self.accept(),
            Slot::Sock(id) => self.on_sock(id),
            Slot::Chan(id) => self.on_chan(id),
        }
    }

    fn ensure_spare(&mut self) {
        if self.stopping || self.spare.is_some() || Instant::now() < self.spare_retry {
            return;
        }
        match spare::fork(self.me, self.cfg.soft_nofile) {
            Ok(s) => self.spare = Some(s),
            Err(e) => {
                self.log.warn(&format!("unable to fork spare: {e}"));
                self.spare_retry = Instant::now() + SPARE_RETRY;
            }
        }
    }

    fn on_sock(&mut self, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match &c.state {
            State::Reading { .. } => self.read_request(id),
            State::Running { pid } => {
                let pid = *pid;
                if let Input::Eof = c.discard(&mut self.scratch) {
                    // The invoker left (TERM, KILL, orderly disconnect):
                    // its program goes too.
                    c.state = State::Ending { pid };
                    self.log
                        .info(&format!("invoker of pid {pid} gone: terminating"));
                    self.inst.terminate(pid, self.cfg.grace);
                }
            }
            State::Closing { .. } => {
                if let Input::Eof = c.discard(&mut self.scratch) {
                    self.conns.remove(&id);
                }
            }
            _ => {}
        }
    }

    fn reap(&mut self) {
        while let Some(pid) = svkit::sys::peek_exited() {
            // Still a zombie: what it left in its group goes with it.
            if let Some(i) = self.inst.map.get(&pid).filter(|i| i.terminating) {
                i.pidfd.signal_group(Signal::SIGKILL);
            }
            let status = match svkit::sys::reap_raw(pid as i32) {
                Ok(Some((_, s))) => s,
                _ => break,
            };
            if self.spare.as_ref().is_some_and(|s| s.pid == pid) {
                self.spare = None;
                self.spare_retry = Instant::now() + SPARE_RETRY;
                continue;
            }
            let Some(conn) = self.inst.map.get(&pid).map(|i| i.conn) else {
                continue;
            };
            // EXIT goes out first (a fast program may not even have been
            // announced yet: finish sends LAUNCHED too), bookkeeping after.
            if let Some(id) = conn {
                self.finish(id, pid, status);
            }
            if self.inst.map.len() == 1 {
                // Nothing left in flight: the next spare may come now.
                self.spare_quiet = Instant::now();
            }
            if let Some(i) = self.inst.map.remove(&pid) {
                if i.listed {
                    let a = String::from_utf8_lossy(&i.argv0);
                    self.log
                        .info(&format!("pid {pid} {a}: {}", status_text(status)));
                    self.registry_changed();
                }
            }
        }
    }

    fn drop_half_read(&mut self) {
        self.conns
            .retain(|_, c| !matches!(c.state, State::Reading { .. }));
    }

    fn kill_spare(&mut self) {
        if let Some(s) = self.spare.take() {
            let _ = s.pidfd.signal(Signal::SIGKILL);
        }
    }

    /// TERM/INT (`svc -d`): nothing can be launched any more.
    fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.log
            .info("stopping: socket removed, terminating instances");
        if let Some(l) = self.listener.take() {
            l.remove();
        }
        self.kill_spare();
        self.drop_half_read();
        self.inst.terminate_all(self.cfg.grace);
        self.registry_due = self.registry_due.map(|_| Instant::now());
    }

    /// USR1 (`svc -1`): instances go, the socket stays, a fresh spare.
    fn quiesce(&mut self) {
        if self.stopping {
            return;
        }
        self.log.info("quiescing: terminating instances");
        self.kill_spare();
        self.spare_retry = Instant::now();
        self.spare_quiet = Instant::now();
        self.drop_half_read();
        self.inst.terminate_all(self.cfg.grace);
        // booster-drain may read the registry right after `svc -1`.
        self.registry_due = self.registry_due.map(|_| Instant::now());
    }

    fn on_deadlines(&mut self, now: Instant) {
        if let Some(n) = self.refusals.flush(now) {
            self.log.info(&format!("{n} more refusals not logged"));
        }
        for pid in self.inst.kill_due(now) {
            self.log.info(&format!("pid {pid}: grace over, KILL"));
        }
        let late: Vec<(u64, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline().is_some_and(|d| d <= now))
            .map(|(&id, c)| (id, matches!(c.state, State::Reading { .. })))
            .collect();
        for (id, reading) in late {
            if reading {
                self.refuse(
                    id,
                    kind::TIMEOUT,
                    libc::ETIMEDOUT,
                    "request not complete in 5s",
                );
                // No second chance: a slow peer is not waited for again.
                self.conns.remove(&id);
            } else {
                self.conns.remove(&id);
            }
        }
    }

    fn registry_changed(&mut self) {
        if self.registry_due.is_none() {
            self.registry_due = Some(Instant::now() + REGISTRY_DELAY);
        }
    }

    fn write_registry(&mut self) {
        self.registry_due = None;
        if let Err(e) = self.inst.write_registry() {
            let p = self.inst.path().display();
            self.log.warn(&format!("unable to write {p}: {e}"));
        }
    }
}
