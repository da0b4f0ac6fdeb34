//! The booster's instance registry: one line per live instance,
//! `pid starttime argv0`, argv0 escaped (`\\`, `\s`, `\n`) so a line is
//! always three space-separated fields. Pure format functions; the booster
//! writes the file atomically, booster-drain reads it.

use crate::procsig::ProcSig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sig: ProcSig,
    pub argv0: Vec<u8>,
}

/// Escapes backslash, space and newline.
pub fn escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b' ' => out.extend_from_slice(b"\\s"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out
}

/// Reverses [`escape`]; `None` on a dangling or unknown escape.
pub fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match it.next()? {
            b'\\' => b'\\',
            b's' => b' ',
            b'n' => b'\n',
            _ => return None,
        });
    }
    Some(out)
}

/// The file's bytes for `entries` (empty when there are none).
pub fn format(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(format!("{} {} ", e.sig.pid, e.sig.start).as_bytes());
        out.extend_from_slice(&escape(&e.argv0));
        out.push(b'\n');
    }
    out
}

/// Parses a registry; the error names the first bad line (1-based).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || format!("malformed line {}", i + 1);
        let mut f = line.splitn(3, |&b| b == b' ');
        let num = |x: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(x?).ok()?.parse().ok() };
        let pid = num(f.next()).filter(|&p| p > 0 && p <= u64::from(u32::MAX));
        let start = num(f.next());
        let argv0 = f.next().and_then(unescape);
        match (pid, start, argv0) {
            (Some(pid), Some(start), Some(argv0)) => out.push(Entry {
                sig: ProcSig {
                    pid: pid as u32,
                    start,
                },
                argv0,
            }),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pid: u32, start: u64, a: &[u8]) -> Entry {
        Entry {
            sig: ProcSig { pid, start },
            argv0: a.to_vec(),
        }
    }

    #[test]
    fn golden() {
        let list = [e(12, 345, b"/bin/sleep"), e(7, 9, b"a b\\c\nd")];
        let bytes = format(&list);
        assert_eq!(bytes, b"12 345 /bin/sleep\n7 9 a\\sb\\\\c\\nd\n");
        assert_eq!(parse(&bytes).unwrap(), list);
        assert_eq!(format(&[]), b"");
        assert_eq!(parse(b"").unwrap(), vec![]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse(b"x 1 a\n").is_err());
        assert!(parse(b"1 y a\n").is_err());
        assert!(parse(b"1 2\n").is_err());
        assert!(parse(b"0 2 a\n").is_err());
        assert!(parse(b"1 2 a\\q\n").is_err());
        assert!(parse(b"1 2 a\\\n").is_err());
        assert_eq!(parse(b"3 4 \n").unwrap(), vec![e(3, 4, b"")]);
    }
}
