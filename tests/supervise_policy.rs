//! The opt-in restart policy (issue 11): `finish` exiting 125 means a
//! permanent failure (stay down until `svc -u`), and the `backoff` file
//! makes a service that keeps dying right after its start wait longer and
//! longer. Without either, daemontools' one-second floor.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use svkit::xstatus;

const WAIT: Duration = Duration::from_secs(5);

fn count(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn finish_125_is_a_permanent_failure_until_u() {
    let s = Scratch::new("policy-125");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexit 1", log.display()),
    );
    write_script(&dir.join("finish"), "#!/bin/sh\nexit 125\n");
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || count(&log) == 1));
    assert!(poll_until(WAIT, || xstatus(&dir).is_some_and(|x| x
        .has(xstatus::FLAG_FAILED)
        && !x.has(xstatus::FLAG_FINISHING))));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&log), 1, "restarted after finish exited 125");
    let st = status(&dir).unwrap();
    assert_eq!((st.pid, st.want), (0, svkit::status::Want::Down));
    let (_, out, _) = run(ours("svstat").arg("-v").arg(&dir));
    assert!(out.contains("failed"), "{out}");
    send(&dir, "u");
    assert!(poll_until(WAIT, || count(&log) == 2));
    // It fails again, and stays down again.
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_FAILED))));
}

#[test]
fn backoff_doubles_while_the_service_dies_young() {
    let s = Scratch::new("policy-backoff");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexit 1", log.display()),
    );
    // min 1 s, max 4 s, a run younger than 5 s at its death counts.
    std::fs::write(dir.join("backoff"), "1000 4000 5000\n").unwrap();
    let t = Instant::now();
    start_supervise(&mut g, &bin("supervise"), &dir);
    // Starts at about 0, 1, 3, 7 s (delays 1, 2, 4): 3 by 5.5 s, where
    // the floor alone would have made 6.
    assert!(poll_until(WAIT, || count(&log) >= 2));
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_BACKOFF))));
    let (_, out, _) = run(ours("svstat").arg("-v").arg(&dir));
    assert!(out.contains("restart in"), "{out}");
    let (_, json, _) = run(ours("svstat").arg("--json").arg(&dir));
    assert!(json.contains("\"next_restart_seconds\""), "{json}");
    while t.elapsed() < Duration::from_millis(5500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = count(&log);
    assert!((3..=4).contains(&n), "{n} starts in 5.5 s");
}

#[test]
fn without_policy_files_the_floor_rules() {
    let s = Scratch::new("policy-none");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexit 1", log.display()),
    );
    write_script(&dir.join("finish"), "#!/bin/sh\nexit 3\n");
    let t = Instant::now();
    start_supervise(&mut g, &bin("supervise"), &dir);
    while t.elapsed() < Duration::from_millis(3500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = count(&log);
    assert!((3..=5).contains(&n), "{n} starts in 3.5 s");
    let x = xstatus(&dir).unwrap();
    assert!(!x.has(xstatus::FLAG_FAILED) && !x.has(xstatus::FLAG_BACKOFF));
}

#[test]
fn a_replaced_supervise_keeps_the_backoff_and_the_failure() {
    let s = Scratch::new("policy-keep");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexit 1", log.display()),
    );
    std::fs::write(dir.join("backoff"), "4000 4000 5000\n").unwrap();
    let first = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || count(&log) == 1));
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_BACKOFF))));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    start_supervise(&mut g, &bin("supervise"), &dir);
    // The floor alone would start it at once; the backoff says 4 s.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&log), 1, "the replacement forgot the backoff");
    assert!(xstatus(&dir).is_some_and(|x| x.has(xstatus::FLAG_BACKOFF)));
    // A failed service stays down across a replacement too.
    std::fs::remove_file(dir.join("backoff")).unwrap();
    write_script(&dir.join("finish"), "#!/bin/sh\nexit 125\n");
    send(&dir, "u");
    assert!(poll_until(WAIT, || count(&log) == 2));
    assert!(poll_until(WAIT, || xstatus(&dir).is_some_and(|x| x
        .has(xstatus::FLAG_FAILED)
        && !x.has(xstatus::FLAG_FINISHING))));
    let x = xstatus(&dir).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(x.supervisor.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    if let Some(c) = g.child(x.supervisor.pid) {
        let _ = c.wait();
    }
    start_supervise(&mut g, &bin("supervise"), &dir);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&log), 2, "the replacement restarted a failed service");
    assert_eq!(status(&dir).unwrap().want, svkit::status::Want::Down);
}
