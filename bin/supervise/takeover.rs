//! Taking over from a supervise that was killed (SIGKILL) while its child
//! ran: the child named in the old `xstatus` is recognised by its process
//! signature (pid + start time) and watched through a pidfd instead of
//! being started a second time.

use crate::state::{Child, Sup};
use svkit::svdir;
use svkit::xstatus::{self, XStatus};

/// Reads the previous `xstatus`; keeps its death history, and adopts its
/// child when that very process still runs.
pub fn adopt(sup: &mut Sup) {
    let Ok(bytes) = std::fs::read(svdir::XSTATUS) else {
        return;
    };
    let Ok(old) = XStatus::unpack(&bytes) else {
        return;
    };
    sup.x.history = old.history.clone();
    sup.x.last_exit = old.last_exit;
    let sig = old.child;
    if sig.pid == 0 || sig.pid == std::process::id() || !sig.is_alive() || zombie(sig.pid) {
        return;
    }
    let fd = match svkit::sys::pidfd_open(sig.pid) {
        Ok(fd) => fd,
        Err(e) => {
            sup.warn_once(format!(
                "unable to watch pid {} left running in {}: {}",
                sig.pid,
                sup.label,
                svkit::errstr::text(&e)
            ));
            return;
        }
    };
    // The pid might have been recycled between the check and the open:
    // the pidfd now pins it, so check once more.
    if !sig.is_alive() {
        return;
    }
    svkit::exit::warn(
        "supervise",
        &format!(
            "taking over {}/run: pid {} is still running from a previous supervise",
            sup.label, sig.pid
        ),
    );
    sup.child = Some(Child {
        sig,
        notify: None,
        pidfd: Some(fd),
        adopted: true,
        kill_at: None,
    });
    sup.pending = false;
    sup.want = old.want;
    sup.x.changed = old.changed;
    if old.has(xstatus::FLAG_READY) {
        sup.x.ready = old.ready;
        sup.x.set(xstatus::FLAG_READY, true);
    }
}

/// A dead child nobody reaped yet still matches its signature; it is not
/// running, so there is nothing to take over.
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|t| {
        t.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}
