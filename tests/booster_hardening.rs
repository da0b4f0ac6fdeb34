//! Issue 14: durations that would overflow, signals that must never go
//! to a number, floods by peers who may not launch, slow-drip requests,
//! registries from another boot, planted symlinks, and the syslog path.

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use svkit::wire::{self, Reply};

const HUGE: &str = "10000000000000000000s";

/// Runs `cmd` with a deadline; None when it had to be killed.
fn code_within(g: &mut Guard, cmd: &mut Command, limit: Duration) -> Option<i32> {
    let pid = g.spawn(cmd.stdin(Stdio::null()).stdout(Stdio::null()));
    wait_pid(g, pid, limit).map(|s| s.code().unwrap_or(-1))
}

#[test]
fn huge_durations_on_command_lines_are_usage_errors() {
    let mut g = Guard::new();
    let d = Scratch::new("hd-cli");
    std::fs::write(d.join("reg"), "").unwrap();
    let quiet = |c: &mut Command| {
        c.stderr(Stdio::null());
    };
    let mut drain = ours("booster-drain");
    drain.arg(d.join("reg")).args(["-T", HUGE]);
    quiet(&mut drain);
    assert_eq!(
        code_within(&mut g, &mut drain, Duration::from_secs(5)),
        Some(100)
    );
    let mut drain = ours("booster-drain");
    drain.arg(format!("-T{HUGE}")).arg(d.join("reg"));
    quiet(&mut drain);
    assert_eq!(
        code_within(&mut g, &mut drain, Duration::from_secs(5)),
        Some(100)
    );
    // Before the fix this booster listened and aborted at its first TERM.
    let mut b = ours("booster");
    b.args(["-e", "-k", HUGE]).arg(d.join("socket"));
    quiet(&mut b);
    assert_eq!(
        code_within(&mut g, &mut b, Duration::from_secs(5)),
        Some(100)
    );
    let mut inv = ours("invoker");
    inv.args(["-d", HUGE, "-s"])
        .arg(d.join("socket"))
        .arg("/bin/true");
    quiet(&mut inv);
    assert_eq!(
        code_within(&mut g, &mut inv, Duration::from_secs(5)),
        Some(100)
    );
}

#[test]
fn the_longest_grace_accepted_terminates_without_aborting() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "hd-100y", &["-k", "100y"]);
    let inv = g.spawn(
        b.invoker()
            .args(["sleep", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let pids = b.wait_listed(1);
    // EOF from the invoker: TERM now, KILL in a hundred years.
    signal(inv, nix::sys::signal::Signal::SIGKILL);
    assert!(gone(&pids, Duration::from_secs(5)), "{}", b.log_text());
    assert!(pid_alive(b.pid), "{}", b.log_text());
    let st = b.invoker().arg("/bin/true").status().unwrap();
    assert_eq!(st.code(), Some(0), "{}", b.log_text());
}

/// A fake booster: accepts one invoker, reads its request, and answers
/// with what the test says.
struct Fake {
    listener: UnixListener,
    _dir: Scratch,
    sock: std::path::PathBuf,
}

impl Fake {
    fn new(tag: &str) -> Fake {
        let dir = Scratch::new(tag);
        let sock = dir.join("socket");
        let listener = UnixListener::bind(&sock).unwrap();
        Fake {
            listener,
            _dir: dir,
            sock,
        }
    }

    /// Accepts one connection and reads its request up to END.
    fn accept_request(&self) -> UnixStream {
        let (mut s, _) = self.listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Some(_)) = wire::decode_request(&buf) {
                return s;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "invoker closed before END");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn a_huge_grace_in_launched_does_not_abort_the_invoker() {
    let mut g = Guard::new();
    let fake = Fake::new("hd-grace");
    let inv = g.spawn(
        ours("invoker")
            .arg("-s")
            .arg(&fake.sock)
            .arg("/bin/true")
            .stderr(Stdio::null()),
    );
    let mut s = fake.accept_request();
    let launched = Reply::Launched {
        pid: 1,
        grace_ms: u64::MAX,
    };
    s.write_all(&wire::encode_reply(&launched)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The invoker's TERM arms "grace + 5 s": the overflow that aborted it.
    signal(inv, nix::sys::signal::Signal::SIGTERM);
    let mut b = [0u8; 64];
    let n = s.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0, "the invoker ends its writing half");
    let _ = s.write_all(&wire::encode_reply(&Reply::Exit { status: 7 << 8 }));
    drop(s);
    let st = wait_pid(&mut g, inv, Duration::from_secs(5)).expect("invoker exits");
    assert_eq!(st.code(), Some(7));
}

fn strace() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/usr/bin/strace");
    let ok = p.exists()
        && Command::new(&p)
            .args(["-qq", "-e", "trace=none", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    ok.then_some(p)
}

fn write_registry(path: &std::path::Path, pids: &[u32]) {
    let list: Vec<svkit::registry::Entry> = pids
        .iter()
        .map(|&p| svkit::registry::Entry {
            sig: svkit::procsig::ProcSig::of(p).unwrap(),
            argv0: b"x".to_vec(),
        })
        .collect();
    std::fs::write(path, svkit::registry::format(&list)).unwrap();
}

/// Pid of the first child of `parent` (from /proc), if any.
fn child_of(parent: u32) -> Option<u32> {
    descendants(parent).into_iter().next()
}

#[test]
fn survivors_and_instances_are_signalled_only_through_pidfds() {
    let Some(st) = strace() else {
        eprintln!("signalled_only_through_pidfds: skipped: strace cannot trace here");
        return;
    };
    let mut g = Guard::new();
    let d = Scratch::new("sig-pidfd");
    let sock = d.join("socket");
    // A survivor leading its own group with a member, and one that leads
    // no group (the old code fell back to kill(pid) for it).
    let leader = g.spawn(Command::new("setsid").args(["sh", "-c", "sleep 1000 & exec sleep 1000"]));
    let plain = g.spawn(Command::new("sleep").arg("1000"));
    assert!(poll_until(Duration::from_secs(5), || child_of(leader).is_some()));
    let member = child_of(leader).unwrap();
    write_registry(&d.join("socket.instances"), &[leader, plain]);
    let trace = d.join("trace");
    let log = std::fs::File::create(d.join("log")).unwrap();
    let tracer = g.spawn(
        Command::new(st)
            .args([
                "-qq",
                "-e",
                "trace=kill,tkill,tgkill,pidfd_send_signal",
                "-o",
            ])
            .arg(&trace)
            .arg(bin("booster"))
            .args(["-e", "-k", "300ms"])
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(log),
    );
    assert!(poll_until(Duration::from_secs(10), || UnixStream::connect(
        &sock
    )
    .is_ok()));
    assert!(gone(&[leader, member, plain], Duration::from_secs(5)));
    let log_text = || std::fs::read_to_string(d.join("log")).unwrap_or_default();
    // An instance that ignores TERM: TERM on EOF, KILL after the grace.
    let inv = g.spawn(
        ours("invoker")
            .arg("-s")
            .arg(&sock)
            .args(["sh", "-c", "trap '' TERM; sleep 1000 & wait"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(Duration::from_secs(5), || log_text()
        .contains("launched pid")));
    std::thread::sleep(Duration::from_millis(100));
    signal(inv, nix::sys::signal::Signal::SIGKILL);
    assert!(
        poll_until(Duration::from_secs(5), || log_text()
            .contains("grace over, KILL")),
        "{}",
        log_text()
    );
    // Stop: the spare goes too.
    let booster = child_of(tracer).expect("booster under strace");
    signal(booster, nix::sys::signal::Signal::SIGTERM);
    assert!(wait_pid(&mut g, tracer, Duration::from_secs(10)).is_some());
    let t = std::fs::read_to_string(&trace).unwrap();
    let by_number: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with("kill(") || l.starts_with("tkill(") || l.starts_with("tgkill("))
        .collect();
    assert!(by_number.is_empty(), "signalled by number:\n{t}");
    assert!(t.contains("pidfd_send_signal("), "{t}");
}
