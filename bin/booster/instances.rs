//! The instance table: every launched program with its signature, its
//! connection (none with `--no-wait`), its TERM→KILL deadline, and the
//! registry file that mirrors the listed ones.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use svkit::procsig::ProcSig;
use svkit::registry::{self, Entry};

pub struct Instance {
    pub sig: ProcSig,
    pub argv0: Vec<u8>,
    pub conn: Option<u64>,
    /// In the registry: the exec succeeded.
    pub listed: bool,
    /// TERM sent; its group is swept with KILL when it is reaped.
    pub terminating: bool,
    pub kill_at: Option<Instant>,
}

pub struct Instances {
    pub map: BTreeMap<u32, Instance>,
    path: PathBuf,
    tmp: PathBuf,
    /// What the file holds now (None before the first write).
    written: Option<Vec<u8>>,
}

/// Sends `sig` to the process group `pid` leads, or to `pid` alone when
/// it has not made its session yet.
pub fn signal_group(pid: u32, sig: Signal) {
    let p = pid as i32;
    if kill(Pid::from_raw(-p), sig).is_err() {
        let _ = kill(Pid::from_raw(p), sig);
    }
}

/// TERM then CONT (a stopped program must see its TERM).
pub fn term_group(pid: u32) {
    signal_group(pid, Signal::SIGTERM);
    signal_group(pid, Signal::SIGCONT);
}

impl Instances {
    pub fn new(path: &Path) -> Instances {
        Instances {
            map: BTreeMap::new(),
            path: path.to_path_buf(),
            tmp: crate::listen::with_suffix(path, ".new"),
            written: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn add(&mut self, pid: u32, argv0: Vec<u8>, conn: Option<u64>) {
        let sig = ProcSig::of(pid).unwrap_or(ProcSig { pid, start: 0 });
        let inst = Instance {
            sig,
            argv0,
            conn,
            listed: false,
            terminating: false,
            kill_at: None,
        };
        self.map.insert(pid, inst);
    }

    /// TERM (and CONT) now, KILL after `grace` unless reaped first.
    pub fn terminate(&mut self, pid: u32, grace: Duration) {
        if let Some(i) = self.map.get_mut(&pid) {
            if !i.terminating {
                i.terminating = true;
                i.kill_at = Some(svkit::duration::deadline(Instant::now(), grace));
                term_group(pid);
            }
        }
    }

    pub fn terminate_all(&mut self, grace: Duration) {
        let pids: Vec<u32> = self.map.keys().copied().collect();
        for pid in pids {
            self.terminate(pid, grace);
        }
    }

    /// KILLs every instance whose grace is over; returns their pids.
    pub fn kill_due(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        for (&pid, i) in self.map.iter_mut() {
            if i.kill_at.is_some_and(|t| t <= now) {
                i.kill_at = None;
                signal_group(pid, Signal::SIGKILL);
                out.push(pid);
            }
        }
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.map.values().filter_map(|i| i.kill_at).min()
    }

    /// Rewrites the registry atomically when its content changed (a
    /// program that came and went within one round leaves it as it was);
    /// an error is returned for logging.
    pub fn write_registry(&mut self) -> std::io::Result<()> {
        let entries: Vec<Entry> = self
            .map
            .values()
            .filter(|i| i.listed)
            .map(|i| Entry {
                sig: i.sig,
                argv0: i.argv0.clone(),
            })
            .collect();
        let bytes = registry::format(&entries);
        if self.written.as_ref() == Some(&bytes) {
            return Ok(());
        }
        self.written = None;
        svkit::atomic::replace(&self.tmp, &self.path, &bytes, false)?;
        self.written = Some(bytes);
        Ok(())
    }

    pub fn remove_registry(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Terminates what a predecessor's registry lists and is still alive with
/// the same signature: TERM, then KILL after `grace`; waits (pidfds in one
/// poll, no sleeping) at most grace + 1 s. Returns how many it found.
pub fn end_survivors(path: &Path, grace: Duration, log: &crate::log::Log) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let entries = match registry::parse(&bytes) {
        Ok(e) => e,
        Err(e) => {
            log.warn(&format!("ignoring registry {}: {e}", path.display()));
            return 0;
        }
    };
    let mut live = Vec::new();
    for e in entries {
        let Ok(pidfd) = svkit::sys::pidfd_open(e.sig.pid) else {
            continue;
        };
        // Checked after the pidfd is held: the pid cannot be recycled
        // between the check and the signal.
        if e.sig.is_alive() {
            log.info(&format!(
                "terminating survivor pid {} {}",
                e.sig.pid,
                String::from_utf8_lossy(&e.argv0)
            ));
            term_group(e.sig.pid);
            live.push((e.sig, pidfd));
        }
    }
    let found = live.len();
    let start = Instant::now();
    let mut killed = false;
    while !live.is_empty() {
        let now = Instant::now();
        if !killed && now >= svkit::duration::deadline(start, grace) {
            for (s, _) in &live {
                signal_group(s.pid, Signal::SIGKILL);
            }
            killed = true;
        }
        let kill_at = svkit::duration::deadline(start, grace);
        let end = if killed {
            svkit::duration::deadline(kill_at, Duration::from_secs(1))
        } else {
            kill_at
        };
        if killed && now >= end {
            break;
        }
        let ms = svkit::duration::poll_timeout_ms(now, end).min(1000);
        let mut pfds: Vec<libc::pollfd> = live
            .iter()
            .map(|(_, fd)| libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let _ = svkit::sys::poll_fds(&mut pfds, ms.max(1));
        let mut k = 0;
        live.retain(|_| {
            let gone = pfds[k].revents != 0;
            k += 1;
            !gone
        });
    }
    found
}
