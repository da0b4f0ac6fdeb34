//! Reaping: svscan collects every child that exits, its own supervisors
//! and any orphan the kernel hands it (as PID 1, or as a child subreaper),
//! so no zombie is left behind.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Every child that has exited since the last call.
pub fn reap() -> Vec<Pid> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(st) => {
                if let Some(pid) = st.pid() {
                    out.push(pid);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break, // ECHILD: none left
        }
    }
    out
}

/// Parent pid from a `/proc/PID/stat` line (field 4, counted after the
/// command name's last `)`).
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// svscan's live children (including adopted orphans): the kernel's list
/// in `/proc/self/task/PID/children` (svscan is single-threaded), else a
/// walk over every process's parent in /proc.
pub fn children() -> Vec<Pid> {
    let me = nix::unistd::getpid().as_raw();
    if let Ok(list) = std::fs::read_to_string(format!("/proc/self/task/{me}/children")) {
        return list
            .split_ascii_whitespace()
            .filter_map(|p| p.parse().ok())
            .map(Pid::from_raw)
            .collect();
    }
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parse_ppid(&stat) == Some(me) {
            out.push(Pid::from_raw(pid));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_after_awkward_comm() {
        assert_eq!(parse_ppid("77 (a) b) S 12 77 77 0"), Some(12));
        assert_eq!(parse_ppid("77 (x)"), None);
    }
}
