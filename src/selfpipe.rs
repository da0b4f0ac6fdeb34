//! The self-pipe: signal handlers write the signal number as one byte to a
//! non-blocking pipe; the event loop polls its read end. Nothing else runs
//! in handler context.

use nix::sys::signal::Signal;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    crate::sys::selfpipe_write(WRITE_FD.load(Ordering::Relaxed), sig as u8);
}

pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Creates the pipe (both ends non-blocking, close-on-exec) and routes
    /// `signals` into it. One self-pipe per process.
    pub fn install(signals: &[Signal]) -> io::Result<SelfPipe> {
        let (read, write) = crate::sys::pipe_nonblock_cloexec()?;
        WRITE_FD.store(std::os::fd::AsRawFd::as_raw_fd(&write), Ordering::Relaxed);
        for &s in signals {
            crate::sys::set_handler(s, on_signal)?;
        }
        Ok(SelfPipe {
            read,
            _write: write,
        })
    }

    pub fn read_fd(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.read)
    }

    /// Reads every pending signal byte; returns the signals in arrival order.
    pub fn drain(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&self.read), &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.extend(
                        buf[..n]
                            .iter()
                            .filter_map(|&b| Signal::try_from(i32::from(b)).ok()),
                    );
                    if n < buf.len() {
                        break;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

impl AsFd for SelfPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
