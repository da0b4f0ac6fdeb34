//! Where lines go: the log directories, `=` status files and stderr; the
//! engine's `Sinks` implemented over them, and timestamp prefixes.

use crate::logdir::LogDir;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::SystemTime;
use svkit::multilog_lines::Sinks;
use svkit::multilog_script::{Action, Script, Stamp};
use svkit::tai64n::Tai64n;

pub struct Outputs {
    pub dirs: Vec<LogDir>,
    statuses: Vec<File>,
}

impl Outputs {
    /// Opens every status file and starts every directory, in script
    /// order; any failure is fatal before a byte of input is read.
    pub fn start(script: &Script) -> Outputs {
        use std::os::unix::ffi::OsStrExt;
        let mut dirs = Vec::with_capacity(script.dirs.len());
        let mut statuses = Vec::with_capacity(script.statuses.len());
        for a in &script.actions {
            match a {
                Action::Dir(i) => match LogDir::start(&script.dirs[*i]) {
                    Ok(d) => dirs.push(d),
                    Err(e) => svkit::exit::fatal(
                        crate::PROG,
                        &format!("{}: {}", e.what, svkit::errstr::text(&e.err)),
                    ),
                },
                Action::Status(i) => {
                    let path =
                        std::path::Path::new(std::ffi::OsStr::from_bytes(&script.statuses[*i]));
                    // Not truncated at start (daemontools keeps the last line).
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .mode(0o600)
                        .custom_flags(libc::O_CLOEXEC)
                        .open(path)
                    {
                        Ok(f) => statuses.push(f),
                        Err(e) => svkit::exit::fatal(
                            crate::PROG,
                            &svkit::exit::unable("open status file", path, &e),
                        ),
                    }
                }
                _ => {}
            }
        }
        Outputs { dirs, statuses }
    }

    pub fn flush_all(&mut self) {
        for d in &mut self.dirs {
            d.flush();
        }
    }

    /// SIGALRM: every non-empty `current` is rotated now.
    pub fn rotate_all(&mut self) {
        for d in &mut self.dirs {
            d.flush();
            if d.bytes > 0 {
                d.rotate();
            }
        }
    }

    /// EOF or SIGTERM: everything on disk, `current` marked complete.
    pub fn complete(&mut self) {
        for d in &mut self.dirs {
            d.complete();
        }
        for s in &self.statuses {
            let _ = s.sync_data();
        }
    }
}

impl Sinks for Outputs {
    fn dir_put(&mut self, dir: usize, data: &[u8]) {
        self.dirs[dir].put(data);
    }

    fn alert(&mut self, text: &[u8]) {
        let _ = std::io::stderr().write_all(text);
    }

    fn status(&mut self, idx: usize, record: &[u8]) {
        // No protection against outages, as documented by daemontools.
        let _ = self.statuses[idx].write_all_at(record, 0);
    }
}

/// The prefix for lines starting in this input batch: one clock reading.
pub fn stamp_prefix(stamps: &[Stamp], out: &mut Vec<u8>) {
    let now = SystemTime::now();
    out.clear();
    for s in stamps {
        match s {
            Stamp::Tai64n => out.extend_from_slice(&Tai64n::from_system(now).hex_label()),
            Stamp::Iso => {
                let _ = write!(out, "{}", humantime::format_rfc3339_nanos(now));
            }
        }
        out.push(b' ');
    }
}
