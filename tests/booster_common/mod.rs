//! Helpers for the booster/invoker tests: start a booster on a scratch
//! socket (under the caller's Guard), build invoker commands, wait for a
//! child with a deadline, read the registry.
#![allow(dead_code)]

use crate::common::*;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Booster {
    pub pid: u32,
    pub sock: PathBuf,
    pub log: PathBuf,
    pub stop: StopFirst,
    pub dir: Scratch,
}

/// Kills the booster (the test's own unreaped child: the Guard reaps it)
/// when dropped; a `Booster` field declared before `dir`, so the booster
/// is gone before its scratch directory is removed (it may still be about
/// to write its registry there: writes are coalesced for 3 ms).
pub struct StopFirst(pub u32);

impl Drop for StopFirst {
    fn drop(&mut self) {
        signal(self.0, nix::sys::signal::Signal::SIGKILL);
        poll_until(Duration::from_secs(5), || !pid_alive(self.0));
    }
}

impl Booster {
    pub fn registry(&self) -> PathBuf {
        PathBuf::from(format!("{}.instances", self.sock.display()))
    }

    /// Pids listed in the registry (empty when missing).
    pub fn listed(&self) -> Vec<u32> {
        let b = std::fs::read(self.registry()).unwrap_or_default();
        svkit::registry::parse(&b)
            .unwrap_or_default()
            .iter()
            .map(|e| e.sig.pid)
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn invoker(&self) -> Command {
        let mut c = ours("invoker");
        c.arg("-s").arg(&self.sock);
        c
    }

    /// Waits until exactly `n` instances are listed, all of them running
    /// (the registry is rewritten after a round's replies, so a line of a
    /// program that just exited may linger for a moment); returns them.
    pub fn wait_listed(&self, n: usize) -> Vec<u32> {
        let ok = poll_until(Duration::from_secs(10), || {
            let l = self.listed();
            l.len() == n && l.iter().all(|&p| pid_alive(p))
        });
        assert!(
            ok,
            "registry never listed {n}: {:?}\n{}",
            self.listed(),
            self.log_text()
        );
        self.listed()
    }
}

/// Starts `booster -e ARGS SOCK` in a fresh scratch dir and waits until
/// the socket accepts.
pub fn start_booster(g: &mut Guard, tag: &str, args: &[&str]) -> Booster {
    let dir = Scratch::new(tag);
    let sock = dir.join("socket");
    start_booster_in(g, dir, sock, args)
}

pub fn start_booster_in(g: &mut Guard, dir: Scratch, sock: PathBuf, args: &[&str]) -> Booster {
    let log = dir.join("log");
    let f = std::fs::File::create(&log).expect("log file");
    let pid = g.spawn(
        ours("booster")
            .arg("-e")
            .args(args)
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(f),
    );
    let ok = poll_until(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    assert!(ok, "booster did not listen on {}", sock.display());
    Booster {
        pid,
        sock,
        log,
        stop: StopFirst(pid),
        dir,
    }
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for a Guard-spawned child.
pub fn wait_pid(g: &mut Guard, pid: u32, limit: Duration) -> Option<ExitStatus> {
    wait_child(g.child(pid).expect("guarded child"), limit)
}

pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

pub fn gone(pids: &[u32], limit: Duration) -> bool {
    poll_until(limit, || pids.iter().all(|&p| !pid_alive(p)))
}
