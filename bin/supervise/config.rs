//! The optional service-directory files (s6's names): `down-signal`,
//! `timeout-kill`, `timeout-finish`, `notification-fd`. Read when needed,
//! so an edit takes effect at the next start or `svc -d`.

use nix::sys::signal::Signal;
use std::io;
use std::str::FromStr;
use std::time::Duration;
use svkit::svdir;

/// Default for `timeout-finish`, as s6.
pub const FINISH_DEFAULT_MS: u64 = 5000;

/// What reading one option file gave: absent (use the default), a value,
/// or a complaint to print (then the default is used).
#[derive(Debug, PartialEq, Eq)]
pub enum Opt<T> {
    Absent,
    Value(T),
    Bad(String),
    /// A usable value, and a complaint to print (it was clamped).
    Clamped(T, String),
}

fn read(label: &str, name: &str) -> Opt<String> {
    match std::fs::read_to_string(name) {
        Ok(s) => Opt::Value(s.trim().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Opt::Absent,
        Err(e) => Opt::Bad(svkit::exit::unable(
            "read",
            std::path::Path::new(&format!("{label}/{name}")),
            &e,
        )),
    }
}

fn bad<T>(label: &str, name: &str, text: &str, why: &str) -> Opt<T> {
    Opt::Bad(format!("ignoring {label}/{name}: {why}: {text:?}"))
}

/// `timeout-kill` / `timeout-finish`: milliseconds; 0 means none. A
/// value beyond [`svkit::duration::MAX`] is clamped to it, with a warning.
pub fn millis(label: &str, name: &str) -> Opt<Option<Duration>> {
    use svkit::duration::{parse_file_millis, FileMillis};
    match read(label, name) {
        Opt::Value(t) => match parse_file_millis(&t) {
            FileMillis::Ok(d) if d.is_zero() => Opt::Value(None),
            FileMillis::Ok(d) => Opt::Value(Some(d)),
            FileMillis::Clamped(d) => Opt::Clamped(
                Some(d),
                format!("{label}/{name}: {t:?} milliseconds is too long, using 100 years"),
            ),
            FileMillis::Invalid => bad(label, name, &t, "not a number of milliseconds"),
        },
        Opt::Absent => Opt::Absent,
        Opt::Bad(m) => Opt::Bad(m),
        Opt::Clamped(_, m) => Opt::Bad(m),
    }
}

pub fn timeout_kill(label: &str) -> Opt<Option<Duration>> {
    millis(label, svdir::TIMEOUT_KILL)
}

pub fn timeout_finish(label: &str) -> Opt<Option<Duration>> {
    millis(label, svdir::TIMEOUT_FINISH)
}

/// The `backoff` file: `MIN MAX WINDOW`, milliseconds. A `run` that dies
/// less than WINDOW after its start makes the next start wait MIN, then
/// twice the last delay each time, at most MAX; one that lived longer
/// resets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    pub window: Duration,
}

pub fn backoff(label: &str) -> Opt<Backoff> {
    use svkit::duration::{parse_file_millis, FileMillis};
    match read(label, svdir::BACKOFF) {
        Opt::Value(t) => {
            let v: Vec<Option<Duration>> = t
                .split_ascii_whitespace()
                .map(|w| match parse_file_millis(w) {
                    FileMillis::Ok(d) | FileMillis::Clamped(d) => Some(d),
                    FileMillis::Invalid => None,
                })
                .collect();
            match v[..] {
                [Some(min), Some(max), Some(window)] if min <= max => {
                    Opt::Value(Backoff { min, max, window })
                }
                _ => bad(
                    label,
                    svdir::BACKOFF,
                    &t,
                    "not MIN MAX WINDOW in milliseconds with MIN <= MAX",
                ),
            }
        }
        Opt::Absent => Opt::Absent,
        Opt::Bad(m) => Opt::Bad(m),
        Opt::Clamped(_, m) => Opt::Bad(m),
    }
}

/// `down-signal`: `HUP`, `SIGHUP` or a number.
pub fn down_signal(label: &str) -> Opt<Signal> {
    match read(label, svdir::DOWN_SIGNAL) {
        Opt::Value(t) => match parse_signal(&t) {
            Some(s) => Opt::Value(s),
            None => bad(label, svdir::DOWN_SIGNAL, &t, "unknown signal"),
        },
        Opt::Absent => Opt::Absent,
        Opt::Bad(m) => Opt::Bad(m),
        Opt::Clamped(_, m) => Opt::Bad(m),
    }
}

pub fn parse_signal(t: &str) -> Option<Signal> {
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = t.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).ok()
}

/// `notification-fd`: a descriptor number of 3 or more.
pub fn notification_fd(label: &str) -> Opt<i32> {
    match read(label, svdir::NOTIFICATION_FD) {
        Opt::Value(t) => match t.parse::<i32>() {
            Ok(n) if (3..=1023).contains(&n) => Opt::Value(n),
            _ => bad(
                label,
                svdir::NOTIFICATION_FD,
                &t,
                "not a descriptor number from 3 to 1023",
            ),
        },
        Opt::Absent => Opt::Absent,
        Opt::Bad(m) => Opt::Bad(m),
        Opt::Clamped(_, m) => Opt::Bad(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("HUP"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("SIGHUP"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("15"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("BOGUS"), None);
        assert_eq!(parse_signal(""), None);
    }
}
