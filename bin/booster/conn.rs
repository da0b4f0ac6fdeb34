//! One invoker connection: its state, and the small socket operations the
//! server's state machine uses on it.
//!
//! ```text
//! Reading ──END──▶ Launching ──exec ok──▶ Running ──EOF──▶ Ending
//!    │                 │  └──no-wait──▶ Closing              │
//!    └─bad/late/busy───┴──exec failed──▶ Closing ◀──reaped: EXIT──┘
//! ```
//! Closing = shutdown(SHUT_WR), read to EOF, close; at most 5 s.

use nix::sys::socket::{self, MsgFlags, Shutdown};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;
use svkit::wire::{self, Reply};

pub enum State {
    /// Collecting the request (bytes and SCM_RIGHTS descriptors).
    Reading {
        decoder: wire::RequestDecoder,
        fds: Vec<OwnedFd>,
        deadline: Instant,
    },
    /// Handed to the spare; waiting for exec (EOF on `chan`) or its error.
    Launching {
        pid: u32,
        chan: OwnedFd,
        wait: bool,
        argv0: Vec<u8>,
    },
    /// The program runs; EOF from the invoker terminates it.
    Running { pid: u32 },
    /// The invoker has gone (EOF); the program is being terminated.
    Ending { pid: u32 },
    /// Orderly disconnect in progress.
    Closing { deadline: Instant },
}

pub struct Conn {
    pub sock: OwnedFd,
    pub uid: u32,
    pub state: State,
}

pub enum Input {
    Data,
    Again,
    Eof,
}

impl Conn {
    /// Sends one reply without blocking; a reply is a few bytes and the
    /// invoker reads them, so a full buffer means a misbehaving peer.
    pub fn send(&self, r: &Reply) -> bool {
        let b = wire::encode_reply(r);
        matches!(
            socket::send(
                self.sock.as_raw_fd(),
                &b,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT
            ),
            Ok(n) if n == b.len()
        )
    }

    /// Reads and throws away what the peer sends (after END, or while
    /// closing), reporting EOF.
    pub fn discard(&self, scratch: &mut [u8]) -> Input {
        match socket::recv(self.sock.as_raw_fd(), scratch, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => Input::Eof,
            Ok(_) => Input::Data,
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => Input::Again,
            Err(_) => Input::Eof,
        }
    }

    /// Starts the orderly disconnect.
    pub fn close_write(&mut self, deadline: Instant) {
        let _ = socket::shutdown(self.sock.as_raw_fd(), Shutdown::Write);
        self.state = State::Closing { deadline };
    }

    /// The instance this connection is tied to, if any.
    pub fn pid(&self) -> Option<u32> {
        match self.state {
            State::Launching { pid, .. } | State::Running { pid } | State::Ending { pid } => {
                Some(pid)
            }
            _ => None,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Reading { deadline, .. } | State::Closing { deadline } => Some(deadline),
            _ => None,
        }
    }
}
