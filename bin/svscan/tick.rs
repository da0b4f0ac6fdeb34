//! When to scan: at start, on SIGHUP/SIGALRM, and every 5 s — where the
//! 5 s scan is skipped (one stat of DIR) while DIR is unchanged and
//! nothing waits to be started, reported or forgotten. `due` is the pure
//! decision; `dir_stamp` the one stat it needs.

use nix::sys::stat::stat;
use std::time::{Duration, Instant};

/// Device, inode, mtime and ctime (seconds, nanoseconds) of the scan
/// directory: any entry added, removed or renamed changes them.
pub type Stamp = (u64, u64, i64, i64, i64, i64);

/// At least this often, even when DIR looks unchanged, what can change
/// without DIR changing is checked: the targets of symlinked services
/// (replaced elsewhere) and `.svscan/log` (created inside an existing
/// `.svscan`). Real directories cannot change without DIR's times.
pub const FULL_SCAN_EVERY: Duration = Duration::from_secs(60);

/// What a tick has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: DIR unchanged, nothing waiting.
    No,
    /// Re-check the symlinked entries and `.svscan/log` only.
    Links,
    /// Read DIR and look at every entry.
    Full,
}

/// DIR's stamp, or None when it cannot be trusted: a change in the same
/// clock tick as the one we saw would leave the times equal, so only
/// times at least two seconds old count.
pub fn dir_stamp() -> Option<Stamp> {
    let st = stat(".").ok()?;
    let stamp = (
        st.st_dev,
        st.st_ino,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_ctime,
        st.st_ctime_nsec,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    (now - st.st_mtime.max(st.st_ctime) >= 2).then_some(stamp)
}

/// What a periodic tick must do: a full scan when `forced` (SIGHUP,
/// SIGALRM, start-up), when work is `waiting`, or when DIR's stamp is
/// unknown or changed since the last full scan; the links check when that
/// scan is older than FULL_SCAN_EVERY; else nothing.
pub fn due(
    now: Instant,
    forced: bool,
    stamp: Option<Stamp>,
    last: Option<Stamp>,
    last_full: Option<Instant>,
    waiting: bool,
) -> Due {
    let Some(full) = last_full else {
        return Due::Full;
    };
    if forced || waiting || stamp.is_none() || stamp != last {
        Due::Full
    } else if now.saturating_duration_since(full) >= FULL_SCAN_EVERY {
        Due::Links
    } else {
        Due::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case() {
        let t0 = Instant::now();
        let s = Some((1, 2, 3, 4, 5, 6));
        let other = Some((1, 2, 3, 4, 5, 7));
        let soon = t0 + Duration::from_secs(5);
        let late = t0 + FULL_SCAN_EVERY;
        assert_eq!(due(soon, false, s, s, Some(t0), false), Due::No);
        assert_eq!(due(soon, true, s, s, Some(t0), false), Due::Full);
        assert_eq!(due(soon, false, s, s, Some(t0), true), Due::Full);
        assert_eq!(due(soon, false, other, s, Some(t0), false), Due::Full);
        assert_eq!(due(soon, false, None, None, Some(t0), false), Due::Full);
        assert_eq!(due(soon, false, s, s, None, false), Due::Full);
        // An unchanged DIR is never read in full just because time passed.
        assert_eq!(due(late, false, s, s, Some(t0), false), Due::Links);
        assert_eq!(due(late, true, s, s, Some(t0), false), Due::Full);
    }
}
