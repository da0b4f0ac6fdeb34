//! The control fifo's language: one byte per command, as daemontools 0.76
//! plus the sigq12 patch (`q`, `1`, `2`). Also the non-blocking opens that
//! tell "supervise not running" (ENXIO: no reader on the fifo).

use nix::sys::signal::Signal;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `u`: want up; start if down.
    Up,
    /// `d`: want down; TERM (or `down-signal`) then CONT.
    Down,
    /// `o`: run once: start if down, do not restart.
    Once,
    /// `x`: exit once the service is down.
    Exit,
    /// Signals to the child: `p c h a i t k q 1 2`.
    Signal(Signal),
}

impl Command {
    pub fn from_byte(b: u8) -> Option<Command> {
        Some(match b {
            b'u' => Command::Up,
            b'd' => Command::Down,
            b'o' => Command::Once,
            b'x' => Command::Exit,
            _ => Command::Signal(signal_for(b)?),
        })
    }
}

/// The signal a signal letter sends.
pub fn signal_for(b: u8) -> Option<Signal> {
    Some(match b {
        b'p' => Signal::SIGSTOP,
        b'c' => Signal::SIGCONT,
        b'h' => Signal::SIGHUP,
        b'a' => Signal::SIGALRM,
        b'i' => Signal::SIGINT,
        b't' => Signal::SIGTERM,
        b'k' => Signal::SIGKILL,
        b'q' => Signal::SIGQUIT,
        b'1' => Signal::SIGUSR1,
        b'2' => Signal::SIGUSR2,
        _ => return None,
    })
}

/// All letters supervise understands, in daemontools' order.
pub const LETTERS: &[u8] = b"udopchaitkxq12";

/// Opens `DIR/supervise/control` for writing without blocking. ENXIO means
/// no supervise is reading it.
pub fn open_control(dir: &Path) -> io::Result<File> {
    open_fifo_writer(&dir.join(crate::svdir::CONTROL))
}

/// Opens a fifo for writing with O_NONBLOCK (then clears it is not needed:
/// single-byte writes to a fifo are atomic).
pub fn open_fifo_writer(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// True when a supervise is running for `dir` (someone reads `ok`): the
/// one test svok, svstat and the tests use. ENXIO (no reader) is false;
/// any other failure (ENOENT included) is the caller's to judge.
pub fn supervise_running(dir: &Path) -> io::Result<bool> {
    match open_fifo_writer(&dir.join(crate::svdir::OK)) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_parses() {
        for &b in LETTERS {
            assert!(Command::from_byte(b).is_some(), "{}", b as char);
        }
        assert_eq!(Command::from_byte(b'z'), None);
        assert_eq!(Command::from_byte(b'\n'), None);
        assert_eq!(
            Command::from_byte(b't'),
            Some(Command::Signal(Signal::SIGTERM))
        );
        assert_eq!(
            Command::from_byte(b'2'),
            Some(Command::Signal(Signal::SIGUSR2))
        );
    }
}
