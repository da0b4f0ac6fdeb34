//! multilog's action language: the script parser and daemontools' `*`
//! pattern matcher. Pure functions (no I/O), reachable from the fuzz crate.

use std::fmt;

/// Default `s`: the maximum size of `current`, as daemontools.
pub const DEFAULT_SIZE: u64 = 99_999;
pub const MIN_SIZE: u64 = 4096;
pub const MAX_SIZE: u64 = 16_777_215;
/// Default `n`: old files kept, counting `current` (so 9 old ones).
pub const DEFAULT_NUM: u32 = 10;
/// Matching, `=` and `e` see at most this many bytes of a line.
pub const HEAD: usize = 1000;
/// `e` prints at most this many bytes of a line.
pub const ALERT: usize = 200;
/// The `=` status file is the head padded with newlines to this size
/// (Debian's multilog writes 1001 bytes; measured).
pub const STATUS_LEN: usize = 1001;

/// A timestamp prefix put in front of each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `t`: `@` + 24 hex digits of TAI64N, then a space.
    Tai64n,
    /// `T`: RFC 3339 UTC with nanoseconds, then a space (s6-log style).
    Iso,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+pattern` (select = true) or `-pattern` (select = false).
    Select { select: bool, pattern: Vec<u8> },
    /// `e`: the selected line's head to stderr.
    Alert,
    /// `=file`: index into `Script::statuses`.
    Status(usize),
    /// `./dir` or `/dir`: index into `Script::dirs`.
    Dir(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    pub path: Vec<u8>,
    pub size: u64,
    pub num: u32,
    pub processor: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub stamps: Vec<Stamp>,
    /// `lNUM`: lines longer than this are split (0: no cap).
    pub line_max: usize,
    pub actions: Vec<Action>,
    pub dirs: Vec<DirSpec>,
    pub statuses: Vec<Vec<u8>>,
}

impl Script {
    /// True when every line goes to every directory unchanged: no
    /// selection, alert or status action (the fast path).
    pub fn dirs_only(&self) -> bool {
        self.actions.iter().all(|a| matches!(a, Action::Dir(_)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    Unknown(Vec<u8>),
    StampNotFirst(Vec<u8>),
    Size(Vec<u8>),
    Num(Vec<u8>),
    LineMax(Vec<u8>),
    EmptyStatus,
    DuplicateDir(Vec<u8>),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
        match self {
            ScriptError::Unknown(a) => write!(f, "unrecognized script action: {}", s(a)),
            ScriptError::StampNotFirst(a) => {
                write!(f, "{} must come before every other action", s(a))
            }
            ScriptError::Size(a) => {
                write!(f, "size out of range ({MIN_SIZE}..{MAX_SIZE}): {}", s(a))
            }
            ScriptError::Num(a) => write!(f, "number of files must be at least 2: {}", s(a)),
            ScriptError::LineMax(a) => write!(f, "bad line length: {}", s(a)),
            ScriptError::EmptyStatus => write!(f, "= needs a file name"),
            ScriptError::DuplicateDir(a) => {
                write!(f, "one log written by two actions: {}", s(a))
            }
        }
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

/// Parses a script (argv without the program name). Stricter than
/// daemontools, which silently ignores unknown actions and clamps `s`/`n`:
/// a typo here would otherwise log nothing, or somewhere unexpected.
pub fn parse<A: AsRef<[u8]>>(args: &[A]) -> Result<Script, ScriptError> {
    let mut script = Script::default();
    let mut size = DEFAULT_SIZE;
    let mut num = DEFAULT_NUM;
    let mut processor: Option<Vec<u8>> = None;
    let mut leading = true;
    for arg in args {
        let a = arg.as_ref();
        let (first, rest) = match a.split_first() {
            Some((f, r)) => (*f, r),
            None => return Err(ScriptError::Unknown(Vec::new())),
        };
        if a == b"t" || a == b"T" {
            if !leading {
                return Err(ScriptError::StampNotFirst(a.to_vec()));
            }
            script.stamps.push(if first == b't' {
                Stamp::Tai64n
            } else {
                Stamp::Iso
            });
            continue;
        }
        leading = false;
        match first {
            b'-' | b'+' => script.actions.push(Action::Select {
                select: first == b'+',
                pattern: rest.to_vec(),
            }),
            b'e' if rest.is_empty() => script.actions.push(Action::Alert),
            b's' => {
                size = number(rest)
                    .filter(|n| (MIN_SIZE..=MAX_SIZE).contains(n))
                    .ok_or_else(|| ScriptError::Size(a.to_vec()))?;
            }
            b'n' => {
                num = number(rest)
                    .filter(|n| (2..=u64::from(u32::MAX)).contains(n))
                    .ok_or_else(|| ScriptError::Num(a.to_vec()))? as u32;
            }
            b'l' => {
                script.line_max = number(rest)
                    .filter(|n| *n <= 1 << 30)
                    .ok_or_else(|| ScriptError::LineMax(a.to_vec()))?
                    as usize;
            }
            b'!' => processor = (!rest.is_empty()).then(|| rest.to_vec()),
            b'=' => {
                if rest.is_empty() {
                    return Err(ScriptError::EmptyStatus);
                }
                script.actions.push(Action::Status(script.statuses.len()));
                script.statuses.push(rest.to_vec());
            }
            b'.' | b'/' => {
                if script.dirs.iter().any(|d| d.path == a) {
                    return Err(ScriptError::DuplicateDir(a.to_vec()));
                }
                script.actions.push(Action::Dir(script.dirs.len()));
                script.dirs.push(DirSpec {
                    path: a.to_vec(),
                    size,
                    num,
                    processor: processor.clone(),
                });
            }
            _ => return Err(ScriptError::Unknown(a.to_vec())),
        }
    }
    Ok(script)
}

/// daemontools' `match`: a non-star matches itself; a star before the end
/// matches any run of bytes not containing the next pattern byte; a star
/// at the end matches anything. The whole of `line` must be consumed.
pub fn pattern_match(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut l) = (pattern, line);
    loop {
        let Some((&c, prest)) = p.split_first() else {
            return l.is_empty();
        };
        if c == b'*' {
            let Some(&next) = prest.first() else {
                return true;
            };
            match l.iter().position(|&b| b == next) {
                Some(i) => l = &l[i..],
                None => return false,
            }
            p = prest;
            continue;
        }
        match l.split_first() {
            Some((&b, lrest)) if b == c => {
                l = lrest;
                p = prest;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_examples() {
        assert!(pattern_match(b"hello", b"hello"));
        assert!(!pattern_match(b"hello", b"hello world"));
        assert!(pattern_match(
            b"named[*]: Cleaned cache *",
            b"named[135]: Cleaned cache of 3121 RRs"
        ));
        assert!(pattern_match(b"*", b""));
        assert!(pattern_match(b"*", b"anything"));
        assert!(pattern_match(b"* fatal: *", b"@4000 fatal: out of memory"));
    }

    #[test]
    fn star_stops_at_next_byte() {
        // Measured with Debian's multilog '-*' '+a*c'.
        for (line, want) in [
            (&b"abc"[..], true),
            (b"a*c", true),
            (b"ac", true),
            (b"abbc", true),
            (b"ab", false),
            (b"abcc", false),
        ] {
            assert_eq!(pattern_match(b"a*c", line), want, "{line:?}");
        }
        // `**`: the first star runs up to a literal `*`.
        assert!(pattern_match(b"a**c", b"a*c"));
        assert!(!pattern_match(b"a**c", b"abc"));
        assert!(!pattern_match(b"", b"x"));
        assert!(pattern_match(b"", b""));
    }

    #[test]
    fn parses_full_script() {
        let s = parse(&[
            "t", "-*", "+x*", "e", "s5000", "n3", "!gzip", "./a", "=st", "/b",
        ])
        .unwrap();
        assert_eq!(s.stamps, vec![Stamp::Tai64n]);
        assert_eq!(s.dirs.len(), 2);
        assert_eq!(s.dirs[0].size, 5000);
        assert_eq!(s.dirs[0].num, 3);
        assert_eq!(s.dirs[0].processor.as_deref(), Some(&b"gzip"[..]));
        assert_eq!(s.statuses, vec![b"st".to_vec()]);
        assert_eq!(s.actions.len(), 6);
        assert!(!s.dirs_only());
        let s = parse(&["t", "s16777215", "n20", "./d"]).unwrap();
        assert!(s.dirs_only());
        assert_eq!(s.dirs[0].size, MAX_SIZE);
        let d = parse::<&str>(&[]).unwrap();
        assert_eq!(d.dirs.len(), 0);
        assert_eq!(parse(&["./x"]).unwrap().dirs[0].size, DEFAULT_SIZE);
    }

    #[test]
    fn rejects_bad_actions() {
        assert!(matches!(parse(&["x"]), Err(ScriptError::Unknown(_))));
        assert!(matches!(parse(&[""]), Err(ScriptError::Unknown(_))));
        assert!(matches!(parse(&["s4095"]), Err(ScriptError::Size(_))));
        assert!(matches!(parse(&["s16777216"]), Err(ScriptError::Size(_))));
        assert!(matches!(parse(&["s"]), Err(ScriptError::Size(_))));
        assert!(matches!(parse(&["s10k"]), Err(ScriptError::Size(_))));
        assert!(matches!(parse(&["n1"]), Err(ScriptError::Num(_))));
        assert!(matches!(parse(&["="]), Err(ScriptError::EmptyStatus)));
        assert!(matches!(
            parse(&["e", "t"]),
            Err(ScriptError::StampNotFirst(_))
        ));
        assert!(matches!(
            parse(&["./a", "./a"]),
            Err(ScriptError::DuplicateDir(_))
        ));
        assert!(matches!(parse(&["ex"]), Err(ScriptError::Unknown(_))));
    }
}
