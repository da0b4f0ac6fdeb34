//! svscan: scanning, restarts, the lock, bad input, removal, the cap, its
//! own log; compared with daemontools' svscan where it has the feature.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(10);

fn stderr_of(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn missing_dir_and_file_fail_like_daemontools() {
    let s = Scratch::new("svscan-baddir");
    let file = s.join("file");
    std::fs::write(&file, "x").unwrap();
    for dir in [s.join("nope"), file] {
        let (code, _, err) = run(ours("svscan").arg(&dir));
        assert_eq!(code, 111, "{err}");
        assert!(
            err.starts_with("svscan: fatal: unable to chdir to "),
            "{err}"
        );
        if let Some(djb) = djb("svscan") {
            let (dcode, _, derr) = run(Command::new(djb).arg(&dir));
            assert_eq!((code, err.as_str()), (dcode, derr.as_str()));
        }
    }
    let (code, _, err) = run(ours("svscan").arg("a").arg("b"));
    assert_eq!(code, 100);
    assert_eq!(err, "svscan: usage: svscan [-c max] [dir]\n");
    let (code, _, _) = run(ours("svscan").arg("-x"));
    assert_eq!(code, 100);
}

#[test]
fn second_svscan_refused_and_record_verifies() {
    let s = Scratch::new("svscan-lock");
    let mut g = Guard::new();
    let pid = start_svscan(&mut g, &s.path, &s.join("err"));
    let lock = s.join(".svscan.lock");
    assert!(poll_until(T, || std::fs::read_to_string(&lock)
        .map(|t| t.ends_with('\n'))
        .unwrap_or(false)));
    let rec = std::fs::read_to_string(&lock).unwrap();
    let sig = svkit::procsig::ProcSig::of(pid).unwrap();
    assert_eq!(rec, format!("{} {}\n", sig.pid, sig.start));
    assert!(is_locked(&lock).unwrap());
    let (code, _, err) = run(ours("svscan").arg(&s.path));
    assert_eq!(code, 111);
    assert!(
        err.starts_with(&format!(
            "svscan: fatal: unable to acquire {}/.svscan.lock: temporary failure",
            s.path.display()
        )) && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert!(pid_alive(pid));
}

#[test]
fn starts_services_rescans_on_alarm_and_restarts_dead_supervise() {
    let s = Scratch::new("svscan-basic");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let a = make_service(&root, "a", "exec sleep 600");
    // A symlink to a service elsewhere is a service too.
    make_service(&s.path, "elsewhere", "exec sleep 600");
    std::os::unix::fs::symlink(s.join("elsewhere"), root.join("b")).unwrap();
    // A second name for the same directory: one supervise (dev+ino).
    std::os::unix::fs::symlink(s.join("elsewhere"), root.join("b2")).unwrap();
    make_service(&root, ".hidden", "exec sleep 600");
    let mut g = Guard::new();
    let pid = start_svscan(&mut g, &root, &s.join("err"));
    assert!(poll_until(T, || up_pid(&a).is_some()
        && up_pid(&root.join("b")).is_some()));
    assert!(!root.join(".hidden/supervise").exists());
    let sups: Vec<u32> = descendants(pid)
        .into_iter()
        .filter(|&p| parent(p) == Some(pid))
        .collect();
    assert_eq!(
        sups.len(),
        2,
        "one supervise per distinct directory: {sups:?}"
    );
    // Each supervise in its own process group (Ctrl-C reaches svscan only).
    for &p in &sups {
        assert_eq!(
            nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(p as i32)))
                .unwrap()
                .as_raw(),
            p as i32
        );
    }

    // A new service is picked up at once on SIGALRM (not after 5 s).
    let late = make_service(&root, "late", "exec sleep 600");
    signal(pid, Signal::SIGALRM);
    assert!(poll_until(Duration::from_millis(2500), || up_pid(&late).is_some()));

    // A supervise that dies after running a while is restarted at once.
    let sup = supervise_of(pid, &a).expect("supervise of a");
    std::thread::sleep(Duration::from_millis(1100));
    signal(sup, Signal::SIGKILL);
    assert!(poll_until(Duration::from_millis(2500), || supervise_of(
        pid, &a
    )
    .map(|p| p != sup)
    .unwrap_or(false)));
    assert!(poll_until(T, || supervised(&a)));
}

#[test]
fn removed_service_keeps_its_supervise_until_told_then_forgotten() {
    let s = Scratch::new("svscan-rm");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let x = make_service(&root, "x", "exec sleep 600");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&x).is_some()));
    // The daemontools way: move it out, then svc -dx.
    let moved = s.join("x-removed");
    std::fs::rename(&x, &moved).unwrap();
    signal(pid, Signal::SIGHUP);
    assert!(poll_until(T, || stderr_of(&err)
        .contains("x is gone from the scan directory")));
    assert!(supervised(&moved), "supervise keeps running (daemontools)");
    assert_eq!(svc("-dx", &moved), 0);
    assert!(poll_until(T, || !supervised(&moved)));
    signal(pid, Signal::SIGALRM);
    assert!(poll_until(T, || stderr_of(&err).contains("forgot x")));
    // Not restarted at later scans.
    signal(pid, Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!supervised(&moved));
    assert!(pid_alive(pid));
}

#[test]
fn bad_entries_are_reported_once_and_the_rest_runs() {
    let s = Scratch::new("svscan-bad");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let good = make_service(&root, "good", "exec sleep 600");
    std::fs::create_dir(root.join("norun")).unwrap();
    std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
    std::os::unix::fs::symlink(s.join("nowhere"), root.join("dangling")).unwrap();
    std::fs::write(root.join("plainfile"), "not a service").unwrap();
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&good).is_some()));
    assert!(poll_until(T, || {
        let e = stderr_of(&err);
        e.contains("svscan: warning: not starting norun yet: unable to stat norun/run: file does not exist")
            && e.contains("svscan: warning: unable to stat loop1: symbolic link loop")
            && e.contains("svscan: warning: unable to stat dangling: file does not exist")
    }));
    // Further scans do not repeat the same warnings.
    signal(pid, Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(300));
    signal(pid, Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(300));
    let e = stderr_of(&err);
    assert_eq!(e.matches("loop1").count(), 1, "{e}");
    assert!(!e.contains("plainfile"), "{e}");
    // Once run appears, the directory is started.
    write_script(&root.join("norun/run"), "#!/bin/sh\nexec sleep 600\n");
    signal(pid, Signal::SIGALRM);
    assert!(poll_until(T, || up_pid(&root.join("norun")).is_some()));
    assert!(pid_alive(pid));
}

/// svscan on `dir` under `prlimit --nofile=N`, with extra arguments.
fn svscan_limited(
    g: &mut Guard,
    nofile: Option<u32>,
    args: &[&str],
    dir: &Path,
    err: &Path,
) -> u32 {
    let f = std::fs::File::create(err).expect("stderr file");
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={}:{}", n / 2, n))
                .arg(bin("svscan"));
            c
        }
        None => Command::new(bin("svscan")),
    };
    g.spawn(
        cmd.args(args)
            .arg(dir)
            .env("PATH", path_with_ours())
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f),
    )
}

/// "Max open files" soft and hard limits of a process.
fn nofile_of(pid: u32) -> Option<(String, String)> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let l = t.lines().find(|l| l.starts_with("Max open files"))?;
    let mut w = l.split_whitespace().skip(3);
    Some((w.next()?.to_string(), w.next()?.to_string()))
}

#[test]
fn more_than_the_cap_is_refused_clearly() {
    // Default cap: sized from the descriptor limit (two pipe ends per
    // logged service, 64 kept for svscan itself); the soft limit is
    // raised to the hard one.
    let s = Scratch::new("svscan-cap");
    for i in 0..120 {
        std::fs::create_dir(s.join(&format!("s{i:04}"))).unwrap();
    }
    let mut g = Guard::new();
    let errp = s.join("err");
    if which("prlimit") {
        let pid = svscan_limited(&mut g, Some(300), &[], &s.path, &errp);
        let ok = poll_until(T, || {
            stderr_of(&errp).contains(
                "svscan: warning: unable to start s0118: running too many services (limit 118, from 300 descriptors: raise ulimit -n or use svscan -c MAX)",
            )
        });
        let text = stderr_of(&errp);
        assert!(ok, "{}", &text[text.len().saturating_sub(500)..]);
        assert!(!text.contains("unable to start s0117:"), "{text}");
        assert_eq!(nofile_of(pid), Some(("300".into(), "300".into())));
        g.kill_all();
    }
    // -c sets it.
    let pid = svscan_limited(&mut g, None, &["-c", "5"], &s.path, &errp);
    assert!(poll_until(T, || stderr_of(&errp).contains(
        "svscan: warning: unable to start s0005: running too many services (limit 5, set by -c)"
    )));
    assert!(!stderr_of(&errp).contains("unable to start s0004:"));
    assert!(pid_alive(pid));
    for bad in [
        &["-c"][..],
        &["-c", "0"],
        &["-c", "x"],
        &["-c", "99999999999999999999"],
    ] {
        let (code, _, err) = run(ours("svscan").args(bad));
        assert_eq!(code, 100, "{bad:?}");
        assert_eq!(err, "svscan: usage: svscan [-c max] [dir]\n");
    }
}

fn which(prog: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(prog).exists())
}

#[test]
fn own_output_goes_to_svscan_log() {
    let s = Scratch::new("svscan-own");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    write_script(
        &root.join(".svscan/log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    make_service(&root, "chatty", "echo chatty says hello\nexec sleep 600");
    std::fs::create_dir(root.join("norun")).unwrap();
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    let log = root.join(".svscan/log");
    assert!(poll_until(T, || {
        let t = read_log(&log);
        t.contains("chatty says hello") && t.contains("svscan: warning: not starting norun yet")
    }));
    assert!(
        !stderr_of(&err).contains("norun"),
        "warnings go to the log, not stderr"
    );
    // SIGTERM: the tree goes down, .svscan/log last, exit 0.
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{e}");
    assert!(read_log(&log).contains("svscan: info: got SIGTERM: stopping"));
    assert!(!supervised(&log));
}

#[test]
fn stuck_service_is_killed_and_exit_says_so() {
    let s = Scratch::new("svscan-stuck");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(root.join(".svscan")).unwrap();
    std::fs::write(root.join(".svscan/timeout-stop"), "500\n").unwrap();
    let x = make_service(&root, "stubborn", "trap '' TERM\nwhile :; do sleep 1; done");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&x).is_some()));
    std::thread::sleep(Duration::from_millis(200));
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(30));
    assert_eq!(code, Some(111), "{e}");
    assert!(
        e.contains("stubborn did not down within 0.5s: sending KILL (svc -k)"),
        "{e}"
    );
    assert!(!supervised(&x));
}

#[test]
fn missing_supervise_is_reported_and_svscan_keeps_going() {
    let s = Scratch::new("svscan-nosup");
    // svscan alone in a directory, no supervise on PATH either.
    let lone = s.join("lone");
    std::fs::create_dir(&lone).unwrap();
    std::fs::copy(bin("svscan"), lone.join("svscan")).unwrap();
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    make_service(&root, "x", "exec sleep 600");
    let mut g = Guard::new();
    let err = s.join("err");
    let f = std::fs::File::create(&err).unwrap();
    let pid = g.spawn(
        Command::new(lone.join("svscan"))
            .arg(&root)
            .env("PATH", s.join("empty"))
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    );
    assert!(poll_until(T, || stderr_of(&err).contains(
        "svscan: warning: unable to start supervise x: file does not exist"
    )));
    assert!(pid_alive(pid));
    // SIGTERM with nothing running: a clean exit.
    signal(pid, Signal::SIGTERM);
    assert_eq!(wait_code(g.child(pid).unwrap(), T), Some(0));
}

#[test]
fn periodic_scan_sees_a_new_service_without_a_signal() {
    let s = Scratch::new("svscan-periodic");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    make_service(&root, "first", "exec sleep 600");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&root.join("first")).is_some()));
    // Let DIR's times age so the unchanged-directory shortcut applies,
    // then add a service: the next 5 s scan must notice DIR changed.
    std::thread::sleep(Duration::from_millis(5500));
    let second = make_service(&root, "second", "exec sleep 600");
    assert!(poll_until(Duration::from_secs(7), || up_pid(&second).is_some()));
    assert!(pid_alive(pid));
}

#[test]
fn shutdown_reaches_a_service_moved_out_of_the_scan_directory() {
    let s = Scratch::new("svscan-moved");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let x = make_service(&root, "x", "exec sleep 600");
    write_script(
        &x.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&x).is_some()
        && up_pid(&x.join("log")).is_some()));
    let moved = s.join("x-moved");
    std::fs::rename(&x, &moved).unwrap();
    signal(pid, Signal::SIGHUP);
    assert!(poll_until(T, || stderr_of(&err).contains("x is gone")));
    // svscan finds the supervise through its working directory.
    signal(pid, Signal::SIGTERM);
    assert_eq!(
        wait_code(g.child(pid).unwrap(), Duration::from_secs(30)),
        Some(0),
        "{}",
        stderr_of(&err)
    );
    assert!(!supervised(&moved) && !supervised(&moved.join("log")));
}

/// The same tree under daemontools' svscan and ours (no argument: the
/// current directory): the same directories get a supervise, and a
/// service's output reaches its log/ the same way.
#[test]
fn same_tree_same_services_as_daemontools() {
    if skip_without_daemontools("same_tree_same_services") {
        return;
    }
    let mut results = Vec::new();
    for (tag, scanner) in [("djb", djb("svscan").unwrap()), ("ours", bin("svscan"))] {
        let s = Scratch::new(&format!("svscan-cmp-{tag}"));
        let root = s.join("sv");
        std::fs::create_dir(&root).unwrap();
        let a = make_service(&root, "a", "echo a says hi\nexec sleep 600");
        write_script(
            &a.join("log/run"),
            "#!/bin/sh\nexec sh -c 'while read -r l; do echo \"$l\" >> ./got; done'\n",
        );
        make_service(&s.path, "target", "exec sleep 600");
        std::os::unix::fs::symlink(s.join("target"), root.join("b")).unwrap();
        make_service(&root, ".hidden", "exec sleep 600");
        std::fs::write(root.join("file"), "x").unwrap();
        let mut g = Guard::new();
        // djb's svscan runs djb's supervise (PATH); ours finds its own.
        let pid = g.spawn(
            Command::new(&scanner)
                .current_dir(&root)
                .env("PATH", "/usr/bin:/bin")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        assert!(poll_until(T, || std::fs::read_to_string(a.join("log/got"))
            .map(|t| t.contains("a says hi"))
            .unwrap_or(false)));
        assert!(poll_until(T, || supervised(&root.join("b"))));
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| supervised(&root.join(n)))
            .collect();
        if supervised(&a.join("log")) {
            names.push("a/log".into());
        }
        names.sort();
        let kids = descendants(pid)
            .into_iter()
            .filter(|&p| parent(p) == Some(pid))
            .count();
        results.push((names, kids));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[1].0, vec!["a", "a/log", "b"]);
}

#[test]
fn own_logger_restarted_when_its_supervise_is_killed() {
    let s = Scratch::new("svscan-ownkill");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let own = root.join(".svscan/log");
    write_script(&own.join("run"), &format!("#!/bin/sh\n{}\n", logger_run()));
    make_service(&root, "x", "exec sleep 600");
    let mut g = Guard::new();
    let pid = start_svscan(&mut g, &root, &s.join("err"));
    assert!(poll_until(T, || up_pid(&own).is_some()));
    let sup = supervise_of(pid, &own).expect("supervise of .svscan/log");
    std::thread::sleep(Duration::from_millis(1100));
    signal(sup, Signal::SIGKILL);
    assert!(poll_until(T, || supervise_of(pid, &own)
        .map(|p| p != sup)
        .unwrap_or(false)));
    // svscan's messages still reach the (new) logger.
    std::fs::create_dir(root.join("norun")).unwrap();
    signal(pid, Signal::SIGALRM);
    assert!(poll_until(T, || read_log(&own).contains("not starting norun yet")));
    signal(pid, Signal::SIGTERM);
    assert_eq!(
        wait_code(g.child(pid).unwrap(), Duration::from_secs(30)),
        Some(0)
    );
}

/// SPEC round 2: a duration in a file is parsed by svkit::duration, and
/// one beyond its range is clamped with a warning (it used to be taken
/// silently); the stop still waits for a service that takes a moment.
#[test]
fn huge_timeout_stop_is_clamped_with_a_warning() {
    let s = Scratch::new("svscan-hugetimeout");
    let root = s.join("sv");
    let a = make_service(
        &root,
        "a",
        "trap 'sleep 0.5; exit 0' TERM\nwhile :; do sleep 0.1; done",
    );
    std::fs::create_dir_all(root.join(".svscan")).unwrap();
    std::fs::write(root.join(".svscan/timeout-stop"), "18446744073709551615\n").unwrap();
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || up_pid(&a).is_some()));
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, T);
    assert_eq!(code, Some(0), "{e}");
    assert!(e.contains("timeout-stop: too long: using "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn wakeups(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Issue 13: an idle scanner does not wake up at all (no 5 s polling
/// while nothing waits: the directory is watched), and a service moved
/// into DIR is started at once, not at the next 5 s scan.
#[test]
fn idle_scanner_sleeps_and_sees_a_new_service_at_once() {
    let s = Scratch::new("svscan-idle");
    let root = s.join("sv");
    for i in 0..20 {
        make_service(&root, &format!("s{i:02}"), "exec sleep 600");
    }
    std::thread::sleep(Duration::from_millis(2100));
    let mut g = Guard::new();
    let pid = start_svscan(&mut g, &root, &s.join("err"));
    assert!(poll_until(T, || (0..20)
        .all(|i| up_pid(&root.join(format!("s{i:02}"))).is_some())));
    // Past the first periodic tick, which finds DIR unchanged.
    std::thread::sleep(Duration::from_millis(6000));
    let w0 = wakeups(pid);
    std::thread::sleep(Duration::from_millis(6000));
    assert_eq!(wakeups(pid) - w0, 0, "svscan woke up while idle");
    // A new service, prepared elsewhere and moved in: started at once.
    let new = make_service(&s.path, "new", "exec sleep 600");
    let t0 = std::time::Instant::now();
    std::fs::rename(&new, root.join("new")).unwrap();
    assert!(poll_until(T, || up_pid(&root.join("new")).is_some()));
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        t0.elapsed()
    );
}
