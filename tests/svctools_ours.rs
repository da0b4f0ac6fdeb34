//! svc, svok and svstat against svkit's own supervise: readiness waits,
//! finish, the extended record, and djb's tools reading and driving ours
//! with every feature in use. Skips (saying why) while our supervise is
//! not built yet.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// True when our supervise really supervises (not the placeholder).
fn have_our_supervise(test: &str) -> bool {
    let s = Scratch::new("probe-supervise");
    let dir = make_service(&s.path, "p", "exec sleep 100");
    std::fs::write(dir.join("down"), "").unwrap();
    let mut g = Guard::new();
    g.spawn(
        Command::new(bin("supervise"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let ok = poll_until(Duration::from_secs(3), || {
        svkit::control::supervise_running(&dir).unwrap_or(false)
    });
    if !ok {
        eprintln!("{test}: skipped: our supervise is not built yet");
    }
    ok
}

fn svc(args: &[&str], dir: &Path) -> (i32, String, Duration) {
    let t0 = Instant::now();
    let (code, _, err) = run(ours("svc").args(args).arg(dir));
    (code, err, t0.elapsed())
}

fn svstat(opt: Option<&str>, dir: &Path) -> String {
    let mut c = ours("svstat");
    if let Some(o) = opt {
        c.arg(o);
    }
    let (code, out, _) = run(c.arg(dir));
    assert_eq!(code, 0);
    out
}

/// Ours and djb's svstat print the same (retried across a second tick).
fn same_svstat(dir: &Path) -> String {
    let theirs = djb("svstat").unwrap();
    for _ in 0..3 {
        let a = svstat(None, dir);
        let b = run(Command::new(&theirs).arg(dir)).1;
        if a == b {
            return a;
        }
    }
    panic!("svstat texts differ for {}", dir.display());
}

#[test]
fn wait_ready_after_one_second_with_our_supervise() {
    if !have_our_supervise("wait_ready_after_one_second_with_our_supervise") {
        return;
    }
    let s = Scratch::new("ours-ready");
    let dir = make_service(&s.path, "x", "sleep 1\necho >&3\nexec sleep 1000");
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
    std::fs::write(dir.join("down"), "").unwrap();
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &dir);
    let (code, err, took) = svc(&["-u", "-wU", "-T", "10s"], &dir);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(
        took >= Duration::from_millis(950),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    assert_eq!(j["state"], "up");
    assert_eq!(j["ready"], true);
    assert!(svstat(Some("-v"), &dir).contains(", ready for "));
    // Restart: -wU -t waits for the new process to be ready again.
    let old = j["pid"].as_u64().unwrap();
    let (code, _, took) = svc(&["-t", "-wU", "-T", "10s"], &dir);
    assert_eq!(code, 0);
    assert!(took >= Duration::from_millis(950), "{took:?}");
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    assert_ne!(j["pid"].as_u64().unwrap(), old);
    assert_eq!(j["ready"], true);
    assert_eq!(j["last_exit"]["signal"], 15);
    // Not ready within the limit: 99.
    let (code, err, took) = svc(&["-t", "-wU", "-T", "300ms"], &dir);
    assert_eq!(code, 99, "{err}");
    assert!(took < Duration::from_millis(900), "{took:?}");
    let (code, _, _) = svc(&["-dx", "-wd", "-T", "5s"], &dir);
    assert_eq!(code, 0);
}

#[test]
fn wait_down_and_finished_with_our_supervise() {
    if !have_our_supervise("wait_down_and_finished_with_our_supervise") {
        return;
    }
    let s = Scratch::new("ours-finish");
    let dir = make_service(&s.path, "x", "exec sleep 1000");
    write_script(&dir.join("finish"), "#!/bin/sh\nsleep 1\n");
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    let (code, _, took) = svc(&["-d", "-wd", "-T", "5s"], &dir);
    assert_eq!(code, 0);
    assert!(took < Duration::from_millis(900), "{took:?}");
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    assert_eq!(j["state"], "down");
    let (code, _, took) = svc(&["-wD", "-T", "5s"], &dir);
    assert_eq!(code, 0);
    assert!(
        took >= Duration::from_millis(300),
        "finish still ran: {took:?}"
    );
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    assert_eq!(j["finishing"], false);
    // Supervise exiting during a wait ends it with 111.
    let d2 = dir.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        run(ours("svc").arg("-x").arg(&d2))
    });
    let (code, err, took) = svc(&["-wu", "-T", "10s"], &dir);
    t.join().unwrap();
    assert_eq!(code, 111, "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn djb_tools_read_and_drive_ours_with_features_in_use() {
    if skip_without_daemontools("djb_tools_read_and_drive_ours_with_features_in_use")
        || !have_our_supervise("djb_tools_read_and_drive_ours_with_features_in_use")
    {
        return;
    }
    let s = Scratch::new("ours-djb");
    let dir = make_service(&s.path, "x", "echo >&3\nexec sleep 1000");
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
    std::fs::write(dir.join("down-signal"), "TERM\n").unwrap();
    std::fs::write(dir.join("timeout-kill"), "2000\n").unwrap();
    write_script(&dir.join("finish"), "#!/bin/sh\nexit 0\n");
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    assert_eq!(run(Command::new(djb("svok").unwrap()).arg(&dir)).0, 0);
    assert!(poll_until(Duration::from_secs(5), || {
        svstat(Some("-v"), &dir).contains("ready for")
    }));
    // A death in the history, a fresh pid, readiness: djb still reads it.
    let first = up_pid(&dir).unwrap();
    assert_eq!(
        run(Command::new(djb("svc").unwrap()).arg("-k").arg(&dir)).0,
        0
    );
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir)
        .is_some_and(|p| p != first)));
    let line = same_svstat(&dir);
    assert!(line.contains(": up (pid "), "{line}");
    assert!(svstat(Some("-v"), &dir).contains("killed by SIGKILL"));
    // djb's svc drives ours: pause, continue, down, normally down + once.
    let djb_svc = |l: &str| run(Command::new(djb("svc").unwrap()).arg(l).arg(&dir)).0;
    assert_eq!(djb_svc("-p"), 0);
    assert!(poll_until(Duration::from_secs(5), || same_svstat(&dir)
        .contains(", paused")));
    assert_eq!(djb_svc("-c"), 0);
    assert_eq!(djb_svc("-d"), 0);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_none()));
    assert!(same_svstat(&dir).contains(": down "));
    std::fs::write(dir.join("down"), "").unwrap();
    assert_eq!(djb_svc("-o"), 0);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    assert!(same_svstat(&dir).contains(", normally down"));
    // JSON agrees with the text.
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    let line = svstat(None, &dir);
    assert!(line.contains(&format!("(pid {})", j["pid"])), "{line} {j}");
    assert_eq!(j["normally"], "down");
    assert_eq!(djb_svc("-dx"), 0);
    assert!(poll_until(Duration::from_secs(5), || {
        run(Command::new(djb("svok").unwrap()).arg(&dir)).0 == 100
    }));
    assert_eq!(
        same_svstat(&dir),
        format!("{}: supervise not running\n", dir.display())
    );
}

#[test]
fn killed_supervise_leaves_a_stale_status() {
    if !have_our_supervise("killed_supervise_leaves_a_stale_status") {
        return;
    }
    let s = Scratch::new("ours-stale");
    let dir = make_service(&s.path, "x", "exec sleep 1000");
    let mut g = Guard::new();
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    let child = up_pid(&dir).unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(poll_until(Duration::from_secs(5), || {
        !svkit::control::supervise_running(&dir).unwrap_or(true)
    }));
    g.adopt(child);
    let j: Value = serde_json::from_str(&svstat(Some("--json"), &dir)).unwrap();
    assert_eq!(j["state"], "unsupervised");
    assert_eq!(j["stale"], true);
    assert_eq!(j["pid"], Value::Null);
    let out = svstat(None, &dir);
    assert!(!out.contains(": up"), "{out}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}
