//! TAI64N labels: the 12-byte external format, the `@`+24-hex text form,
//! and conversion from the system clock (as daemontools: TAI = UTC + 10 s,
//! leap seconds ignored).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2^62 + 10: the TAI64 label of the Unix epoch as daemontools computes it.
pub const UNIX_EPOCH_LABEL: u64 = 4_611_686_018_427_387_914;

/// A TAI64N moment: the TAI64 second label and nanoseconds within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Tai64n {
    pub secs: u64,
    pub nanos: u32,
}

impl Tai64n {
    /// The all-zero label, used as "never" in extended records.
    pub const ZERO: Tai64n = Tai64n { secs: 0, nanos: 0 };

    pub fn now() -> Tai64n {
        Tai64n::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Tai64n {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Tai64n {
                secs: UNIX_EPOCH_LABEL + d.as_secs(),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let mut secs = UNIX_EPOCH_LABEL - d.as_secs();
                let mut nanos = 0;
                if d.subsec_nanos() > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - d.subsec_nanos();
                }
                Tai64n { secs, nanos }
            }
        }
    }

    pub fn is_zero(&self) -> bool {
        self.secs == 0 && self.nanos == 0
    }

    /// Seconds since the Unix epoch (negative before it).
    pub fn unix_secs(&self) -> i64 {
        self.secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64
    }

    /// The same moment as a `SystemTime`; a label beyond what the system
    /// clock can represent (a corrupt record) saturates instead of
    /// panicking.
    pub fn to_system(&self) -> SystemTime {
        let s = self.unix_secs();
        let base = if s >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(s as u64))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(s.unsigned_abs()))
        };
        let nanos = Duration::from_nanos(u64::from(self.nanos.min(999_999_999)));
        base.and_then(|b| b.checked_add(nanos))
            .or(base)
            .unwrap_or(UNIX_EPOCH)
    }

    /// Whole seconds from `self` to `now`, zero if `self` is later.
    pub fn secs_until(&self, now: Tai64n) -> u64 {
        now.secs.saturating_sub(self.secs)
    }

    /// Duration from `self` to `now`, zero if `self` is later. Pure label
    /// arithmetic: never overflows, whatever a record holds.
    pub fn elapsed_to(&self, now: Tai64n) -> Duration {
        if now <= *self {
            return Duration::ZERO;
        }
        let (a, b) = (self.nanos.min(999_999_999), now.nanos.min(999_999_999));
        let mut secs = now.secs - self.secs;
        let nanos = if b >= a {
            b - a
        } else {
            secs -= 1;
            1_000_000_000 + b - a
        };
        Duration::new(secs, nanos)
    }

    pub fn pack(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    pub fn unpack(b: &[u8; 12]) -> Tai64n {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&b[8..]);
        Tai64n {
            secs: u64::from_be_bytes(s),
            nanos: u32::from_be_bytes(n),
        }
    }

    /// The 25-byte text label `@` + 24 lowercase hex digits, as multilog's `t`.
    pub fn hex_label(&self) -> [u8; 25] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 25];
        out[0] = b'@';
        for (i, byte) in self.pack().iter().enumerate() {
            out[1 + 2 * i] = HEX[usize::from(byte >> 4)];
            out[2 + 2 * i] = HEX[usize::from(byte & 15)];
        }
        out
    }

    /// Parses 24 hex digits (no `@`); upper or lower case.
    pub fn parse_hex(s: &[u8]) -> Option<Tai64n> {
        if s.len() != 24 {
            return None;
        }
        let mut b = [0u8; 12];
        for (i, pair) in s.chunks(2).enumerate() {
            let hi = hex_digit(pair[0])?;
            let lo = hex_digit(pair[1])?;
            b[i] = hi << 4 | lo;
        }
        Some(Tai64n::unpack(&b))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_labels_never_panic() {
        let max = Tai64n {
            secs: u64::MAX,
            nanos: u32::MAX,
        };
        let _ = max.to_system();
        let _ = Tai64n::ZERO.to_system();
        assert_eq!(max.elapsed_to(Tai64n::ZERO), Duration::ZERO);
        assert_eq!(
            Tai64n::ZERO.elapsed_to(max),
            Duration::new(u64::MAX, 999_999_999)
        );
        let a = Tai64n {
            secs: 10,
            nanos: 900,
        };
        let b = Tai64n {
            secs: 12,
            nanos: 100,
        };
        assert_eq!(a.elapsed_to(b), Duration::new(1, 999_999_200));
        assert_eq!(a.secs_until(b), 2);
    }

    #[test]
    fn epoch_label_matches_daemontools() {
        let t = Tai64n::from_system(UNIX_EPOCH);
        assert_eq!(&t.hex_label(), b"@400000000000000a00000000");
    }

    #[test]
    fn pack_unpack_round_trip() {
        let t = Tai64n {
            secs: UNIX_EPOCH_LABEL + 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(Tai64n::unpack(&t.pack()), t);
        assert_eq!(t.unix_secs(), 1_700_000_000);
        let label = t.hex_label();
        assert_eq!(Tai64n::parse_hex(&label[1..]), Some(t));
    }

    #[test]
    fn golden_label() {
        let t = Tai64n {
            secs: UNIX_EPOCH_LABEL + 1_000_000_000,
            nanos: 1,
        };
        assert_eq!(&t.hex_label(), b"@400000003b9aca0a00000001");
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Tai64n::parse_hex(b"zz"), None);
        assert_eq!(Tai64n::parse_hex(b"4000000000000000000000g0"), None);
        assert_eq!(Tai64n::parse_hex(b"4000000000000000000000000"), None);
    }

    #[test]
    fn elapsed_clamps_future() {
        let now = Tai64n::now();
        let later = Tai64n {
            secs: now.secs + 100,
            nanos: 0,
        };
        assert_eq!(later.secs_until(now), 0);
        assert_eq!(now.secs_until(later), 100);
        assert_eq!(later.elapsed_to(now), Duration::ZERO);
    }
}
