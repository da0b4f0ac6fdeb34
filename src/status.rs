//! The daemontools 0.76 `supervise/status` record: exactly 18 bytes.
//!
//! | bytes | meaning |
//! |---|---|
//! | 0..12 | TAI64N of the last change of pid (big-endian) |
//! | 12..16 | pid of the running child, little-endian, 0 when down |
//! | 16 | paused flag (1 while stopped by `svc -p`; 0 when down) |
//! | 17 | want: `u`, `d`, or 0 (after `svc -o`, or when no wish) |
//!
//! djb's `svstat` reads this very layout, so it must never change.

use crate::tai64n::Tai64n;
use std::fmt;

pub const LEN: usize = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Byte 0: no standing wish (after `svc -o`).
    None,
    Up,
    Down,
}

impl Want {
    pub fn byte(self) -> u8 {
        match self {
            Want::None => 0,
            Want::Up => b'u',
            Want::Down => b'd',
        }
    }

    pub fn from_byte(b: u8) -> Option<Want> {
        match b {
            0 => Some(Want::None),
            b'u' => Some(Want::Up),
            b'd' => Some(Want::Down),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub when: Tai64n,
    pub pid: u32,
    pub paused: bool,
    pub want: Want,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusError {
    /// Fewer than 18 bytes: a torn or truncated file.
    Short(usize),
    /// Bytes that supervise never writes (paused not 0/1, want not 0/u/d).
    Corrupt,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Short(n) => write!(f, "truncated record ({n} of {LEN} bytes)"),
            StatusError::Corrupt => write!(f, "bad format"),
        }
    }
}

impl std::error::Error for StatusError {}

impl Status {
    pub fn pack(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..12].copy_from_slice(&self.when.pack());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16] = u8::from(self.pid != 0 && self.paused);
        b[17] = self.want.byte();
        b
    }

    /// Decodes a record; extra trailing bytes are ignored as djb's svstat does.
    pub fn unpack(b: &[u8]) -> Result<Status, StatusError> {
        if b.len() < LEN {
            return Err(StatusError::Short(b.len()));
        }
        let mut when = [0u8; 12];
        when.copy_from_slice(&b[..12]);
        let pid = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        let paused = match b[16] {
            0 => false,
            1 => true,
            _ => return Err(StatusError::Corrupt),
        };
        let want = Want::from_byte(b[17]).ok_or(StatusError::Corrupt)?;
        Ok(Status {
            when: Tai64n::unpack(&when),
            pid,
            paused,
            want,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            when: Tai64n {
                secs: 0x4000_0000_6553_f100,
                nanos: 0x0102_0304,
            },
            pid: 0x0001_e240,
            paused: true,
            want: Want::Down,
        }
    }

    #[test]
    fn golden_bytes() {
        let b = sample().pack();
        assert_eq!(
            b,
            [0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0, 1, 2, 3, 4, 0x40, 0xe2, 1, 0, 1, b'd']
        );
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(Status::unpack(&s.pack()), Ok(s));
    }

    #[test]
    fn paused_only_while_up() {
        let mut s = sample();
        s.pid = 0;
        assert_eq!(s.pack()[16], 0);
    }

    #[test]
    fn short_and_corrupt() {
        assert_eq!(Status::unpack(&[0; 17]), Err(StatusError::Short(17)));
        let mut b = sample().pack();
        b[17] = b'x';
        assert_eq!(Status::unpack(&b), Err(StatusError::Corrupt));
        let mut b = sample().pack();
        b[16] = 7;
        assert_eq!(Status::unpack(&b), Err(StatusError::Corrupt));
    }
}
