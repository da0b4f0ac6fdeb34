//! After an in-place upgrade, every supervise is replaced by the new
//! supervise without restarting its service: svscan opens the supervise's
//! `ok` and `control` fifos for reading (so svok/svstat keep seeing a
//! supervise and svc's letters wait in the fifo), SIGKILLs it (its child
//! lives on, now svscan's), starts the new supervise at once (which takes
//! the running child over by its signature in xstatus), and lets go of
//! the fifos once the new supervise holds `ok`. A few at a time.

use crate::reach::{control_dir, target_dir, target_pid, Target};
use crate::say;
use crate::scan::Scanner;
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
fn abs_dir(s: &Scanner, t: Target) -> Option<PathBuf> {
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
    let xstatus = ok.with_file_name("xstatus");
    let named = std::fs::read(xstatus)
        .ok()
        .and_then(|b| svkit::xstatus::XStatus::unpack(&b).ok())
        .is_some_and(|x| i64::from(x.supervisor.pid) == i64::from(pid.as_raw()));
    named
        && rd
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == ok))
}

impl Scanner {
    /// Starts replacing every running supervise.
    pub fn begin_handover(&mut self) {
        let mut queue: VecDeque<Target> = VecDeque::new();
        for (i, e) in self.table.entries.iter().enumerate() {
            if e.log_running() {
                queue.push_back(Target::Log(i));
            }
            if e.main.running() {
                queue.push_back(Target::Main(i));
            }
        }
        if self.own.slot.running() {
            queue.push_back(Target::Own);
        }
        self.handover = Some(Handover {
            queue,
            killed: Vec::new(),
            starting: Vec::new(),
            done: 0,
        });
    }

    /// Moves the replacement on; says when to look again (None: done).
    pub fn advance_handover(&mut self, now: Instant) -> Option<Instant> {
        let mut h = self.handover.take()?;
        h.starting
            .retain(|(pid, held, until)| now < *until && !holds(*pid, &held.ok));
        while h.killed.len() + h.starting.len() < WINDOW {
            let Some(t) = h.queue.pop_front() else {
                break;
            };
            let Some(pid) = target_pid(self, t) else {
                continue;
            };
            let Some(dir) = abs_dir(self, t) else {
                continue;
            };
            let held = Held::open(&dir);
            // An unreaped child of ours: the pid cannot name anything else.
            if kill(pid, Signal::SIGKILL).is_ok() {
                h.killed.push((pid, t, held));
            }
        }
        if h.queue.is_empty() && h.killed.is_empty() && h.starting.is_empty() {
            say::info(&format!(
                "upgraded: {} supervise processes replaced, no service restarted",
                h.done
            ));
            crate::upgrade::reply(&format!("ok {} supervise processes replaced\n", h.done));
            return None;
        }
        self.handover = Some(h);
        Some(now + TICK)
    }

    /// A supervise we killed was reaped and (by `on_exit`) started again:
    /// hold its fifos until the new one is ready.
    pub fn handed_over(&mut self, old: Pid, now: Instant) {
        let Some(mut h) = self.handover.take() else {
            return;
        };
        if let Some(k) = h.killed.iter().position(|(p, _, _)| *p == old) {
            let (_, t, held) = h.killed.swap_remove(k);
            if let Some(new) = target_pid(self, t) {
                h.starting.push((new, held, now + HOLD));
                h.done += 1;
            }
        }
        self.handover = Some(h);
    }

    /// A shutdown ends the replacement (what is left stays as it is).
    pub fn drop_handover(&mut self) {
        if let Some(h) = self.handover.take() {
            if !h.queue.is_empty() || !h.killed.is_empty() {
                say::warn("stopping during an upgrade: not every supervise was replaced");
            }
        }
    }
}
