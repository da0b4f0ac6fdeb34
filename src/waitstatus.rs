//! A raw wait status (as `waitpid` fills it), decoded in one place.

use std::fmt;

/// A raw wait status. `UNKNOWN` (-1) stands for "could not be known" (a
/// process that was not our child): neither exited nor signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    pub const UNKNOWN: WaitStatus = WaitStatus(-1);

    /// From `waitid`'s `si_code` and `si_status`.
    pub fn from_siginfo(code: i32, status: i32) -> Option<WaitStatus> {
        Some(WaitStatus(match code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_KILLED => status & 0x7f,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => return None,
        }))
    }

    /// Exit code if the process exited normally.
    pub fn code(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }

    /// Signal number if the process was killed by a signal.
    pub fn signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    /// As a shell reports it: the code, or 128 + the signal.
    pub fn shell_code(self) -> Option<i32> {
        self.code().or_else(|| self.signal().map(|s| 128 + s))
    }

    /// s6's arguments for `finish`: `CODE 0`, or `256 SIGNAL`, or `256 0`
    /// when unknown.
    pub fn finish_args(self) -> (String, String) {
        match (self.code(), self.signal()) {
            (_, Some(s)) => ("256".into(), s.to_string()),
            (Some(c), None) => (c.to_string(), "0".into()),
            (None, None) => ("256".into(), "0".into()),
        }
    }
}

impl fmt::Display for WaitStatus {
    /// `exit N`, `signal N`, or `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self.signal()) {
            (Some(c), _) => write!(f, "exit {c}"),
            (_, Some(s)) => write!(f, "signal {s}"),
            _ => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        let exited = WaitStatus(3 << 8);
        assert_eq!((exited.code(), exited.signal()), (Some(3), None));
        assert_eq!(exited.shell_code(), Some(3));
        assert_eq!(exited.to_string(), "exit 3");
        let killed = WaitStatus(9);
        assert_eq!((killed.code(), killed.signal()), (None, Some(9)));
        assert_eq!(killed.shell_code(), Some(137));
        assert_eq!(killed.to_string(), "signal 9");
        let dumped = WaitStatus(11 | 0x80);
        assert_eq!(dumped.signal(), Some(11));
        let u = WaitStatus::UNKNOWN;
        assert_eq!((u.code(), u.signal(), u.shell_code()), (None, None, None));
        assert_eq!(u.to_string(), "unknown");
    }

    #[test]
    fn finish_arguments() {
        assert_eq!(WaitStatus(3 << 8).finish_args(), ("3".into(), "0".into()));
        assert_eq!(WaitStatus(9).finish_args(), ("256".into(), "9".into()));
        assert_eq!(
            WaitStatus::UNKNOWN.finish_args(),
            ("256".into(), "0".into())
        );
    }

    #[test]
    fn from_siginfo() {
        assert_eq!(
            WaitStatus::from_siginfo(libc::CLD_EXITED, 7),
            Some(WaitStatus(7 << 8))
        );
        assert_eq!(
            WaitStatus::from_siginfo(libc::CLD_KILLED, 15),
            Some(WaitStatus(15))
        );
        assert_eq!(WaitStatus::from_siginfo(libc::CLD_STOPPED, 19), None);
    }
}
