//! svstat's text: the daemontools 0.76 line, and the `-v` extras.

use crate::probe::{matching, Outcome, Probe, Stale};
use std::fmt::Write as _;
use std::time::Duration;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{Death, XStatus, FLAG_EXITING, FLAG_FINISHING, FLAG_READY};

/// Deaths listed by `-v` (the record keeps up to 16).
const DEATHS_SHOWN: usize = 5;

/// The part after `DIR: `, byte-identical to djb's svstat unless the
/// status is stale (which djb cannot detect).
pub fn summary(p: &Probe) -> String {
    match &p.outcome {
        Outcome::Error(e) => e.clone(),
        Outcome::NotRunning { .. } => "supervise not running".into(),
        Outcome::Running {
            status,
            stale: Some(stale),
            ..
        } => match stale {
            Stale::Reused => format!("stale status: pid {} is another process", status.pid),
            _ => format!("stale status: pid {} is gone", status.pid),
        },
        Outcome::Running { status, .. } => djb_line(status, p.normally_up, p.now),
    }
}

fn djb_line(s: &Status, normally_up: bool, now: Tai64n) -> String {
    let secs = s.when.secs_until(now);
    let mut out = if s.pid != 0 {
        format!("up (pid {}) {secs} seconds", s.pid)
    } else {
        format!("down {secs} seconds")
    };
    if s.pid != 0 && !normally_up {
        out.push_str(", normally down");
    }
    if s.pid == 0 && normally_up {
        out.push_str(", normally up");
    }
    if s.pid != 0 && s.paused {
        out.push_str(", paused");
    }
    if s.pid == 0 && s.want == Want::Up {
        out.push_str(", want up");
    }
    if s.pid != 0 && s.want == Want::Down {
        out.push_str(", want down");
    }
    out
}

/// Whole seconds in humantime form: `3h 2m 5s`, `0s`.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Whole seconds counted as djb's svstat does (difference of the second
/// labels), so `-v`, `--json` and the default line agree.
pub fn ago(t: Tai64n, now: Tai64n) -> String {
    human(Duration::from_secs(t.secs_until(now)))
}

pub fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {n}"))
}

fn death_text(d: &Death, now: Tai64n) -> String {
    let what = match (d.code(), d.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by {}", signal_name(s)),
        _ => format!("wait status {}", d.wstatus),
    };
    format!("{what} {} ago", ago(d.when, now))
}

/// The indented lines `-v` adds under the summary line.
pub fn verbose(p: &Probe) -> Vec<String> {
    let now = p.now;
    let mut lines = Vec::new();
    let (status, x) = p.records();
    match (&p.outcome, status) {
        (Outcome::Error(_), _) => return lines,
        (_, Some(s)) if p.stale().is_some() => {
            let why = match p.stale() {
                Some(Stale::Reused) => "that pid now belongs to another process",
                Some(Stale::Gone) => "that process is gone",
                _ => "no supervise keeps it current",
            };
            lines.push(format!(
                "stale: status says up (pid {}) for {}, but {why}",
                s.pid,
                ago(s.when, now)
            ));
        }
        (Outcome::NotRunning { .. }, Some(s)) => {
            lines.push(format!("last recorded: down for {}", ago(s.when, now)));
        }
        (Outcome::Running { .. }, Some(s)) => lines.push(state_line(s, x, now)),
        _ => {}
    }
    let Some(x) = x else {
        if status.is_some() {
            lines.push("no extended status (supervise/xstatus)".into());
        }
        return lines;
    };
    if let Some(d) = &x.last_exit {
        lines.push(format!("last exit: {}", death_text(d, now)));
    }
    if !x.history.is_empty() {
        let shown: Vec<String> = x
            .history
            .iter()
            .take(DEATHS_SHOWN)
            .map(|d| death_text(d, now))
            .collect();
        let mut l = format!("recent deaths ({}): {}", x.history.len(), shown.join("; "));
        if x.history.len() > DEATHS_SHOWN {
            l.push_str("; …");
        }
        lines.push(l);
    }
    if let Some(why) = policy(x, now) {
        lines.push(why);
    }
    if x.has(FLAG_EXITING) {
        lines.push("supervise exits once the service is down".into());
    }
    if x.supervisor.pid != 0 {
        lines.push(format!("supervise: pid {}", x.supervisor.pid));
    }
    lines
}

/// Seconds until the next start planned by the backoff, rounded up.
pub fn next_restart_seconds(x: &XStatus, now: Tai64n) -> Option<u64> {
    if !x.has(svkit::xstatus::FLAG_BACKOFF) || x.next_start.is_zero() {
        return None;
    }
    let left = now.elapsed_to(x.next_start);
    Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
}

/// Why the restart policy keeps the service down, if it does.
fn policy(x: &XStatus, now: Tai64n) -> Option<String> {
    if x.has(svkit::xstatus::FLAG_FAILED) {
        return Some("failed: finish exited 125 (permanent failure); down until svc -u".into());
    }
    let secs = next_restart_seconds(x, now)?;
    Some(format!(
        "backing off: restart in {} (delay {} after quick deaths)",
        human(Duration::from_secs(secs)),
        human(Duration::from_millis(u64::from(x.backoff_ms)))
    ))
}

fn state_line(s: &Status, x: Option<&XStatus>, now: Tai64n) -> String {
    let mut l = String::new();
    let cur = matching(s, x);
    if s.pid != 0 {
        let _ = write!(l, "up {}", ago(s.when, now));
        match cur {
            Some(x) if x.has(FLAG_READY) && !x.ready.is_zero() => {
                let _ = write!(l, ", ready for {}", ago(x.ready, now));
            }
            Some(_) => l.push_str(", readiness not signalled"),
            None => {}
        }
        if s.paused {
            l.push_str(", paused");
        }
    } else {
        let _ = write!(l, "down {}", ago(s.when, now));
        if cur.is_some_and(|x| x.has(FLAG_FINISHING)) {
            l.push_str(", finish running");
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(3 * 3600 + 125)), "3h 2m 5s");
        assert_eq!(human(Duration::from_millis(999)), "0s");
    }

    #[test]
    fn djb_lines() {
        let now = Tai64n {
            secs: 1 << 62,
            nanos: 0,
        };
        let mut s = Status {
            when: Tai64n {
                secs: (1 << 62) - 45,
                nanos: 7,
            },
            pid: 123,
            paused: true,
            want: Want::Down,
        };
        assert_eq!(
            djb_line(&s, false, now),
            "up (pid 123) 45 seconds, normally down, paused, want down"
        );
        s.pid = 0;
        s.want = Want::Up;
        assert_eq!(
            djb_line(&s, true, now),
            "down 45 seconds, normally up, want up"
        );
        s.when.secs = (1 << 62) + 100;
        assert_eq!(djb_line(&s, false, now), "down 0 seconds, want up");
    }
}
