//! `svc -w`: waiting, event-driven, until every directory reaches a state.
//!
//! inotify on each `DIR/supervise` sees `status` and `xstatus` being
//! replaced (rename) or rewritten; a pidfd on supervise itself (from the
//! extended record) sees it exit. Nothing is polled on a timer: the only
//! timer is the `-T` deadline.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;
use svkit::records;
use svkit::status::Status;
use svkit::svdir;
use svkit::xstatus::{XStatus, FLAG_FINISHING, FLAG_READY};

/// What `-w` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// `u`: up.
    Up,
    /// `U`: up and ready (the extended record's ready flag for this pid).
    Ready,
    /// `d`: down.
    Down,
    /// `D`: down and finished (`finish` no longer running).
    Finished,
}

impl Goal {
    pub fn from_arg(s: &str) -> Option<Goal> {
        Some(match s {
            "u" => Goal::Up,
            "U" => Goal::Ready,
            "d" => Goal::Down,
            "D" => Goal::Finished,
            _ => return None,
        })
    }

    pub fn words(self) -> &'static str {
        match self {
            Goal::Up => "up",
            Goal::Ready => "up and ready",
            Goal::Down => "down",
            Goal::Finished => "down and finished",
        }
    }
}

/// Letters that end the running process: after them, the process seen
/// before the command no longer counts (`-wu -t` waits for a new pid).
pub const ENDING_LETTERS: &[u8] = b"dtkiq";

/// One directory being waited for.
pub struct Waited {
    pub shown: String,
    /// The goal for this directory (`U` is `u` without `notification-fd`).
    pub goal: Goal,
    pub path: PathBuf,
    /// The pid that must not satisfy the goal (0: none).
    pub old_pid: u32,
    pub pidfd: Option<OwnedFd>,
}

/// Where a directory stands.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Reached,
    Pending,
    /// Supervise is gone and the goal was not reached.
    Lost,
}

/// Does this pair of records satisfy `goal`, given the pid to ignore?
pub fn satisfied(goal: Goal, s: &Status, x: Option<&XStatus>, old_pid: u32) -> bool {
    // A new pid means the old process went down (and finished) already.
    let replaced = old_pid != 0 && s.pid != 0 && s.pid != old_pid;
    // The extended record lags `status` by one rename; only believe it
    // when it names the same pid.
    let has_x = x.is_some();
    let x = x.filter(|x| x.child.pid == s.pid);
    match goal {
        Goal::Up => s.pid != 0 && s.pid != old_pid,
        Goal::Ready => {
            s.pid != 0
                && s.pid != old_pid
                && x.is_some_and(|x| x.has(FLAG_READY) && !x.ready.is_zero())
        }
        Goal::Down => s.pid == 0 || replaced,
        // Without an extended record (djb's supervise) there is no finish.
        Goal::Finished => {
            replaced || (s.pid == 0 && (!has_x || x.is_some_and(|x| !x.has(FLAG_FINISHING))))
        }
    }
}

/// The pidfd of the supervise that wrote `dir`'s extended record, if it
/// still runs; lets the wait notice supervise exiting.
pub fn supervisor_pidfd(dir: &Path) -> Option<OwnedFd> {
    let x = records::read_live_xstatus(dir)?;
    let fd = svkit::sys::pidfd_open(x.supervisor.pid).ok()?;
    // Checked after opening: the pidfd surely names the recorded process.
    x.supervisor_alive().then_some(fd)
}

fn check(w: &Waited, supervisor_gone: bool) -> Check {
    let s = records::read_status(&w.path).ok();
    let x = records::read_live_xstatus(&w.path);
    match s {
        Some(s) if satisfied(w.goal, &s, x.as_ref(), w.old_pid) => Check::Reached,
        _ if supervisor_gone => Check::Lost,
        _ => Check::Pending,
    }
}

pub fn inotify() -> nix::Result<Inotify> {
    Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
}

/// Watches `dir/supervise` for replaced or rewritten records.
pub fn watch(ino: &Inotify, dir: &Path) -> nix::Result<()> {
    let flags = AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE_SELF;
    ino.add_watch(&dir.join(svdir::SUPERVISE), flags)
        .map(|_| ())
}

pub enum Outcome {
    AllReached,
    /// Directories that supervise left before the goal.
    Lost(Vec<(String, Goal)>),
    /// Directories still pending at the deadline.
    TimedOut(Vec<(String, Goal)>),
}

/// Waits until every directory satisfies `goal` or the deadline passes.
pub fn wait_all(ino: &Inotify, mut dirs: Vec<Waited>, deadline: Option<Instant>) -> Outcome {
    let mut lost = Vec::new();
    let mut gone = vec![false; dirs.len()];
    loop {
        let mut i = 0;
        while i < dirs.len() {
            match check(&dirs[i], gone[i]) {
                Check::Pending => i += 1,
                c => {
                    if c == Check::Lost {
                        lost.push((dirs[i].shown.clone(), dirs[i].goal));
                    }
                    dirs.remove(i);
                    gone.remove(i);
                }
            }
        }
        if dirs.is_empty() {
            return if lost.is_empty() {
                Outcome::AllReached
            } else {
                Outcome::Lost(lost)
            };
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Outcome::TimedOut(
                        dirs.into_iter().map(|w| (w.shown, w.goal)).collect(),
                    );
                }
                let ms = svkit::duration::poll_timeout_ms(Instant::now(), d);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let with_pidfd: Vec<usize> = (0..dirs.len())
            .filter(|&i| dirs[i].pidfd.is_some() && !gone[i])
            .collect();
        for &i in &with_pidfd {
            if let Some(fd) = &dirs[i].pidfd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            // poll on valid fds does not fail otherwise; let the deadline rule.
            Err(_) => continue,
        }
        let fired: Vec<bool> = fds[1..]
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (k, &i) in with_pidfd.iter().enumerate() {
            if fired[k] {
                gone[i] = true;
            }
        }
        // Drain; the events' content does not matter, only that one came.
        while let Ok(ev) = ino.read_events() {
            if ev.is_empty() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use svkit::procsig::ProcSig;
    use svkit::status::Want;
    use svkit::tai64n::Tai64n;

    fn st(pid: u32) -> Status {
        Status {
            when: Tai64n::ZERO,
            pid,
            paused: false,
            want: Want::Up,
        }
    }

    fn xs(pid: u32, flags: u8) -> XStatus {
        let mut x = XStatus::new(ProcSig::default());
        x.child.pid = pid;
        x.flags = flags;
        x.ready = Tai64n { secs: 1, nanos: 0 };
        x
    }

    #[test]
    fn goals() {
        assert!(satisfied(Goal::Up, &st(5), None, 0));
        assert!(!satisfied(Goal::Up, &st(5), None, 5));
        assert!(satisfied(Goal::Up, &st(6), None, 5));
        assert!(!satisfied(Goal::Ready, &st(5), None, 0));
        assert!(!satisfied(Goal::Ready, &st(5), Some(&xs(4, FLAG_READY)), 0));
        assert!(satisfied(Goal::Ready, &st(5), Some(&xs(5, FLAG_READY)), 0));
        assert!(satisfied(Goal::Down, &st(0), None, 0));
        assert!(!satisfied(Goal::Down, &st(5), None, 0));
        assert!(satisfied(Goal::Down, &st(6), None, 5));
        assert!(!satisfied(
            Goal::Finished,
            &st(0),
            Some(&xs(0, FLAG_FINISHING)),
            5
        ));
        assert!(satisfied(Goal::Finished, &st(0), Some(&xs(0, 0)), 5));
        assert!(satisfied(Goal::Finished, &st(0), None, 0));
        // A lagging record (still naming the old pid) says nothing yet.
        assert!(!satisfied(Goal::Finished, &st(0), Some(&xs(5, 0)), 5));
    }
}
