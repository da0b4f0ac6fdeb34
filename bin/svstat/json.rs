//! `svstat --json`: one JSON object per directory (one per line).

use crate::probe::{matching, Outcome, Probe, Stale};
use crate::text::{next_restart_seconds, signal_name};
use serde_json::{json, Value};
use svkit::status::Want;
use svkit::tai64n::Tai64n;
use svkit::xstatus::{Death, FLAG_BACKOFF, FLAG_FAILED, FLAG_FINISHING, FLAG_READY};

fn death(d: &Death, now: Tai64n) -> Value {
    json!({
        "code": d.code(),
        "signal": d.signal(),
        "signal_name": d.signal().map(signal_name),
        "seconds_ago": d.when.secs_until(now),
    })
}

pub fn object(dir: &str, p: &Probe) -> Value {
    let now = p.now;
    let (status, x) = p.records();
    let stale = p.stale();
    let state = match (&p.outcome, status) {
        (Outcome::Error(_), _) => "unknown",
        (Outcome::NotRunning { .. }, _) => "unsupervised",
        (Outcome::Running { .. }, Some(s)) if s.pid != 0 && stale.is_none() => "up",
        _ => "down",
    };
    let up = state == "up";
    let cur = status.and_then(|s| matching(s, x));
    let ready = if up {
        cur.map(|x| x.has(FLAG_READY) && !x.ready.is_zero())
    } else {
        Some(false)
    };
    let ready_seconds = if ready == Some(true) {
        cur.map(|x| x.ready.secs_until(now))
    } else {
        None
    };
    let want = status.and_then(|s| match s.want {
        Want::Up => Some("up"),
        Want::Down => Some("down"),
        Want::None => None,
    });
    json!({
        "dir": dir,
        "state": state,
        "pid": status.filter(|_| up).map(|s| s.pid),
        "seconds": status.map(|s| s.when.secs_until(now)),
        "normally": match &p.outcome {
            Outcome::Error(_) => None,
            _ => Some(if p.normally_up { "up" } else { "down" }),
        },
        "want": want,
        "paused": up && status.is_some_and(|s| s.paused),
        "ready": ready,
        "ready_seconds": ready_seconds,
        "last_exit": x.and_then(|x| x.last_exit.as_ref()).map(|d| death(d, now)),
        "stale": stale.is_some(),
        "stale_reason": stale.map(|s| match s {
            Stale::Gone => "gone",
            Stale::Reused => "pid reused",
            Stale::Unsupervised => "supervise not running",
        }),
        "status_pid": status.map(|s| s.pid),
        "finishing": status.is_some_and(|s| s.pid == 0) && cur.is_some_and(|x| x.has(FLAG_FINISHING)),
        "deaths": x.map(|x| x.history.iter().map(|d| death(d, now)).collect::<Vec<_>>()).unwrap_or_default(),
        "failed": x.is_some_and(|x| x.has(FLAG_FAILED)),
        "next_restart_seconds": x.and_then(|x| next_restart_seconds(x, now)),
        "down_reason": match state {
            "down" => Some(match x {
                Some(x) if x.has(FLAG_FAILED) => "failed",
                Some(x) if x.has(FLAG_BACKOFF) => "backoff",
                Some(x) if x.has(FLAG_FINISHING) => "finishing",
                _ if want == Some("down") => "wanted down",
                _ => "starting",
            }),
            _ => None,
        },
        "supervise_pid": x.map(|x| x.supervisor.pid).filter(|&p| p != 0 && state != "unsupervised"),
        "error": match &p.outcome {
            Outcome::Error(e) => Some(e.as_str()),
            _ => None,
        },
    })
}
