//! tai64n: puts a TAI64N timestamp (`@` and 24 hex digits, then a space)
//! at the start of every line, as daemontools 0.76: the time a line's
//! first byte is read. A last line without a newline is stamped too.
//! Output is flushed before every read that may block, so a line shows up
//! at once; read or write errors exit 111 quietly, as djb's.

use std::io::Write;
use std::os::fd::AsFd;
use svkit::tai64n::Tai64n;

const PROG: &str = "tai64n";
const SYNOPSIS: &str = "< input > output";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Formats labels, reusing the 16 digits of the seconds while they last.
struct Stamper {
    secs: u64,
    label: [u8; 26],
}

impl Stamper {
    fn new() -> Stamper {
        let mut s = Stamper {
            secs: u64::MAX,
            label: [b' '; 26],
        };
        s.label[0] = b'@';
        s
    }

    fn stamp(&mut self, t: Tai64n) -> &[u8; 26] {
        if t.secs != self.secs {
            self.secs = t.secs;
            for i in 0..16 {
                self.label[1 + i] = HEX[((t.secs >> (60 - 4 * i)) & 15) as usize];
            }
        }
        for i in 0..8 {
            self.label[17 + i] = HEX[((t.nanos >> (28 - 4 * i)) & 15) as usize];
        }
        &self.label
    }
}

/// Stamps `data` into `out`; `at_start` says whether a line begins here.
fn stamp_chunk(
    data: &[u8],
    at_start: &mut bool,
    out: &mut Vec<u8>,
    st: &mut Stamper,
    now: &mut impl FnMut() -> Tai64n,
) {
    let mut rest = data;
    // Every line start in this chunk was read by the same read(2): one
    // clock reading serves them all (the clock costs more than a line).
    let t = now();
    while !rest.is_empty() {
        if *at_start {
            out.extend_from_slice(st.stamp(t));
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                out.extend_from_slice(&rest[..=i]);
                rest = &rest[i + 1..];
                *at_start = true;
            }
            None => {
                out.extend_from_slice(rest);
                rest = &[];
                *at_start = false;
            }
        }
    }
}

fn write_all(out: &[u8]) {
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let mut done = 0;
    while done < out.len() {
        match nix::unistd::write(fd, &out[done..]) {
            Ok(n) => done += n,
            Err(nix::Error::EINTR) => {}
            Err(_) => std::process::exit(svkit::exit::TEMP),
        }
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Puts a TAI64N label (@ and 24 hex digits) and a space before each line.",
    );
    // Other arguments are ignored, as djb's.
    // As djb's: a closed reader kills us with SIGPIPE (Rust ignores it).
    svkit::sys::restore_start_sigpipe();
    // A closed input or output is an error (111), not /dev/null.
    svkit::sys::restore_start_stdio();
    let mut buf = vec![0u8; 128 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(buf.len() * 2);
    let mut at_start = true;
    let mut st = Stamper::new();
    let mut now = Tai64n::now;
    loop {
        let n = match nix::unistd::read(0, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(_) => std::process::exit(svkit::exit::TEMP),
        };
        stamp_chunk(&buf[..n], &mut at_start, &mut out, &mut st, &mut now);
        write_all(&out);
        out.clear();
    }
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_each_line_once() {
        let mut st = Stamper::new();
        let t = Tai64n {
            secs: svkit::tai64n::UNIX_EPOCH_LABEL + 1_000_000_000,
            nanos: 1,
        };
        let mut now = || t;
        let mut out = Vec::new();
        let mut at = true;
        stamp_chunk(b"a\nb", &mut at, &mut out, &mut st, &mut now);
        stamp_chunk(b"c\n\nd", &mut at, &mut out, &mut st, &mut now);
        let l = "@400000003b9aca0a00000001 ";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{l}a\n{l}bc\n{l}\n{l}d")
        );
        assert_eq!(&st.stamp(t)[..25], &t.hex_label());
    }
}
