//! Where the booster's one-line event log goes: stderr with `-e` or when
//! stderr is a terminal, else syslog, else (no /dev/log) stderr.

use std::io::Write;

pub enum Log {
    Stderr,
    Syslog,
}

impl Log {
    pub fn choose(force_stderr: bool) -> Log {
        let tty = nix::unistd::isatty(2).unwrap_or(false);
        if force_stderr || tty || !std::path::Path::new("/dev/log").exists() {
            return Log::Stderr;
        }
        svkit::sys::open_syslog(c_ident());
        Log::Syslog
    }

    pub fn info(&self, msg: &str) {
        self.line(libc::LOG_INFO, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.line(libc::LOG_WARNING, &format!("warning: {msg}"));
    }

    fn line(&self, prio: libc::c_int, msg: &str) {
        match self {
            Log::Stderr => {
                let text = format!("booster: {msg}\n");
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            Log::Syslog => svkit::sys::syslog(prio, msg),
        }
    }
}

fn c_ident() -> &'static std::ffi::CStr {
    std::ffi::CStr::from_bytes_with_nul(b"booster\0").unwrap_or_default()
}

/// A wait status in words: `exit 3` or `signal 15`.
pub fn status_text(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit {}", libc::WEXITSTATUS(status))
    }
}
