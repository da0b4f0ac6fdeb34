//! Reading one service directory the way djb's svstat does (chdir, `down`,
//! `supervise/ok`, `supervise/status`, in that order), plus the extended
//! record and the process-signature check that keeps a stale pid from
//! being reported as up (both from `svkit::records`).

use std::io;
use std::path::Path;
use svkit::errstr;
use svkit::records::{self, Records};
use svkit::status::Status;
use svkit::svdir;
use svkit::tai64n::Tai64n;
use svkit::xstatus::XStatus;

pub use svkit::records::{matching, Stale};

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
    let here = Path::new(".");
    match svkit::control::supervise_running(here) {
        Ok(true) => {}
        Ok(false) => {
            return Outcome::NotRunning {
                status: records::read_status(here).ok(),
                xstatus: records::read_xstatus(here),
            }
        }
        Err(e) => return err("unable to open supervise/ok", &e),
    }
    let r = Records::read(here);
    let stale = r.stale();
    match r.status {
        Ok(status) => Outcome::Running {
            status,
            xstatus: r.xstatus,
            stale,
        },
        Err(e) => Outcome::Error(e.to_string()),
    }
}
