//! Durations from outside the process — command lines, service-directory
//! files, records — parsed in one place, overflow-checked, never a panic.
//!
//! Every duration is capped at [`MAX`] (100 years): far beyond any useful
//! timeout, yet small enough that `Instant::now() + d` cannot overflow.
//! A command line beyond the cap is a usage error; a file or a record
//! beyond it is clamped (the caller warns).

use std::fmt;
use std::time::{Duration, Instant};

/// The longest duration any svkit program accepts: 100 years of 365.25
/// days (humantime's `100y`).
pub const MAX: Duration = Duration::from_secs(100 * 31_557_600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a duration at all.
    Invalid,
    /// A duration, but longer than [`MAX`].
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid => f.write_str("not a duration"),
            Error::TooLong => f.write_str("duration too long"),
        }
    }
}

impl std::error::Error for Error {}

/// A command-line duration in humantime syntax (`500ms`, `5s`, `2m`,
/// `1h 30m`; a bare number is seconds). Beyond [`MAX`] is an error.
pub fn parse_arg(text: &str) -> Result<Duration, Error> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Invalid);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = t.parse().map_err(|_| Error::TooLong)?;
        return check(Duration::from_secs(n));
    }
    match humantime::parse_duration(t) {
        Ok(d) => check(d),
        Err(humantime::DurationError::NumberOverflow) => Err(Error::TooLong),
        Err(_) => Err(Error::Invalid),
    }
}

fn check(d: Duration) -> Result<Duration, Error> {
    if d > MAX {
        Err(Error::TooLong)
    } else {
        Ok(d)
    }
}

/// What a service-directory file of milliseconds says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMillis {
    /// A valid number of milliseconds, within [`MAX`].
    Ok(Duration),
    /// A number beyond [`MAX`] (or beyond u64): clamped to [`MAX`].
    Clamped(Duration),
    /// Not a number: the caller falls back to its default and warns.
    Invalid,
}

/// Parses the content of a file such as `timeout-kill` (decimal
/// milliseconds, surrounding whitespace ignored; `0` is zero).
pub fn parse_file_millis(text: &str) -> FileMillis {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return FileMillis::Invalid;
    }
    match t.parse::<u64>() {
        Ok(ms) => match from_millis_checked(ms) {
            Some(d) => FileMillis::Ok(d),
            None => FileMillis::Clamped(MAX),
        },
        Err(_) => FileMillis::Clamped(MAX),
    }
}

/// Milliseconds from a record or a wire frame, clamped to [`MAX`].
pub fn from_millis_clamped(ms: u64) -> Duration {
    from_millis_checked(ms).unwrap_or(MAX)
}

fn from_millis_checked(ms: u64) -> Option<Duration> {
    let d = Duration::from_millis(ms);
    (d <= MAX).then_some(d)
}

/// `now + d` that cannot panic: saturates at `now + MAX`.
pub fn deadline(now: Instant, d: Duration) -> Instant {
    let d = d.min(MAX);
    now.checked_add(d).unwrap_or(now)
}

/// Milliseconds until `deadline` as a poll(2) timeout: 0 when past,
/// capped at `i32::MAX` (the caller polls again when it wakes early).
pub fn poll_timeout_ms(now: Instant, deadline: Instant) -> i32 {
    let left = deadline.saturating_duration_since(now);
    // Round up so a poll never wakes just before its deadline and spins.
    let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_forms() {
        assert_eq!(parse_arg("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_arg("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_arg("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_arg("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_arg(""), Err(Error::Invalid));
        assert_eq!(parse_arg("soon"), Err(Error::Invalid));
        assert_eq!(parse_arg("-5s"), Err(Error::Invalid));
    }

    #[test]
    fn huge_command_line_values_are_errors_not_panics() {
        for t in [
            "10000000000000000000s",
            "18446744073709551615",
            "99999999999999999999999999",
            "101y",
            "18446744073709551615ms 1000000000y",
        ] {
            assert!(parse_arg(t).is_err(), "{t}");
        }
        assert_eq!(parse_arg("100y").map(|d| d <= MAX), Ok(true));
    }

    #[test]
    fn file_millis() {
        assert_eq!(
            parse_file_millis("2000\n"),
            FileMillis::Ok(Duration::from_millis(2000))
        );
        assert_eq!(parse_file_millis("0"), FileMillis::Ok(Duration::ZERO));
        assert_eq!(
            parse_file_millis("18446744073709551615"),
            FileMillis::Clamped(MAX)
        );
        assert_eq!(
            parse_file_millis("99999999999999999999999"),
            FileMillis::Clamped(MAX)
        );
        assert_eq!(parse_file_millis("12x"), FileMillis::Invalid);
        assert_eq!(parse_file_millis("-1"), FileMillis::Invalid);
        assert_eq!(parse_file_millis(""), FileMillis::Invalid);
    }

    #[test]
    fn deadlines_never_overflow() {
        let now = Instant::now();
        let far = deadline(now, Duration::MAX);
        assert!(far > now);
        assert_eq!(far, deadline(now, MAX));
        assert_eq!(poll_timeout_ms(now, far), i32::MAX);
        assert_eq!(poll_timeout_ms(far, now), 0);
        let d = deadline(now, Duration::from_micros(1500));
        assert_eq!(poll_timeout_ms(now, d), 2);
        assert_eq!(from_millis_clamped(u64::MAX), MAX);
    }
}
