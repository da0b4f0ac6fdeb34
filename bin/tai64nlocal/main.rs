//! tai64nlocal: converts TAI64N labels at the start of lines to local
//! time; every other byte passes through unchanged.

use std::io::{self, Read, Write};
use svkit::tai64nlocal::{convert_head, LocalTime, DECIDE_LEN};

const PROG: &str = "tai64nlocal";

fn localtime(secs: i64) -> Option<LocalTime> {
    let (year, month, day, hour, minute, second) = svkit::sys::localtime(secs)?;
    Some(LocalTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

/// Streaming converter: holds back at most DECIDE_LEN bytes at a line
/// start, so lines of any length pass in constant memory.
struct Converter {
    at_start: bool,
    pending: Vec<u8>,
    out: Vec<u8>,
}

impl Converter {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.at_start {
                let want = DECIDE_LEN - self.pending.len();
                let nl = memchr::memchr(b'\n', &data[..want.min(data.len())]);
                let take = nl.map_or(want.min(data.len()), |i| i + 1);
                self.pending.extend_from_slice(&data[..take]);
                data = &data[take..];
                if nl.is_some() || self.pending.len() == DECIDE_LEN {
                    self.decide();
                    self.at_start = nl.is_some();
                }
                continue;
            }
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.out.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    self.at_start = true;
                }
                None => {
                    self.out.extend_from_slice(data);
                    data = &[];
                }
            }
        }
    }

    fn decide(&mut self) {
        let used = convert_head(&self.pending, localtime, &mut self.out);
        self.out.extend_from_slice(&self.pending[used..]);
        self.pending.clear();
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.decide();
        }
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        "< input > output",
        "Converts TAI64N labels (@ and 24 hex digits) at the start of lines into\n\
         local time, YYYY-MM-DD HH:MM:SS.NNNNNNNNN; everything else passes through.",
    );
    if std::env::args_os().len() > 1 {
        svkit::exit::usage(PROG, "< input > output");
    }
    let mut input = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut c = Converter {
        at_start: true,
        pending: Vec::with_capacity(DECIDE_LEN),
        out: Vec::with_capacity(buf.len() + 1024),
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => svkit::exit::fatal(
                PROG,
                &format!("unable to read input: {}", svkit::errstr::text(&e)),
            ),
        };
        c.feed(&buf[..n]);
        // Written before the next read blocks, so `tail -f | tai64nlocal`
        // shows each line at once.
        write_out(&mut stdout, &mut c.out);
    }
    c.finish();
    write_out(&mut stdout, &mut c.out);
}

fn write_out(stdout: &mut io::StdoutLock<'_>, out: &mut Vec<u8>) {
    if let Err(e) = stdout.write_all(out).and_then(|_| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        svkit::exit::fatal(
            PROG,
            &format!("unable to write output: {}", svkit::errstr::text(&e)),
        );
    }
    out.clear();
}
