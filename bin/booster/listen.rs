//! The listening socket: `SOCKET.lock` (flock, so two boosters never share
//! a socket), stale-socket replacement, the mode, accept, and the
//! SO_PEERCRED gate.

use nix::sys::socket::{self, sockopt, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub struct Listener {
    fd: OwnedFd,
    pub path: PathBuf,
}

/// Appends `suffix` to a path's last component (`SOCKET.lock`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Takes `SOCKET.lock`; a live holder gives WouldBlock ("temporary failure").
pub fn take_lock(path: &Path) -> Result<File, String> {
    let lock = with_suffix(path, ".lock");
    svkit::lock::lock_exclusive_nb(&lock).map_err(|e| svkit::exit::unable("acquire", &lock, &e))
}

impl Listener {
    /// Binds `path` (replacing a stale socket: the caller holds the lock)
    /// with mode 0600, or 0666 when `open` (then SO_PEERCRED is the gate).
    pub fn bind(path: &Path, open: bool) -> Result<Listener, String> {
        let fail =
            |what: &str, e: nix::Error| svkit::exit::unable(what, path, &std::io::Error::from(e));
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(svkit::exit::unable("remove stale socket", path, &e)),
        }
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| fail("create socket for", e))?;
        let addr = UnixAddr::new(path).map_err(|e| fail("bind", e))?;
        // The mode is set through the umask so the socket never exists
        // with wider permissions, even for an instant.
        let mask = if open { 0o111 } else { 0o177 };
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        let r = socket::bind(fd.as_raw_fd(), &addr);
        nix::sys::stat::umask(old);
        r.map_err(|e| fail("bind", e))?;
        // As deep as the kernel allows (net.core.somaxconn): a peer that
        // holds many connections fills the backlog, and then an allowed
        // invoker's connect() waits and races for each freed slot against
        // the flooder's retries; in a queue it simply waits its turn.
        let backlog = Backlog::MAXCONN;
        socket::listen(&fd, backlog).map_err(|e| fail("listen on", e))?;
        Ok(Listener {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One pending connection (non-blocking, close-on-exec): `Ok(None)`
    /// when none is pending, `Err` when accepting failed (out of fds).
    pub fn accept(&self) -> std::io::Result<Option<OwnedFd>> {
        match svkit::sys::accept_nonblock(self.fd.as_raw_fd()) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stop: the socket file goes first, so new invokers fail at once.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Who may launch: the booster's own uid, root, and the `-u`/`-g` lists.
pub struct Gate {
    pub own_uid: u32,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

impl Gate {
    /// The peer's (uid, gid, allowed). An unreadable credential is refused.
    pub fn check(&self, fd: &OwnedFd) -> (u32, u32, bool) {
        match socket::getsockopt(fd, sockopt::PeerCredentials) {
            Ok(c) => {
                let (uid, gid) = (c.uid(), c.gid());
                let ok = uid == 0
                    || uid == self.own_uid
                    || self.uids.contains(&uid)
                    || self.gids.contains(&gid);
                (uid, gid, ok)
            }
            Err(_) => (u32::MAX, u32::MAX, false),
        }
    }
}
