//! Signal dispositions and the async-signal-safe self-pipe write.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io;
use std::os::fd::RawFd;

/// Async-signal-safe: writes one byte, keeping errno as it was.
pub fn selfpipe_write(fd: RawFd, byte: u8) {
    if fd < 0 {
        return;
    }
    // SAFETY: errno location is thread-local and valid; write(2) is
    // async-signal-safe; the buffer is one valid byte on our stack.
    unsafe {
        let saved = *libc::__errno_location();
        let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = saved;
    }
}

/// Installs `handler` for `sig` with SA_RESTART and all signals blocked
/// during the handler.
pub fn set_handler(sig: Signal, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    let act = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::all(),
    );
    // SAFETY: the handler only calls selfpipe_write, which is async-signal-safe.
    unsafe { sigaction(sig, &act) }
        .map(|_| ())
        .map_err(io::Error::from)
}

/// Restores default dispositions for every catchable signal and empties
/// the signal mask. Call in a forked child before exec (Rust ignores
/// SIGPIPE at start-up; a service must not inherit that).
pub fn reset_signals_for_exec() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler-safety requirements.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = SigSet::empty().thread_set_mask();
}

/// SIGPIPE ignored, as Rust's own start-up does (programs that start from
/// a C `main` skip it): a closed stderr must not kill a logger.
pub fn ignore_sigpipe() {
    let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler code.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &ign) };
}
