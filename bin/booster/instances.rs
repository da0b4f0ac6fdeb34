//! The instance table: every launched program with its signature, its
//! connection (none with `--no-wait`), its TERM→KILL deadline, and the
//! registry file that mirrors the listed ones.

use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use svkit::pidfd::{PidFd, Reached};
use svkit::procsig::ProcSig;
use svkit::registry::{self, Entry};

pub struct Instance {
    /// Held from the fork on; every signal goes through it.
    pub pidfd: PidFd,
    /// Read when the registry first lists it (unreaped, so still there),
    /// not on the launch's path.
    pub sig: Option<ProcSig>,
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
    /// This boot's id, written with every signature.
    boot: Option<[u8; 16]>,
}

/// TERM then CONT (a stopped program must see its TERM) to the group the
/// process leads, through its pidfd.
pub fn term_group(p: &PidFd) -> Reached {
    let r = p.signal_group(Signal::SIGTERM);
    p.signal_group(Signal::SIGCONT);
    r
}

impl Instances {
    pub fn new(path: &Path) -> Instances {
        Instances {
            map: BTreeMap::new(),
            path: path.to_path_buf(),
            tmp: crate::listen::with_suffix(path, ".new"),
            written: None,
            boot: svkit::procsig::boot_id().ok(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn add(&mut self, pidfd: PidFd, argv0: Vec<u8>, conn: Option<u64>) {
        let pid = pidfd.pid();
        let inst = Instance {
            pidfd,
            sig: None,
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
                term_group(&i.pidfd);
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
                i.pidfd.signal_group(Signal::SIGKILL);
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
        for (&pid, i) in self.map.iter_mut().filter(|(_, i)| i.listed) {
            if i.sig.is_none() {
                i.sig = Some(ProcSig::of(pid).unwrap_or(ProcSig { pid, start: 0 }));
            }
        }
        let entries: Vec<Entry> = self
            .map
            .values()
            .filter(|i| i.listed)
            .map(|i| Entry {
                sig: i.sig.unwrap_or_default(),
                argv0: i.argv0.clone(),
                boot: self.boot,
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
/// These are not our children: everything goes through pidfds. A group
/// whose leader has already exited cannot be reached (no pidfd can be
/// opened for it, and its id may name another group by now): the
/// leader's PDEATHSIG and the program's own handling of its children are
/// all that stop such members.
pub fn end_survivors(path: &Path, grace: Duration, log: &crate::log::Log) -> usize {
    if std::fs::symlink_metadata(path).is_err() {
        return 0;
    }
    // Only this boot's entries: after a reboot the same pid and start
    // time can name anything.
    let entries = match registry::load(path) {
        Ok(e) => e,
        Err(e) => {
            log.warn(&format!("ignoring registry {}: {e}", path.display()));
            return 0;
        }
    };
    let mut live = Vec::new();
    for e in entries {
        let Ok(pidfd) = PidFd::open(e.sig.pid) else {
            continue;
        };
        // Checked after the pidfd is held: a pidfd does not reserve the
        // number, but it names one process for good, so once this process
        // is known to be the one listed, every signal reaches it or nobody.
        if e.sig.is_alive() {
            let argv0 = String::from_utf8_lossy(&e.argv0);
            log.info(&format!("terminating survivor pid {} {argv0}", e.sig.pid));
            if term_group(&pidfd) == Reached::LeaderOnly {
                log.warn(&format!(
                    "pid {}: this kernel cannot signal its process group through a pidfd; other members are out of reach",
                    e.sig.pid
                ));
            }
            live.push((e.sig, pidfd));
        }
    }
    let found = live.len();
    let start = Instant::now();
    let mut killed = false;
    while !live.is_empty() {
        let now = Instant::now();
        if !killed && now >= svkit::duration::deadline(start, grace) {
            for (_, p) in &live {
                p.signal_group(Signal::SIGKILL);
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
            .map(|(_, p)| libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(p),
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
