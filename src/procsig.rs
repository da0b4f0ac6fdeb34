//! Process signatures: pid plus start time (field 22 of `/proc/PID/stat`,
//! clock ticks since boot), so a recycled pid is never taken for the
//! process we started (seed 001).

use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcSig {
    pub pid: u32,
    pub start: u64,
}

impl ProcSig {
    /// Reads the signature of the live process `pid`.
    pub fn of(pid: u32) -> io::Result<ProcSig> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let start = parse_starttime(&text)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc stat line"))?;
        Ok(ProcSig { pid, start })
    }

    pub fn of_self() -> io::Result<ProcSig> {
        ProcSig::of(std::process::id())
    }

    /// True when a process with this pid exists now and started at the
    /// recorded time. A zombie still matches: it has not been reaped.
    pub fn is_alive(&self) -> bool {
        self.pid != 0 && ProcSig::of(self.pid).map(|s| s == *self).unwrap_or(false)
    }
}

/// Extracts field 22 (starttime) from a `/proc/PID/stat` line. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub fn parse_starttime(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come fields 3.. ; starttime is field 22, the 20th of them.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_awkward_comm() {
        let line = "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_starttime(line), Some(98765));
    }

    #[test]
    fn rejects_short() {
        assert_eq!(parse_starttime("1 (x) S 1 2"), None);
        assert_eq!(parse_starttime("garbage"), None);
    }

    #[test]
    fn own_signature_is_alive() {
        let me = ProcSig::of_self().unwrap();
        assert!(me.is_alive());
        let other = ProcSig {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(!other.is_alive());
    }
}
