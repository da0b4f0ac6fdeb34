//! Hostile and crowded clients: other uids, garbage, truncated, oversized
//! and stalled requests, and 200 invokers at once. The booster answers
//! each with an error or a drop and keeps serving good launches.

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};
use svkit::wire::{self, kind, Reply};

fn hello() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [wire::HELLO, 8, wire::VERSION, wire::FLAG_WAIT] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// Reads until EOF (or `limit`); returns the first reply, if any.
fn reply_of(s: &mut UnixStream, limit: Duration) -> Option<Reply> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    wire::decode_reply(&buf).ok().flatten().map(|(r, _)| r)
}

fn error_kind(r: Option<Reply>) -> Option<u32> {
    match r {
        Some(Reply::Error { kind, .. }) => Some(kind),
        _ => None,
    }
}

fn good_launch(b: &Booster, code: i32) {
    let st = b
        .invoker()
        .args(["sh", "-c", &format!("exit {code}")])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(code), "{}", b.log_text());
}

#[test]
fn hostile_clients_get_an_error_or_a_drop_while_good_launches_succeed() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "ab-hostile", &[]);
    let connect = || UnixStream::connect(&b.sock).expect("connect");

    // Stalled mid-request: HELLO, then nothing. Held across the others.
    let mut slow = connect();
    slow.write_all(&hello()).unwrap();
    let slow_since = Instant::now();
    good_launch(&b, 6);

    let mut garbage = connect();
    garbage.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        error_kind(reply_of(&mut garbage, Duration::from_secs(5))),
        Some(kind::MALFORMED)
    );

    let mut huge = connect();
    huge.write_all(&hello()).unwrap();
    huge.write_all(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f])
        .unwrap();
    assert_eq!(
        error_kind(reply_of(&mut huge, Duration::from_secs(5))),
        Some(kind::TOO_BIG)
    );

    let mut many = connect();
    let mut req = hello();
    req.extend_from_slice(&wire::ARGV.to_le_bytes());
    req.extend_from_slice(&(4u32 + 5000 * 4).to_le_bytes());
    req.extend_from_slice(&5000u32.to_le_bytes());
    req.extend(std::iter::repeat(0u8).take(5000 * 4));
    let _ = many.write_all(&req);
    assert_eq!(
        error_kind(reply_of(&mut many, Duration::from_secs(5))),
        Some(kind::TOO_BIG)
    );

    // A frame declaring 1 MiB on top of HELLO: refused from its header.
    let mut flood = connect();
    let mut req = hello();
    req.extend_from_slice(&wire::ARGV.to_le_bytes());
    req.extend_from_slice(&(1u32 << 20).to_le_bytes());
    let _ = flood.write_all(&req);
    assert_eq!(
        error_kind(reply_of(&mut flood, Duration::from_secs(5))),
        Some(kind::TOO_BIG)
    );

    // A frame that fits the limit exactly, all of it sent: buffered (1 MiB
    // at most), then refused for its count.
    let mut full_mib = connect();
    let mut req = hello();
    let len = (wire::MAX_REQUEST - 24) as u32;
    req.extend_from_slice(&wire::ARGV.to_le_bytes());
    req.extend_from_slice(&len.to_le_bytes());
    req.extend(std::iter::repeat(0xffu8).take(len as usize));
    let _ = full_mib.write_all(&req);
    assert_eq!(
        error_kind(reply_of(&mut full_mib, Duration::from_secs(5))),
        Some(kind::TOO_BIG)
    );

    // Over the limits on the invoker's side: refused before connecting.
    let big = "x".repeat(100_000);
    let args: Vec<&str> = std::iter::repeat(big.as_str()).take(12).collect();
    let (c, _, e) = run(b.invoker().arg("true").args(&args));
    assert_eq!(c, 100, "{e}");

    let mut cut = connect();
    let full = wire::encode_request(&wire::Request {
        version: wire::VERSION,
        flags: wire::FLAG_WAIT,
        argv: vec![b"true".to_vec()],
        env: vec![],
        cwd: b"/".to_vec(),
    });
    cut.write_all(&full[..30]).unwrap();
    cut.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        error_kind(reply_of(&mut cut, Duration::from_secs(5))),
        Some(kind::MALFORMED)
    );

    // A complete request without the three descriptors.
    let mut nofds = connect();
    nofds.write_all(&full).unwrap();
    assert_eq!(
        error_kind(reply_of(&mut nofds, Duration::from_secs(5))),
        Some(kind::MALFORMED)
    );

    // Connect and vanish.
    drop(connect());
    good_launch(&b, 7);

    // The stalled one is dropped about 5 s after it connected.
    let r = reply_of(&mut slow, Duration::from_secs(10));
    let waited = slow_since.elapsed();
    assert!(matches!(error_kind(r.clone()), Some(kind::TIMEOUT)) || r.is_none());
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
    good_launch(&b, 8);
    assert!(pid_alive(b.pid));
}

fn setpriv() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/usr/bin/setpriv");
    let root = nix::unistd::getuid().is_root();
    (p.exists() && root).then_some(p)
}

fn as_nobody(b: &Booster, sp: &std::path::Path) -> i32 {
    let st = std::process::Command::new(sp)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin("invoker"))
        .arg("-s")
        .arg(&b.sock)
        .arg("/bin/true")
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    st.code().unwrap_or(-1)
}

#[test]
fn peers_with_another_uid_are_refused_unless_allowed() {
    let Some(sp) = setpriv() else {
        eprintln!("peers_with_another_uid: skipped: needs root and setpriv");
        return;
    };
    let mut g = Guard::new();
    let closed = start_booster(&mut g, "ab-uid0", &[]);
    let mode = |b: &Booster| std::fs::metadata(&b.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&closed), 0o600);
    // Mode 0600: nobody cannot even connect.
    assert_eq!(as_nobody(&closed, &sp), 111);
    // Widened for another uid: 0666, and SO_PEERCRED refuses nobody.
    let other = start_booster(&mut g, "ab-uid1", &["-u", "12345"]);
    assert_eq!(mode(&other), 0o666);
    assert_eq!(as_nobody(&other, &sp), 100);
    assert!(
        other.log_text().contains("refused uid 65534"),
        "{}",
        other.log_text()
    );
    let by_uid = start_booster(&mut g, "ab-uid2", &["-u", "nobody"]);
    assert_eq!(as_nobody(&by_uid, &sp), 0);
    let by_gid = start_booster(&mut g, "ab-uid3", &["-g", "12345,65534"]);
    assert_eq!(as_nobody(&by_gid, &sp), 0);
}

#[test]
fn two_hundred_concurrent_invokers_each_get_their_own_status() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "ab-200", &[]);
    let invs: Vec<(u32, i32)> = (0..200)
        .map(|n| {
            let pid = g.spawn(
                b.invoker()
                    .args(["sh", "-c", &format!("sleep 0.2; exit {n}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            (pid, n)
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(60);
    for (pid, n) in invs {
        let left = end.saturating_duration_since(Instant::now());
        let st = wait_pid(&mut g, pid, left).expect("invoker exits in time");
        assert_eq!(st.code(), Some(n), "{}", b.log_text());
    }
    assert!(b.wait_listed(0).is_empty());
}

/// Sends a complete request with our stdio as the three descriptors.
fn send_with_fds(s: &UnixStream, req: &wire::Request) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let bytes = wire::encode_request(req);
    let fds = [0, 1, 2];
    let n = sendmsg::<()>(
        s.as_raw_fd(),
        &[std::io::IoSlice::new(&bytes)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .unwrap();
    assert_eq!(n, bytes.len());
}

#[test]
fn an_unusable_cwd_gets_a_cwd_error_and_a_good_raw_request_launches() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "ab-cwd", &[]);
    let mut s = UnixStream::connect(&b.sock).unwrap();
    send_with_fds(
        &s,
        &wire::Request {
            version: wire::VERSION,
            flags: wire::FLAG_WAIT,
            argv: vec![b"/bin/true".to_vec()],
            env: vec![],
            cwd: b"/nonexistent/svkit-cwd".to_vec(),
        },
    );
    match reply_of(&mut s, Duration::from_secs(5)) {
        Some(Reply::Error { kind: k, errno, .. }) => {
            assert_eq!(k, kind::CWD);
            assert_eq!(errno as i32, libc::ENOENT);
        }
        r => panic!("expected a cwd error, got {r:?}"),
    }
    // A raw request that is fine launches, and EXIT follows LAUNCHED.
    let mut s = UnixStream::connect(&b.sock).unwrap();
    send_with_fds(
        &s,
        &wire::Request {
            version: wire::VERSION,
            flags: wire::FLAG_WAIT,
            argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"exit 3".to_vec()],
            env: vec![],
            cwd: b"/".to_vec(),
        },
    );
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let (first, used) = wire::decode_reply(&buf).unwrap().unwrap();
    assert!(matches!(first, Reply::Launched { grace_ms: 5000, .. }));
    let (second, _) = wire::decode_reply(&buf[used..]).unwrap().unwrap();
    assert_eq!(second, Reply::Exit { status: 3 << 8 });
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_ascii_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15, i.e. 12 and 13 after ')'.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    let mut g = Guard::new();
    let d = Scratch::new("ab-emfile");
    let sock = d.join("socket");
    let script = format!(
        "ulimit -n 64 && exec {} -e {} 2>{}",
        bin("booster").display(),
        sock.display(),
        d.join("log").display()
    );
    let booster = g.spawn(std::process::Command::new("sh").args(["-c", &script]));
    assert!(poll_until(Duration::from_secs(10), || UnixStream::connect(
        &sock
    )
    .is_ok()));
    let invs: Vec<(u32, i32)> = (0..30)
        .map(|n| {
            let pid = g.spawn(
                ours("invoker")
                    .arg("-s")
                    .arg(&sock)
                    .args(["sh", "-c", &format!("sleep 1; exit {n}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            (pid, n)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(booster);
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_ticks(booster) - before;
    assert!(spent < 25, "booster spun: {spent} ticks in 500 ms");
    // At the connection cap ((64 - 16) / 5 = 9) a newcomer of the same
    // uid is refused at once (busy, 111) rather than left hanging in the
    // backlog; every other invoker gets its program's status.
    let mut ok = 0;
    for (pid, n) in invs {
        let st = wait_pid(&mut g, pid, Duration::from_secs(30)).expect("invoker exits");
        let log = std::fs::read_to_string(d.join("log")).unwrap_or_default();
        if st.code() == Some(111) && n != 111 {
            assert!(log.contains("busy: too many connections"), "{log}");
        } else {
            assert_eq!(st.code(), Some(n), "{log}");
            ok += 1;
        }
    }
    assert!(ok >= 9, "only {ok} launched");
}
