//! Where the booster's one-line event log goes: stderr with `-e` or when
//! stderr is a terminal, else syslog, else (no /dev/log) stderr.

use std::io::Write;
use std::time::{Duration, Instant};

pub enum Log {
    Stderr,
    Syslog,
}

impl Log {
    pub fn choose(force_stderr: bool) -> Log {
        let tty = nix::unistd::isatty(2).unwrap_or(false);
        if force_stderr || tty || !std::path::Path::new("/dev/log").exists() {
            return Log::Stderr;
        }
        svkit::sys::open_syslog(c_ident());
        Log::Syslog
    }

    pub fn info(&self, msg: &str) {
        self.line(libc::LOG_INFO, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.line(libc::LOG_WARNING, &format!("warning: {msg}"));
    }

    fn line(&self, prio: libc::c_int, msg: &str) {
        match self {
            Log::Stderr => {
                let text = format!("booster: {msg}\n");
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            Log::Syslog => svkit::sys::syslog(prio, msg),
        }
    }
}

fn c_ident() -> &'static std::ffi::CStr {
    std::ffi::CStr::from_bytes_with_nul(b"booster\0").unwrap_or_default()
}

/// A wait status in words: `exit 3` or `signal 15`.
pub fn status_text(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit {}", libc::WEXITSTATUS(status))
    }
}

/// Lines of one kind per period: the rest are counted, and the count is
/// logged once the period is over (so a flood of refusals costs a few
/// lines a second, not one per peer).
pub struct Throttle {
    start: Instant,
    used: u32,
    dropped: u64,
}

const PERIOD: Duration = Duration::from_secs(1);
const LINES: u32 = 5;

impl Throttle {
    pub fn new() -> Throttle {
        Throttle {
            start: Instant::now(),
            used: 0,
            dropped: 0,
        }
    }

    /// Whether to log one more line now.
    pub fn take(&mut self, now: Instant) -> bool {
        if now >= self.start + PERIOD && self.dropped == 0 {
            self.start = now;
            self.used = 0;
        }
        if self.used < LINES {
            self.used += 1;
            return true;
        }
        self.dropped += 1;
        false
    }

    /// When [`Throttle::flush`] has a count to report.
    pub fn deadline(&self) -> Option<Instant> {
        (self.dropped > 0).then_some(self.start + PERIOD)
    }

    /// How many went unlogged in the period that is now over; starts the
    /// next period (the report is its first line).
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        if self.dropped == 0 || now < self.start + PERIOD {
            return None;
        }
        let n = std::mem::take(&mut self.dropped);
        self.start = now;
        self.used = 1;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_what_it_drops() {
        let t0 = Instant::now();
        let mut t = Throttle::new();
        t.start = t0;
        let logged = (0..100).filter(|_| t.take(t0)).count();
        assert_eq!(logged, LINES as usize);
        assert_eq!(t.deadline(), Some(t0 + PERIOD));
        assert_eq!(t.flush(t0), None);
        assert_eq!(t.flush(t0 + PERIOD), Some(100 - u64::from(LINES)));
        assert_eq!(t.deadline(), None);
        let logged = (0..100).filter(|_| t.take(t0 + PERIOD)).count();
        assert_eq!(logged, LINES as usize - 1);
    }
}
