//! The extended record `supervise/xstatus`: what the 18-byte `status` cannot
//! say (readiness, last exit, process signatures, recent deaths). Written
//! atomically beside `status`, which stays untouched for djb's tools.
//!
//! Layout, version 2 (integers little-endian, times TAI64N big-endian);
//! version 1 is the same without bytes 72..100 (history from byte 72),
//! and is still read (boot unknown, no finish recorded):
//!
//! | bytes | meaning |
//! |---|---|
//! | 0..4 | magic `SVKX` |
//! | 4 | version (1) |
//! | 5 | flags: 1 ready, 2 finish running, 4 paused, 8 have last exit, 16 exit requested (`x`), 32 normally up, 64 failed (`finish` exited 125), 128 backing off |
//! | 6 | number of history entries N (at most 16) |
//! | 7 | want byte, as in `status` |
//! | 8..20 | time of the last change of pid (same as `status`) |
//! | 20..24 | pid of the child (0 when none) |
//! | 24..32 | the child's start time: field 22 of `/proc/PID/stat` |
//! | 32..44 | time readiness was signalled (zero: not ready) |
//! | 44..56 | time of the last exit (zero: none yet) |
//! | 56..60 | raw wait status of the last exit (i32) |
//! | 60..64 | pid of supervise itself |
//! | 64..72 | supervise's start time |
//! | 72..88 | boot id (`/proc/sys/kernel/random/boot_id`, 16 bytes; zero: unknown) |
//! | 88..92 | pid of the running `finish` (0 when none) |
//! | 92..100 | `finish`'s start time |
//! | 100.. | N history entries, newest first: TAI64N (12) + raw wait status (4) |
//! | then | optional trailer (16 bytes, the restart policy): TAI64N of the next start (12; zero: none planned), current backoff delay in ms (u32) |
//!
//! Readers ignore bytes after what they know, so the trailer needs no new
//! version: a record without it reads as "no backoff".

use crate::procsig::ProcSig;
use crate::status::Want;
use crate::tai64n::Tai64n;
use std::fmt;

pub const MAGIC: &[u8; 4] = b"SVKX";
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 100;
/// Header length of a version-1 record.
pub const HEADER_LEN_V1: usize = 72;
pub const ENTRY_LEN: usize = 16;
pub const HISTORY_MAX: usize = 16;
pub const MAX_LEN: usize = HEADER_LEN + ENTRY_LEN * HISTORY_MAX + TRAILER_LEN;

pub const FLAG_READY: u8 = 1;
pub const FLAG_FINISHING: u8 = 2;
pub const FLAG_PAUSED: u8 = 4;
pub const FLAG_HAVE_EXIT: u8 = 8;
pub const FLAG_EXITING: u8 = 16;
pub const FLAG_NORMALLY_UP: u8 = 32;
/// `finish` exited 125: permanent failure, down until `svc -u`.
pub const FLAG_FAILED: u8 = 64;
/// The next start waits beyond the one-second floor (the `backoff` file).
pub const FLAG_BACKOFF: u8 = 128;
pub const TRAILER_LEN: usize = 16;

/// One death: when, and the raw wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Death {
    pub when: Tai64n,
    pub wstatus: i32,
}

impl Death {
    /// The decoded wait status.
    pub fn status(&self) -> crate::waitstatus::WaitStatus {
        crate::waitstatus::WaitStatus(self.wstatus)
    }

    /// Exit code if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status().code()
    }

    /// Signal number if the process was killed by a signal.
    pub fn signal(&self) -> Option<i32> {
        self.status().signal()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XStatus {
    pub flags: u8,
    pub want: Want,
    pub changed: Tai64n,
    /// The child's signature; pid 0 when no child runs.
    pub child: ProcSig,
    pub ready: Tai64n,
    pub last_exit: Option<Death>,
    pub supervisor: ProcSig,
    /// Recent deaths, newest first, at most HISTORY_MAX.
    pub history: Vec<Death>,
    /// The boot the signatures belong to; None in a version-1 record.
    pub boot_id: Option<[u8; 16]>,
    /// The running `finish` (pid 0 when none).
    pub finish: ProcSig,
    /// When the next start is planned (zero: none beyond the floor).
    pub next_start: Tai64n,
    /// The current backoff delay in milliseconds (0: none).
    pub backoff_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XStatusError {
    Short(usize),
    BadMagic,
    Version(u8),
    Corrupt,
}

/// This boot's start as Unix seconds (`btime` in `/proc/stat`).
fn boot_time() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

impl fmt::Display for XStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XStatusError::Short(n) => write!(f, "truncated record ({n} bytes)"),
            XStatusError::BadMagic => write!(f, "bad magic"),
            XStatusError::Version(v) => write!(f, "unknown version {v}"),
            XStatusError::Corrupt => write!(f, "bad format"),
        }
    }
}

impl std::error::Error for XStatusError {}

impl XStatus {
    pub fn new(supervisor: ProcSig) -> XStatus {
        XStatus {
            flags: 0,
            want: Want::Up,
            changed: Tai64n::ZERO,
            child: ProcSig { pid: 0, start: 0 },
            ready: Tai64n::ZERO,
            last_exit: None,
            supervisor,
            history: Vec::new(),
            boot_id: crate::procsig::boot_id().ok(),
            finish: ProcSig { pid: 0, start: 0 },
            next_start: Tai64n::ZERO,
            backoff_ms: 0,
        }
    }

    /// True when the record's signatures belong to the running boot: its
    /// boot id is this boot's. A version-1 record has none; it counts when
    /// its last change is not older than this boot.
    pub fn from_this_boot(&self) -> bool {
        match self.boot_id {
            Some(id) => crate::procsig::boot_id().is_ok_and(|now| now == id),
            None => boot_time().is_some_and(|b| {
                let changed = self.changed.unix_secs();
                changed >= 0 && changed as u64 >= b
            }),
        }
    }

    /// The supervise that wrote the record still runs (same boot, pid
    /// and start time).
    pub fn supervisor_alive(&self) -> bool {
        self.from_this_boot() && self.supervisor.is_alive()
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Records a death as the last exit and at the front of the history.
    pub fn push_death(&mut self, d: Death) {
        self.last_exit = Some(d);
        self.history.insert(0, d);
        self.history.truncate(HISTORY_MAX);
    }

    pub fn pack(&self) -> Vec<u8> {
        let n = self.history.len().min(HISTORY_MAX);
        let mut b = Vec::with_capacity(HEADER_LEN + n * ENTRY_LEN);
        b.extend_from_slice(MAGIC);
        b.push(VERSION);
        let mut flags = self.flags & !FLAG_HAVE_EXIT;
        if self.last_exit.is_some() {
            flags |= FLAG_HAVE_EXIT;
        }
        b.push(flags);
        b.push(n as u8);
        b.push(self.want.byte());
        b.extend_from_slice(&self.changed.pack());
        b.extend_from_slice(&self.child.pid.to_le_bytes());
        b.extend_from_slice(&self.child.start.to_le_bytes());
        b.extend_from_slice(&self.ready.pack());
        let last = self.last_exit.unwrap_or(Death {
            when: Tai64n::ZERO,
            wstatus: 0,
        });
        b.extend_from_slice(&last.when.pack());
        b.extend_from_slice(&last.wstatus.to_le_bytes());
        b.extend_from_slice(&self.supervisor.pid.to_le_bytes());
        b.extend_from_slice(&self.supervisor.start.to_le_bytes());
        b.extend_from_slice(&self.boot_id.unwrap_or([0; 16]));
        b.extend_from_slice(&self.finish.pid.to_le_bytes());
        b.extend_from_slice(&self.finish.start.to_le_bytes());
        for d in &self.history[..n] {
            b.extend_from_slice(&d.when.pack());
            b.extend_from_slice(&d.wstatus.to_le_bytes());
        }
        b.extend_from_slice(&self.next_start.pack());
        b.extend_from_slice(&self.backoff_ms.to_le_bytes());
        b
    }

    pub fn unpack(b: &[u8]) -> Result<XStatus, XStatusError> {
        if b.len() < HEADER_LEN_V1 {
            return Err(XStatusError::Short(b.len()));
        }
        if &b[..4] != MAGIC {
            return Err(XStatusError::BadMagic);
        }
        let header = match b[4] {
            1 => HEADER_LEN_V1,
            VERSION => HEADER_LEN,
            v => return Err(XStatusError::Version(v)),
        };
        if b.len() < header {
            return Err(XStatusError::Short(b.len()));
        }
        let flags = b[5];
        let n = usize::from(b[6]);
        if n > HISTORY_MAX {
            return Err(XStatusError::Corrupt);
        }
        if b.len() < header + n * ENTRY_LEN {
            return Err(XStatusError::Short(b.len()));
        }
        let want = Want::from_byte(b[7]).ok_or(XStatusError::Corrupt)?;
        let last = Death {
            when: tai(&b[44..56]),
            wstatus: i32_at(b, 56),
        };
        let end = header + n * ENTRY_LEN;
        let (next_start, backoff_ms) = if header == HEADER_LEN && b.len() >= end + TRAILER_LEN {
            (tai(&b[end..end + 12]), u32_at(b, end + 12))
        } else {
            (Tai64n::ZERO, 0)
        };
        let history = (0..n)
            .map(|i| {
                let o = header + i * ENTRY_LEN;
                Death {
                    when: tai(&b[o..o + 12]),
                    wstatus: i32_at(b, o + 12),
                }
            })
            .collect();
        Ok(XStatus {
            // HAVE_EXIT is carried by `last_exit` in memory.
            flags: flags & !FLAG_HAVE_EXIT,
            want,
            changed: tai(&b[8..20]),
            child: ProcSig {
                pid: u32_at(b, 20),
                start: u64_at(b, 24),
            },
            ready: tai(&b[32..44]),
            last_exit: (flags & FLAG_HAVE_EXIT != 0).then_some(last),
            supervisor: ProcSig {
                pid: u32_at(b, 60),
                start: u64_at(b, 64),
            },
            history,
            boot_id: (header == HEADER_LEN)
                .then(|| {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&b[72..88]);
                    id
                })
                .filter(|id| id != &[0; 16]),
            next_start,
            backoff_ms,
            finish: if header == HEADER_LEN {
                ProcSig {
                    pid: u32_at(b, 88),
                    start: u64_at(b, 92),
                }
            } else {
                ProcSig::default()
            },
        })
    }
}

fn tai(s: &[u8]) -> Tai64n {
    let mut a = [0u8; 12];
    a.copy_from_slice(&s[..12]);
    Tai64n::unpack(&a)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn i32_at(b: &[u8], o: usize) -> i32 {
    i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> XStatus {
        let mut x = XStatus::new(ProcSig { pid: 7, start: 99 });
        x.want = Want::Down;
        x.set(FLAG_READY, true);
        x.changed = Tai64n {
            secs: 1 << 62,
            nanos: 5,
        };
        x.child = ProcSig {
            pid: 1234,
            start: 555,
        };
        x.ready = Tai64n {
            secs: (1 << 62) + 1,
            nanos: 0,
        };
        x.finish = ProcSig {
            pid: 4321,
            start: 777,
        };
        x.next_start = Tai64n {
            secs: (1 << 62) + 9,
            nanos: 3,
        };
        x.backoff_ms = 8000;
        for i in 0..20 {
            x.push_death(Death {
                when: Tai64n {
                    secs: (1 << 62) + i,
                    nanos: 0,
                },
                wstatus: (i as i32) << 8,
            });
        }
        x
    }

    #[test]
    fn round_trip_and_bounded_history() {
        let x = sample();
        let b = x.pack();
        assert_eq!(b.len(), MAX_LEN);
        let y = XStatus::unpack(&b).unwrap();
        assert_eq!(y, x);
        assert_eq!(y.history.len(), HISTORY_MAX);
        assert_eq!(y.history[0].code(), Some(19));
        assert_eq!(b[5] & FLAG_HAVE_EXIT, FLAG_HAVE_EXIT);
        assert!(!y.has(FLAG_HAVE_EXIT));
    }

    #[test]
    fn golden_header() {
        let x = XStatus::new(ProcSig { pid: 1, start: 2 });
        let b = x.pack();
        assert_eq!(b.len(), HEADER_LEN + TRAILER_LEN);
        assert_eq!(&b[..8], b"SVKX\x02\x00\x00u");
        assert_eq!(&b[60..72], &[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Some(&b[72..88]), x.boot_id.as_ref().map(|a| &a[..]));
        assert_eq!(&b[88..100], &[0; 12]);
    }

    #[test]
    fn trailer_is_optional() {
        let x = sample();
        let b = x.pack();
        let y = XStatus::unpack(&b[..b.len() - TRAILER_LEN]).unwrap();
        assert_eq!((y.next_start, y.backoff_ms), (Tai64n::ZERO, 0));
        assert_eq!(y.history, x.history);
    }

    #[test]
    fn reads_version_1() {
        // A version-1 record as the previous supervise wrote it: header 72
        // bytes, then the history.
        let x = sample();
        let v2 = x.pack();
        let mut v1 = v2[..HEADER_LEN_V1].to_vec();
        v1[4] = 1;
        v1.extend_from_slice(&v2[HEADER_LEN..]);
        let y = XStatus::unpack(&v1).unwrap();
        assert_eq!(y.boot_id, None);
        assert_eq!(y.finish, ProcSig::default());
        assert_eq!((y.next_start, y.backoff_ms), (Tai64n::ZERO, 0));
        assert_eq!(y.history, x.history);
        assert_eq!(
            (y.child, y.supervisor, y.want),
            (x.child, x.supervisor, x.want)
        );
        assert!(XStatus::unpack(&v1[..HEADER_LEN_V1 - 1]).is_err());
    }

    #[test]
    fn boots() {
        let mut x = XStatus::new(ProcSig::of_self().unwrap());
        assert!(x.from_this_boot());
        assert!(x.supervisor_alive());
        x.boot_id = Some([7; 16]);
        assert!(!x.from_this_boot());
        assert!(!x.supervisor_alive());
        // Version 1: judged by the time of its last change.
        x.boot_id = None;
        x.changed = Tai64n::now();
        assert!(x.from_this_boot());
        x.changed = Tai64n::ZERO;
        assert!(!x.from_this_boot());
        let y = XStatus::unpack(&x.pack()).unwrap();
        assert_eq!(y.boot_id, None);
    }

    #[test]
    fn rejects_bad_input() {
        let b = sample().pack();
        assert_eq!(XStatus::unpack(&b[..10]), Err(XStatusError::Short(10)));
        assert!(matches!(
            XStatus::unpack(&b[..HEADER_LEN + 3]),
            Err(XStatusError::Short(_))
        ));
        let mut c = b.clone();
        c[0] = b'X';
        assert_eq!(XStatus::unpack(&c), Err(XStatusError::BadMagic));
        let mut c = b.clone();
        c[4] = 9;
        assert_eq!(XStatus::unpack(&c), Err(XStatusError::Version(9)));
        let mut c = b;
        c[6] = 200;
        assert_eq!(XStatus::unpack(&c), Err(XStatusError::Corrupt));
    }

    #[test]
    fn death_decoding() {
        let killed = Death {
            when: Tai64n::ZERO,
            wstatus: 9,
        };
        assert_eq!(killed.signal(), Some(9));
        assert_eq!(killed.code(), None);
        let exited = Death {
            when: Tai64n::ZERO,
            wstatus: 3 << 8,
        };
        assert_eq!(exited.code(), Some(3));
        assert_eq!(exited.signal(), None);
    }
}
