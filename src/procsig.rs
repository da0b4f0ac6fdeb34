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
        let st = crate::procstat::read(pid)?;
        Ok(ProcSig {
            pid,
            start: st.starttime,
        })
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

/// This boot's identity (`/proc/sys/kernel/random/boot_id`, a UUID) as 16
/// bytes. A signature recorded under another boot id never matches: after
/// an unclean reboot the same pid and start time can name anything.
pub fn boot_id() -> io::Result<[u8; 16]> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?;
    parse_boot_id(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad boot_id"))
}

/// Parses a UUID (`8-4-4-4-12` hex digits, trailing newline allowed).
pub fn parse_boot_id(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.trim().bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || text.trim().len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Field 22 (starttime) of a `/proc/PID/stat` line (see [`crate::procstat`]).
pub fn parse_starttime(stat: &str) -> Option<u64> {
    crate::procstat::parse(stat).map(|s| s.starttime)
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
    fn boot_ids() {
        let id = parse_boot_id("0123abcd-4567-89ef-0011-223344556677\n").unwrap();
        assert_eq!(id[0], 0x01);
        assert_eq!(id[15], 0x77);
        assert_eq!(parse_boot_id("0123abcd456789ef0011223344556677"), None);
        assert_eq!(parse_boot_id("zz23abcd-4567-89ef-0011-223344556677"), None);
        assert_eq!(parse_boot_id(""), None);
        assert_eq!(boot_id().unwrap(), boot_id().unwrap());
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
