//! Account lookup for setuidgid and envuidgid: `/etc/passwd` read
//! directly, then `getent passwd NAME` for names it lacks, so LDAP, SSSD
//! and systemd-userdb accounts resolve as with the C library's
//! `getpwnam` — which a static glibc binary cannot call safely (its NSS
//! modules are loaded at run time and crash on unknown names). When
//! nsswitch.conf puts another source before `files`, getent goes first.

use std::path::Path;
use std::process::{Command, Stdio};

pub const PASSWD: &str = "/etc/passwd";
pub const NSSWITCH: &str = "/etc/nsswitch.conf";
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
    lookup_in(name, Path::new(PASSWD), Path::new(NSSWITCH), &GETENT)
}

/// `lookup`, or `PROG: fatal: unknown account NAME` and exit 111, as
/// setuidgid and envuidgid say it.
pub fn lookup_or_exit(prog: &str, name: &std::ffi::OsStr) -> Account {
    use std::os::unix::ffi::OsStrExt;
    match lookup(name.as_bytes()) {
        Some(a) => a,
        None => crate::exit::fatal(prog, &format!("unknown account {}", name.to_string_lossy())),
    }
}

/// `lookup` with the files and getent candidates given.
fn lookup_in(name: &[u8], passwd: &Path, nsswitch: &Path, getent: &[&str]) -> Option<Account> {
    let files = || {
        std::fs::read(passwd)
            .ok()
            .and_then(|text| find_in(&text, name))
    };
    let nss = std::fs::read(nsswitch).unwrap_or_default();
    if files_first(&nss) {
        files().or_else(|| via_getent(name, getent))
    } else {
        via_getent(name, getent).or_else(files)
    }
}

/// Whether nsswitch.conf's `passwd:` line starts with `files` (or
/// `compat`); true without such a line, glibc's default being `files`.
pub fn files_first(nsswitch: &[u8]) -> bool {
    for line in nsswitch.split(|&c| c == b'\n') {
        let line = line.split(|&c| c == b'#').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let Some(rest) = text.trim_start().strip_prefix("passwd:") else {
            continue;
        };
        return match rest.split_whitespace().next() {
            Some(first) => first == "files" || first == "compat",
            None => true,
        };
    }
    true
}

/// Asks the C library's NSS through getent(1), a dynamically linked
/// program; None when it is missing or says the name is unknown.
fn via_getent(name: &[u8], candidates: &[&str]) -> Option<Account> {
    use std::os::unix::ffi::OsStrExt;
    // A name getent would read as an option or a number is no account name.
    if name.is_empty() || name[0] == b'-' || name.contains(&b':') {
        return None;
    }
    // An absolute path: setuidgid runs as root, PATH is the caller's.
    let getent = candidates.iter().find(|p| Path::new(p).exists())?;
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
    fn getent_for_names_files_lack_and_first_when_nsswitch_says() {
        use std::os::unix::fs::PermissionsExt;
        let t = std::env::temp_dir().join(format!("svkit-account-{}", std::process::id()));
        std::fs::create_dir_all(&t).unwrap();
        let (passwd, nss, getent) = (t.join("passwd"), t.join("nsswitch"), t.join("getent"));
        std::fs::write(&passwd, "app:x:10:11::/:/bin/sh\nboth:x:1:1::/:/bin/sh\n").unwrap();
        std::fs::write(
            &getent,
            "#!/bin/sh\n[ \"$1 $2\" = \"passwd --\" ] || exit 1\n\
             case $3 in ldap) echo 'ldap:*:5000:5001::/:/bin/sh' ;; both) echo 'both:*:7:7::/:/bin/sh' ;;\n\
             500) echo 'x:*:500:500::/:/bin/sh' ;; *) exit 2 ;; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&getent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let g = getent.to_str().unwrap();
        let look = |n: &str| lookup_in(n.as_bytes(), &passwd, &nss, &[g]);
        std::fs::write(&nss, "passwd: files ldap\n").unwrap();
        assert_eq!(look("app"), Some(Account { uid: 10, gid: 11 }));
        assert_eq!(
            look("ldap"),
            Some(Account {
                uid: 5000,
                gid: 5001
            })
        );
        assert_eq!(look("both"), Some(Account { uid: 1, gid: 1 }));
        assert_eq!(look("nobody-here"), None);
        assert_eq!(look("500"), None, "a uid is no name");
        assert_eq!(look("-x"), None);
        std::fs::write(&nss, "passwd: ldap files\n").unwrap();
        assert_eq!(look("both"), Some(Account { uid: 7, gid: 7 }));
        assert_eq!(look("app"), Some(Account { uid: 10, gid: 11 }));
        assert_eq!(
            lookup_in(b"ldap", &passwd, &nss, &["/nonexistent/getent"]),
            None
        );
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn nsswitch_order() {
        assert!(files_first(b"passwd:         files systemd\n"));
        assert!(files_first(b"# passwd: ldap\ngroup: ldap files\n"));
        assert!(files_first(b"passwd: compat\n"));
        assert!(!files_first(b"passwd: sss files\n"));
        assert!(!files_first(b"passwd:ldap [NOTFOUND=return] files\n"));
        assert!(files_first(b""));
    }

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
