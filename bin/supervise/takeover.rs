//! Taking over from a supervise that was killed (SIGKILL) while its child
//! ran: the child named in the old `xstatus` is recognised by its process
//! signature (pid + start time + boot id, and still the session leader
//! supervise made it) and watched through a pidfd instead of being
//! started a second time.

use crate::config;
use crate::state::Sup;
use svkit::xstatus::{self, XStatus};

/// Reads the previous `xstatus`; keeps its death history, and adopts its
/// child when that very process still runs.
pub fn adopt(sup: &mut Sup) {
    let Some(old) = svkit::records::read_xstatus(std::path::Path::new(".")) else {
        return;
    };
    sup.m.x.history = old.history.clone();
    sup.m.x.last_exit = old.last_exit;
    if !old.from_this_boot() {
        return;
    }
    keep_policy(sup, &old);
    adopt_finish(sup, &old);
    let sig = old.child;
    if !is_our_kind(sig) {
        keep_down(sup, &old);
        return;
    }
    let fd = match svkit::pidfd::PidFd::open(sig.pid) {
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
    // the pidfd now names one process for good, so check once more.
    if !is_our_kind(sig) {
        return;
    }
    svkit::exit::warn(
        "supervise",
        &format!(
            "taking over {}/run: pid {} is still running from a previous supervise",
            sup.label, sig.pid
        ),
    );
    sup.adopt_run(sig, fd, kill_deadline(&old));
    sup.m.want = old.want;
    sup.m.x.changed = old.changed;
    if old.has(xstatus::FLAG_READY) {
        sup.m.x.ready = old.ready;
        sup.m.x.set(xstatus::FLAG_READY, true);
    }
}

/// Nothing left running: a service the operator had stopped (`svc -d`,
/// or `-o` once it ended) stays down under the new supervise, as it must
/// across svscan's in-place upgrade, which replaces every supervise. A
/// supervise that exited on `x` leaves a tree that starts afresh, as
/// daemontools' does (svscanboot runs `svc -dx` on the old supervisors).
fn keep_down(sup: &mut Sup, old: &XStatus) {
    if old.want != svkit::status::Want::Up && !old.has(xstatus::FLAG_EXITING) {
        sup.m.want = old.want;
        sup.m.pending = false;
    }
}

/// The `timeout-kill` deadline the old supervise had armed after `d`,
/// as a moment of ours: the time left on the wall clock, or now if past.
fn kill_deadline(old: &XStatus) -> Option<(std::time::Instant, svkit::tai64n::Tai64n)> {
    if old.kill_at.is_zero() {
        return None;
    }
    let wall = svkit::tai64n::Tai64n::now();
    let left = if old.kill_at > wall {
        wall.elapsed_to(old.kill_at)
    } else {
        std::time::Duration::ZERO
    };
    let at = svkit::duration::deadline(std::time::Instant::now(), left);
    Some((at, old.kill_at))
}

/// The restart policy's state survives a replaced supervise: a permanent
/// failure stays down, a backoff keeps its delay and its next start.
fn keep_policy(sup: &mut Sup, old: &XStatus) {
    if old.has(xstatus::FLAG_FAILED) {
        sup.m.failed = true;
        sup.m.want = svkit::status::Want::Down;
        sup.m.pending = false;
    }
    if old.has(xstatus::FLAG_BACKOFF) && old.backoff_ms > 0 {
        let wall = svkit::tai64n::Tai64n::now();
        let left = if old.next_start > wall {
            wall.elapsed_to(old.next_start)
        } else {
            std::time::Duration::ZERO
        };
        sup.m.back_off(left, std::time::Instant::now(), wall);
        sup.m.delay = Some(std::time::Duration::from_millis(u64::from(old.backoff_ms)));
    }
}

/// A `finish` left running: `run` must not start beside it, so it is
/// waited for (through a pidfd), and killed at `timeout-finish` from now.
fn adopt_finish(sup: &mut Sup, old: &XStatus) {
    let sig = old.finish;
    if !is_our_kind(sig) {
        return;
    }
    let Ok(fd) = svkit::pidfd::PidFd::open(sig.pid) else {
        return;
    };
    if !is_our_kind(sig) {
        return;
    }
    svkit::exit::warn(
        "supervise",
        &format!(
            "waiting for {}/finish: pid {} is still running from a previous supervise",
            sup.label, sig.pid
        ),
    );
    let limit = match config::timeout_finish(&sup.label) {
        config::Opt::Value(v) | config::Opt::Clamped(v, _) => v,
        _ => Some(std::time::Duration::from_millis(config::FINISH_DEFAULT_MS)),
    };
    let now = std::time::Instant::now();
    sup.adopt_finish(sig, fd, limit.map(|d| svkit::duration::deadline(now, d)));
}

/// A process supervise could have started: it has the recorded pid and
/// start time, runs (a zombie is dead: nothing to take over), and is
/// still the leader of the session supervise gave it (sid == pid).
fn is_our_kind(sig: svkit::procsig::ProcSig) -> bool {
    if sig.pid == 0 || sig.pid == std::process::id() {
        return false;
    }
    svkit::procstat::read(sig.pid)
        .is_ok_and(|st| st.starttime == sig.start && st.session == sig.pid && !st.is_zombie())
}
