//! Start-up facts recorded before Rust's runtime runs (the daemontools
//! toolkit: envdir, setlock, readproctitle, …): SIGPIPE as inherited,
//! which of descriptors 0-2 were closed, argv in place; and execve.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io;

/// Start-up facts recorded before Rust's runtime runs: whether SIGPIPE
/// was ignored when we were exec'ed (Rust then ignores it for itself, and
/// an ignored disposition survives exec), and where argv lives.
static START_SIGPIPE_IGNORED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
static START_ARGC: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static START_ARGV: std::sync::atomic::AtomicPtr<*mut libc::c_char> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
static ARGV_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Bit n set: descriptor n (0-2) was closed when we were exec'ed (Rust's
/// runtime then opens /dev/null there).
static START_CLOSED_STDIO: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

extern "C" fn record_start(
    argc: libc::c_int,
    argv: *mut *mut libc::c_char,
    _envp: *mut *mut libc::c_char,
) {
    use std::sync::atomic::Ordering;
    // SAFETY: sa is plain data; sigaction with a null new action only
    // reads the current disposition into it.
    let ignored = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut sa) == 0
            && sa.sa_sigaction == libc::SIG_IGN
    };
    START_SIGPIPE_IGNORED.store(ignored, Ordering::Relaxed);
    let mut closed = 0u8;
    for fd in 0..3 {
        // SAFETY: F_GETFD on an integer descriptor only reports EBADF.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            closed |= 1 << fd;
        }
    }
    START_CLOSED_STDIO.store(closed, Ordering::Relaxed);
    START_ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
    START_ARGV.store(argv, Ordering::Relaxed);
}

/// glibc calls `.init_array` entries with (argc, argv, envp) before
/// `main` (Rust's std relies on the same), static builds included.
#[used]
#[link_section = ".init_array"]
static RECORD_START: extern "C" fn(libc::c_int, *mut *mut libc::c_char, *mut *mut libc::c_char) =
    record_start;

/// Puts SIGPIPE back as it was when we started, so a program we exec
/// does not inherit the SIG_IGN Rust's runtime installed.
pub fn restore_start_sigpipe() {
    let how = if START_SIGPIPE_IGNORED.load(std::sync::atomic::Ordering::Relaxed) {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    let act = SigAction::new(how, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL / SIG_IGN install no handler code.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &act) };
}

/// Closes again those of descriptors 0-2 that were closed when we
/// started, so a program we exec sees them as its caller left them, and
/// descriptors opened afterwards get the numbers djb's would. Only the
/// first call acts (later ones must not close what took those numbers).
pub fn restore_start_stdio() {
    let closed = START_CLOSED_STDIO.swap(0, std::sync::atomic::Ordering::Relaxed);
    for fd in 0..3 {
        if closed & (1 << fd) != 0 {
            // SAFETY: closing 0-2, which hold only the /dev/null Rust's
            // runtime opened; nothing in this process uses them.
            unsafe { libc::close(fd) };
        }
    }
}

/// The bytes of the last command-line argument in place, in the memory
/// `ps` shows (readproctitle's display). Handed out once.
pub fn take_last_arg() -> Option<&'static mut [u8]> {
    use std::sync::atomic::Ordering;
    let argc = START_ARGC.load(Ordering::Relaxed);
    let argv = START_ARGV.load(Ordering::Relaxed);
    if argc < 1 || argv.is_null() || ARGV_TAKEN.swap(true, Ordering::Relaxed) {
        return None;
    }
    // SAFETY: argv is the kernel-built argument vector of argc valid
    // pointers to NUL-terminated, writable strings that live for the
    // whole process; the flag above hands this slice out only once, and
    // nothing else in the programs that call this writes to it (Rust's
    // std copies arguments out when asked).
    unsafe {
        let p = *argv.add(argc - 1);
        if p.is_null() {
            return None;
        }
        let len = libc::strlen(p);
        Some(std::slice::from_raw_parts_mut(p.cast::<u8>(), len))
    }
}

/// The environment exactly as the C library holds it, in order: entries
/// without `=` (or starting with one) included, which
/// `std::env::vars_os` drops but djb's programs pass on.
pub fn environ_raw() -> Vec<Vec<u8>> {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut out = Vec::new();
    // SAFETY: `environ` is the C library's NULL-terminated array of
    // NUL-terminated strings; the callers are single-threaded and copy
    // every entry out before anything could change the environment.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            out.push(std::ffi::CStr::from_ptr(*p).to_bytes().to_vec());
            p = p.add(1);
        }
    }
    out
}

/// execve(2); returns only on failure.
pub fn execve(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    env: &[std::ffi::CString],
) -> io::Error {
    match nix::unistd::execve(path, argv, env) {
        Err(e) => io::Error::from(e),
        Ok(never) => match never {},
    }
}
