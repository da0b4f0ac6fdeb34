//! Starting processes: `supervise` (found beside svscan's own executable
//! first, then on PATH) and per-service `shutdown` scripts. Each child gets
//! its own process group, so a terminal's Ctrl-C reaches svscan alone and
//! svscan decides the order things stop in. std's spawn resets the signal
//! mask and SIGPIPE before exec; caught signals revert at exec.

use nix::unistd::Pid;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
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

    /// `supervise ARG` in `cwd` (svscan's own when `None`).
    pub fn supervise(&self, cwd: Option<&Path>, arg: &OsStr, fds: Fds<'_>) -> io::Result<Pid> {
        let mut cmd = Command::new(&self.program);
        cmd.arg(arg);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        spawn(cmd, fds)
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
