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
