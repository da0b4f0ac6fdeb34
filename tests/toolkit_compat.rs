//! envdir, envuidgid, setuidgid, softlimit, setlock, pgrphack, fghack,
//! tai64n and readproctitle side by side with Debian's daemontools 0.76:
//! the same command lines in the same directories give the same exit
//! codes, messages, output and effects (environment, limits, locks,
//! process groups, the title `ps` shows). Skipped, with the reason
//! printed, where Debian's program is missing.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const ENV_PATH: &str = "/usr/bin:/bin";

/// Debian's `name`, or None after printing why the comparison is skipped.
fn theirs(test: &str, name: &str) -> Option<PathBuf> {
    let p = djb(name);
    if p.is_none() {
        eprintln!("{test}: skipped: Debian's {name} is not installed");
    }
    p
}

/// Runs `prog args` in `cwd` with a fixed small environment (plus `env`).
fn run_fixed(
    prog: &Path,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut c = Command::new(prog);
    c.current_dir(cwd)
        .args(args)
        .env_clear()
        .env("PATH", ENV_PATH)
        .env("HOME", "/h")
        .env("X", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

/// Asserts ours and djb's `name` agree on every case; returns false
/// (skipped) when djb's is missing.
fn same_all(test: &str, name: &str, cwd: &Path, cases: &[&[&str]]) -> bool {
    let Some(djb) = theirs(test, name) else {
        return false;
    };
    for args in cases {
        let a = run_fixed(&bin(name), cwd, args, &[]);
        let b = run_fixed(&djb, cwd, args, &[]);
        assert_eq!(a, b, "{name} {args:?}: ours (left) vs djb's (right)");
    }
    true
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::write(p, bytes).expect("write");
}

/// Copies an executable and waits until it can be run: a thread of this
/// test process forking while the copy was open for writing leaves a
/// child holding it (ETXTBSY) until that child execs.
fn copy_exe(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::copy(src, dst).expect("copy executable");
    let ready = poll_until(Duration::from_secs(10), || {
        let probe = Command::new(dst)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        !matches!(probe, Err(e) if e.raw_os_error() == Some(libc::ETXTBSY))
    });
    assert!(ready, "{} stayed busy", dst.display());
}

#[test]
fn envdir_matches_djb() {
    let s = Scratch::new("tk-envdir");
    let e = s.join("e");
    std::fs::create_dir(&e).unwrap();
    write(&e.join("A"), b"hello  \t \nsecond line\n");
    write(&e.join("HOME"), b"");
    write(&e.join("C"), b"x\0y  ");
    write(&e.join("D"), b"\n");
    write(&e.join(".hidden"), b"no\n");
    write(&e.join("E=F"), b"v");
    write(&e.join("T"), b" \t");
    write(&e.join("PATH"), b"/nonexistent");
    // A name with an empty file and an `=`: djb's sets it (name ends at `=`).
    write(&e.join("G=H"), b"");
    let sub = s.join("sub");
    std::fs::create_dir_all(sub.join("dir")).unwrap();
    let dangling = s.join("dangling");
    std::fs::create_dir(&dangling).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x", dangling.join("HOME")).unwrap();
    write_script(&s.join("noexec"), "");
    std::fs::set_permissions(s.join("noexec"), std::fs::Permissions::from_mode(0o644)).unwrap();
    // The child is found on the caller's PATH, not on the PATH envdir sets.
    same_all(
        "envdir_matches_djb",
        "envdir",
        &s.path,
        &[
            &["e", "env"],
            &["e", "/usr/bin/env"],
            &["dangling", "env"],
            &[],
            &["e"],
            &["missing", "true"],
            &["e/A", "true"],
            &["sub", "true"],
            &["e", "no-such-program"],
            &["e", "./noexec"],
            &["e", "/"],
        ],
    );
}

#[test]
fn envuidgid_matches_djb() {
    let s = Scratch::new("tk-envuidgid");
    same_all(
        "envuidgid_matches_djb",
        "envuidgid",
        &s.path,
        &[
            &["nobody", "env"],
            &["root", "sh", "-c", "echo $UID $GID"],
            &["no-such-account-x", "true"],
            &["nobody"],
            &[],
            &["nobody", "no-such-program"],
        ],
    );
}

#[test]
fn setuidgid_matches_djb() {
    let s = Scratch::new("tk-setuidgid");
    let mut cases: Vec<&[&str]> = vec![
        &["no-such-account-x", "true"],
        &["nobody"],
        &[],
        &["", "true"],
    ];
    if nix::unistd::geteuid().is_root() {
        cases.push(&["nobody", "sh", "-c", "id -u; id -g; id -G"]);
        cases.push(&["nobody", "no-such-program"]);
        cases.push(&[
            "daemon",
            "sh",
            "-c",
            "cat /proc/self/status | grep -E '^(Uid|Gid|Groups)'",
        ]);
    } else {
        eprintln!("setuidgid_matches_djb: uid changes not compared: not running as root");
    }
    if !same_all("setuidgid_matches_djb", "setuidgid", &s.path, &cases) {
        return;
    }
    // Not root: each program, run as nobody by itself, cannot change ids.
    if let (true, Some(djb)) = (nix::unistd::geteuid().is_root(), djb("setuidgid")) {
        let mine = bin("setuidgid");
        // Where nobody can reach it: our build tree may be closed to others.
        let copy = s.join("setuidgid-copy");
        copy_exe(&mine, &copy);
        std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let a = run_fixed(
            &mine,
            &s.path,
            &["nobody", copy.to_str().unwrap(), "root", "true"],
            &[],
        );
        let b = run_fixed(
            &djb,
            &s.path,
            &["nobody", djb.to_str().unwrap(), "root", "true"],
            &[],
        );
        assert_eq!(a, b, "setuidgid as nobody: ours (left) vs djb's (right)");
        assert_eq!(
            a.2,
            "setuidgid: fatal: unable to setgid: permission denied\n"
        );
    }
}

#[test]
fn softlimit_matches_djb() {
    let s = Scratch::new("tk-softlimit");
    let ulimit = ["sh", "-c", "ulimit -a"];
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["-m", "300000000"],
        vec!["-a", "300000000", "-l", "1000"],
        vec![
            "-t", "5", "-c", "0", "-f", "1000", "-p", "50", "-r", "1000000",
        ],
        vec!["-s", "800000", "-d", "9000000", "-o", "64"],
        vec!["-o5", "-c="],
        vec!["-o", "=", "-c", "="],
        vec!["-c", ""],
        vec!["--", "-m"],
    ];
    for c in &mut cases {
        if c != &["--", "-m"] {
            c.extend(ulimit);
        }
    }
    let errors: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-x"],
        vec!["-x", "true"],
        vec!["-m"],
        vec!["-m", "5x", "true"],
        vec!["-m", "-1", "true"],
        vec!["-ao", "5", "true"],
        vec!["-o", "5"],
        vec!["--"],
        vec!["-"],
        vec!["no-such-program"],
        vec!["/"],
    ];
    cases.extend(errors);
    let refs: Vec<&[&str]> = cases.iter().map(|c| c.as_slice()).collect();
    same_all("softlimit_matches_djb", "softlimit", &s.path, &refs);
}

/// A number past 64 bits: djb's wraps around (an accident), ours means
/// the hard limit.
#[test]
fn softlimit_huge_number_is_the_hard_limit() {
    let s = Scratch::new("tk-softlimit-huge");
    let (code, out, err) = run_fixed(
        &bin("softlimit"),
        &s.path,
        &[
            "-o",
            "99999999999999999999999",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1], "soft limit is not the hard one: {out}");
}

#[test]
fn setlock_matches_djb() {
    let s = Scratch::new("tk-setlock");
    let fd3 = "readlink /proc/self/fd/3; echo ok";
    same_all(
        "setlock_matches_djb",
        "setlock",
        &s.path,
        &[
            &["f", "sh", "-c", fd3],
            &["-n", "f", "sh", "-c", fd3],
            &["-nNxX", "f", "sh", "-c", fd3],
            &[],
            &["f"],
            &["-q", "f", "true"],
            &["-n"],
            &["missing/f", "true"],
            &["-x", "missing/f", "true"],
            &["-nx", "missing/f", "true"],
            &["-xX", "missing/f", "true"],
            &["f", "no-such-program"],
            &["--", "f", "true"],
        ],
    );
    // The lock file as djb's leaves it: created 0600, empty.
    let m = std::fs::metadata(s.join("f")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(m.len(), 0);
}

/// With the lock held, `-n` fails at once ("temporary failure"), `-nx`
/// exits 0, and without `-n` both wait.
#[test]
fn setlock_held_lock_matches_djb() {
    let Some(djb) = theirs("setlock_held_lock_matches_djb", "setlock") else {
        return;
    };
    let s = Scratch::new("tk-setlock-held");
    let mut g = Guard::new();
    let holder = g.spawn(
        Command::new(bin("setlock"))
            .current_dir(&s.path)
            .args(["f", "sleep", "30"])
            .stdin(Stdio::null()),
    );
    assert!(
        poll_until(Duration::from_secs(5), || {
            let (code, _, _) = run_fixed(&djb, &s.path, &["-nx", "f", "false"], &[]);
            code == 0
        }),
        "holder {holder} never took the lock"
    );
    for args in [
        &["-n", "f", "true"][..],
        &["-nx", "f", "true"],
        &["-nX", "f", "true"],
    ] {
        let a = run_fixed(&bin("setlock"), &s.path, args, &[]);
        let b = run_fixed(&djb, &s.path, args, &[]);
        assert_eq!(a, b, "setlock {args:?}");
    }
    let (code, _, err) = run_fixed(&bin("setlock"), &s.path, &["-n", "f", "true"], &[]);
    assert_eq!(
        (code, err.as_str()),
        (111, "setlock: fatal: unable to lock f: temporary failure\n")
    );
    // Blocking: neither finishes while the lock is held.
    for prog in [bin("setlock"), djb.clone()] {
        let pid = g.spawn(
            Command::new(&prog)
                .current_dir(&s.path)
                .args(["f", "true"])
                .stdin(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(300));
        let waiting = g.child(pid).map(|c| matches!(c.try_wait(), Ok(None)));
        assert_eq!(waiting, Some(true), "{} did not wait", prog.display());
    }
}

#[test]
fn pgrphack_matches_djb() {
    let s = Scratch::new("tk-pgrphack");
    // pid, process group and session of the child: all equal after setsid.
    let probe =
        "set -- $(cut -d' ' -f1,5,6 /proc/$$/stat); [ $1 = $2 ] && [ $2 = $3 ] && echo leader";
    same_all(
        "pgrphack_matches_djb",
        "pgrphack",
        &s.path,
        &[&["sh", "-c", probe], &[], &["no-such-program"], &["/"]],
    );
    let (_, out, _) = run_fixed(&bin("pgrphack"), &s.path, &["sh", "-c", probe], &[]);
    assert_eq!(out, "leader\n");
}

#[test]
fn fghack_matches_djb() {
    let s = Scratch::new("tk-fghack");
    same_all(
        "fghack_matches_djb",
        "fghack",
        &s.path,
        &[
            &["sh", "-c", "exit 7"],
            &["sh", "-c", "kill -9 $$"],
            // The background child holds the pipe: fghack waits for it.
            &[
                "sh",
                "-c",
                "(sleep 0.3; echo background done) & echo started; exit 3",
            ],
            &["sh", "-c", "echo $(ls /proc/self/fd | wc -l)"],
            &[],
            &["no-such-program"],
        ],
    );
}

/// (exit code, output with each label replaced by `@L`) and the labels.
fn split_labels(out: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(out);
    let mut labels = Vec::new();
    let mut rest = String::new();
    for line in text.split_inclusive('\n') {
        if line.len() >= 26 && line.as_bytes()[0] == b'@' && line.as_bytes()[25] == b' ' {
            labels.push(line[..25].to_string());
            rest.push_str("@L ");
            rest.push_str(&line[26..]);
        } else {
            rest.push_str(line);
        }
    }
    (rest, labels)
}

fn tai64n_on(prog: &Path, input: &[u8]) -> (i32, String, Vec<String>) {
    let out = run_with_input(
        Command::new(prog)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        input,
        Duration::from_secs(20),
    );
    let (text, labels) = split_labels(&out.stdout);
    (out.status.code().unwrap_or(-1), text, labels)
}

#[test]
fn tai64n_matches_djb() {
    let Some(djb) = theirs("tai64n_matches_djb", "tai64n") else {
        return;
    };
    let mut big = Vec::new();
    for i in 0..20000 {
        big.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes());
    }
    let long_line = vec![b'y'; 200_000];
    let inputs: Vec<&[u8]> = vec![
        b"",
        b"a\nb",
        b"\n\n\n",
        b"one\ntwo\n",
        b"nul\0inside\n\xff\xfe\n",
        &big,
        &long_line,
    ];
    let before = svkit::tai64n::Tai64n::now();
    for input in inputs {
        let (ca, ta, la) = tai64n_on(&bin("tai64n"), input);
        let (cb, tb, lb) = tai64n_on(&djb, input);
        assert_eq!((ca, &ta), (cb, &tb), "tai64n on {} bytes", input.len());
        assert_eq!(la.len(), lb.len());
        let after = svkit::tai64n::Tai64n::now();
        let mut last = before;
        for l in &la {
            let t = svkit::tai64n::Tai64n::parse_hex(&l.as_bytes()[1..])
                .unwrap_or_else(|| panic!("bad label {l}"));
            assert_eq!(&t.hex_label()[..], l.as_bytes(), "label not lowercase hex");
            assert!(t >= last && t <= after, "label {l} out of order or range");
            last = t;
        }
    }
}

/// Read errors exit 111 quietly (a closed stdin or stdout too); a
/// closed reader kills both with SIGPIPE.
#[test]
fn tai64n_errors_match_djb() {
    let Some(djb) = theirs("tai64n_errors_match_djb", "tai64n") else {
        return;
    };
    for prog in [bin("tai64n"), djb] {
        let o = Command::new(&prog)
            .stdin(std::fs::File::open("/").unwrap())
            .output()
            .unwrap();
        let got = (o.status.code(), o.stdout.len(), o.stderr.len());
        assert_eq!(got, (Some(111), 0, 0), "{}", prog.display());
        let script = format!(
            "yes | {} | head -c 1 >/dev/null; echo ${{PIPESTATUS[1]}}",
            prog.display()
        );
        let (code, out, _) = run(Command::new("bash").args(["-c", &script]));
        assert_eq!((code, out.as_str()), (0, "141\n"), "{}", prog.display());
    }
}

/// The title a readproctitle shows, read from /proc, argv[0] dropped.
fn title_of(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let s = String::from_utf8_lossy(&raw).replace('\0', "|");
    s.split_once('|')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default()
}

/// What djb's readproctitle shows after `input`: the last argument of
/// `width` bytes keeps 3 dots, the rest is the latest non-NUL bytes.
fn expected_title(input: &[u8], width: usize) -> String {
    let bytes: Vec<u8> = input.iter().copied().filter(|&c| c != 0).collect();
    let room = width - 3;
    let tail = &bytes[bytes.len().saturating_sub(room)..];
    let mut t = vec![b'.'; width - tail.len()];
    t.extend_from_slice(tail);
    format!("service|errors:|{}|", String::from_utf8_lossy(&t))
}

#[test]
fn readproctitle_matches_djb() {
    let Some(djb) = theirs("readproctitle_matches_djb", "readproctitle") else {
        return;
    };
    let dots = ".".repeat(20);
    let chunks: [&[u8]; 3] = [
        b"hello\0 world\n",
        b"abc",
        b"0123456789abcdefghijklmnopqrstuvwxyz\n",
    ];
    let mut g = Guard::new();
    for prog in [bin("readproctitle"), djb.clone()] {
        let pid = g.spawn(
            Command::new(&prog)
                .args(["service", "errors:", &dots])
                .stdin(Stdio::piped())
                .stdout(Stdio::null()),
        );
        let mut stdin = g.child(pid).and_then(|c| c.stdin.take()).expect("stdin");
        let mut sent = Vec::new();
        for chunk in chunks {
            std::io::Write::write_all(&mut stdin, chunk).unwrap();
            sent.extend_from_slice(chunk);
            let want = expected_title(&sent, dots.len());
            let mut t = String::new();
            let shown = poll_until(Duration::from_secs(5), || {
                t = title_of(pid);
                t == want
            });
            assert!(shown, "{}: title {t:?}, want {want:?}", prog.display());
        }
        drop(stdin);
        let code = g
            .child(pid)
            .and_then(|c| c.wait().ok())
            .and_then(|s| s.code());
        assert_eq!(code, Some(0), "{} at EOF", prog.display());
    }
    for prog in [bin("readproctitle"), djb] {
        let script = format!("{} service errors: ...... <&-; echo $?", prog.display());
        let (_, out, _) = run(Command::new("sh").args(["-c", &script]));
        assert_eq!(out, "111\n", "{} with stdin closed", prog.display());
    }
    assert_eq!(
        expected_title(b"hello\0 world\n", 20),
        "service|errors:|........hello world\n|"
    );
    let s = Scratch::new("tk-readproctitle");
    same_all(
        "readproctitle_matches_djb",
        "readproctitle",
        &s.path,
        &[&[], &["abcd"], &["a", "b", "abcd"], &["abcde"]],
    );
}

/// A descriptor 0-2 closed by the caller is closed for the child too
/// (Rust's runtime puts /dev/null there; the tools close it again).
#[test]
fn closed_stdio_stays_closed_as_djb() {
    let s = Scratch::new("tk-closed");
    std::fs::create_dir(s.join("e")).unwrap();
    let probe = "for fd in 0 2; do [ -e /proc/$$/fd/$fd ] && echo \"$fd open\" || echo \"$fd closed\"; done";
    let cases: Vec<Vec<&str>> = vec![
        vec!["envdir", "e"],
        vec!["softlimit", "-o", "="],
        vec!["pgrphack"],
        vec!["fghack"],
        vec!["envuidgid", "root"],
        vec!["setlock", "f"],
    ];
    for c in cases {
        let Some(djb) = theirs("closed_stdio_stays_closed_as_djb", c[0]) else {
            continue;
        };
        let outs: Vec<(i32, String, String)> = [bin(c[0]), djb]
            .iter()
            .map(|prog| {
                let script = format!("exec 0<&- 2>&-; exec {} \"$@\"", prog.display());
                run(Command::new("sh")
                    .current_dir(&s.path)
                    .args(["-c", &script, "sh"])
                    .args(&c[1..])
                    .args(["sh", "-c", probe]))
            })
            .collect();
        assert_eq!(outs[0], outs[1], "{c:?}: ours (left) vs djb's (right)");
        if c[0] != "setlock" && c[0] != "fghack" {
            assert_eq!(outs[0].1, "0 closed\n2 closed\n", "{c:?}");
        }
    }
}

/// Environment entries Rust's std would drop (no `=`, or a leading one)
/// reach the child as under djb's, in the same order. Needs a C compiler
/// to build the exec wrapper that plants them.
#[test]
fn odd_environment_entries_pass_as_djb() {
    let s = Scratch::new("tk-odd-env");
    let src = s.join("envx.c");
    write(
        &src,
        b"#include <unistd.h>\nint main(int c, char **v) {\n\
          char *e[] = {\"NOEQ\", \"=lead\", \"A=1\", \"B=2\", 0};\n\
          (void)c; execve(v[1], v + 1, e); return 111; }\n",
    );
    let envx = s.join("envx");
    let built = Command::new("cc")
        .arg("-o")
        .arg(&envx)
        .arg(&src)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !built {
        eprintln!("odd_environment_entries_pass_as_djb: skipped: no C compiler (cc)");
        return;
    }
    std::fs::create_dir(s.join("e")).unwrap();
    write(&s.join("e/A"), b"x\n");
    let show = ["/bin/sh", "-c", "tr '\\0' '\\n' < /proc/$$/environ"];
    for (name, pre) in [
        ("envdir", vec!["e"]),
        ("setlock", vec!["f"]),
        ("envuidgid", vec!["root"]),
    ] {
        let Some(djb) = theirs("odd_environment_entries_pass_as_djb", name) else {
            continue;
        };
        let outs: Vec<(i32, String, String)> = [bin(name), djb]
            .iter()
            .map(|prog| {
                run(Command::new(&envx)
                    .current_dir(&s.path)
                    .arg(prog)
                    .args(&pre)
                    .args(show))
            })
            .collect();
        assert_eq!(outs[0], outs[1], "{name}: ours (left) vs djb's (right)");
        assert!(
            outs[0].1.starts_with("NOEQ\n=lead\n"),
            "{name}: {}",
            outs[0].1
        );
    }
}
