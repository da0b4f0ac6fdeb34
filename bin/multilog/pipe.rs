//! Reading a pipe without taking from it: tee(2) copies the head of the
//! input pipe into a private pipe (page references, no byte copy), which
//! is read; only once the bytes are on disk are they taken out of the
//! input, by splice(2) into the private pipe (all or nothing) and into the
//! `pending` file (which counts them). All the raw `unsafe` of multilog.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Input pipe size asked for with F_SETPIPE_SZ (the default maximum for
/// unprivileged processes): a writer then rarely waits while we sync.
const WANT_PIPE: libc::c_int = 1 << 20;

pub struct Peek {
    priv_r: OwnedFd,
    priv_w: OwnedFd,
    null: File,
    /// Device and inode of the input pipe.
    pub id: (u64, u64),
    /// The most bytes one peek may return.
    pub cap: usize,
}

/// What a peek found at the head of the input.
pub enum Peeked {
    Data(usize),
    /// Empty, writers still there.
    Empty,
    /// Empty, no writer left.
    Eof,
}

fn check(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn pipe_size(fd: RawFd) -> usize {
    // SAFETY: F_GETPIPE_SZ takes no argument and only reads the pipe's size.
    let r = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    if r > 0 {
        r as usize
    } else {
        65536
    }
}

fn grow(fd: RawFd, want: libc::c_int) {
    // SAFETY: F_SETPIPE_SZ takes an int; failure (EPERM, EBUSY) leaves the
    // pipe as it was, which is fine.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, want);
    }
}

impl Peek {
    /// When stdin is a pipe: grows it, and makes the private pipe at least
    /// as large. None for anything else (files, terminals, sockets).
    pub fn for_stdin() -> Option<Peek> {
        let st = nix::sys::stat::fstat(0).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return None;
        }
        grow(0, WANT_PIPE);
        let input = pipe_size(0);
        let (priv_r, priv_w) = svkit::sys::pipe_nonblock_cloexec().ok()?;
        grow(
            priv_w.as_raw_fd(),
            input.max(WANT_PIPE as usize) as libc::c_int,
        );
        let own = pipe_size(priv_w.as_raw_fd());
        if own < input {
            return None;
        }
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()?;
        Some(Peek {
            priv_r,
            priv_w,
            null,
            id: (st.st_dev, st.st_ino),
            // A page less than the private pipe: a peek starting inside a
            // page never runs out of slots.
            cap: own.saturating_sub(4096).max(4096),
        })
    }

    /// Copies up to `buf.len()` bytes from the head of stdin into `buf`,
    /// leaving them in stdin.
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<Peeked> {
        let want = buf.len().min(self.cap);
        // SAFETY: tee between two pipe descriptors we hold; no memory is
        // passed.
        let r = unsafe { libc::tee(0, self.priv_w.as_raw_fd(), want, libc::SPLICE_F_NONBLOCK) };
        let n = match check(r) {
            Ok(0) => return Ok(Peeked::Eof),
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(Peeked::Empty),
            Err(e) => return Err(e),
        };
        let mut got = 0;
        while got < n {
            match nix::unistd::read(self.priv_r.as_raw_fd(), &mut buf[got..n]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Peeked::Data(got))
    }

    /// Takes `n` bytes out of stdin through the private pipe (one splice:
    /// it moves page references, all of them or none) and drops them.
    pub fn take_moved(&mut self, n: usize) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            // SAFETY: splice between two pipe descriptors we hold.
            let r = unsafe {
                libc::splice(
                    0,
                    std::ptr::null_mut(),
                    self.priv_w.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            match check(r) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => left -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.drop_private(n)
    }

    fn drop_private(&mut self, n: usize) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            // SAFETY: splice from our private pipe to /dev/null.
            let r = unsafe {
                libc::splice(
                    self.priv_r.as_raw_fd(),
                    std::ptr::null_mut(),
                    self.null.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            match check(r) {
                Ok(0) => break,
                Ok(k) => left -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // No splice to /dev/null here: read the bytes instead.
                    let mut scratch = [0u8; 4096];
                    let k =
                        nix::unistd::read(self.priv_r.as_raw_fd(), &mut scratch[..left.min(4096)])?;
                    if k == 0 {
                        break;
                    }
                    left -= k;
                }
            }
        }
        Ok(())
    }

    /// Takes `n` bytes out of stdin into `file` at `off`: the file grows by
    /// exactly what was taken, even if a SIGKILL cuts the splice short.
    pub fn take_into(&mut self, file: &File, off: u64, n: usize) -> io::Result<()> {
        let mut off = off as libc::loff_t;
        let mut left = n;
        while left > 0 {
            // SAFETY: splice from stdin (a pipe) to a regular file we hold,
            // at an offset owned by this frame.
            let r = unsafe {
                libc::splice(
                    0,
                    std::ptr::null_mut(),
                    file.as_raw_fd(),
                    &mut off,
                    left,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            match check(r) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => left -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// True when no writer holds the input pipe any more.
    pub fn hung_up(&self) -> bool {
        let mut fds = [libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        }];
        svkit::sys::poll_fds(&mut fds, 0).is_ok() && fds[0].revents & libc::POLLHUP != 0
    }
}

/// epoll over stdin (edge-triggered: a wake-up for every write, so a held
/// unfinished line is not polled in a loop) and the self-pipe.
pub struct Waiter {
    ep: OwnedFd,
    /// Processors' pidfds registered now.
    watched: Vec<RawFd>,
}

pub const INPUT: u64 = 1;
pub const SIGNAL: u64 = 2;
pub const PROCESSOR: u64 = 3;

impl Waiter {
    pub fn new(selfpipe: RawFd) -> io::Result<Waiter> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(fd) };
        let w = Waiter {
            ep,
            watched: Vec::new(),
        };
        w.add(0, (libc::EPOLLIN | libc::EPOLLET) as u32, INPUT)?;
        w.add(selfpipe, libc::EPOLLIN as u32, SIGNAL)?;
        Ok(w)
    }

    fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev lives for the call; the kernel copies it.
        let r = unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches exactly these processor pidfds.
    pub fn watch(&mut self, fds: &[RawFd]) {
        if self.watched == fds {
            return;
        }
        for &fd in &self.watched {
            // SAFETY: removing a registration; a closed fd is already gone.
            unsafe {
                libc::epoll_ctl(
                    self.ep.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    fd,
                    std::ptr::null_mut(),
                );
            }
        }
        self.watched.clear();
        for &fd in fds {
            if self.add(fd, libc::EPOLLIN as u32, PROCESSOR).is_ok() {
                self.watched.push(fd);
            }
        }
    }

    /// Waits up to `ms` (-1: no limit); returns (input, signal) readiness.
    pub fn wait(&self, ms: i32) -> io::Result<(bool, bool)> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: evs is a valid array of 8 events for the kernel to fill.
        let r = unsafe { libc::epoll_wait(self.ep.as_raw_fd(), evs.as_mut_ptr(), 8, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok((false, false));
            }
            return Err(e);
        }
        let (mut input, mut signal) = (false, false);
        for ev in &evs[..r as usize] {
            let token = ev.u64;
            input |= token == INPUT;
            signal |= token == SIGNAL;
        }
        Ok((input, signal))
    }
}
