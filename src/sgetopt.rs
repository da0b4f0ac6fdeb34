//! djb's `sgetopt`: single-letter options, bundled (`-nx`), an argument
//! either glued (`-m100`) or next (`-m 100`); options end at the first
//! word not starting with `-`, at `-` alone (kept) or at `--` (dropped).
//! A problem reads `PROG: illegal option -- c` or `PROG: option requires
//! an argument -- c` on stderr, PROG being argv[0]'s last component.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Illegal(u8),
    NeedsArg(u8),
}

/// Walks the options of `args` (args[0] is the program) in order.
pub struct Getopt<'a> {
    args: &'a [OsString],
    spec: &'a [u8],
    ind: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    /// `spec` as getopt's: letters, each followed by `:` if it takes an argument.
    pub fn new(args: &'a [OsString], spec: &'a str) -> Getopt<'a> {
        Getopt {
            args,
            spec: spec.as_bytes(),
            ind: 1,
            pos: 0,
        }
    }

    /// Index of the first operand once `next` returned None.
    pub fn rest(&self) -> usize {
        self.ind.min(self.args.len())
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let mut i = 0;
        while i < self.spec.len() {
            let letter = self.spec[i];
            let arg = self.spec.get(i + 1) == Some(&b':');
            if letter == c && c != b':' {
                return Some(arg);
            }
            i += if arg { 2 } else { 1 };
        }
        None
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Result<(u8, Option<&'a OsStr>), Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        let args: &'a [OsString] = self.args;
        let word = args.get(self.ind)?.as_bytes();
        if self.pos == 0 {
            match word {
                [b'-', b'-', ..] if word.len() == 2 => {
                    self.ind += 1;
                    return None;
                }
                [b'-', _, ..] => self.pos = 1,
                _ => return None,
            }
        }
        let c = word[self.pos];
        self.pos += 1;
        let at_end = self.pos >= word.len();
        let Some(arg) = self.takes_arg(c) else {
            // Step past it, so iterating on cannot read out of the word.
            if at_end {
                self.ind += 1;
                self.pos = 0;
            }
            return Some(Err(Problem::Illegal(c)));
        };
        if !arg {
            if at_end {
                self.ind += 1;
                self.pos = 0;
            }
            return Some(Ok((c, None)));
        }
        let word_os: &'a OsStr = args[self.ind].as_os_str();
        let glued_at = self.pos;
        self.ind += 1;
        self.pos = 0;
        if !at_end {
            return Some(Ok((
                c,
                Some(OsStr::from_bytes(&word_os.as_bytes()[glued_at..])),
            )));
        }
        match self.args.get(self.ind) {
            Some(a) => {
                self.ind += 1;
                Some(Ok((c, Some(a.as_os_str()))))
            }
            None => Some(Err(Problem::NeedsArg(c))),
        }
    }
}

/// Prints the problem as djb's getopt does.
pub fn complain(args: &[OsString], p: &Problem) {
    let prog = args
        .first()
        .map(|a| a.as_bytes())
        .map(|a| a.rsplit(|&c| c == b'/').next().unwrap_or(a))
        .unwrap_or(b"");
    let (what, c) = match p {
        Problem::Illegal(c) => (&b": illegal option -- "[..], *c),
        Problem::NeedsArg(c) => (&b": option requires an argument -- "[..], *c),
    };
    let mut line = prog.to_vec();
    line.extend_from_slice(what);
    line.push(c);
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = Vec<Result<(u8, Option<String>), Problem>>;

    fn parse(v: &[&str], spec: &str) -> (Parsed, usize) {
        let args: Vec<OsString> = v.iter().map(OsString::from).collect();
        let mut g = Getopt::new(&args, spec);
        let mut out = Vec::new();
        for o in g.by_ref() {
            let bad = o.is_err();
            out.push(o.map(|(c, a)| (c, a.map(|a| a.to_string_lossy().into_owned()))));
            if bad {
                break;
            }
        }
        (out, g.rest())
    }

    #[test]
    fn bundles_glued_and_separate() {
        let (o, r) = parse(&["p", "-nx", "-m5", "-m", "7", "f", "-n"], "nxm:");
        assert_eq!(
            o,
            vec![
                Ok((b'n', None)),
                Ok((b'x', None)),
                Ok((b'm', Some("5".into()))),
                Ok((b'm', Some("7".into())))
            ]
        );
        assert_eq!(r, 5);
    }

    #[test]
    fn dash_dash_and_dash() {
        assert_eq!(parse(&["p", "--", "-n"], "n").1, 2);
        assert_eq!(parse(&["p", "-", "x"], "n").1, 1);
        assert_eq!(parse(&["p"], "n").1, 1);
    }

    /// Random command lines from a small alphabet never panic, whatever
    /// the caller does after a problem.
    #[test]
    fn random_command_lines() {
        let mut seed: u64 = 0x5eed;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let alphabet = [b'-', b'n', b'm', b':', b'x', b'='];
        for _ in 0..20000 {
            let words: Vec<OsString> = (0..next() % 5)
                .map(|_| {
                    let w: Vec<u8> = (0..next() % 5)
                        .map(|_| alphabet[next() % alphabet.len()])
                        .collect();
                    OsString::from(String::from_utf8(w).unwrap())
                })
                .collect();
            let mut args = vec![OsString::from("p")];
            args.extend(words);
            let mut g = Getopt::new(&args, "nm:");
            for _ in g.by_ref().take(64) {}
            assert!(g.rest() <= args.len());
        }
    }

    #[test]
    fn going_on_after_a_problem_is_safe() {
        let args: Vec<OsString> = ["p", "-qn", "-z", "x"].iter().map(OsString::from).collect();
        let got: Vec<_> = Getopt::new(&args, "n").collect();
        assert_eq!(
            got,
            vec![
                Err(Problem::Illegal(b'q')),
                Ok((b'n', None)),
                Err(Problem::Illegal(b'z'))
            ]
        );
    }

    #[test]
    fn problems() {
        assert_eq!(
            parse(&["p", "-q"], "n").0,
            vec![Err(Problem::Illegal(b'q'))]
        );
        assert_eq!(
            parse(&["p", "-m"], "m:").0,
            vec![Err(Problem::NeedsArg(b'm'))]
        );
        assert_eq!(
            parse(&["p", "-:"], "m:").0,
            vec![Err(Problem::Illegal(b':'))]
        );
        assert_eq!(
            parse(&["p", "-m", ""], "m:").0,
            vec![Ok((b'm', Some(String::new())))]
        );
    }
}
