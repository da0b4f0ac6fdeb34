//! svc, svok and svstat side by side with Debian's daemontools 0.76: same
//! texts, exit codes and fifo bytes for the same directories, against a
//! fake supervise (the test holds the fifos) and djb's real supervise;
//! cross-talk both ways.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;

impl FakeSupervise {
    fn status(&self, ago: u64, pid: u32, paused: bool, want: Want) {
        let now = Tai64n::now();
        let s = Status {
            when: Tai64n {
                secs: now.secs - ago,
                nanos: 0,
            },
            pid,
            paused,
            want,
        };
        std::fs::write(self.dir.join("supervise/status"), s.pack()).unwrap();
    }

    fn raw_status(&self, bytes: &[u8]) {
        std::fs::write(self.dir.join("supervise/status"), bytes).unwrap();
    }
}

/// Runs `prog args` in `cwd`.
fn run_in(cwd: &Path, prog: &Path, args: &[&str]) -> (i32, String, String) {
    run(Command::new(prog).current_dir(cwd).args(args))
}

/// Same exit code, stdout and stderr (retried: a second may tick between
/// the two runs and change "S seconds").
fn same(cwd: &Path, name: &str, args: &[&str]) -> (i32, String, String) {
    let theirs = djb(name).expect("djb program");
    let mut last = None;
    for _ in 0..3 {
        let a = run_in(cwd, &bin(name), args);
        let b = run_in(cwd, &theirs, args);
        if a == b {
            return a;
        }
        last = Some((a, b));
    }
    let (a, b) = last.unwrap();
    panic!("{name} {args:?}: ours {a:?} != djb's {b:?}");
}

#[test]
fn same_but_later_allows_only_a_later_count() {
    assert!(same_but_later(
        "a: up (pid 1) 101 seconds",
        "a: up (pid 1) 100 seconds"
    ));
    assert!(!same_but_later(
        "a: up (pid 1) 99 seconds",
        "a: up (pid 1) 100 seconds"
    ));
    assert!(!same_but_later(
        "a: up (pid 2) 100 seconds",
        "a: up (pid 1) 100 seconds"
    ));
    assert!(!same_but_later(
        "a: down 100 seconds",
        "a: up (pid 1) 100 seconds"
    ));
    assert!(same_but_later(
        "x: supervise not running",
        "x: supervise not running"
    ));
}

#[test]
fn svstat_texts_match_djb() {
    if skip_without_daemontools("svstat_texts_match_djb") {
        return;
    }
    let s = Scratch::new("cmp-svstat");
    let root = &s.path;
    let up = FakeSupervise::new(root, "up", true);
    up.status(100, 4242, false, Want::Up);
    let nd = FakeSupervise::new(root, "normallydown", true);
    nd.status(7, 4243, false, Want::Up);
    std::fs::write(nd.dir.join("down"), "").unwrap();
    let paused = FakeSupervise::new(root, "paused", true);
    paused.status(3, 4244, true, Want::Up);
    let wantdown = FakeSupervise::new(root, "wantdown", true);
    wantdown.status(3, 4245, false, Want::Down);
    let down = FakeSupervise::new(root, "down", true);
    down.status(12, 0, false, Want::Down);
    let wantup = FakeSupervise::new(root, "wantup", true);
    wantup.status(1, 0, false, Want::Up);
    let once = FakeSupervise::new(root, "once", true);
    once.status(5, 4246, false, Want::None);
    let downdown = FakeSupervise::new(root, "downdown", true);
    downdown.status(5, 0, false, Want::Down);
    std::fs::write(downdown.dir.join("down"), "").unwrap();
    let future = FakeSupervise::new(root, "future", true);
    future.raw_status(
        &Status {
            when: Tai64n {
                secs: Tai64n::now().secs + 1000,
                nanos: 0,
            },
            pid: 0,
            paused: false,
            want: Want::Up,
        }
        .pack(),
    );
    let long = FakeSupervise::new(root, "long", true);
    let mut bytes = Status {
        when: Tai64n::now(),
        pid: 9,
        paused: false,
        want: Want::Up,
    }
    .pack()
    .to_vec();
    bytes.extend_from_slice(b"trailing junk");
    long.raw_status(&bytes);
    let notrunning = FakeSupervise::new(root, "notrunning", false);
    notrunning.status(5, 4247, false, Want::Up);
    let short = FakeSupervise::new(root, "short", true);
    short.raw_status(&[0x40, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    let empty = FakeSupervise::new(root, "empty", true);
    empty.raw_status(b"");
    let nostatus = FakeSupervise::new(root, "nostatus", true);
    std::fs::create_dir_all(root.join("nosupervise")).unwrap();
    std::fs::create_dir_all(root.join("nook/supervise")).unwrap();
    std::fs::write(root.join("plainfile"), "").unwrap();
    let _ = &nostatus;

    let names = [
        "up",
        "normallydown",
        "paused",
        "wantdown",
        "down",
        "wantup",
        "once",
        "downdown",
        "future",
        "long",
        "notrunning",
        "short",
        "empty",
        "nostatus",
        "nosupervise",
        "nook",
        "plainfile",
        "missing",
        "-x",
        "",
    ];
    // One directory per call, then all in one call.
    for n in names {
        let (code, out, _) = same(root, "svstat", &[n]);
        assert_eq!(code, 0);
        assert!(out.starts_with(&format!("{n}: ")), "{out}");
    }
    let (_, out, _) = same(root, "svstat", &names);
    assert_eq!(out.lines().count(), names.len());
    let expect = [
        "up: up (pid 4242) 100 seconds\n",
        "normallydown: up (pid 4243) 7 seconds, normally down\n",
        "paused: up (pid 4244) 3 seconds, paused\n",
        "wantdown: up (pid 4245) 3 seconds, want down\n",
        "down: down 12 seconds, normally up\n",
        "wantup: down 1 seconds, normally up, want up\n",
        "once: up (pid 4246) 5 seconds\n",
        "downdown: down 5 seconds\n",
        "future: down 0 seconds, normally up, want up\n",
        "notrunning: supervise not running\n",
        "short: unable to read supervise/status: bad format\n",
        "empty: unable to read supervise/status: bad format\n",
        "nostatus: unable to open supervise/status: file does not exist\n",
        "nosupervise: unable to open supervise/ok: file does not exist\n",
        "plainfile: unable to chdir: not a directory\n",
        "missing: unable to chdir: file does not exist\n",
    ];
    // The records were written seconds ago and the clock has moved on since:
    // a count of seconds may be a few higher than written, never lower.
    for e in expect {
        let name = &e[..e.find(": ").unwrap() + 2];
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name:?} in\n{out}"));
        assert!(
            same_but_later(line, e.trim_end()),
            "{line:?} is not {e:?} (seconds may only grow a little) in\n{out}"
        );
    }
    // No arguments: nothing, exit 0.
    assert_eq!(same(root, "svstat", &[]), (0, String::new(), String::new()));
}

#[test]
fn svstat_rejects_bytes_djb_would_misread() {
    // A want byte supervise never writes: djb prints nonsense, we refuse.
    let s = Scratch::new("cmp-corrupt");
    let f = FakeSupervise::new(&s.path, "x", true);
    let mut b = Status {
        when: Tai64n::now(),
        pid: 77,
        paused: false,
        want: Want::Up,
    }
    .pack();
    b[17] = b'?';
    f.raw_status(&b);
    let (code, out, _) = run(ours("svstat").arg(&f.dir));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "{}: unable to read supervise/status: bad format\n",
            f.dir.display()
        )
    );
}

#[test]
fn svok_matches_djb() {
    if skip_without_daemontools("svok_matches_djb") {
        return;
    }
    let s = Scratch::new("cmp-svok");
    let root = &s.path;
    let _running = FakeSupervise::new(root, "running", true);
    let _stopped = FakeSupervise::new(root, "stopped", false);
    std::fs::create_dir_all(root.join("nosupervise")).unwrap();
    std::fs::create_dir_all(root.join("nook/supervise")).unwrap();
    std::fs::create_dir_all(root.join("filesup")).unwrap();
    std::fs::write(root.join("filesup/supervise"), "").unwrap();
    std::fs::write(root.join("plainfile"), "").unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["running"], 0),
        (&["running", "extra"], 0),
        (&["stopped"], 100),
        (&["nosupervise"], 100),
        (&["nook"], 100),
        (&["filesup"], 111),
        (&["plainfile"], 111),
        (&["missing"], 111),
        (&["-x"], 111),
        (&[""], 111),
        (&[], 100),
    ];
    for (args, code) in cases {
        let (c, out, err) = same(root, "svok", args);
        assert_eq!(c, *code, "svok {args:?}: {err}");
        assert_eq!(out, "");
    }
    let (_, _, err) = same(root, "svok", &["missing"]);
    assert_eq!(
        err,
        "svok: fatal: unable to chdir to missing: file does not exist\n"
    );
    let (_, _, err) = same(root, "svok", &[]);
    assert_eq!(err, "svok: usage: svok dir\n");
}

#[test]
fn svc_matches_djb() {
    if skip_without_daemontools("svc_matches_djb") {
        return;
    }
    let s = Scratch::new("cmp-svc");
    let root = &s.path;
    let mut running = FakeSupervise::new(root, "running", true);
    let _stopped = FakeSupervise::new(root, "stopped", false);
    std::fs::create_dir_all(root.join("nosupervise")).unwrap();
    // Messages and exit codes for every error path.
    let cases: &[&[&str]] = &[
        &[],
        &["-u"],
        &["-u", "missing"],
        &["-u", "nosupervise"],
        &["-u", "stopped"],
        &["-u", "stopped", "missing", "nosupervise"],
        &["-", "stopped"],
        &["-u", "--", "-d"],
        &["-u", "stopped", "-d"],
        &["stopped"],
        &["-u", ""],
    ];
    for args in cases {
        let (code, out, _) = same(root, "svc", args);
        assert_eq!(code, 0, "svc {args:?}");
        assert_eq!(out, "");
    }
    let (_, _, err) = same(root, "svc", &["-u", "stopped", "missing"]);
    assert_eq!(
        err,
        "svc: warning: unable to control stopped: supervise not running\n\
         svc: warning: unable to chdir to missing: file does not exist\n"
    );
    // Bad options: usage, 100. Our options line extends djb's.
    for bad in ["-z", "-uz", "-U"] {
        let theirs = run_in(root, &djb("svc").unwrap(), &[bad, "running"]);
        let mine = run_in(root, &bin("svc"), &[bad, "running"]);
        assert_eq!(theirs.0, 100);
        assert_eq!(mine.0, 100);
        let (t1, t2) = theirs.2.split_once('\n').unwrap();
        let (m1, m2) = mine.2.split_once('\n').unwrap();
        assert_eq!(m1, t1);
        assert!(m2.starts_with(t2.trim_end()), "{m2}");
    }
    running.drain();
    // The bytes on the control fifo: same letters, once each, in order.
    for letters in ["-u", "-dudthk", "-pc", "-x", "-oaih", "-dx"] {
        let (c, _, _) = run_in(root, &djb("svc").unwrap(), &[letters, "running", "running"]);
        assert_eq!(c, 0);
        let theirs = running.drain();
        let (c, _, _) = run_in(root, &bin("svc"), &[letters, "running", "running"]);
        assert_eq!(c, 0);
        assert_eq!(running.drain(), theirs, "svc {letters}");
    }
    // The sigq12 letters djb's Debian build lacks.
    let (c, _, err) = run_in(root, &bin("svc"), &["-q12t", "running"]);
    assert_eq!((c, err.as_str()), (0, ""));
    assert_eq!(running.drain(), b"q12t");
}

/// Our tools against djb's supervise: the same texts from both svstats,
/// and our svc drives it.
#[test]
fn ours_drive_djb_supervise() {
    if skip_without_daemontools("ours_drive_djb_supervise") {
        return;
    }
    let s = Scratch::new("cross-djb");
    let dir = make_service(&s.path, "svc", "exec sleep 1000");
    let stubborn = make_service(
        &s.path,
        "stubborn",
        "trap '' TERM\nwhile :; do sleep 1; done",
    );
    let mut g = Guard::new();
    for d in [&dir, &stubborn] {
        start_supervise(&mut g, &djb("supervise").unwrap(), d);
    }
    let both = |d: &Path| -> String {
        let (_, out, _) = same(
            &s.path,
            "svstat",
            &[d.file_name().unwrap().to_str().unwrap()],
        );
        out
    };
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    assert_eq!(run(ours("svok").arg(&dir)).0, 0);
    assert!(both(&dir).contains(": up (pid "));
    // Pause and continue.
    assert_eq!(run(ours("svc").arg("-p").arg(&dir)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || status(&dir)
        .is_some_and(|s| s.paused)));
    assert!(both(&dir).contains(", paused"));
    assert_eq!(run(ours("svc").arg("-c").arg(&dir)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || status(&dir)
        .is_some_and(|s| !s.paused)));
    // Down, then normally down and once.
    assert_eq!(run(ours("svc").arg("-d").arg(&dir)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_none()));
    assert!(both(&dir).contains(": down "));
    std::fs::write(dir.join("down"), "").unwrap();
    assert_eq!(run(ours("svc").arg("-o").arg(&dir)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    assert!(both(&dir).contains(", normally down"));
    // Want down on a process that ignores TERM.
    assert!(poll_until(Duration::from_secs(5), || up_pid(&stubborn).is_some()));
    assert_eq!(run(ours("svc").arg("-d").arg(&stubborn)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || status(&stubborn)
        .is_some_and(|s| s.want == Want::Down)));
    assert!(both(&stubborn).contains(", want down"));
    // Exit: supervise leaves once the service is down.
    let (c, _, _) = run(ours("svc").arg("-dx").arg(&dir));
    assert_eq!(c, 0);
    assert!(poll_until(Duration::from_secs(5), || {
        run(ours("svok").arg(&dir)).0 == 100
    }));
    assert_eq!(both(&dir), "svc: supervise not running\n");
    assert_eq!(run(ours("svc").arg("-k").arg(&stubborn)).0, 0);
}
