//! After an in-place upgrade, every supervise is replaced by the new
//! supervise without restarting its service: svscan opens the supervise's
//! `ok` and `control` fifos for reading (so svok/svstat keep seeing a
//! supervise and svc's letters wait in the fifo), SIGKILLs it (its child
//! lives on, now svscan's), starts the new supervise at once (which takes
//! the running child over by its signature in xstatus), and lets go of
//! the fifos once the new supervise holds `ok`. A few at a time.

use crate::reach::{control_dir, target_dir, target_pid, Target};
use crate::say;
use crate::tree::Tree;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Supervisors being replaced at once.
const WINDOW: usize = 16;
/// Longest svscan holds a supervise's fifos for its successor.
const HOLD: Duration = Duration::from_secs(5);
/// How often progress is checked.
const TICK: Duration = Duration::from_millis(5);

/// The fifos held open for one supervise in between.
struct Held {
    ok: PathBuf,
    _files: Vec<File>,
}

impl Held {
    fn open(dir: &Path) -> Held {
        let ok = dir.join(svkit::svdir::OK);
        let files = [svkit::svdir::OK, svkit::svdir::CONTROL]
            .iter()
            .filter_map(|f| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(dir.join(f))
                    .ok()
            })
            .collect();
        Held { ok, _files: files }
    }
}

pub struct Handover {
    queue: VecDeque<Target>,
    /// Old supervise killed, not reaped yet.
    killed: Vec<(Pid, Target, Held)>,
    /// New supervise started; fifos held until it opened `ok`.
    starting: Vec<(Pid, Held, Instant)>,
    done: usize,
}

/// Absolute directory of a live supervise (its cwd), else of its name.
fn abs_dir(s: &Tree, t: Target) -> Option<PathBuf> {
    if let Some(pid) = target_pid(s, t) {
        if let Ok(p) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
            return Some(p);
        }
    }
    let d = control_dir(s, t).or_else(|| target_dir(&s.table, t))?;
    Some(std::env::current_dir().ok()?.join(d))
}

/// True when the new supervise `pid` is ready: its xstatus names it (so it
/// runs the new program: a child still between fork and exec holds our
/// copies of the fifos) and it has `ok` open.
fn holds(pid: Pid, ok: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true; // gone: nothing to wait for
    };
    // ok is DIR/supervise/ok.
    let named = ok
        .parent()
        .and_then(Path::parent)
        .and_then(svkit::records::read_xstatus)
        .is_some_and(|x| i64::from(x.supervisor.pid) == i64::from(pid.as_raw()));
    named
        && rd
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == ok))
}

impl Handover {
    /// Every running supervise of the tree, loggers first.
    pub fn new(t: &Tree) -> Handover {
        let mut queue: VecDeque<Target> = VecDeque::new();
        for (i, e) in t.table.entries.iter().enumerate() {
            if e.log_running() {
                queue.push_back(Target::Log(i));
            }
            if e.main.running() {
                queue.push_back(Target::Main(i));
            }
        }
        if t.own.slot.running() {
            queue.push_back(Target::Own);
        }
        Handover {
            queue,
            killed: Vec::new(),
            starting: Vec::new(),
            done: 0,
        }
    }

    /// Moves the replacement on; says when to look again (None: done, and
    /// the answer is written).
    pub fn advance(&mut self, t: &Tree, now: Instant) -> Option<Instant> {
        self.starting
            .retain(|(pid, held, until)| now < *until && !holds(*pid, &held.ok));
        while self.killed.len() + self.starting.len() < WINDOW {
            let Some(x) = self.queue.pop_front() else {
                break;
            };
            let Some(pid) = target_pid(t, x) else {
                continue;
            };
            let Some(dir) = abs_dir(t, x) else {
                continue;
            };
            let held = Held::open(&dir);
            // An unreaped child of ours: the pid cannot name anything else.
            if kill(pid, Signal::SIGKILL).is_ok() {
                self.killed.push((pid, x, held));
            }
        }
        if self.queue.is_empty() && self.killed.is_empty() && self.starting.is_empty() {
            say::info(&format!(
                "upgraded: {} supervise processes replaced, no service restarted",
                self.done
            ));
            crate::upgrade::reply(&format!("ok {} supervise processes replaced\n", self.done));
            return None;
        }
        Some(now + TICK)
    }

    /// A supervise we killed was reaped and started again (the caller
    /// restarts a long-lived supervise at once): hold its fifos until the
    /// new one is ready.
    pub fn handed_over(&mut self, t: &Tree, old: Pid, now: Instant) {
        if let Some(k) = self.killed.iter().position(|(p, _, _)| *p == old) {
            let (_, x, held) = self.killed.swap_remove(k);
            if let Some(new) = target_pid(t, x) {
                self.starting.push((new, held, now + HOLD));
                self.done += 1;
            }
        }
    }

    /// Whether supervisors are still waiting to be replaced.
    pub fn unfinished(&self) -> bool {
        !self.queue.is_empty() || !self.killed.is_empty()
    }
}
