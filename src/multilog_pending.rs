//! multilog's `pending` record: what the batch being written takes from the
//! head of the input pipe, so that a multilog started after a SIGKILL knows
//! whether that head is already on disk (nothing lost, nothing twice).
//!
//! A batch of `moved + tail` input bytes is written to every directory,
//! then taken out of the pipe in two steps: `moved` bytes through a private
//! pipe (one pipe-to-pipe splice: all or nothing), then `tail` bytes
//! spliced into the `pending` file at `base` (a pipe-to-file splice consumes
//! exactly what it wrote, so the file's size counts them). When the file
//! shows none of the tail, the byte at `probe` of the pipe tells the two
//! remaining cases apart: `unmoved` if nothing was taken, `moved_byte` if
//! the first step was done. Pure functions, no I/O.

/// The record lives at offset 0 of `pending`, inside this many bytes;
/// tail bytes go after it.
pub const HEADER: u64 = 4096;
/// The most directories one record describes.
pub const MAX_DIRS: usize = 100;
const MAGIC: &[u8; 16] = b"svkit-pending-1\n";

/// Where one directory's share of the batch goes: `current` (by device and
/// inode) is `off` bytes long before the batch and `off + len` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub dev: u64,
    pub ino: u64,
    pub off: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Device and inode of the input pipe.
    pub pipe: (u64, u64),
    /// Offset in `pending` where the tail bytes are spliced.
    pub base: u64,
    pub moved: u64,
    pub tail: u64,
    /// Index (< tail) of the pipe byte that tells the cases apart.
    pub probe: u64,
    pub unmoved: u8,
    pub moved_byte: u8,
    pub dirs: Vec<Mark>,
}

/// How to take a batch out of the pipe: (moved, tail, probe, unmoved,
/// moved_byte). The tail is the shortest whose bytes differ from the
/// batch's first bytes, so the probe can tell "nothing taken" from "moved
/// taken"; a batch where none up to 64 does (all newlines) goes wholly
/// into the file.
pub fn split(batch: &[u8]) -> (u64, u64, u64, u8, u8) {
    let n = batch.len();
    for l in 1..n.min(65) {
        let head = &batch[..l];
        let end = &batch[n - l..];
        if let Some(k) = head.iter().zip(end).position(|(a, b)| a != b) {
            return ((n - l) as u64, l as u64, k as u64, head[k], end[k]);
        }
    }
    let first = batch.first().copied().unwrap_or(0);
    (0, n as u64, 0, first, first)
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Record {
    /// The bytes written at offset 0 of `pending` (at most HEADER).
    pub fn pack(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(96 + 32 * self.dirs.len());
        v.extend_from_slice(MAGIC);
        for x in [
            self.pipe.0,
            self.pipe.1,
            self.base,
            self.moved,
            self.tail,
            self.probe,
            u64::from(self.unmoved) | u64::from(self.moved_byte) << 8,
            self.dirs.len() as u64,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for m in &self.dirs {
            for x in [m.dev, m.ino, m.off, m.len] {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        let sum = fnv(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    /// Decodes a record; None for anything torn, foreign or inconsistent.
    pub fn unpack(data: &[u8]) -> Option<Record> {
        let rest = data.strip_prefix(MAGIC)?;
        let word = |i: usize| -> Option<u64> {
            let b = rest.get(i * 8..i * 8 + 8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let ndirs = usize::try_from(word(7)?).ok()?;
        if ndirs > MAX_DIRS {
            return None;
        }
        let words = 8 + 4 * ndirs;
        let body = MAGIC.len() + words * 8;
        let sum = u64::from_le_bytes(data.get(body..body + 8)?.try_into().ok()?);
        if sum != fnv(&data[..body]) {
            return None;
        }
        let bytes = word(6)?;
        let mut r = Record {
            pipe: (word(0)?, word(1)?),
            base: word(2)?,
            moved: word(3)?,
            tail: word(4)?,
            probe: word(5)?,
            unmoved: bytes as u8,
            moved_byte: (bytes >> 8) as u8,
            dirs: Vec::with_capacity(ndirs),
        };
        for d in 0..ndirs {
            let w = 8 + 4 * d;
            r.dirs.push(Mark {
                dev: word(w)?,
                ino: word(w + 1)?,
                off: word(w + 2)?,
                len: word(w + 3)?,
            });
        }
        if r.tail == 0 || r.probe >= r.tail || r.base < HEADER {
            return None;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            pipe: (12, 345),
            base: HEADER + 7,
            moved: 99,
            tail: 1,
            probe: 0,
            unmoved: b'a',
            moved_byte: b'\n',
            dirs: vec![Mark {
                dev: 2049,
                ino: 77,
                off: 1000,
                len: 126,
            }],
        }
    }

    #[test]
    fn golden_and_round_trip() {
        let r = sample();
        let p = r.pack();
        assert_eq!(p.len(), 16 + 8 * 8 + 32 + 8);
        assert_eq!(&p[..16], b"svkit-pending-1\n");
        assert_eq!(&p[16..24], &12u64.to_le_bytes());
        assert_eq!(
            &p[64..72],
            &(u64::from(b'a') | u64::from(b'\n') << 8).to_le_bytes()
        );
        assert_eq!(Record::unpack(&p), Some(r.clone()));
        // Trailing bytes (the tail region) do not matter.
        let mut longer = p.clone();
        longer.extend_from_slice(&[0; 100]);
        assert_eq!(Record::unpack(&longer), Some(r));
    }

    #[test]
    fn torn_or_foreign_records_are_refused() {
        let p = sample().pack();
        for cut in 0..p.len() {
            assert_eq!(Record::unpack(&p[..cut]), None, "cut {cut}");
        }
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 1;
            assert_eq!(Record::unpack(&q), None, "flip {i}");
        }
        assert_eq!(Record::unpack(&[0u8; 4096]), None);
    }

    #[test]
    fn split_tells_the_two_heads_apart() {
        assert_eq!(split(b"abc\n"), (3, 1, 0, b'a', b'\n'));
        // Starts with an empty line: the tail grows until it differs.
        assert_eq!(split(b"\nx\n"), (1, 2, 0, b'\n', b'x'));
        assert_eq!(split(b"\n\n\n"), (0, 3, 0, b'\n', b'\n'));
        for batch in [&b"x\nx\nx\n"[..], b"\n\nab\n\n", b"1\n", b"\n"] {
            let (moved, tail, probe, un, mv) = split(batch);
            assert_eq!((moved + tail) as usize, batch.len());
            assert!(probe < tail);
            if moved > 0 {
                assert_ne!(un, mv);
                assert_eq!(batch[probe as usize], un);
                assert_eq!(batch[(moved + probe) as usize], mv);
            }
        }
    }
}
