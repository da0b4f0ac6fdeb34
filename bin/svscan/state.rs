//! What svscan hands to the svscan it re-executes for an in-place
//! upgrade: its table (each entry's identity, name, supervise pids and the
//! descriptor numbers of its log pipe), its own logger, its lock and its
//! cap. A versioned text record, packed and unpacked by pure functions;
//! the descriptors themselves cross the exec because their close-on-exec
//! flag is cleared.
//!
//! ```text
//! svscan-state 1
//! cap asked MAX | cap fds MAX FDS
//! lock FD|-
//! own PID|- READ|- WRITE|- SAVED_OUT|- SAVED_ERR|-
//! entry DEV INO ACTIVE(0|1) MAIN_PID|- LOG_READ|- LOG_WRITE|- LOG_PID|- NAME_IN_HEX
//! ```

use crate::limit::Cap;
use std::ffi::OsString;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

pub const MAGIC: &str = "svscan-state 1";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnState {
    pub pid: Option<i32>,
    pub pipe: Option<(RawFd, RawFd)>,
    pub saved_out: Option<RawFd>,
    pub saved_err: Option<RawFd>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryState {
    pub dev: u64,
    pub ino: u64,
    pub active: bool,
    pub main: Option<i32>,
    /// The log pipe (read, write) when the entry has a logger.
    pub pipe: Option<(RawFd, RawFd)>,
    pub log: Option<i32>,
    pub name: OsString,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub cap: Cap,
    pub lock: Option<RawFd>,
    pub own: OwnState,
    pub entries: Vec<EntryState>,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn num<T: std::str::FromStr>(s: Option<&str>) -> Result<T, String> {
    let s = s.ok_or("short line")?;
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn maybe<T: std::str::FromStr>(s: Option<&str>) -> Result<Option<T>, String> {
    match s {
        Some("-") => Ok(None),
        other => num(other).map(Some),
    }
}

fn pair(a: Option<RawFd>, b: Option<RawFd>) -> Result<Option<(RawFd, RawFd)>, String> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err("half a pipe".into()),
    }
}

impl State {
    pub fn pack(&self) -> String {
        let mut out = format!("{MAGIC}\n");
        out += &match self.cap {
            Cap::Asked(n) => format!("cap asked {n}\n"),
            Cap::Fds(n, fds) => format!("cap fds {n} {fds}\n"),
        };
        out += &format!("lock {}\n", opt(self.lock));
        let o = &self.own;
        out += &format!(
            "own {} {} {} {} {}\n",
            opt(o.pid),
            opt(o.pipe.map(|p| p.0)),
            opt(o.pipe.map(|p| p.1)),
            opt(o.saved_out),
            opt(o.saved_err)
        );
        for e in &self.entries {
            out += &format!(
                "entry {} {} {} {} {} {} {} {}\n",
                e.dev,
                e.ino,
                u8::from(e.active),
                opt(e.main),
                opt(e.pipe.map(|p| p.0)),
                opt(e.pipe.map(|p| p.1)),
                opt(e.log),
                hex(e.name.as_bytes())
            );
        }
        out
    }

    pub fn unpack(text: &str) -> Result<State, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not an svscan state of version 1".into());
        }
        let mut st = State {
            cap: Cap::Asked(usize::MAX),
            lock: None,
            own: OwnState::default(),
            entries: Vec::new(),
        };
        for (n, line) in lines.enumerate() {
            let mut w = line.split(' ');
            let r: Result<(), String> = (|| {
                match w.next() {
                    Some("cap") => {
                        st.cap = match w.next() {
                            Some("asked") => Cap::Asked(num(w.next())?),
                            Some("fds") => Cap::Fds(num(w.next())?, num(w.next())?),
                            _ => return Err("bad cap".into()),
                        }
                    }
                    Some("lock") => st.lock = maybe(w.next())?,
                    Some("own") => {
                        let pid = maybe(w.next())?;
                        let pipe = pair(maybe(w.next())?, maybe(w.next())?)?;
                        st.own = OwnState {
                            pid,
                            pipe,
                            saved_out: maybe(w.next())?,
                            saved_err: maybe(w.next())?,
                        };
                    }
                    Some("entry") => {
                        let dev = num(w.next())?;
                        let ino = num(w.next())?;
                        let active = num::<u8>(w.next())? != 0;
                        let main = maybe(w.next())?;
                        let pipe = pair(maybe(w.next())?, maybe(w.next())?)?;
                        let log = maybe(w.next())?;
                        let name = unhex(w.next().ok_or("no name")?).ok_or("bad name")?;
                        if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                            return Err("bad name".into());
                        }
                        st.entries.push(EntryState {
                            dev,
                            ino,
                            active,
                            main,
                            pipe,
                            log,
                            name: OsString::from_vec(name),
                        });
                    }
                    _ => return Err("unknown record".into()),
                }
                if w.next().is_some() {
                    return Err("trailing fields".into());
                }
                Ok(())
            })();
            r.map_err(|e| format!("line {}: {e}", n + 2))?;
        }
        Ok(st)
    }

    /// Every descriptor the record names (they must survive the exec).
    pub fn fds(&self) -> Vec<RawFd> {
        let o = &self.own;
        let mut v: Vec<RawFd> = self.lock.into_iter().collect();
        v.extend(o.pipe.map(|p| [p.0, p.1]).into_iter().flatten());
        v.extend(o.saved_out);
        v.extend(o.saved_err);
        for e in &self.entries {
            v.extend(e.pipe.map(|p| [p.0, p.1]).into_iter().flatten());
        }
        v
    }
}

/// Sets or clears close-on-exec on each descriptor.
pub fn set_cloexec(fds: &[RawFd], on: bool) -> Result<(), String> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let flag = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    for &fd in fds {
        fcntl(fd, FcntlArg::F_SETFD(flag))
            .map_err(|e| format!("unable to pass descriptor {fd}: {}", e.desc()))?;
    }
    Ok(())
}

pub fn is_open(fd: RawFd) -> bool {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

/// Takes a descriptor named in the state.
pub fn adopt(fd: RawFd) -> OwnedFd {
    let f = svkit::sys::own_fd(fd);
    let _ = set_cloexec(&[fd], true);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            cap: Cap::Fds(118, 300),
            lock: Some(3),
            own: OwnState {
                pid: Some(77),
                pipe: Some((5, 6)),
                saved_out: Some(7),
                saved_err: None,
            },
            entries: vec![
                EntryState {
                    dev: 2049,
                    ino: 12345,
                    active: true,
                    main: Some(100),
                    pipe: Some((8, 9)),
                    log: None,
                    name: OsString::from("a b"),
                },
                EntryState {
                    dev: 1,
                    ino: 2,
                    active: false,
                    main: None,
                    pipe: None,
                    log: None,
                    name: OsString::from_vec(vec![0xff, b'\n']),
                },
            ],
        }
    }

    #[test]
    fn round_trip_golden() {
        let st = sample();
        let text = st.pack();
        assert_eq!(
            text,
            "svscan-state 1\ncap fds 118 300\nlock 3\nown 77 5 6 7 -\n\
             entry 2049 12345 1 100 8 9 - 612062\nentry 1 2 0 - - - - ff0a\n"
        );
        assert_eq!(State::unpack(&text), Ok(st.clone()));
        assert_eq!(st.fds(), vec![3, 5, 6, 7, 8, 9]);
        let asked = State {
            cap: Cap::Asked(5),
            ..st
        };
        assert_eq!(State::unpack(&asked.pack()), Ok(asked));
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "svscan-state 2\n",
            "svscan-state 1\nentry 1 2 1 - - - - 2f\n",
            "svscan-state 1\nentry 1 2 1 - 3 - - 61\n",
            "svscan-state 1\nentry 1 2 1 x - - - 61\n",
            "svscan-state 1\nentry 1 2 1 - - - - 6\n",
            "svscan-state 1\nlock 3 4\n",
            "svscan-state 1\ncap sometimes 3\n",
            "svscan-state 1\nwhat\n",
        ] {
            assert!(State::unpack(bad).is_err(), "{bad:?}");
        }
    }
}
