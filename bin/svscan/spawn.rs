//! Starting processes: `supervise` (found beside svscan's own executable
//! first, then on PATH) and per-service `shutdown` scripts. Each child gets
//! its own process group, so a terminal's Ctrl-C reaches svscan alone and
//! svscan decides the order things stop in. Both paths reset the signal
//! mask and every disposition (Rust ignores SIGPIPE) before exec.

use nix::unistd::Pid;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The descriptors a child gets as 0, 1, 2; `None` inherits svscan's.
#[derive(Default, Clone, Copy)]
pub struct Fds<'a> {
    pub stdin: Option<BorrowedFd<'a>>,
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
}

fn stdio(fd: Option<BorrowedFd<'_>>) -> io::Result<Option<Stdio>> {
    fd.map(|f| f.try_clone_to_owned().map(Stdio::from))
        .transpose()
}

pub struct Launcher {
    program: PathBuf,
}

impl Launcher {
    /// `supervise` beside our executable when there is one (so a build
    /// tree or an install prefix uses its own supervise), else the name,
    /// looked up on PATH at each start.
    pub fn find() -> Launcher {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("supervise")))
            .filter(|p| is_executable(p));
        Launcher {
            program: beside.unwrap_or_else(|| PathBuf::from("supervise")),
        }
    }

    /// `supervise ARG` in `cwd` (svscan's own when `None`), forked the
    /// daemontools way (see `svkit::sys::fork_exec`): a supervise that
    /// cannot be executed reports it itself and exits 111.
    pub fn supervise(&self, cwd: Option<&Path>, arg: &OsStr, fds: Fds<'_>) -> io::Result<Pid> {
        let prog = cstr(self.program.as_os_str())?;
        let arg_c = cstr(arg)?;
        let cwd_c = cwd.map(|d| cstr(d.as_os_str())).transpose()?;
        let raw = |f: Option<BorrowedFd<'_>>| f.map(|f| f.as_raw_fd()).unwrap_or(-1);
        let shown = match cwd {
            Some(d) => d.join(arg).display().to_string(),
            None => arg.to_string_lossy().into_owned(),
        };
        let fail = format!("svscan: warning: unable to start supervise {shown}: ");
        let pid = svkit::sys::fork_exec(
            &[&prog, &arg_c],
            cwd_c.as_deref(),
            [raw(fds.stdin), raw(fds.stdout), raw(fds.stderr)],
            fail.as_bytes(),
        )?;
        Ok(Pid::from_raw(pid))
    }

    /// `./shutdown` inside the service directory `dir`.
    pub fn script(&self, dir: &Path, fds: Fds<'_>) -> io::Result<Pid> {
        let mut cmd = Command::new("./shutdown");
        cmd.current_dir(dir);
        spawn(cmd, fds)
    }
}

fn spawn(mut cmd: Command, fds: Fds<'_>) -> io::Result<Pid> {
    cmd.process_group(0);
    if let Some(s) = stdio(fds.stdin)? {
        cmd.stdin(s);
    }
    if let Some(s) = stdio(fds.stdout)? {
        cmd.stdout(s);
    }
    if let Some(s) = stdio(fds.stderr)? {
        cmd.stderr(s);
    }
    // The Child handle is dropped without waiting: svscan reaps every
    // child itself with waitpid(-1).
    let child = cmd.spawn()?;
    Ok(Pid::from_raw(child.id() as i32))
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A pipe for a service and its logger: close-on-exec in svscan, and
/// blocking (the flag would be shared with the service's stdout).
pub fn log_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}
