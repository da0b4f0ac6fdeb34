//! The input loop: batches of whole lines. A batch is gathered for every
//! directory, written with one write(2) each, and only then taken from the
//! input when it is a pipe (peeked with tee(2), see `pipe` and `journal`);
//! from anything else it is read, as daemontools does. An unfinished line
//! waits (in the pipe, or in memory) for its newline, or until 1000 bytes
//! of it have arrived (daemontools' line buffer), as in daemontools.

use crate::journal::Journal;
use crate::output::{stamp_prefix, Outputs};
use crate::pipe::{Peek, Peeked, Waiter};
use nix::sys::signal::Signal;
use svkit::multilog_lines::Engine;
use svkit::multilog_script::{Stamp, HEAD};
use svkit::selfpipe::SelfPipe;

/// Input taken per batch at most (also the input buffer: a larger one
/// saves syscalls but costs resident memory).
const BATCH: usize = svkit::multilog_pending::MAX_BATCH as usize;
/// A batch ends once a directory holds this much output.
const OUT_MAX: usize = BATCH;
/// Signals are looked at every this many batches while input keeps coming.
const SIGNAL_EVERY: u32 = 8;

pub struct Input<'a> {
    pub stamps: &'a [Stamp],
    pub engine: Engine,
    pub out: Outputs,
    pub dirs_only: bool,
    /// Every whole line goes unchanged to every directory: written
    /// from the input buffer without the engine.
    fast: bool,
    prefix: Vec<u8>,
    term: bool,
}

/// What a look at the held input decided.
struct Took {
    /// Bytes of input this batch takes.
    len: usize,
    /// SIGTERM, and the line being read when it came is finished.
    done: bool,
    /// Taken by the fast path: written from the input itself.
    fast: bool,
}

/// Milliseconds to wait: `ms` (-1: no limit), shortened to `at`.
fn until(ms: i32, at: Option<std::time::Instant>) -> i32 {
    let Some(at) = at else {
        return ms;
    };
    let left = at.saturating_duration_since(std::time::Instant::now());
    let left = left.as_millis().min(60_000) as i32 + 1;
    if ms < 0 {
        left
    } else {
        ms.min(left)
    }
}

fn fatal(what: &str, e: &std::io::Error) -> ! {
    svkit::exit::fatal(
        crate::PROG,
        &format!("unable to {what}: {}", svkit::errstr::text(e)),
    )
}

impl<'a> Input<'a> {
    pub fn new(
        stamps: &'a [Stamp],
        engine: Engine,
        out: Outputs,
        dirs_only: bool,
        fast: bool,
    ) -> Input<'a> {
        Input {
            stamps,
            engine,
            out,
            dirs_only,
            fast,
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

    /// The fast path: the whole lines `data` starts with that fit every
    /// directory, up to the first that makes a rotation due. Returns the
    /// input taken and the output it makes (a stamp per line).
    fn scan_fast(&self, data: &[u8]) -> (usize, u64) {
        let stamp = self.prefix.len() as u64;
        let room = self.out.min_room();
        let due_at = self.out.min_due_room();
        let (mut pos, mut out) = (0usize, 0u64);
        while let Some(i) = memchr::memchr(b'\n', &data[pos..]) {
            let len = stamp + i as u64 + 1;
            if out + len > room {
                break;
            }
            out += len;
            pos += i + 1;
            if out >= due_at {
                break;
            }
        }
        (pos, out)
    }

    /// Feeds the engine the batch `data` starts with.
    fn take(&mut self, data: &[u8], eof: bool) -> Took {
        if !self.stamps.is_empty() {
            stamp_prefix(self.stamps, &mut self.prefix);
            self.engine.set_stamp(&self.prefix);
        }
        if self.fast && !self.term && !self.engine.in_line() {
            let (len, out) = self.scan_fast(data);
            if len > 0 {
                self.out.gather(out);
                return Took {
                    len,
                    done: false,
                    fast: true,
                };
            }
        }
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            if rest.is_empty() {
                return Took {
                    len: pos,
                    done: self.term && !self.engine.in_line(),
                    fast: false,
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
                    fast: false,
                };
            }
            let Some(k) = self.piece(line, pos == 0) else {
                return Took {
                    len: pos,
                    done: false,
                    fast: false,
                };
            };
            pos += k;
            if self.term && whole && k == line.len() {
                // SIGTERM: the line being read is finished; stop here.
                return Took {
                    len: pos,
                    done: true,
                    fast: false,
                };
            }
            if k < line.len() || self.out.batch_full(OUT_MAX) {
                return Took {
                    len: pos,
                    done: false,
                    fast: false,
                };
            }
        }
    }

    /// Pipe input: peek, write, then take. Returns at EOF or when SIGTERM
    /// is done.
    pub fn run_pipe(&mut self, peek: &mut Peek, journal: &mut Journal, pipe: &SelfPipe) {
        let mut waiter = Waiter::new(pipe.read_fd()).unwrap_or_else(|e| fatal("create epoll", &e));
        let mut buf = vec![0u8; BATCH.min(peek.cap)];
        let mut more = true;
        let mut busy = 0u32;
        // While only an unfinished line is in the pipe, the kernel may not
        // wake us for more: a writer in the middle of one write(2) larger
        // than the pipe wakes readers only when it found the pipe empty.
        // So look again after 1 ms, 2, 4… up to a second while it stays.
        let (mut hold_ms, mut held) = (-1i32, 0usize);
        loop {
            busy = if more { busy + 1 } else { 0 };
            let (procs, at) = self.out.processors();
            if !more || busy % SIGNAL_EVERY == 0 {
                waiter.watch(&procs);
                let ms = until(if more { 0 } else { hold_ms }, at);
                let (_, sig) = waiter
                    .wait(ms)
                    .unwrap_or_else(|e| fatal("wait for input", &e));
                if sig {
                    self.signals(pipe);
                }
            }
            if at.is_some() || !procs.is_empty() {
                self.out.step_processors();
            }
            let n = match peek.peek(&mut buf) {
                Ok(Peeked::Data(n)) => n,
                Ok(Peeked::Empty) => {
                    if self.term && !self.engine.in_line() {
                        return;
                    }
                    more = false;
                    hold_ms = -1;
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
                let data = &buf[..took.len];
                self.commit(data, took.fast, Some((peek, &mut *journal)));
            }
            if took.done {
                return;
            }
            more = took.len > 0;
            if !more {
                hold_ms = if n == held && hold_ms > 0 {
                    (hold_ms * 2).min(1000)
                } else {
                    1
                };
                held = n;
            }
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
                    self.commit(&buf[start..start + took.len], took.fast, None);
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
            let (procs, at) = self.out.processors();
            let mut fds: Vec<libc::pollfd> = [0, pipe.read_fd()]
                .into_iter()
                .chain(procs.iter().copied())
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            match svkit::sys::poll_fds(&mut fds, until(-1, at)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => fatal("poll", &e),
            }
            let (input, sig) = (fds[0].revents != 0, fds[1].revents != 0);
            if sig {
                self.signals(pipe);
            }
            if at.is_some() || !procs.is_empty() {
                self.out.step_processors();
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
    fn commit(&mut self, data: &[u8], fast: bool, pipe: Option<(&mut Peek, &mut Journal)>) {
        let marks = self.out.marks();
        let stamp = &self.prefix;
        let write = |out: &mut Outputs| {
            if fast {
                out.write_lines(stamp, data);
            } else {
                out.flush_all();
            }
        };
        match pipe {
            Some((peek, journal)) => {
                journal.before(data, marks);
                write(&mut self.out);
                journal.after(peek);
            }
            None => write(&mut self.out),
        }
        self.out.rotate_due();
    }
}
