//! Account lookup for setuidgid and envuidgid: `/etc/passwd` read
//! directly, then `getent passwd NAME` for names it lacks, so LDAP, SSSD
//! and systemd-userdb accounts resolve as with the C library's
//! `getpwnam` — which a static glibc binary cannot call safely (its NSS
//! modules are loaded at run time and crash on unknown names).

use std::process::{Command, Stdio};

pub const PASSWD: &str = "/etc/passwd";
const GETENT: [&str; 2] = ["/usr/bin/getent", "/bin/getent"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// The account in a passwd(5) line, if the line is for `name`. Lines
/// starting `+` or `-` (NIS compat) name nobody here.
pub fn parse_line(line: &[u8], name: &[u8]) -> Option<Account> {
    let mut f = line.split(|&c| c == b':');
    if f.next()? != name || name.is_empty() {
        return None;
    }
    let _password = f.next()?;
    let uid = std::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    let gid = std::str::from_utf8(f.next()?)
        .ok()?
        .trim_end()
        .parse()
        .ok()?;
    Some(Account { uid, gid })
}

/// The first line for `name` in passwd(5) text.
pub fn find_in(text: &[u8], name: &[u8]) -> Option<Account> {
    text.split(|&c| c == b'\n')
        .find_map(|l| parse_line(l, name))
}

/// `name`'s uid and gid: `/etc/passwd` first, then `getent passwd`;
/// None when neither knows the name (an unreadable `/etc/passwd` is left
/// to getent, as getpwnam would go on to the next NSS source).
pub fn lookup(name: &[u8]) -> Option<Account> {
    if let Ok(text) = std::fs::read(PASSWD) {
        if let Some(a) = find_in(&text, name) {
            return Some(a);
        }
    }
    via_getent(name)
}

/// Asks the C library's NSS through getent(1), a dynamically linked
/// program; None when it is missing or says the name is unknown.
fn via_getent(name: &[u8]) -> Option<Account> {
    use std::os::unix::ffi::OsStrExt;
    // A name getent would read as an option or a number is no account name.
    if name.is_empty() || name[0] == b'-' || name.contains(&b':') {
        return None;
    }
    // An absolute path: setuidgid runs as root, PATH is the caller's.
    let getent = GETENT.iter().find(|p| std::path::Path::new(p).exists())?;
    let out = Command::new(getent)
        .arg("passwd")
        .arg("--")
        .arg(std::ffi::OsStr::from_bytes(name))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // getent also answers a numeric uid; only an exact name match counts.
    find_in(&out.stdout, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = b"root:x:0:0:root:/root:/bin/bash\n+nis\napp:x:1001:1002::/home/app:/bin/sh\n";
        assert_eq!(find_in(t, b"root"), Some(Account { uid: 0, gid: 0 }));
        assert_eq!(
            find_in(t, b"app"),
            Some(Account {
                uid: 1001,
                gid: 1002
            })
        );
        assert_eq!(find_in(t, b"+nis"), None);
        assert_eq!(find_in(t, b"nobody"), None);
        assert_eq!(find_in(t, b""), None);
        assert_eq!(find_in(b"bad:x:z:0:::\n", b"bad"), None);
    }
}
