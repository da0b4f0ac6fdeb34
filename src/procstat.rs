//! `/proc/PID/stat`, parsed in one place: state, parent, process group,
//! session and start time. The command name (field 2) may hold spaces and
//! parentheses, so fields are counted from the last `)`.

use std::io;

/// The fields of `/proc/PID/stat` svkit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// Field 3: `R`, `S`, `D`, `T`, `Z`, `X`, …
    pub state: u8,
    /// Field 4.
    pub ppid: u32,
    /// Field 5.
    pub pgrp: u32,
    /// Field 6.
    pub session: u32,
    /// Field 22: clock ticks since boot.
    pub starttime: u64,
}

impl Stat {
    /// Dead but not yet reaped (or being reaped): not running.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// Parses one `/proc/PID/stat` line.
pub fn parse(line: &str) -> Option<Stat> {
    let open = line.find(" (")?;
    let pid = line[..open].trim().parse().ok()?;
    let rest = &line[line.rfind(')')? + 1..];
    // After ')' come fields 3.. : f[0] is field 3.
    let f: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    if f.len() < 20 || f[0].len() != 1 {
        return None;
    }
    Some(Stat {
        pid,
        state: f[0].as_bytes()[0],
        ppid: f[1].parse().ok()?,
        pgrp: f[2].parse().ok()?,
        session: f[3].parse().ok()?,
        starttime: f[19].parse().ok()?,
    })
}

/// Reads `/proc/PID/stat` (one open, one read: supervise does this at
/// every start).
pub fn read(pid: u32) -> io::Result<Stat> {
    use std::io::Read;
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat"))?;
    // A stat line is well under 1 KiB (the command name is at most 64
    // bytes); read until EOF all the same.
    let mut buf = [0u8; 1024];
    let mut n = 0;
    loop {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n == buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(parse)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc stat line"))
}

/// Every process visible in `/proc` now (those that vanish while the
/// directory is read are skipped).
pub fn all() -> Vec<Stat> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read(pid).ok())
        .collect()
}

/// True when a running (not zombie) process other than `except` is in
/// process group `pgrp`.
pub fn group_has_live_members(pgrp: u32, except: u32) -> bool {
    all()
        .iter()
        .any(|s| s.pgrp == pgrp && s.pid != except && !s.is_zombie())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_awkward_comm() {
        let line = "1234 (a) b) (c) S 1 1234 1235 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        let s = parse(line).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 1234,
                state: b'S',
                ppid: 1,
                pgrp: 1234,
                session: 1235,
                starttime: 98765
            }
        );
        assert!(!s.is_zombie());
    }

    #[test]
    fn rejects_short_and_garbage() {
        assert_eq!(parse("1 (x) S 1 2"), None);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse(""), None);
        assert_eq!(
            parse("x (y) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0"),
            None
        );
    }

    #[test]
    fn reads_itself() {
        let me = read(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.is_zombie());
        assert!(all().iter().any(|s| s.pid == me.pid));
    }
}
