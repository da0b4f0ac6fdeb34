//! When to scan: at start, on SIGHUP/SIGALRM, and every 5 s — where the
//! 5 s scan is skipped (one stat of DIR) while DIR is unchanged and
//! nothing waits to be started, reported or forgotten.

use crate::scan::Scanner;
use nix::sys::stat::stat;
use std::time::{Duration, Instant};

/// Device, inode, mtime and ctime (seconds, nanoseconds) of the scan
/// directory: any entry added, removed or renamed changes them.
pub type Stamp = (u64, u64, i64, i64, i64, i64);

/// A periodic scan is done in full at least this often even when DIR
/// looks unchanged (a symlinked service replaced elsewhere, `.svscan/log`
/// created inside an existing `.svscan`).
pub const FULL_SCAN_EVERY: Duration = Duration::from_secs(60);

fn dir_stamp() -> Option<Stamp> {
    let st = stat(".").ok()?;
    let stamp = (
        st.st_dev,
        st.st_ino,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_ctime,
        st.st_ctime_nsec,
    );
    // A change in the same clock tick as the one we saw would leave the
    // times equal: trust only times at least two seconds old.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    (now - st.st_mtime.max(st.st_ctime) >= 2).then_some(stamp)
}

impl Scanner {
    /// The periodic scan: skipped (one stat of DIR) when DIR is unchanged
    /// since the last full scan, nothing is waiting to be started or
    /// reported, and the last full scan is recent. `forced` (SIGHUP,
    /// SIGALRM, start-up) always scans in full.
    pub fn tick(&mut self, now: Instant, forced: bool) {
        let stamp = dir_stamp();
        let recent = self
            .last_full
            .map(|t| now.duration_since(t) < FULL_SCAN_EVERY)
            .unwrap_or(false);
        if !forced && recent && stamp.is_some() && stamp == self.stamp && !self.work_waiting() {
            return;
        }
        self.stamp = stamp;
        self.last_full = Some(now);
        self.scan(now);
    }

    /// Something a scan may change without DIR changing: a problem
    /// reported (e.g. `run` missing), a supervise waiting to be restarted,
    /// an entry gone from DIR waiting to be forgotten.
    fn work_waiting(&self) -> bool {
        !self.once.is_empty()
            || (self.own.configured() && !self.own.slot.running())
            || self.table.entries.iter().any(|e| {
                !e.active
                    || !e.main.running()
                    || e.log.as_ref().map(|l| !l.slot.running()).unwrap_or(false)
            })
    }
}
