//! The invoker ⇄ booster frame format: pure encode/decode, no I/O.
//!
//! Every frame is `u32 type, u32 length, payload`, little-endian. A request
//! is exactly HELLO, ARGV, ENV, CWD, STDIO, END in that order; the three
//! stdio descriptors travel in SCM_RIGHTS on the same sendmsg. Replies are
//! LAUNCHED, ERROR and EXIT. Every limit is checked against the declared
//! lengths before anything is allocated, so a hostile peer can make the
//! decoder allocate at most what it has already sent (≤ [`MAX_REQUEST`]).

/// Protocol version carried in HELLO.
pub const VERSION: u32 = 1;

pub const HELLO: u32 = 1;
pub const ARGV: u32 = 2;
pub const ENV: u32 = 3;
pub const CWD: u32 = 4;
pub const STDIO: u32 = 5;
pub const END: u32 = 6;
pub const LAUNCHED: u32 = 0x101;
pub const ERROR: u32 = 0x102;
pub const EXIT: u32 = 0x103;

/// HELLO flag: the invoker waits for EXIT (absent with `--no-wait`).
pub const FLAG_WAIT: u32 = 1;

/// Whole request, headers included.
pub const MAX_REQUEST: usize = 1 << 20;
pub const MAX_ARGV: usize = 4096;
pub const MAX_ENV: usize = 4096;
/// One string (an argument, an environment entry, the cwd).
pub const MAX_STRING: usize = 128 << 10;
/// One reply frame's payload (error texts are cut to fit).
pub const MAX_REPLY: usize = 4096;
/// Descriptors in STDIO.
pub const STDIO_FDS: u32 = 3;

const HEADER: usize = 8;

/// Why a request or reply was refused. Sizes are distinguished from
/// malformed input so the peer can be told which limit it hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    TooBig(&'static str),
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooBig(w) => write!(f, "request too big: {w}"),
            WireError::Malformed(w) => write!(f, "malformed request: {w}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub version: u32,
    pub flags: u32,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
}

/// ERROR kinds; the invoker turns each into its exit code.
pub mod kind {
    pub const NOT_FOUND: u32 = 1;
    pub const NOT_EXECUTABLE: u32 = 2;
    pub const BUSY: u32 = 3;
    pub const NOT_ALLOWED: u32 = 4;
    pub const MALFORMED: u32 = 5;
    pub const TOO_BIG: u32 = 6;
    pub const CWD: u32 = 7;
    pub const STOPPING: u32 = 8;
    pub const INTERNAL: u32 = 9;
    pub const TIMEOUT: u32 = 10;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The program runs as `pid`; the booster's TERM→KILL grace in ms.
    Launched { pid: u32, grace_ms: u64 },
    /// A refusal: one of [`kind`], an errno (0 if none) and a text.
    Error {
        kind: u32,
        errno: u32,
        text: Vec<u8>,
    },
    /// The raw wait status, sent only after the program was reaped.
    Exit { status: i32 },
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn frame(out: &mut Vec<u8>, ty: u32, payload: &[u8]) {
    put_u32(out, ty);
    put_u32(out, payload.len() as u32);
    out.extend_from_slice(payload);
}

fn strings(list: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, list.len() as u32);
    for s in list {
        put_u32(&mut p, s.len() as u32);
        p.extend_from_slice(s);
    }
    p
}

/// Encodes a request. It does not check limits: the booster does that,
/// and the invoker checks with [`check_request`] first.
pub fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    let mut hello = Vec::new();
    put_u32(&mut hello, r.version);
    put_u32(&mut hello, r.flags);
    frame(&mut out, HELLO, &hello);
    frame(&mut out, ARGV, &strings(&r.argv));
    frame(&mut out, ENV, &strings(&r.env));
    frame(&mut out, CWD, &r.cwd);
    frame(&mut out, STDIO, &STDIO_FDS.to_le_bytes());
    frame(&mut out, END, &[]);
    out
}

/// The limits a request must meet, checked on the sending side too.
pub fn check_request(r: &Request) -> Result<(), WireError> {
    let bytes = encode_request(r);
    match decode_request(&bytes)? {
        Some(_) => Ok(()),
        None => Err(WireError::Malformed("incomplete")),
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn check_string(s: &[u8]) -> Result<(), WireError> {
    if s.len() > MAX_STRING {
        return Err(WireError::TooBig("string over 128 KiB"));
    }
    if s.contains(&0) {
        return Err(WireError::Malformed("NUL inside a string"));
    }
    Ok(())
}

fn decode_strings(p: &[u8], max: usize, what: &'static str) -> Result<Vec<Vec<u8>>, WireError> {
    let n = u32_at(p, 0).ok_or(WireError::Malformed("short count"))? as usize;
    if n > max {
        return Err(WireError::TooBig(what));
    }
    // Each string costs at least its 4-byte length: a count the payload
    // cannot hold is refused before the vector is sized by it.
    if n > (p.len() - 4) / 4 {
        return Err(WireError::Malformed("count exceeds payload"));
    }
    let mut out = Vec::with_capacity(n);
    let mut at = 4;
    for _ in 0..n {
        let len = u32_at(p, at).ok_or(WireError::Malformed("short string length"))? as usize;
        at += 4;
        if len > MAX_STRING {
            return Err(WireError::TooBig("string over 128 KiB"));
        }
        let s = p
            .get(at..at + len)
            .ok_or(WireError::Malformed("string exceeds payload"))?;
        check_string(s)?;
        out.push(s.to_vec());
        at += len;
    }
    if at != p.len() {
        return Err(WireError::Malformed("trailing bytes in list"));
    }
    Ok(out)
}

/// Decodes one request from the start of `buf`. `Ok(None)`: so far so good,
/// more bytes needed. `Ok(Some((req, used)))`: complete after `used` bytes.
/// Each header is judged as soon as it is in: a frame out of order or over
/// a limit fails before its payload arrives.
pub fn decode_request(buf: &[u8]) -> Result<Option<(Request, usize)>, WireError> {
    if buf.len() > MAX_REQUEST {
        return Err(WireError::TooBig("request over 1 MiB"));
    }
    let mut p = Progress::default();
    Ok(p.advance(buf)?.then(|| (std::mem::take(&mut p.req), p.at)))
}

/// A request decoded as its bytes arrive. Each frame is decoded once,
/// when its payload is complete, and an incomplete frame costs only a
/// look at its header: however the request is split (a 1 MiB ARGV, then
/// ENV a byte at a time), decoding it costs O(its length), not O(length
/// × reads). The bytes are kept, for handing on as they are.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    buf: Vec<u8>,
    p: Progress,
    done: bool,
}

/// Where decoding stands: the next frame starts at `at` and is the
/// `step`th of [`ORDER`]; `req` holds the frames decoded so far.
#[derive(Debug, Default)]
struct Progress {
    at: usize,
    step: usize,
    req: Request,
}

const ORDER: [u32; 6] = [HELLO, ARGV, ENV, CWD, STDIO, END];

impl RequestDecoder {
    pub fn new() -> RequestDecoder {
        RequestDecoder::default()
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends `bytes` and decodes every frame they complete.
    /// `Ok(Some(req))` once END is in (bytes after END are malformed).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Request>, WireError> {
        if self.done && !bytes.is_empty() {
            return Err(WireError::Malformed("bytes after END"));
        }
        if self.buf.len() + bytes.len() > MAX_REQUEST {
            return Err(WireError::TooBig("request over 1 MiB"));
        }
        self.buf.extend_from_slice(bytes);
        if !self.p.advance(&self.buf)? {
            return Ok(None);
        }
        if self.p.at != self.buf.len() {
            return Err(WireError::Malformed("bytes after END"));
        }
        self.done = true;
        Ok(Some(std::mem::take(&mut self.p.req)))
    }

    /// The request's bytes, for handing on.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

impl Progress {
    /// Decodes the frames of `buf` from `at` on; true once END is decoded.
    fn advance(&mut self, buf: &[u8]) -> Result<bool, WireError> {
        while self.step < ORDER.len() {
            let at = self.at;
            let (Some(ty), Some(len)) = (u32_at(buf, at), u32_at(buf, at + 4)) else {
                return Ok(false);
            };
            let len = len as usize;
            check_header(ORDER[self.step], ty, len, at)?;
            let Some(p) = buf.get(at + HEADER..at + HEADER + len) else {
                return Ok(false);
            };
            decode_frame(&mut self.req, ty, p)?;
            self.at = at + HEADER + len;
            self.step += 1;
        }
        Ok(true)
    }
}

/// Judges a frame by its header alone (before its payload is in).
fn check_header(want: u32, ty: u32, len: usize, at: usize) -> Result<(), WireError> {
    if ty != want {
        return Err(WireError::Malformed("unexpected frame"));
    }
    if len > MAX_REQUEST - HEADER || at + HEADER + len > MAX_REQUEST {
        return Err(WireError::TooBig("request over 1 MiB"));
    }
    let fixed = match ty {
        HELLO => Some(8),
        STDIO => Some(4),
        END => Some(0),
        _ => None,
    };
    if fixed.is_some_and(|f| f != len) {
        return Err(WireError::Malformed("bad frame length"));
    }
    if ty == CWD && len > MAX_STRING {
        return Err(WireError::TooBig("string over 128 KiB"));
    }
    Ok(())
}

fn decode_frame(req: &mut Request, ty: u32, p: &[u8]) -> Result<(), WireError> {
    match ty {
        HELLO => {
            req.version = u32_at(p, 0).unwrap_or(0);
            req.flags = u32_at(p, 4).unwrap_or(0);
            if req.version != VERSION {
                return Err(WireError::Malformed("unsupported protocol version"));
            }
            if req.flags & !FLAG_WAIT != 0 {
                return Err(WireError::Malformed("unknown flags"));
            }
        }
        ARGV => {
            req.argv = decode_strings(p, MAX_ARGV, "more than 4096 arguments")?;
            if req.argv.first().map_or(true, |a| a.is_empty()) {
                return Err(WireError::Malformed("empty program name"));
            }
        }
        ENV => req.env = decode_strings(p, MAX_ENV, "more than 4096 environment entries")?,
        CWD => {
            check_string(p)?;
            if p.is_empty() {
                return Err(WireError::Malformed("empty working directory"));
            }
            req.cwd = p.to_vec();
        }
        STDIO if u32_at(p, 0) != Some(STDIO_FDS) => {
            return Err(WireError::Malformed("STDIO must carry 3 descriptors"));
        }
        _ => {}
    }
    Ok(())
}

pub fn encode_reply(r: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = Vec::new();
    match r {
        Reply::Launched { pid, grace_ms } => {
            put_u32(&mut p, *pid);
            p.extend_from_slice(&grace_ms.to_le_bytes());
            frame(&mut out, LAUNCHED, &p);
        }
        Reply::Error { kind, errno, text } => {
            put_u32(&mut p, *kind);
            put_u32(&mut p, *errno);
            let room = MAX_REPLY - 8;
            p.extend_from_slice(&text[..text.len().min(room)]);
            frame(&mut out, ERROR, &p);
        }
        Reply::Exit { status } => {
            p.extend_from_slice(&status.to_le_bytes());
            frame(&mut out, EXIT, &p);
        }
    }
    out
}

/// Decodes one reply from the start of `buf`, as [`decode_request`].
pub fn decode_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, WireError> {
    let (Some(ty), Some(len)) = (u32_at(buf, 0), u32_at(buf, 4)) else {
        return Ok(None);
    };
    let len = len as usize;
    if len > MAX_REPLY {
        return Err(WireError::TooBig("reply over 4 KiB"));
    }
    let want = match ty {
        LAUNCHED => len == 12,
        ERROR => len >= 8,
        EXIT => len == 4,
        _ => return Err(WireError::Malformed("unknown reply")),
    };
    if !want {
        return Err(WireError::Malformed("bad reply length"));
    }
    let Some(p) = buf.get(HEADER..HEADER + len) else {
        return Ok(None);
    };
    let a = u32_at(p, 0).unwrap_or(0);
    let reply = match ty {
        LAUNCHED => {
            let mut g = [0u8; 8];
            g.copy_from_slice(&p[4..12]);
            Reply::Launched {
                pid: a,
                grace_ms: u64::from_le_bytes(g),
            }
        }
        ERROR => Reply::Error {
            kind: a,
            errno: u32_at(p, 4).unwrap_or(0),
            text: p[8..].to_vec(),
        },
        _ => Reply::Exit { status: a as i32 },
    };
    Ok(Some((reply, HEADER + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Request {
        Request {
            version: VERSION,
            flags: FLAG_WAIT,
            argv: vec![b"echo".to_vec(), b"hi".to_vec()],
            env: vec![b"A=1".to_vec()],
            cwd: b"/".to_vec(),
        }
    }

    #[rustfmt::skip]
    const GOLDEN: &[u8] = &[
        1,0,0,0, 8,0,0,0, 1,0,0,0, 1,0,0,0,                     // HELLO v1 wait
        2,0,0,0, 18,0,0,0, 2,0,0,0, 4,0,0,0, b'e',b'c',b'h',b'o', 2,0,0,0, b'h',b'i',
        3,0,0,0, 11,0,0,0, 1,0,0,0, 3,0,0,0, b'A',b'=',b'1',    // ENV
        4,0,0,0, 1,0,0,0, b'/',                                 // CWD
        5,0,0,0, 4,0,0,0, 3,0,0,0,                              // STDIO
        6,0,0,0, 0,0,0,0,                                       // END
    ];

    #[test]
    fn golden_request() {
        assert_eq!(encode_request(&sample()), GOLDEN);
        let (r, used) = decode_request(GOLDEN).unwrap().unwrap();
        assert_eq!(r, sample());
        assert_eq!(used, GOLDEN.len());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for n in 0..GOLDEN.len() {
            assert_eq!(decode_request(&GOLDEN[..n]), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn golden_replies() {
        let l = Reply::Launched {
            pid: 0x0102,
            grace_ms: 5000,
        };
        let bytes = encode_reply(&l);
        assert_eq!(
            bytes,
            [1, 1, 0, 0, 12, 0, 0, 0, 2, 1, 0, 0, 0x88, 0x13, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(decode_reply(&bytes), Ok(Some((l, 20))));
        let e = Reply::Exit { status: 0x0f00 };
        let bytes = encode_reply(&e);
        assert_eq!(bytes, [3, 1, 0, 0, 4, 0, 0, 0, 0, 0x0f, 0, 0]);
        assert_eq!(decode_reply(&bytes), Ok(Some((e, 12))));
        let x = Reply::Error {
            kind: kind::NOT_FOUND,
            errno: 2,
            text: b"nope".to_vec(),
        };
        let bytes = encode_reply(&x);
        assert_eq!(
            &bytes[..16],
            [2, 1, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(decode_reply(&bytes), Ok(Some((x, 20))));
        assert_eq!(decode_reply(&bytes[..19]), Ok(None));
    }

    #[test]
    fn more_than_a_mebibyte_is_refused_whatever_it_holds() {
        assert!(matches!(
            decode_request(&vec![0u8; MAX_REQUEST + 1]),
            Err(WireError::TooBig(_))
        ));
    }

    #[test]
    fn header_over_limit_fails_before_payload() {
        let mut b = GOLDEN[..16].to_vec();
        b.extend_from_slice(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(decode_request(&b), Err(WireError::TooBig(_))));
    }

    #[test]
    fn counts_over_limit_fail() {
        let mut r = sample();
        r.argv = vec![b"x".to_vec(); MAX_ARGV + 1];
        assert!(matches!(
            decode_request(&encode_request(&r)),
            Err(WireError::TooBig(_))
        ));
        let mut r = sample();
        r.env = vec![b"x=".to_vec(); MAX_ENV + 1];
        assert!(matches!(
            decode_request(&encode_request(&r)),
            Err(WireError::TooBig(_))
        ));
        let mut r = sample();
        r.argv.push(vec![b'a'; MAX_STRING + 1]);
        assert!(matches!(
            decode_request(&encode_request(&r)),
            Err(WireError::TooBig(_))
        ));
        let mut r = sample();
        r.argv = vec![vec![b'a'; 100_000]; 11];
        assert!(matches!(
            decode_request(&encode_request(&r)),
            Err(WireError::TooBig(_))
        ));
        r.argv.truncate(10);
        assert!(decode_request(&encode_request(&r)).unwrap().is_some());
    }

    #[test]
    fn huge_count_in_small_payload_is_malformed() {
        let mut b = GOLDEN[..16].to_vec();
        b.extend_from_slice(&[2, 0, 0, 0, 4, 0, 0, 0, 0, 16, 0, 0]);
        assert!(matches!(decode_request(&b), Err(WireError::Malformed(_))));
    }

    #[test]
    fn malformed_inputs() {
        let mut r = sample();
        r.argv[1] = b"a\0b".to_vec();
        assert!(matches!(check_request(&r), Err(WireError::Malformed(_))));
        let mut r = sample();
        r.argv.clear();
        assert!(check_request(&r).is_err());
        let mut r = sample();
        r.version = 2;
        assert!(check_request(&r).is_err());
        let mut r = sample();
        r.flags = 8;
        assert!(check_request(&r).is_err());
        // Frames out of order.
        let mut b = GOLDEN.to_vec();
        b[16] = 3;
        assert!(decode_request(&b).is_err());
        assert!(decode_request(b"GET / HTTP/1.0\r\n").is_err());
        assert!(decode_reply(b"garbage!").is_err());
    }

    #[test]
    fn the_decoder_agrees_with_decode_request_however_the_bytes_are_split() {
        for split in [1, 2, 3, 7, 16, GOLDEN.len()] {
            let mut d = RequestDecoder::new();
            let mut got = None;
            for chunk in GOLDEN.chunks(split) {
                assert!(got.is_none());
                got = d.push(chunk).unwrap();
            }
            assert_eq!(got, Some(sample()), "split {split}");
            assert_eq!(d.into_bytes(), GOLDEN);
        }
        let mut d = RequestDecoder::new();
        let mut b = GOLDEN.to_vec();
        b.push(0);
        assert_eq!(d.push(&b), Err(WireError::Malformed("bytes after END")));
        let mut d = RequestDecoder::new();
        assert!(d.push(&GOLDEN[..16]).unwrap().is_none());
        let bad = [2, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(d.push(&bad), Err(WireError::TooBig(_))));
        let mut d = RequestDecoder::new();
        let big = vec![0u8; MAX_REQUEST + 1];
        assert!(matches!(d.push(&big), Err(WireError::TooBig(_))));
    }

    /// A deterministic miniature of the fuzz target: mutated golden
    /// requests never panic, and what is accepted re-encodes identically.
    #[test]
    fn mutations_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut b = GOLDEN.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] = next() as u8,
                    1 => b.truncate(at),
                    _ => b.insert(at, next() as u8),
                }
                if b.is_empty() {
                    break;
                }
            }
            if let Ok(Some((r, used))) = decode_request(&b) {
                assert_eq!(encode_request(&r), b[..used]);
            }
            if let Ok(Some((r, used))) = decode_reply(&b) {
                assert_eq!(encode_reply(&r), b[..used]);
            }
        }
    }
}
