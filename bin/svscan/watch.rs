//! The scan directory watched with inotify, so an idle svscan sleeps until
//! something changes instead of looking every 5 seconds: an entry
//! created, removed or renamed in DIR, or `log` appearing in `.svscan`.
//! Without inotify svscan falls back to the 5 s scan.

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, BorrowedFd};

pub struct Watch {
    fd: Inotify,
}

fn changes() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
}

impl Watch {
    /// Watches the current directory (DIR); None when inotify is missing.
    pub fn new() -> Option<Watch> {
        let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        fd.add_watch(".", changes() | AddWatchFlags::IN_ONLYDIR)
            .ok()?;
        let w = Watch { fd };
        w.rearm();
        Some(w)
    }

    /// Also watches `.svscan` (it may appear later: watched from then).
    pub fn rearm(&self) {
        let _ = self.fd.add_watch(
            svkit::svdir::SVSCAN_DIR,
            changes() | AddWatchFlags::IN_ONLYDIR,
        );
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads every pending event; true when there was any.
    pub fn drain(&self) -> bool {
        let mut any = false;
        while let Ok(ev) = self.fd.read_events() {
            if ev.is_empty() {
                break;
            }
            any = true;
        }
        any
    }
}
