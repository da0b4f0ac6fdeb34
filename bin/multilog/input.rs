//! The input loop: batches of whole lines. A batch is gathered for every
//! directory, written with one write(2) each, and only then taken from the
//! input when it is a pipe (peeked with tee(2), see `pipe` and `journal`);
//! from anything else it is read, as daemontools does. An unfinished line
//! waits (in the pipe, or in memory) for its newline, or until 1000 bytes
//! of it have arrived (daemontools' line buffer), as in daemontools.

use crate::journal::Journal;
use crate::output::{stamp_prefix, Outputs};
use crate::pipe::{Peek, Peeked, Waiter};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::os::fd::AsFd;
use svkit::multilog_lines::Engine;
use svkit::multilog_script::{Stamp, HEAD};
use svkit::selfpipe::SelfPipe;

/// Input taken per batch at most.
const BATCH: usize = 256 * 1024;
/// A batch ends once a directory holds this much output.
const OUT_MAX: usize = 2 * BATCH;

pub struct Input<'a> {
    pub stamps: &'a [Stamp],
    pub engine: Engine,
    pub out: Outputs,
    pub dirs_only: bool,
    prefix: Vec<u8>,
    term: bool,
}

/// What a look at the held input decided.
struct Took {
    /// Bytes of input this batch takes.
    len: usize,
    /// SIGTERM, and the line being read when it came is finished.
    done: bool,
}

fn fatal(what: &str, e: &std::io::Error) -> ! {
    svkit::exit::fatal(
        crate::PROG,
        &format!("unable to {what}: {}", svkit::errstr::text(e)),
    )
}

impl<'a> Input<'a> {
    pub fn new(stamps: &'a [Stamp], engine: Engine, out: Outputs, dirs_only: bool) -> Input<'a> {
        Input {
            stamps,
            engine,
            out,
            dirs_only,
            prefix: Vec::with_capacity(64),
            term: false,
        }
    }

    fn signals(&mut self, pipe: &SelfPipe) {
        for s in pipe.drain() {
            match s {
                Signal::SIGTERM => self.term = true,
                Signal::SIGALRM => self.out.rotate_all(),
                _ => {}
            }
        }
    }

    /// Feeds `piece` (part of one line) unless it would overflow a
    /// directory in a batch that already holds something; returns the
    /// bytes fed. A line longer than the room is cut at the limit.
    fn piece(&mut self, piece: &[u8], batch_empty: bool) -> Option<usize> {
        let stamp = if self.engine.in_line() {
            0
        } else {
            self.prefix.len()
        };
        let room = self.out.min_room();
        if ((stamp + piece.len()) as u64) <= room {
            self.engine.feed(piece, &mut self.out);
            return Some(piece.len());
        }
        if !batch_empty {
            return None;
        }
        if self.dirs_only && room > stamp as u64 {
            let k = (room as usize - stamp).min(piece.len());
            self.engine.feed(&piece[..k], &mut self.out);
            return Some(k);
        }
        // Selection scripts: the directory cuts the line itself.
        self.engine.feed(piece, &mut self.out);
        Some(piece.len())
    }

    /// Feeds the engine the batch `data` starts with.
    fn take(&mut self, data: &[u8], eof: bool) -> Took {
        if !self.stamps.is_empty() {
            stamp_prefix(self.stamps, &mut self.prefix);
            self.engine.set_stamp(&self.prefix);
        }
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            if rest.is_empty() {
                return Took {
                    len: pos,
                    done: self.term && !self.engine.in_line(),
                };
            }
            let (line, whole) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            if !whole && !eof && !self.engine.in_line() && line.len() < HEAD {
                // An unfinished line waits for its newline.
                return Took {
                    len: pos,
                    done: false,
                };
            }
            let Some(k) = self.piece(line, pos == 0) else {
                return Took {
                    len: pos,
                    done: false,
                };
            };
            pos += k;
            if self.term && whole && k == line.len() {
                // SIGTERM: the line being read is finished; stop here.
                return Took {
                    len: pos,
                    done: true,
                };
            }
            if k < line.len() || self.out.batch_full(OUT_MAX) {
                return Took {
                    len: pos,
                    done: false,
                };
            }
        }
    }

    /// Pipe input: peek, write, then take. Returns at EOF or when SIGTERM
    /// is done.
    pub fn run_pipe(&mut self, peek: &mut Peek, journal: &mut Journal, pipe: &SelfPipe) {
        let waiter = Waiter::new(pipe.read_fd()).unwrap_or_else(|e| fatal("create epoll", &e));
        let mut buf = vec![0u8; BATCH.min(peek.cap)];
        let mut more = true;
        loop {
            let (_, sig) = waiter
                .wait(if more { 0 } else { -1 })
                .unwrap_or_else(|e| fatal("wait for input", &e));
            if sig {
                self.signals(pipe);
            }
            let n = match peek.peek(&mut buf) {
                Ok(Peeked::Data(n)) => n,
                Ok(Peeked::Empty) => {
                    if self.term && !self.engine.in_line() {
                        return;
                    }
                    more = false;
                    continue;
                }
                Ok(Peeked::Eof) => return,
                Err(e) => fatal("read input", &e),
            };
            let mut took = self.take(&buf[..n], false);
            if took.len == 0 && peek.hung_up() {
                // Nothing but an unfinished line, and no writer left.
                took = self.take(&buf[..n], true);
                if took.len == n {
                    self.engine.finish(&mut self.out);
                }
            }
            if took.len > 0 {
                self.commit(&buf[..took.len], Some((peek, &mut *journal)));
            }
            if took.done {
                return;
            }
            more = took.len > 0;
        }
    }

    /// Any other input: read, keeping an unfinished line in memory; after
    /// SIGTERM, one byte at a time to the end of the line (the rest stays
    /// unread, as in daemontools).
    pub fn run_read(&mut self, pipe: &SelfPipe) {
        let mut buf = vec![0u8; BATCH];
        let (mut start, mut end) = (0usize, 0usize);
        let mut eof = false;
        loop {
            // Whatever is held and complete goes out first.
            loop {
                let took = self.take(&buf[start..end], eof);
                if took.len > 0 {
                    self.commit(&[], None);
                    start += took.len;
                }
                if took.done || (eof && start == end) {
                    if eof {
                        self.engine.finish(&mut self.out);
                    }
                    return;
                }
                if took.len == 0 {
                    break;
                }
            }
            if self.term && start == end && !self.engine.in_line() {
                return;
            }
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            let stdin = std::io::stdin();
            let mut fds = [
                PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                PollFd::new(pipe.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => fatal("poll", &e.into()),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let (input, sig) = (ready(&fds[0]), ready(&fds[1]));
            if sig {
                self.signals(pipe);
            }
            if !input {
                continue;
            }
            let want = if self.term { 1 } else { buf.len() - end };
            match nix::unistd::read(0, &mut buf[end..end + want]) {
                Ok(0) => eof = true,
                Ok(n) => end += n,
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => fatal("read input", &e.into()),
            }
        }
    }

    /// Writes the gathered batch, takes `data` out of a pipe input, and
    /// rotates the directories that are full.
    fn commit(&mut self, data: &[u8], pipe: Option<(&mut Peek, &mut Journal)>) {
        match pipe {
            Some((peek, journal)) => {
                let marks = self.out.marks();
                journal.before(data, marks);
                self.out.flush_all();
                journal.after(peek);
            }
            None => {
                let _ = self.out.marks();
                self.out.flush_all();
            }
        }
        self.out.rotate_due();
    }
}
