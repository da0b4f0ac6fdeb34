//! The `pending` file of the first log directory: written before each
//! batch, it lets the next multilog (after a SIGKILL) finish taking a batch
//! that is on disk out of the input pipe, or undo a half-written one, so
//! no line is lost, duplicated or cut. Format: svkit::multilog_pending.

use crate::logdir::Locked;
use crate::ondisk::{Dir, CURRENT, PENDING};
use crate::pipe::{Peek, Peeked};
use crate::rotate::Pause;
use nix::fcntl::OFlag;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use svkit::multilog_pending::{hash, is_old, Mark, Record, HEADER, MAX_BASE};

/// The tail region is emptied once it grows past this.
const RESET: u64 = MAX_BASE;

pub struct Journal {
    file: File,
    path: std::path::PathBuf,
    pause: Pause,
    base: u64,
    pipe: (u64, u64),
    /// The batch in flight: (moved, tail).
    flight: (u64, u64),
}

fn warn(msg: &str) {
    svkit::exit::warn("multilog", msg);
}

/// What a directory's `current` shows of a batch.
#[derive(PartialEq, Clone, Copy)]
enum Shows {
    All,
    Nothing,
    Part,
    /// Not the file the record names (removed or replaced, e.g. renamed
    /// by another logger that took over): counted as written, but the
    /// batch is taken from the pipe only if the pipe's head hashes to it.
    Unknown,
    /// The file grew past the batch: another logger (daemontools taking
    /// the directory over) wrote since. The record is stale.
    Foreign,
}

fn shows(dir: &Dir, m: &Mark) -> Shows {
    match dir.stat(CURRENT) {
        Ok(Some(st)) if st.st_dev == m.dev && st.st_ino == m.ino => {
            let size = st.st_size as u64;
            if size == m.off + m.len {
                Shows::All
            } else if size == m.off {
                Shows::Nothing
            } else if size > m.off + m.len || size < m.off {
                Shows::Foreign
            } else {
                Shows::Part
            }
        }
        _ => Shows::Unknown,
    }
}

/// Cuts `current` back to where the batch began.
fn undo(dir: &Dir, m: &Mark) -> io::Result<()> {
    let f = dir.open_file(CURRENT, OFlag::O_WRONLY, 0)?;
    let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&f))?;
    if st.st_dev == m.dev && st.st_ino == m.ino && st.st_size as u64 > m.off {
        f.set_len(m.off)?;
    }
    Ok(())
}

/// Peeks exactly `buf.len()` bytes from the head of the input; false if
/// it holds fewer.
fn peek_exact(peek: &mut Peek, buf: &mut [u8]) -> io::Result<bool> {
    if buf.is_empty() {
        return Ok(true);
    }
    Ok(match peek.peek(buf)? {
        Peeked::Data(n) => n == buf.len(),
        _ => false,
    })
}

impl Journal {
    pub fn open(dir: &Dir, peek: &Peek) -> io::Result<Journal> {
        let f = dir.open_file(PENDING, OFlag::O_RDWR | OFlag::O_CREAT, 0o644)?;
        Ok(Journal {
            file: f,
            path: dir.path.clone(),
            pause: Pause::default(),
            base: HEADER,
            pipe: peek.id,
            flight: (0, 0),
        })
    }

    /// At start-up, before recovery renames `current`: settles the batch a
    /// killed multilog left in flight, then empties the record. A record
    /// that is invalid (edited by hand, an older format) or that cannot be
    /// settled is warned about once and dropped: nothing is taken.
    pub fn resolve(&mut self, peek: &mut Peek, dirs: &[Locked]) -> io::Result<()> {
        let size = self.file.metadata()?.len();
        let mut head = vec![0u8; HEADER as usize];
        let n = self.file.read_at(&mut head, 0)?;
        let data = &head[..n];
        match Record::unpack(data) {
            Some(rec) => {
                if let Err(e) = self.settle(&rec, size, peek, dirs) {
                    warn(&format!(
                        "unable to resume pending record: {}; not resuming it",
                        svkit::errstr::text(&e)
                    ));
                }
            }
            None if is_old(data) => {
                warn("pending record is of an older format; not resuming it");
            }
            None if data.iter().any(|&b| b != 0) => {
                warn("pending record is invalid; not resuming it");
            }
            None => {}
        }
        self.file.set_len(0)?;
        self.file.set_len(HEADER)?;
        self.base = HEADER;
        Ok(())
    }

    fn settle(
        &mut self,
        rec: &Record,
        size: u64,
        peek: &mut Peek,
        dirs: &[Locked],
    ) -> io::Result<()> {
        if size < rec.base {
            return Ok(()); // emptied after a finished batch
        }
        let taken = size - rec.base;
        if taken >= rec.tail {
            return Ok(());
        }
        // Each mark is matched to the directory whose `current` it names
        // (the script may have changed since): Unknown when none does.
        let state: Vec<(Shows, Option<&Dir>)> = rec
            .dirs
            .iter()
            .map(|m| {
                dirs.iter()
                    .map(|d| (shows(&d.dir, m), Some(&d.dir)))
                    .find(|(s, _)| *s != Shows::Unknown)
                    .unwrap_or((Shows::Unknown, None))
            })
            .collect();
        if state.iter().any(|(s, _)| *s == Shows::Foreign) {
            warn("pending record is older than what another logger wrote since; not resuming it");
            return Ok(());
        }
        let all = state
            .iter()
            .all(|(s, _)| matches!(s, Shows::All | Shows::Unknown));
        if rec.pipe != self.pipe {
            // Another pipe: its head is not this batch. Keep whole writes,
            // remove a cut one.
            for (m, (s, d)) in rec.dirs.iter().zip(&state) {
                if let (Shows::Part, Some(d)) = (s, d) {
                    undo(d, m)?;
                }
            }
            return Ok(());
        }
        if taken > 0 {
            // The tail was being taken: everything is on disk. The rest of
            // it is taken if the pipe's head is that rest.
            let mut tail = vec![0u8; rec.tail as usize];
            self.file
                .read_exact_at(&mut tail[..taken as usize], rec.base)?;
            let got = peek_exact(peek, &mut tail[taken as usize..])?;
            if got && hash(&tail) == rec.tail_sum {
                return peek.take_into(&self.file, size, (rec.tail - taken) as usize);
            }
            warn("pending record does not match the input; not resuming it");
            return Ok(());
        }
        if !all {
            // Not all written, so nothing taken: undo, and the batch is
            // read again from the pipe.
            for (m, (s, d)) in rec.dirs.iter().zip(&state) {
                if let (Shows::All | Shows::Part, Some(d)) = (s, d) {
                    undo(d, m)?;
                }
            }
            return Ok(());
        }
        // Nothing of the tail taken: the pipe's head is the whole batch
        // (nothing taken) or its tail (moved taken), told apart by the
        // probe byte; taken only if the bytes hash to what was recorded,
        // since the head may be lines nobody wrote (a `current` that is
        // gone proves nothing). No match: nothing is taken (a line
        // written twice is better than a line lost).
        let (moved, tail) = (rec.moved as usize, rec.tail as usize);
        let mut head = vec![0u8; moved + tail];
        let whole = peek_exact(peek, &mut head)?;
        if whole && hash(&head) == rec.sum {
            if moved > 0 {
                peek.take_moved(moved)?;
            }
            return peek.take_into(&self.file, size, tail);
        }
        let rest = moved > 0
            && peek_exact(peek, &mut head[..tail])?
            && head[rec.probe as usize] == rec.moved_byte
            && hash(&head[..tail]) == rec.tail_sum;
        if rest {
            return peek.take_into(&self.file, size, tail);
        }
        warn("pending record does not match the input; not resuming it");
        Ok(())
    }

    /// Records the batch `taken` (already gathered for the directories,
    /// whose marks are given) before it is written. A full disk pauses.
    pub fn before(&mut self, taken: &[u8], marks: Vec<Mark>) {
        let rec = Record::for_batch(self.pipe, self.base, taken, marks);
        let (moved, tail) = (rec.moved, rec.tail);
        let packed = rec.pack();
        let file = &self.file;
        self.pause.retry_in("write pending record", &self.path, || {
            file.write_all_at(&packed, 0)
        });
        self.flight = (moved, tail);
    }

    /// The batch is on disk: takes it out of the input. A full disk pauses;
    /// what was taken is counted by the file's size, so a retry goes on
    /// where the last attempt stopped.
    pub fn after(&mut self, peek: &mut Peek) {
        let (moved, tail) = self.flight;
        let (file, base) = (&self.file, self.base);
        if moved > 0 {
            // Pipe to pipe: no disk involved, so no reason to retry.
            if let Err(e) = peek.take_moved(moved as usize) {
                svkit::exit::fatal(
                    "multilog",
                    &format!("unable to take input: {}", svkit::errstr::text(&e)),
                );
            }
        }
        let mut first = true;
        self.pause.retry_in("take input", &self.path, || {
            // After a failed attempt, the file's size says how far it got.
            let done = if first {
                0
            } else {
                file.metadata()?.len().saturating_sub(base)
            };
            first = false;
            if done < tail {
                peek.take_into(file, base + done, (tail - done) as usize)?;
            }
            Ok(())
        });
        self.base += tail;
        if self.base > RESET {
            // The record now names a base past the end: nothing pending.
            self.pause
                .retry_in("empty pending record", &self.path, || file.set_len(HEADER));
            self.base = HEADER;
        }
    }
}
