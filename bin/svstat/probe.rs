//! Reading one service directory the way djb's svstat does (chdir, `down`,
//! `supervise/ok`, `supervise/status`, in that order), plus the extended
//! record and the process-signature check that keeps a stale pid from
//! being reported as up.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use svkit::control::open_fifo_writer;
use svkit::errstr;
use svkit::procsig::ProcSig;
use svkit::status::{self, Status};
use svkit::svdir;
use svkit::tai64n::Tai64n;
use svkit::xstatus::XStatus;

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

#[derive(Debug)]
pub enum Outcome {
    /// djb's text after `DIR: `, e.g. `unable to chdir: file does not exist`.
    Error(String),
    /// `supervise not running`; the leftover records, if readable.
    NotRunning {
        status: Option<Status>,
        xstatus: Option<XStatus>,
    },
    Running {
        status: Status,
        xstatus: Option<XStatus>,
        stale: Option<Stale>,
    },
}

#[derive(Debug)]
pub struct Probe {
    /// No `down` file (meaningless when the outcome is an early error).
    pub normally_up: bool,
    pub now: Tai64n,
    pub outcome: Outcome,
}

impl Probe {
    /// The status and extended record, whatever the outcome.
    pub fn records(&self) -> (Option<&Status>, Option<&XStatus>) {
        match &self.outcome {
            Outcome::Error(_) => (None, None),
            Outcome::NotRunning { status, xstatus } => (status.as_ref(), xstatus.as_ref()),
            Outcome::Running {
                status, xstatus, ..
            } => (Some(status), xstatus.as_ref()),
        }
    }

    /// Why the recorded "up" is not to be believed, if it is not.
    pub fn stale(&self) -> Option<Stale> {
        match &self.outcome {
            Outcome::Running { stale, .. } => *stale,
            Outcome::NotRunning {
                status: Some(s), ..
            } if s.pid != 0 => Some(Stale::Unsupervised),
            _ => None,
        }
    }
}

/// Probes `dir`. The caller restores the working directory afterwards
/// (djb's svstat chdirs too, so error texts match his).
pub fn probe(dir: &Path) -> Probe {
    let now = Tai64n::now();
    let mut p = Probe {
        normally_up: true,
        now,
        outcome: Outcome::Error(String::new()),
    };
    p.outcome = probe_outcome(dir, &mut p.normally_up);
    p
}

fn probe_outcome(dir: &Path, normally_up: &mut bool) -> Outcome {
    let err = |what: &str, e: &io::Error| Outcome::Error(format!("{what}: {}", errstr::text(e)));
    if let Err(e) = std::env::set_current_dir(dir) {
        return err("unable to chdir", &e);
    }
    match std::fs::metadata(svdir::DOWN) {
        Ok(_) => *normally_up = false,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return err("unable to stat down", &e),
    }
    match open_fifo_writer(Path::new(svdir::OK)) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Outcome::NotRunning {
                status: read_status().ok(),
                xstatus: read_xstatus(),
            }
        }
        Err(e) => return err("unable to open supervise/ok", &e),
    }
    let mut status = match read_status() {
        Ok(s) => s,
        Err(ReadError::Open(e)) => return err("unable to open supervise/status", &e),
        Err(ReadError::Read(e)) => return err("unable to read supervise/status", &e),
        Err(ReadError::Format) => {
            return Outcome::Error("unable to read supervise/status: bad format".into())
        }
    };
    // A record left by an earlier supervise (say ours, before djb's took
    // over) describes nothing current.
    let mut xstatus = read_xstatus().filter(|x| x.supervisor_alive());
    let mut stale = check_signature(&status, xstatus.as_ref());
    if stale.is_some() {
        // Supervise may have reaped the child a moment ago and be about to
        // rewrite the records: look once more before calling them stale.
        if let Ok(again) = read_status() {
            if again != status {
                status = again;
                xstatus = read_xstatus().filter(|x| x.supervisor_alive());
                stale = check_signature(&status, xstatus.as_ref());
            }
        }
    }
    Outcome::Running {
        status,
        xstatus,
        stale,
    }
}

enum ReadError {
    Open(io::Error),
    Read(io::Error),
    /// Short, or bytes supervise never writes: never trusted.
    Format,
}

fn read_status() -> Result<Status, ReadError> {
    let mut f = File::open(svdir::STATUS).map_err(ReadError::Open)?;
    // One read of at most 18 bytes, as djb's svstat.
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

fn read_xstatus() -> Option<XStatus> {
    let b = std::fs::read(svdir::XSTATUS).ok()?;
    XStatus::unpack(&b).ok()
}

/// The extended record describes the current process only when it names
/// the same pid as `status`; then its start time must match the live one.
fn check_signature(status: &Status, x: Option<&XStatus>) -> Option<Stale> {
    let x = x?;
    if status.pid == 0 || x.child.pid != status.pid {
        return None;
    }
    match ProcSig::of(status.pid) {
        Ok(live) if live == x.child => None,
        Ok(_) => Some(Stale::Reused),
        Err(_) => Some(Stale::Gone),
    }
}

/// The extended record when it belongs to the process `status` names.
pub fn matching<'a>(status: &Status, x: Option<&'a XStatus>) -> Option<&'a XStatus> {
    x.filter(|x| x.child.pid == status.pid)
}
