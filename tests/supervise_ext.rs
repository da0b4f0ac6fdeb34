//! supervise beyond daemontools: finish, readiness, down-signal,
//! timeout-kill, the xstatus record, crash-loop CPU.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use svkit::xstatus;

const WAIT: Duration = Duration::from_secs(5);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// CPU ticks (user + system) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn finish_gets_exit_code_and_signal() {
    let s = Scratch::new("finish-args");
    let mut g = Guard::new();
    let log = s.join("finish.log");
    let dir = make_service(&s.path, "x", "sleep 0.3\nexit 3");
    write_script(
        &dir.join("finish"),
        &format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", log.display()),
    );
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || read(&log).contains("3 0\n")));
    // Now a run that gets killed by a signal.
    write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 100\n");
    assert!(poll_until(WAIT, || {
        up_pid(&dir).is_some_and(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep"))
        })
    }));
    send(&dir, "k");
    assert!(
        poll_until(WAIT, || read(&log).contains("256 9\n")),
        "{}",
        read(&log)
    );
    let x = xstatus(&dir).unwrap();
    let sigkilled = x.history.iter().any(|d| d.signal() == Some(9));
    let exit3 = x.history.iter().any(|d| d.code() == Some(3));
    assert!(sigkilled && exit3, "{:?}", x.history);
}

#[test]
fn finish_runs_before_the_next_start_and_is_killed_after_timeout() {
    let s = Scratch::new("finish-timeout");
    let mut g = Guard::new();
    let log = s.join("log");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo run >> {l}\nexec sleep 100", l = log.display()),
    );
    write_script(
        &dir.join("finish"),
        &format!(
            "#!/bin/sh\necho finish >> {l}\nexec sleep 100\n",
            l = log.display()
        ),
    );
    std::fs::write(dir.join("timeout-finish"), "700\n").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    std::thread::sleep(Duration::from_millis(1100));
    send(&dir, "t");
    let t = Instant::now();
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_FINISHING))));
    assert_eq!(up_pid(&dir), None, "down while finish runs");
    assert!(poll_until(WAIT, || read(&log).lines().count() >= 3));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "restarted after {took:?}, before finish was killed"
    );
    assert_eq!(read(&log), "run\nfinish\nrun\n");
    assert!(!xstatus(&dir).unwrap().has(xstatus::FLAG_FINISHING));
}

#[test]
fn readiness_is_recorded_when_the_newline_arrives() {
    let s = Scratch::new("ready");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "sleep 1\necho >&5\nexec sleep 100");
    std::fs::write(dir.join("notification-fd"), "5\n").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let t = Instant::now();
    let x = xstatus(&dir).unwrap();
    assert!(!x.has(xstatus::FLAG_READY));
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_READY))));
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let x = xstatus(&dir).unwrap();
    let lag = x.changed.elapsed_to(x.ready);
    assert!(
        lag >= Duration::from_millis(950) && lag < Duration::from_secs(3),
        "ready {lag:?} after start"
    );
    // A death clears readiness.
    send(&dir, "d");
    assert!(poll_until(WAIT, || xstatus(&dir).is_some_and(|x| !x
        .has(xstatus::FLAG_READY)
        && x.child.pid == 0)));
}

#[test]
fn down_signal_is_used_by_d() {
    for (text, name) in [("HUP", "HUP"), ("SIGUSR1", "USR1"), ("12", "USR2")] {
        let s = Scratch::new("downsig");
        let mut g = Guard::new();
        let log = s.join("got");
        let body = format!(
            "trap 'echo {name} > {l}; exit 0' {name}\necho up > {l}\nwhile :; do sleep 0.05; done",
            l = log.display()
        );
        let dir = make_service(&s.path, "x", &body);
        std::fs::write(dir.join("down-signal"), format!("{text}\n")).unwrap();
        start_supervise(&mut g, &bin("supervise"), &dir);
        assert!(poll_until(WAIT, || read(&log) == "up\n"));
        send(&dir, "d");
        assert!(
            poll_until(WAIT, || read(&log) == format!("{name}\n")),
            "{text}"
        );
        assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    }
}

#[test]
fn timeout_kill_kills_the_whole_group() {
    let s = Scratch::new("tkill");
    let mut g = Guard::new();
    let gc = s.join("grandchild");
    let body = format!(
        "trap '' TERM\nsh -c 'trap \"\" TERM; echo $$ > {p}; exec sleep 100' &\nwhile :; do sleep 0.05; done",
        p = gc.display()
    );
    let dir = make_service(&s.path, "x", &body);
    std::fs::write(dir.join("timeout-kill"), "500").unwrap();
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || read(&gc).trim().parse::<u32>().is_ok()));
    let grandchild: u32 = read(&gc).trim().parse().unwrap();
    g.adopt(grandchild);
    let child = up_pid(&dir).unwrap();
    let t = Instant::now();
    send(&dir, "d");
    std::thread::sleep(Duration::from_millis(250));
    assert!(pid_alive(child) && pid_alive(grandchild), "TERM is ignored");
    assert!(poll_until(WAIT, || !pid_alive(child) && !pid_alive(grandchild)));
    assert!(t.elapsed() >= Duration::from_millis(450));
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    let x = xstatus(&dir).unwrap();
    assert_eq!(x.last_exit.unwrap().signal(), Some(9));
    assert!(pid_alive(sup));
}

/// `svc -d` again and again does not push the deadline back: the first
/// `d` armed it, and the service dies then.
#[test]
fn repeated_d_does_not_postpone_timeout_kill() {
    let s = Scratch::new("tkill-repeat");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "trap '' TERM\nwhile :; do sleep 0.05; done");
    std::fs::write(dir.join("timeout-kill"), "1500").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let child = up_pid(&dir).unwrap();
    g.adopt(child);
    let t = Instant::now();
    let mut killed = false;
    while t.elapsed() < Duration::from_secs(5) {
        send(&dir, "d");
        if poll_until(Duration::from_millis(400), || !pid_alive(child)) {
            killed = true;
            break;
        }
    }
    assert!(
        killed,
        "a d every 400 ms kept a TERM-ignoring service alive"
    );
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn xstatus_tracks_signatures_and_flags() {
    let s = Scratch::new("xst");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    let x = xstatus(&dir).unwrap();
    assert_eq!(x.child, svkit::procsig::ProcSig::of(pid).unwrap());
    assert_eq!(x.supervisor, svkit::procsig::ProcSig::of(sup).unwrap());
    assert!(x.has(xstatus::FLAG_NORMALLY_UP));
    assert_eq!(x.changed, status(&dir).unwrap().when);
    send(&dir, "p");
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_PAUSED))));
    send(&dir, "c");
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| !x.has(xstatus::FLAG_PAUSED))));
    send(&dir, "x");
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_EXITING))));
    send(&dir, "t");
    assert!(poll_until(WAIT, || !pid_alive(sup)));
    let x = xstatus(&dir).unwrap();
    assert_eq!(x.child.pid, 0);
    assert_eq!(x.last_exit.unwrap().signal(), Some(15));
    assert_eq!(x.history.len(), 1);
}

#[test]
fn crash_loop_keeps_supervise_idle() {
    let s = Scratch::new("crash");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(&s.path, "x", &format!("echo >> {}\nexit 1", log.display()));
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(3300));
    let starts = read(&log).lines().count();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        starts >= 3 && (starts as f64) <= secs + 1.5,
        "{starts} starts in {secs:.1} s"
    );
    // Debug build: be generous; a spinning loop would use ~330 ticks.
    let ticks = cpu_ticks(sup);
    assert!(ticks < 30, "supervise used {ticks} ticks in {secs:.1} s");
    let x = xstatus(&dir).unwrap();
    assert!(x.history.len() >= 2);
    assert!(x.history.iter().all(|d| d.code() == Some(1)));
}

#[test]
fn djb_svstat_reads_our_status_with_extensions() {
    let Some(svstat) = djb("svstat") else {
        eprintln!("djb_svstat_reads_our_status_with_extensions: skipped: no daemontools");
        return;
    };
    let s = Scratch::new("djbext");
    let mut g = Guard::new();
    let dir = make_service(
        &s.path,
        "x",
        "echo >&4\ntrap 'exit 0' HUP\nwhile :; do sleep 0.05; done",
    );
    std::fs::write(dir.join("notification-fd"), "4").unwrap();
    std::fs::write(dir.join("down-signal"), "HUP").unwrap();
    std::fs::write(dir.join("timeout-kill"), "2000").unwrap();
    write_script(&dir.join("finish"), "#!/bin/sh\nsleep 0.2\n");
    std::fs::write(dir.join("down"), "").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    send(&dir, "u");
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.has(xstatus::FLAG_READY))));
    let pid = up_pid(&dir).unwrap();
    let line = || svkit_line(&svstat, &dir);
    let l = line();
    assert!(
        l.starts_with(&format!("{}: up (pid {pid}) ", dir.display()))
            && l.ends_with(" seconds, normally down\n"),
        "{l}"
    );
    send(&dir, "d");
    assert!(poll_until(WAIT, || {
        let l = line();
        l.starts_with(&format!("{}: down ", dir.display())) && l.ends_with(" seconds\n")
    }));
}

fn svkit_line(svstat: &Path, dir: &Path) -> String {
    run(std::process::Command::new(svstat).arg(dir)).1
}
