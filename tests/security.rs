//! Security: the modes supervise and multilog give their files (compared
//! with daemontools' under several umasks), an unprivileged user against a
//! root service (svc, svok, svstat as user 65534 through setpriv),
//! delegating control by file mode, and multilog's path handling (`..`,
//! symlinked directory, symlinked lock, a user's multilog on root's log).

mod common;

use common::*;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const NOBODY: u32 = 65534;

/// Root and setpriv are needed to act as another user.
fn skip_unless_root(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("{test}: skipped: not running as root");
        return true;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("{test}: skipped: no /usr/bin/setpriv");
        return true;
    }
    false
}

/// The scratch tree must be reachable by user 65534 (a TMPDIR under
/// /root is not): otherwise say why and skip.
fn skip_unless_reachable(test: &str, s: &Scratch) -> bool {
    let (code, _, _) = as_nobody(Path::new("/usr/bin/test"), &[Path::new("-x"), &s.path]);
    if code != 0 {
        eprintln!(
            "{test}: skipped: user 65534 cannot reach {}",
            s.path.display()
        );
        return true;
    }
    false
}

/// Runs `program ARGS` as uid/gid 65534 with no supplementary groups.
fn as_nobody(program: &Path, args: &[&Path]) -> (i32, String, String) {
    run(Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(program)
        .args(args))
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn octal<S: std::fmt::Display>(v: &[(S, u32)]) -> String {
    v.iter()
        .map(|(n, m)| format!("{n} {m:04o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A scratch tree every user can traverse, whatever the test's umask.
fn open_scratch(tag: &str) -> Scratch {
    let s = Scratch::new(tag);
    chmod(&s.path, 0o755);
    s
}

/// `run` logs its pid to ./starts, then sleeps.
fn service(root: &Path, name: &str) -> PathBuf {
    let d = make_service(root, name, "echo $$ >> starts\nexec sleep 1000");
    chmod(&d, 0o755);
    d
}

fn starts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Starts `program DIR` under `umask` and waits until its child is up.
fn supervise_with_umask(g: &mut Guard, program: &Path, dir: &Path, umask: &str) -> u32 {
    let pid = g.spawn(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$1\""))
            .arg(program)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(T, || svkit::control::supervise_running(dir)
        .unwrap_or(false)
        && up_pid(dir).is_some()));
    pid
}

fn supervise_modes(dir: &Path) -> Vec<(&'static str, u32)> {
    [
        "supervise",
        "supervise/control",
        "supervise/ok",
        "supervise/lock",
        "supervise/status",
    ]
    .into_iter()
    .map(|n| (n, mode(&dir.join(n))))
    .collect()
}

#[test]
fn supervise_modes_are_daemontools_under_any_umask() {
    let s = open_scratch("sec-modes");
    for (umask, status_mode) in [("022", 0o644), ("000", 0o644), ("077", 0o600)] {
        let mut g = Guard::new();
        let ours = service(&s.path, &format!("ours{umask}"));
        supervise_with_umask(&mut g, &bin("supervise"), &ours, umask);
        let got = supervise_modes(&ours);
        let want = vec![
            ("supervise", 0o700),
            ("supervise/control", 0o600),
            ("supervise/ok", 0o600),
            ("supervise/lock", 0o600),
            ("supervise/status", status_mode),
        ];
        assert_eq!(got, want, "umask {umask}");
        assert_eq!(mode(&ours.join("supervise/xstatus")), status_mode);
        if let Some(djb) = djb("supervise") {
            let theirs = service(&s.path, &format!("djb{umask}"));
            supervise_with_umask(&mut g, &djb, &theirs, umask);
            assert_eq!(
                got,
                supervise_modes(&theirs),
                "umask {umask}: vs daemontools"
            );
        }
        eprintln!("security: umask {umask}: supervise modes {}", octal(&got));
    }
}

#[test]
fn another_user_cannot_control_a_root_service() {
    if skip_unless_root("another_user_cannot_control_a_root_service") {
        return;
    }
    let s = open_scratch("sec-control");
    if skip_unless_reachable("another_user_cannot_control_a_root_service", &s) {
        return;
    }
    let mut g = Guard::new();
    let dir = service(&s.path, "x");
    supervise_with_umask(&mut g, &bin("supervise"), &dir, "022");
    let pid = up_pid(&dir).unwrap();
    let d = dir.display();
    let check = |program: &str, args: &[&Path], want: (i32, String, String)| {
        let got = as_nobody(&bin(program), args);
        assert_eq!(got, want, "{program} as nobody");
        if let Some(djb) = djb(program) {
            assert_eq!(
                as_nobody(&djb, args),
                want,
                "daemontools' {program} as nobody"
            );
        }
    };
    for letters in ["-d", "-k", "-x", "-dx", "-p"] {
        check(
            "svc",
            &[Path::new(letters), &dir],
            (
                0,
                String::new(),
                format!("svc: warning: unable to control {d}: access denied\n"),
            ),
        );
    }
    check(
        "svok",
        &[&dir],
        (
            111,
            String::new(),
            format!("svok: fatal: unable to open {d}/supervise/ok: access denied\n"),
        ),
    );
    check(
        "svstat",
        &[&dir],
        (
            0,
            format!("{d}: unable to open supervise/ok: access denied\n"),
            String::new(),
        ),
    );
    // Opening supervise/ to everyone (say, for a monitor that reads
    // status) still leaves the fifos to root.
    chmod(&dir.join("supervise"), 0o755);
    check(
        "svc",
        &[Path::new("-dx"), &dir],
        (
            0,
            String::new(),
            format!("svc: warning: unable to control {d}: access denied\n"),
        ),
    );
    let status_file = dir.join("supervise/status");
    let (code, out, _) = as_nobody(Path::new("/usr/bin/wc"), &[Path::new("-c"), &status_file]);
    assert_eq!(
        (code, out),
        (0, format!("18 {}\n", status_file.display())),
        "status is world-readable"
    );
    let (code, _, _) = as_nobody(
        Path::new("/bin/sh"),
        &[
            Path::new("-c"),
            Path::new(&format!("echo d > {d}/supervise/control")),
        ],
    );
    assert_ne!(code, 0, "nobody wrote to the control fifo");
    // The service never noticed.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(up_pid(&dir), Some(pid));
    assert!(pid_alive(pid));
    assert_eq!(starts(&dir), 1);
    let st = status(&dir).unwrap();
    assert!(!st.paused && st.want == svkit::status::Want::Up);
    assert!(svkit::control::supervise_running(&dir).unwrap());
    eprintln!("security: 8 control attempts as uid 65534 refused; service pid {pid} untouched");
}

#[test]
fn control_is_delegated_by_file_mode_and_supervise_keeps_it() {
    if skip_unless_root("control_is_delegated_by_file_mode_and_supervise_keeps_it") {
        return;
    }
    let s = open_scratch("sec-delegate");
    if skip_unless_reachable(
        "control_is_delegated_by_file_mode_and_supervise_keeps_it",
        &s,
    ) {
        return;
    }
    let mut g = Guard::new();
    let dir = service(&s.path, "x");
    let first = supervise_with_umask(&mut g, &bin("supervise"), &dir, "022");
    // The daemontools way: let a user through to the fifos.
    chmod(&dir.join("supervise"), 0o711);
    for f in ["control", "ok"] {
        std::os::unix::fs::chown(dir.join("supervise").join(f), Some(NOBODY), None).unwrap();
    }
    // A restarted supervise leaves existing modes and owners alone (as
    // daemontools does), so the delegation survives it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = g.child(first).map(|c| c.wait());
    supervise_with_umask(&mut g, &bin("supervise"), &dir, "022");
    assert_eq!(mode(&dir.join("supervise")), 0o711);
    let meta = std::fs::metadata(dir.join("supervise/control")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (NOBODY, 0o600));
    let pid = up_pid(&dir).unwrap();
    g.adopt(pid);
    assert_eq!(as_nobody(&bin("svok"), &[&dir]).0, 0);
    assert_eq!(
        as_nobody(&bin("svc"), &[Path::new("-d"), &dir]),
        (0, String::new(), String::new())
    );
    assert!(poll_until(T, || up_pid(&dir).is_none()));
    assert!(poll_until(T, || !pid_alive(pid)));
    assert_eq!(as_nobody(&bin("svc"), &[Path::new("-u"), &dir]).0, 0);
    assert!(poll_until(T, || up_pid(&dir).is_some()));
    g.adopt(up_pid(&dir).unwrap());
}

/// Names in a directory with their modes, the directory itself first.
type Modes = Vec<(String, u32)>;

fn multilog_snapshot(d: &Path) -> Modes {
    let mut v: Modes = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        // svkit's own `pending` record (piped input; docs/multilog.md) has
        // no daemontools counterpart.
        .filter(|e| e.file_name() != "pending")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                mode(&e.path()),
            )
        })
        .collect();
    v.sort();
    v.insert(0, (".".into(), mode(d)));
    v
}

/// Runs `program ./NAME` in `cwd` under umask 022 with one line written and
/// stdin held open; returns the modes while open and after end of input.
fn multilog_modes(program: &Path, cwd: &Path, name: &str) -> (Modes, Modes) {
    let mut g = Guard::new();
    let pid = g.spawn(
        Command::new("/bin/sh")
            .arg("-c")
            .arg("umask 022; exec \"$0\" \"$1\"")
            .arg(program)
            .arg(format!("./{name}"))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = g.child(pid).unwrap().stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    let cur = cwd.join(name).join("current");
    assert!(poll_until(T, || std::fs::read(&cur).is_ok_and(|c| c == b"one\n")));
    let open = multilog_snapshot(&cwd.join(name));
    drop(stdin);
    assert_eq!(g.child(pid).unwrap().wait().unwrap().code(), Some(0));
    (open, multilog_snapshot(&cwd.join(name)))
}

#[test]
fn multilog_modes_are_daemontools() {
    let s = open_scratch("sec-mlmodes");
    let (open, done) = multilog_modes(&bin("multilog"), &s.path, "ours");
    let m = |v: &[(String, u32)], n: &str| v.iter().find(|(k, _)| k == n).map(|e| e.1);
    assert_eq!(m(&open, "."), Some(0o700));
    assert_eq!(m(&open, "current"), Some(0o644));
    assert_eq!(m(&open, "lock"), Some(0o600));
    assert_eq!(m(&done, "current"), Some(0o744));
    if let Some(djb) = djb("multilog") {
        let (dopen, ddone) = multilog_modes(&djb, &s.path, "djb");
        assert_eq!((&open, &done), (&dopen, &ddone), "vs daemontools");
    }
    eprintln!(
        "security: multilog modes while open {}, complete {}",
        octal(&open),
        octal(&done)
    );
    if skip_unless_root("multilog_modes_are_daemontools (as nobody)")
        || skip_unless_reachable("multilog_modes_are_daemontools (as nobody)", &s)
    {
        return;
    }
    // Another user can neither read root's log nor log into it.
    let (code, _, _) = as_nobody(Path::new("/bin/cat"), &[&s.join("ours/current")]);
    assert_ne!(code, 0, "nobody read root's log");
    let mut c = Command::new("/usr/bin/setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin("multilog"))
        .arg("./ours")
        .current_dir(&s.path);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 111, "{err}");
    assert!(err.starts_with("multilog: fatal: unable to "), "{err}");
    assert_eq!(std::fs::read(s.join("ours/current")).unwrap(), b"one\n");
}

fn multilog_in(cwd: &Path, program: &Path, dir: &str, input: &str) -> (i32, String) {
    let mut child = Command::new(program)
        .arg(dir)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn multilog_paths_behave_as_documented() {
    let s = open_scratch("sec-mlpaths");
    let work = s.join("work");
    std::fs::create_dir(&work).unwrap();
    let ml = bin("multilog");
    // `..` is resolved by the kernel, like a shell command line: with no
    // `sub`, `./sub/../d` fails before reading input (as daemontools).
    let (code, err) = multilog_in(&work, &ml, "./sub/../d", "x\n");
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "multilog: fatal: unable to open directory ./sub/../d: file does not exist\n"
    );
    if let Some(djb) = djb("multilog") {
        assert_eq!(multilog_in(&work, &djb, "./sub/../d", "x\n"), (code, err));
    }
    std::fs::create_dir(work.join("sub")).unwrap();
    assert_eq!(multilog_in(&work, &ml, "./sub/../d", "x\n").0, 0);
    assert_eq!(std::fs::read(work.join("d/current")).unwrap(), b"x\n");
    assert!(!work.join("sub/d").exists());
    // `..` may leave the working directory: the script is configuration.
    assert_eq!(multilog_in(&work, &ml, "./../up", "y\n").0, 0);
    assert_eq!(std::fs::read(s.join("up/current")).unwrap(), b"y\n");
    // The directory itself may be a symlink.
    std::fs::create_dir(s.join("real")).unwrap();
    std::os::unix::fs::symlink(s.join("real"), work.join("link")).unwrap();
    assert_eq!(multilog_in(&work, &ml, "./link", "z\n").0, 0);
    assert_eq!(std::fs::read(s.join("real/current")).unwrap(), b"z\n");
    // Inside it, symlinks are never followed: a symlinked lock is refused
    // before any input is read, and its target is untouched.
    std::fs::write(s.join("victim"), "precious\n").unwrap();
    let d = work.join("e");
    std::fs::create_dir(&d).unwrap();
    std::os::unix::fs::symlink(s.join("victim"), d.join("lock")).unwrap();
    let (code, err) = multilog_in(&work, &ml, "./e", "attack\n");
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "multilog: fatal: unable to open ./e/lock: symbolic link loop\n"
        )
    );
    assert!(!d.join("current").exists());
    // A symlinked current, too.
    let f = work.join("f");
    std::fs::create_dir(&f).unwrap();
    std::os::unix::fs::symlink(s.join("victim"), f.join("current")).unwrap();
    let (code, err) = multilog_in(&work, &ml, "./f", "attack\n");
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("unable to open ./f/current"), "{err}");
    assert_eq!(std::fs::read(s.join("victim")).unwrap(), b"precious\n");
    assert_eq!(mode(&s.join("victim")), 0o644);
}
