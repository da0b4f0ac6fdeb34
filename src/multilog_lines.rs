//! multilog's line engine: splits input into lines, applies the script's
//! actions and hands bytes to sinks. Pure (the sinks do the I/O), so the
//! fuzz targets and unit tests drive it with memory sinks.
//!
//! A line's first `HEAD` bytes (timestamp included) decide its selection,
//! as in daemontools; the rest streams to the directories chosen then.

use crate::multilog_script::{pattern_match, Action, Script, ALERT, HEAD, STATUS_LEN};

/// Where the engine's output goes.
pub trait Sinks {
    /// Bytes for directory `dir`; a newline, if any, is the last byte.
    fn dir_put(&mut self, dir: usize, data: &[u8]);
    /// One `e` line, newline included.
    fn alert(&mut self, text: &[u8]);
    /// The `=` file `idx` gets `record` (exactly STATUS_LEN bytes).
    fn status(&mut self, idx: usize, record: &[u8]);
}

pub struct Engine {
    actions: Vec<Action>,
    ndirs: usize,
    dirs_only: bool,
    line_max: usize,
    stamp: Vec<u8>,
    in_line: bool,
    decided: bool,
    /// Raw input bytes of the current line so far (for `line_max`).
    raw_len: usize,
    head: Vec<u8>,
    selected: Vec<bool>,
    scratch: Vec<u8>,
}

impl Engine {
    pub fn new(script: &Script) -> Engine {
        Engine {
            actions: script.actions.clone(),
            ndirs: script.dirs.len(),
            dirs_only: script.dirs_only(),
            line_max: script.line_max,
            stamp: Vec::with_capacity(64),
            in_line: false,
            decided: false,
            raw_len: 0,
            head: Vec::with_capacity(HEAD),
            selected: vec![true; script.dirs.len()],
            scratch: Vec::with_capacity(STATUS_LEN),
        }
    }

    /// The prefix for lines that start from now on (timestamps, or empty).
    pub fn set_stamp(&mut self, prefix: &[u8]) {
        self.stamp.clear();
        self.stamp.extend_from_slice(prefix);
    }

    /// True while a line has started but its newline has not been seen.
    pub fn in_line(&self) -> bool {
        self.in_line
    }

    /// Processes `data`; a partial last line is continued by the next call.
    pub fn feed<S: Sinks>(&mut self, mut data: &[u8], sinks: &mut S) {
        while !data.is_empty() {
            if !self.in_line {
                self.start_line(sinks);
            }
            let room = if self.line_max > 0 {
                self.line_max - self.raw_len
            } else {
                usize::MAX
            };
            // One byte past the cap, so a newline right at the cap ends the
            // line for real instead of leaving an empty line behind.
            let window = &data[..data.len().min(room.saturating_add(1))];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    self.piece(&data[..=i], true, sinks);
                    data = &data[i + 1..];
                }
                None if window.len() > room => {
                    // Line cap reached: end the line here, as if a newline
                    // had been read.
                    self.piece(&data[..room], false, sinks);
                    self.end_virtual(sinks);
                    data = &data[room..];
                }
                None => {
                    self.raw_len += window.len();
                    self.piece(window, false, sinks);
                    data = &[];
                }
            }
        }
    }

    /// End of input: a partial last line gets its newline.
    pub fn finish<S: Sinks>(&mut self, sinks: &mut S) {
        if self.in_line {
            self.end_virtual(sinks);
        }
    }

    fn start_line<S: Sinks>(&mut self, sinks: &mut S) {
        self.in_line = true;
        self.raw_len = 0;
        if self.dirs_only {
            self.decided = true;
            if !self.stamp.is_empty() {
                for d in 0..self.ndirs {
                    sinks.dir_put(d, &self.stamp);
                }
            }
        } else {
            self.decided = false;
            self.head.clear();
            self.head.extend_from_slice(&self.stamp);
        }
    }

    /// `p` is part of the current line; `nl` says it ends with its newline.
    fn piece<S: Sinks>(&mut self, mut p: &[u8], nl: bool, sinks: &mut S) {
        if !self.decided {
            let body = if nl { &p[..p.len() - 1] } else { p };
            let take = body.len().min(HEAD.saturating_sub(self.head.len()));
            self.head.extend_from_slice(&body[..take]);
            p = &p[take..];
            let complete = nl && p.len() == 1;
            if self.head.len() < HEAD && !complete {
                return;
            }
            self.decide(sinks);
            for d in 0..self.ndirs {
                if self.selected[d] {
                    sinks.dir_put(d, &self.head);
                }
            }
        }
        if !p.is_empty() {
            for d in 0..self.ndirs {
                if self.selected[d] {
                    sinks.dir_put(d, p);
                }
            }
        }
        if nl {
            self.in_line = false;
        }
    }

    fn end_virtual<S: Sinks>(&mut self, sinks: &mut S) {
        if !self.decided {
            self.decide(sinks);
            for d in 0..self.ndirs {
                if self.selected[d] {
                    sinks.dir_put(d, &self.head);
                }
            }
        }
        for d in 0..self.ndirs {
            if self.selected[d] {
                sinks.dir_put(d, b"\n");
            }
        }
        self.in_line = false;
    }

    /// Runs the actions on the head, in script order.
    fn decide<S: Sinks>(&mut self, sinks: &mut S) {
        self.decided = true;
        let mut sel = true;
        for a in &self.actions {
            match a {
                Action::Select { select, pattern }
                    if sel != *select && pattern_match(pattern, &self.head) =>
                {
                    sel = *select;
                }
                Action::Alert if sel => {
                    self.scratch.clear();
                    let n = self.head.len().min(ALERT);
                    self.scratch.extend_from_slice(&self.head[..n]);
                    if self.head.len() > ALERT {
                        self.scratch.extend_from_slice(b"...");
                    }
                    self.scratch.push(b'\n');
                    sinks.alert(&self.scratch);
                }
                Action::Status(i) if sel => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&self.head);
                    self.scratch.resize(STATUS_LEN, b'\n');
                    sinks.status(*i, &self.scratch);
                }
                Action::Dir(d) => self.selected[*d] = sel,
                _ => {}
            }
        }
    }
}

/// Memory sinks, for tests and fuzzing.
#[derive(Default, Debug)]
pub struct MemSinks {
    pub dirs: Vec<Vec<u8>>,
    pub alerts: Vec<u8>,
    pub statuses: Vec<Vec<u8>>,
}

impl MemSinks {
    pub fn for_script(s: &Script) -> MemSinks {
        MemSinks {
            dirs: vec![Vec::new(); s.dirs.len()],
            alerts: Vec::new(),
            statuses: vec![Vec::new(); s.statuses.len()],
        }
    }
}

impl Sinks for MemSinks {
    fn dir_put(&mut self, dir: usize, data: &[u8]) {
        self.dirs[dir].extend_from_slice(data);
    }
    fn alert(&mut self, text: &[u8]) {
        self.alerts.extend_from_slice(text);
    }
    fn status(&mut self, idx: usize, record: &[u8]) {
        self.statuses[idx] = record.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multilog_script::parse;

    fn run(args: &[&str], input: &[u8], chunk: usize) -> MemSinks {
        let s = parse(args).unwrap();
        let mut e = Engine::new(&s);
        let mut m = MemSinks::for_script(&s);
        for c in input.chunks(chunk.max(1)) {
            e.feed(c, &mut m);
        }
        e.finish(&mut m);
        m
    }

    #[test]
    fn selection_and_outputs() {
        let input = b"hello\nSTAT one\nfoo\nSTAT two\n";
        for chunk in [1, 3, 100] {
            let m = run(&["-*", "+STAT*", "=st", "e", "./a"], input, chunk);
            assert_eq!(m.dirs[0], b"STAT one\nSTAT two\n");
            assert_eq!(m.alerts, b"STAT one\nSTAT two\n");
            assert_eq!(m.statuses[0].len(), STATUS_LEN);
            assert!(m.statuses[0].starts_with(b"STAT two\n\n"));
        }
    }

    #[test]
    fn long_lines_stream_and_alert_cut() {
        let mut input = vec![b'x'; 5000];
        input.push(b'\n');
        input.extend_from_slice(b"tail");
        for chunk in [1, 999, 1000, 1001, 7000] {
            let m = run(&["e", "=s", "./a"], &input, chunk);
            let mut want = input.clone();
            want.push(b'\n');
            assert_eq!(m.dirs[0], want);
            assert_eq!(m.alerts.len(), 204 + 5);
            assert!(m.alerts.starts_with(&[b'x'; 200]));
            assert_eq!(&m.alerts[200..204], b"...\n");
            assert_eq!(&m.statuses[0][..4], b"tail");
        }
        // Selection by the first 1000 bytes only.
        let mut l = vec![b'a'; 1500];
        l.extend_from_slice(b"END\n");
        let m = run(&["-*", "+*END", "./a"], &l, 64);
        assert!(m.dirs[0].is_empty());
        let m = run(&["-*", "+a*", "./a"], &l, 64);
        assert_eq!(m.dirs[0], l);
    }

    #[test]
    fn stamps_and_cap() {
        let s = parse(&["t", "l4", "./a"]).unwrap();
        let mut e = Engine::new(&s);
        let mut m = MemSinks::for_script(&s);
        e.set_stamp(b"@X ");
        e.feed(b"abcdefgh\nij", &mut m);
        e.finish(&mut m);
        assert_eq!(m.dirs[0], b"@X abcd\n@X efgh\n@X ij\n");
    }

    #[test]
    fn nul_and_binary_pass_through() {
        let input: Vec<u8> = (0..=255u8).chain([b'\n']).collect();
        let m = run(&["./a"], &input, 17);
        assert_eq!(m.dirs[0], input);
    }
}
