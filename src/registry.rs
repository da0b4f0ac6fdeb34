//! The booster's instance registry: one line per live instance,
//! `pid starttime argv0 bootid` (version 2), argv0 escaped (`\\`, `\s`,
//! `\n`) so fields never hold a space; bootid is
//! `/proc/sys/kernel/random/boot_id` as written there. Version 1 lines
//! (`pid starttime argv0`, no boot id) are still read. A version 1 reader
//! takes a version 2 line's `argv0 bootid` for its argv0, which it only
//! prints: old and new booster-drain and booster read both versions.
//! [`format`] and [`parse`] are pure; [`load`] reads a file and keeps the
//! entries of this boot.

use crate::procsig::ProcSig;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sig: ProcSig,
    pub argv0: Vec<u8>,
    /// The boot the signature was taken in (None: a version 1 line).
    pub boot: Option<[u8; 16]>,
}

impl Entry {
    /// An entry for a process of this boot.
    pub fn here(sig: ProcSig, argv0: &[u8]) -> Entry {
        Entry {
            sig,
            argv0: argv0.to_vec(),
            boot: crate::procsig::boot_id().ok(),
        }
    }
}

/// The boot id as `/proc/sys/kernel/random/boot_id` writes it.
pub fn boot_text(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
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
        if let Some(b) = &e.boot {
            out.push(b' ');
            out.extend_from_slice(boot_text(b).as_bytes());
        }
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
        let f: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let num = |x: &[u8]| -> Option<u64> { std::str::from_utf8(x).ok()?.parse().ok() };
        let boot = match f.len() {
            3 => None,
            4 => {
                let t = std::str::from_utf8(f[3]).map_err(|_| bad())?;
                Some(crate::procsig::parse_boot_id(t).ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        let pid = num(f[0]).filter(|&p| p > 0 && p <= u64::from(u32::MAX));
        let start = num(f[1]);
        let argv0 = unescape(f[2]);
        match (pid, start, argv0) {
            (Some(pid), Some(start), Some(argv0)) => out.push(Entry {
                sig: ProcSig {
                    pid: pid as u32,
                    start,
                },
                argv0,
                boot,
            }),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Reads the registry at `path` and keeps the entries of this boot: a
/// version 2 entry when its boot id is this boot's; a version 1 entry
/// (no boot id) when the file was last written after this boot began.
/// When this boot's id cannot be read, every entry is kept (pid and start
/// time still have to match). The error is for `unable to read PATH: …`.
pub fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let bytes = std::fs::read(path).map_err(|e| crate::errstr::text(&e))?;
    let entries = parse(&bytes)?;
    let Ok(now) = crate::procsig::boot_id() else {
        return Ok(entries);
    };
    let fresh = written_this_boot(path);
    Ok(entries
        .into_iter()
        .filter(|e| e.boot.map_or(fresh, |b| b == now))
        .collect())
}

/// The file's mtime is after this boot's start (`btime` in /proc/stat);
/// true when either cannot be read.
fn written_this_boot(path: &Path) -> bool {
    let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    match (btime, mtime) {
        (Some(b), Some(m)) => m.as_secs() >= b,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pid: u32, start: u64, a: &[u8]) -> Entry {
        Entry {
            sig: ProcSig { pid, start },
            argv0: a.to_vec(),
            boot: None,
        }
    }

    #[test]
    fn golden_v2_with_boot_id() {
        let id = crate::procsig::parse_boot_id("0123abcd-4567-89ef-0011-223344556677").unwrap();
        assert_eq!(boot_text(&id), "0123abcd-4567-89ef-0011-223344556677");
        let mut x = e(12, 345, b"a b");
        x.boot = Some(id);
        let bytes = format(&[x.clone(), e(7, 9, b"v1")]);
        assert_eq!(
            bytes,
            b"12 345 a\\sb 0123abcd-4567-89ef-0011-223344556677\n7 9 v1\n"
        );
        assert_eq!(parse(&bytes).unwrap(), vec![x, e(7, 9, b"v1")]);
        assert!(parse(b"1 2 a not-a-uuid\n").is_err());
        assert!(parse(b"1 2 a 0123abcd-4567-89ef-0011-223344556677 x\n").is_err());
        let here = Entry::here(ProcSig { pid: 1, start: 2 }, b"x");
        assert_eq!(here.boot, crate::procsig::boot_id().ok());
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
