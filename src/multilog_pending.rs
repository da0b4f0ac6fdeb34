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
//!
//! Version 2 also stores a 64-bit hash (`hash`) of the batch and of its
//! tail: a settling multilog takes bytes out of the pipe only when they
//! are the very bytes the record describes (the `current` it names may be
//! gone, renamed by another logger that took the directory over, and log
//! lines start alike, so one byte is no proof). Sizes are bounded by what
//! a writer can produce, so a record edited by hand is refused, not obeyed.

/// The record lives at offset 0 of `pending`, inside this many bytes;
/// tail bytes go after it.
pub const HEADER: u64 = 4096;
/// The most directories one record describes.
pub const MAX_DIRS: usize = 100;
/// The most input bytes one batch takes (multilog's input buffer).
pub const MAX_BATCH: u64 = 64 * 1024;
/// The tail region is emptied once it grows past this: a record's `base`
/// is never beyond it.
pub const MAX_BASE: u64 = 1 << 20;
/// The longest tail `split` makes when it also moves bytes.
const MAX_SPLIT_TAIL: u64 = 64;
const MAGIC: &[u8; 16] = b"svkit-pending-2\n";
/// Version 1 (no hashes): refused by `unpack`, recognised by `is_old`.
const MAGIC_V1: &[u8; 16] = b"svkit-pending-1\n";
/// Words before the marks.
const WORDS: usize = 10;

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
    /// `hash` of the `moved + tail` bytes of the batch.
    pub sum: u64,
    /// `hash` of its last `tail` bytes.
    pub tail_sum: u64,
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

/// The record's own checksum (FNV-1a, 64 bits).
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The 64-bit hash of a batch: four lanes of 8-byte multiply-xorshift
/// steps (FNV-1a, a byte per step, cost a third of multilog's CPU). Each
/// step is a bijection of the state for a given word and of the word for
/// a given state, so two inputs of one length that differ in a single
/// word always hash apart; other differences collide with odds of about
/// 2^-64.
pub fn hash(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn step(h: u64, w: u64) -> u64 {
        let h = (h ^ w).wrapping_mul(K);
        h ^ (h >> 29)
    }
    fn word(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    }
    let mut lanes = [1, 2, 3, 4].map(|i| step(0xcbf2_9ce4_8422_2325, i));
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (i, l) in lanes.iter_mut().enumerate() {
            *l = step(*l, word(&b[i * 8..i * 8 + 8]));
        }
    }
    let mut h = step(lanes[0], data.len() as u64);
    for l in &lanes[1..] {
        h = step(h, *l);
    }
    for w in blocks.remainder().chunks(8) {
        h = step(h, word(w));
    }
    step(h, K)
}

/// True for a record of the format before hashes (version 1).
pub fn is_old(data: &[u8]) -> bool {
    data.starts_with(MAGIC_V1)
}

impl Record {
    /// The record of taking `batch` (at most MAX_BATCH bytes) from the
    /// pipe `pipe`, its tail going to `base` in `pending`.
    pub fn for_batch(pipe: (u64, u64), base: u64, batch: &[u8], dirs: Vec<Mark>) -> Record {
        let (moved, tail, probe, unmoved, moved_byte) = split(batch);
        Record {
            pipe,
            base,
            moved,
            tail,
            probe,
            unmoved,
            moved_byte,
            sum: hash(batch),
            tail_sum: hash(&batch[moved as usize..]),
            dirs,
        }
    }

    /// The bytes written at offset 0 of `pending` (at most HEADER).
    pub fn pack(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(112 + 32 * self.dirs.len());
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
            self.sum,
            self.tail_sum,
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

    /// Decodes a record; None for anything torn, foreign, of another
    /// version, or with sizes no writer makes (edited by hand).
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
        let words = WORDS + 4 * ndirs;
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
            sum: word(8)?,
            tail_sum: word(9)?,
            dirs: Vec::with_capacity(ndirs),
        };
        for d in 0..ndirs {
            let w = WORDS + 4 * d;
            r.dirs.push(Mark {
                dev: word(w)?,
                ino: word(w + 1)?,
                off: word(w + 2)?,
                len: word(w + 3)?,
            });
        }
        let sane = bytes >> 16 == 0
            && r.tail > 0
            && r.probe < r.tail
            && r.moved.checked_add(r.tail)? <= MAX_BATCH
            && (r.moved == 0 || r.tail <= MAX_SPLIT_TAIL)
            && (HEADER..=MAX_BASE).contains(&r.base)
            && r.dirs.iter().all(|m| m.off.checked_add(m.len).is_some());
        sane.then_some(r)
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
            sum: 0x0123_4567_89ab_cdef,
            tail_sum: 42,
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
        assert_eq!(p.len(), 16 + 10 * 8 + 32 + 8);
        assert_eq!(&p[..16], b"svkit-pending-2\n");
        assert_eq!(&p[16..24], &12u64.to_le_bytes());
        assert_eq!(
            &p[64..72],
            &(u64::from(b'a') | u64::from(b'\n') << 8).to_le_bytes()
        );
        assert_eq!(&p[80..88], &0x0123_4567_89ab_cdefu64.to_le_bytes());
        assert_eq!(&p[88..96], &42u64.to_le_bytes());
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
    fn sizes_no_writer_makes_are_refused() {
        let ok = sample();
        assert!(Record::unpack(&ok.pack()).is_some());
        let bad: [fn(&mut Record); 10] = [
            |r| r.probe = 1 << 62,
            |r| r.tail = u64::MAX / 2,
            |r| {
                r.moved = 0;
                r.tail = MAX_BATCH + 1;
            },
            |r| r.moved = MAX_BATCH,
            |r| r.moved = u64::MAX,
            |r| r.tail = MAX_SPLIT_TAIL + 1,
            |r| r.base = MAX_BASE + 1,
            |r| r.base = HEADER - 1,
            |r| r.tail = 0,
            |r| r.dirs[0].off = u64::MAX,
        ];
        for (i, f) in bad.iter().enumerate() {
            let mut r = ok.clone();
            f(&mut r);
            assert_eq!(Record::unpack(&r.pack()), None, "case {i}");
        }
        // The extremes a writer makes are accepted.
        let mut r = ok.clone();
        r.moved = 0;
        r.tail = MAX_BATCH;
        r.probe = MAX_BATCH - 1;
        r.base = MAX_BASE;
        assert_eq!(Record::unpack(&r.pack()), Some(r.clone()));
        r.moved = MAX_BATCH - MAX_SPLIT_TAIL;
        r.tail = MAX_SPLIT_TAIL;
        r.probe = 0;
        assert_eq!(Record::unpack(&r.pack()), Some(r));
        // Bytes beyond the two probe bytes.
        let mut p = ok.pack();
        p[16 + 6 * 8 + 2] = 1;
        let n = p.len() - 8;
        let sum = fnv(&p[..n]);
        p[n..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(Record::unpack(&p), None);
    }

    #[test]
    fn old_format_is_refused_and_recognised() {
        let mut p = sample().pack();
        p[..16].copy_from_slice(b"svkit-pending-1\n");
        assert_eq!(Record::unpack(&p), None);
        assert!(is_old(&p));
        assert!(!is_old(&sample().pack()));
    }

    #[test]
    fn for_batch_hashes_batch_and_tail() {
        let batch = b"line2\nline3\n";
        let r = Record::for_batch((1, 2), HEADER, batch, vec![]);
        assert_eq!((r.moved, r.tail), (11, 1));
        assert_eq!(r.sum, hash(batch));
        assert_eq!(r.tail_sum, hash(b"\n"));
        assert_ne!(hash(b"1001\n"), hash(b"1\n2\n"));
        // Length counts; a change in any byte shows.
        assert_ne!(hash(b""), hash(b"\0"));
        let base: Vec<u8> = (0..200u8).collect();
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 0x80;
            assert_ne!(hash(&v), hash(&base), "byte {i}");
        }
        assert_eq!(Record::unpack(&r.pack()), Some(r));
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
