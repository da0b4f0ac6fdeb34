//! A service's records, read in one place: `supervise/status` (read as
//! djb's svstat reads it: one read of at most 18 bytes) and
//! `supervise/xstatus`, and what the two say together — whether the
//! extended record is current, and whether the pid that `status` names is
//! still the process supervise started. Used by svc, svstat, svscan and
//! supervise's take-over; nothing else decodes these files.

use crate::procsig::ProcSig;
use crate::status::{self, Status};
use crate::svdir;
use crate::xstatus::XStatus;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why `status` could not be read.
#[derive(Debug)]
pub enum ReadError {
    Open(io::Error),
    Read(io::Error),
    /// Short, or bytes supervise never writes: never trusted.
    Format,
}

impl std::fmt::Display for ReadError {
    /// djb's wording after "DIR: ", e.g. `unable to open supervise/status:
    /// file does not exist`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Open(e) => write!(
                f,
                "unable to open {}: {}",
                svdir::STATUS,
                crate::errstr::text(e)
            ),
            ReadError::Read(e) => write!(
                f,
                "unable to read {}: {}",
                svdir::STATUS,
                crate::errstr::text(e)
            ),
            ReadError::Format => write!(f, "unable to read {}: bad format", svdir::STATUS),
        }
    }
}

/// Why a status that says "up" cannot be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// No process with the recorded pid exists any more.
    Gone,
    /// The pid now belongs to a process started at another time.
    Reused,
    /// No supervise reads `supervise/ok`: nobody keeps the record true.
    Unsupervised,
}

/// `dir/supervise/status`, one read of at most 18 bytes.
pub fn read_status(dir: &Path) -> Result<Status, ReadError> {
    let mut f = File::open(dir.join(svdir::STATUS)).map_err(ReadError::Open)?;
    let mut buf = [0u8; status::LEN];
    let n = loop {
        match f.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Read(e)),
        }
    };
    Status::unpack(&buf[..n]).map_err(|_| ReadError::Format)
}

/// `dir/supervise/xstatus` if present and well-formed, whoever wrote it.
pub fn read_xstatus(dir: &Path) -> Option<XStatus> {
    let b = std::fs::read(dir.join(svdir::XSTATUS)).ok()?;
    XStatus::unpack(&b).ok()
}

/// `dir/supervise/xstatus` if written by a supervise that still runs (in
/// this boot): the only kind that describes anything current.
pub fn read_live_xstatus(dir: &Path) -> Option<XStatus> {
    read_xstatus(dir).filter(|x| x.supervisor_alive())
}

/// True when `status` says the service is up; an unreadable record counts
/// as up (callers use it to decide whether to stop something anyway).
pub fn is_up(dir: &Path) -> bool {
    read_status(dir).map_or(true, |s| s.pid != 0)
}

/// Both records as read together.
#[derive(Debug)]
pub struct Records {
    pub status: Result<Status, ReadError>,
    /// Only from a live supervise (see [`read_live_xstatus`]).
    pub xstatus: Option<XStatus>,
}

impl Records {
    /// Reads both. When the extended record says the pid in `status` is
    /// stale, supervise may just have reaped it and be about to rewrite
    /// both: they are read once more before that verdict stands.
    pub fn read(dir: &Path) -> Records {
        let r = Records {
            status: read_status(dir),
            xstatus: read_live_xstatus(dir),
        };
        if r.stale().is_none() {
            return r;
        }
        match (read_status(dir), &r.status) {
            (Ok(again), Ok(before)) if again != *before => Records {
                status: Ok(again),
                xstatus: read_live_xstatus(dir),
            },
            _ => r,
        }
    }

    /// The extended record when it describes the process `status` names
    /// (it is renamed into place just before `status`, so it may lead).
    pub fn matching(&self) -> Option<&XStatus> {
        let s = self.status.as_ref().ok()?;
        matching(s, self.xstatus.as_ref())
    }

    /// Why the pid in `status` is not the process supervise started, when
    /// the extended record can tell (Gone or Reused).
    pub fn stale(&self) -> Option<Stale> {
        let s = self.status.as_ref().ok()?;
        check_signature(s, self.xstatus.as_ref())
    }
}

/// The extended record when it names the same pid as `status`.
pub fn matching<'a>(status: &Status, x: Option<&'a XStatus>) -> Option<&'a XStatus> {
    x.filter(|x| x.child.pid == status.pid)
}

/// When `x` names the pid `status` names, its start time must be the live
/// process's: otherwise the pid is gone or was reused.
pub fn check_signature(status: &Status, x: Option<&XStatus>) -> Option<Stale> {
    let x = matching(status, x)?;
    if status.pid == 0 {
        return None;
    }
    match ProcSig::of(status.pid) {
        Ok(live) if live == x.child => None,
        Ok(_) => Some(Stale::Reused),
        Err(_) => Some(Stale::Gone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Want;
    use crate::tai64n::Tai64n;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("svkit-records-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("supervise")).unwrap();
        d
    }

    fn st(pid: u32) -> Status {
        Status {
            when: Tai64n::now(),
            pid,
            paused: false,
            want: Want::Up,
        }
    }

    #[test]
    fn status_errors_read_as_djb() {
        let d = scratch("err");
        let e = read_status(&d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to open supervise/status: file does not exist"
        );
        std::fs::write(d.join(svdir::STATUS), [0u8; 5]).unwrap();
        assert!(matches!(read_status(&d), Err(ReadError::Format)));
        assert!(is_up(&d), "unreadable counts as up");
        std::fs::write(d.join(svdir::STATUS), st(0).pack()).unwrap();
        assert!(!is_up(&d));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn signatures() {
        let me = ProcSig::of_self().unwrap();
        let mut x = XStatus::new(me);
        x.child = me;
        assert_eq!(check_signature(&st(me.pid), Some(&x)), None);
        x.child.start += 1;
        assert_eq!(check_signature(&st(me.pid), Some(&x)), Some(Stale::Reused));
        // A record about another pid says nothing.
        assert_eq!(check_signature(&st(me.pid + 1), Some(&x)), None);
        assert_eq!(check_signature(&st(me.pid), None), None);
    }

    #[test]
    fn live_records_only() {
        let d = scratch("live");
        let me = ProcSig::of_self().unwrap();
        let mut x = XStatus::new(me);
        x.child = me;
        std::fs::write(d.join(svdir::XSTATUS), x.pack()).unwrap();
        std::fs::write(d.join(svdir::STATUS), st(me.pid).pack()).unwrap();
        let r = Records::read(&d);
        assert!(r.matching().is_some());
        assert_eq!(r.stale(), None);
        x.supervisor.start += 1;
        std::fs::write(d.join(svdir::XSTATUS), x.pack()).unwrap();
        assert!(read_live_xstatus(&d).is_none());
        assert!(read_xstatus(&d).is_some());
        let _ = std::fs::remove_dir_all(&d);
    }
}
