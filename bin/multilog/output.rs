//! Where lines go: the log directories, `=` status files and stderr; the
//! engine's `Sinks` implemented over them, and timestamp prefixes.

use crate::journal::Journal;
use crate::logdir::{Locked, LogDir, StartError};
use crate::pipe::Peek;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::SystemTime;
use svkit::multilog_lines::Sinks;
use svkit::multilog_script::{Action, Script, Stamp};
use svkit::tai64n::Tai64n;

use crate::ondisk::PENDING;

pub struct Outputs {
    pub dirs: Vec<LogDir>,
    statuses: Vec<File>,
}

impl Outputs {
    /// Opens every status file and locks every directory, in script
    /// order; with a pipe for input, settles what a killed multilog left in
    /// flight; then recovers and starts every directory. Any failure is
    /// fatal before a byte of input is read.
    pub fn start(script: &Script, peek: Option<&mut Peek>) -> (Outputs, Option<Journal>) {
        use std::os::unix::ffi::OsStrExt;
        let mut locked = Vec::with_capacity(script.dirs.len());
        let mut statuses = Vec::with_capacity(script.statuses.len());
        let die = |e: StartError| -> ! {
            svkit::exit::fatal(
                crate::PROG,
                &format!("{}: {}", e.what, svkit::errstr::text(&e.err)),
            )
        };
        for a in &script.actions {
            match a {
                Action::Dir(i) => match Locked::acquire(&script.dirs[*i]) {
                    Ok(d) => locked.push(d),
                    Err(e) => die(e),
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
        let mut journal = None;
        if let (Some(peek), Some(first)) = (peek, locked.first()) {
            if locked.len() <= svkit::multilog_pending::MAX_DIRS {
                let mut j = match Journal::open(&first.dir, peek) {
                    Ok(j) => j,
                    Err(e) => svkit::exit::fatal(
                        crate::PROG,
                        &svkit::exit::unable("open", &first.dir.path.join(PENDING), &e),
                    ),
                };
                if let Err(e) = j.resolve(peek, &locked) {
                    svkit::exit::fatal(
                        crate::PROG,
                        &svkit::exit::unable("resume", &first.dir.path.join(PENDING), &e),
                    );
                }
                journal = Some(j);
            }
        }
        let dirs = locked
            .into_iter()
            .map(|l| l.start().unwrap_or_else(|e| die(e)))
            .collect();
        (Outputs { dirs, statuses }, journal)
    }

    /// The processors' descriptors to watch, and the earliest deadline.
    pub fn processors(&self) -> (Vec<i32>, Option<std::time::Instant>) {
        let fds = self.dirs.iter().filter_map(|d| d.proc.fd()).collect();
        let at = self.dirs.iter().filter_map(|d| d.proc.deadline()).min();
        (fds, at)
    }

    /// Moves every processor run along, without blocking.
    pub fn step_processors(&mut self) {
        for d in &mut self.dirs {
            if d.proc.busy() {
                d.step_proc();
            }
        }
    }

    /// Room left before the fullest directory's size limit.
    pub fn min_room(&self) -> u64 {
        self.dirs.iter().map(|d| d.room()).min().unwrap_or(u64::MAX)
    }

    /// Output that makes the first directory's rotation due (a newline
    /// within SLACK bytes of its limit).
    pub fn min_due_room(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| d.due_room())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The fast path gathered `len` bytes of whole lines for every directory.
    pub fn gather(&mut self, len: u64) {
        for d in &mut self.dirs {
            d.gather(len);
        }
    }

    /// The fast path's batch: each line of `data` after `stamp`, to every
    /// directory.
    pub fn write_lines(&mut self, stamp: &[u8], data: &[u8]) {
        for d in &mut self.dirs {
            d.write_lines(stamp, data);
        }
    }

    /// True when a directory's rotation is due or a batch has grown large.
    pub fn batch_full(&self, limit: usize) -> bool {
        self.dirs.iter().any(|d| d.due || d.buf.len() >= limit)
    }

    /// Where each directory's share of the batch goes.
    pub fn marks(&mut self) -> Vec<svkit::multilog_pending::Mark> {
        self.dirs.iter_mut().map(|d| d.mark()).collect()
    }

    /// Writes each directory's share of the batch.
    pub fn flush_all(&mut self) {
        for d in &mut self.dirs {
            d.flush();
        }
    }

    /// Rotates the directories whose `current` is full.
    pub fn rotate_due(&mut self) {
        for d in &mut self.dirs {
            if d.due {
                d.rotate();
            }
        }
    }

    /// SIGALRM: every non-empty `current` is rotated now.
    pub fn rotate_all(&mut self) {
        for d in &mut self.dirs {
            if d.bytes > 0 {
                d.rotate();
            }
        }
    }

    /// EOF or SIGTERM: everything on disk, `current` marked complete.
    /// Returns false when a `current` could not be synced (it is left
    /// unfinished, mode 644).
    pub fn complete(&mut self) -> bool {
        let mut durable = true;
        for d in &mut self.dirs {
            d.finish_proc();
            durable &= d.complete();
        }
        for s in &self.statuses {
            let _ = s.sync_data();
        }
        durable
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
