//! supervise: daemontools 0.76 behaviour, side by side with djb's binary
//! where it is installed, and driven by djb's svc/svstat.

mod common;

use common::*;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// Starts `program DIR` with stderr captured into DIR/../NAME.err.
fn start_logged(g: &mut Guard, program: &Path, dir: &Path) -> (u32, PathBuf) {
    let err = dir.with_extension("err");
    let pid = g.spawn(
        Command::new(program)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("stderr file")),
    );
    assert!(
        poll_until(WAIT, || svkit::control::supervise_running(dir)
            .unwrap_or(false)),
        "supervise did not start on {}",
        dir.display()
    );
    (pid, err)
}

fn svc(args: &[&str], dir: &Path) {
    let (code, _, err) = run(Command::new(bin("svc")).args(args).arg(dir));
    if code != 0 {
        // Fall back to writing letters ourselves while our svc is not built.
        let letters: String = args.iter().map(|a| a.trim_start_matches('-')).collect();
        let mut f = svkit::control::open_control(dir).expect("control");
        std::io::Write::write_all(&mut f, letters.as_bytes()).expect("write control");
        let _ = err;
    }
}

/// (up, paused, want) as a status record says it.
fn shape(dir: &Path) -> (bool, u8, u8) {
    let b = std::fs::read(dir.join("supervise/status")).expect("status");
    assert_eq!(b.len(), 18, "status must be 18 bytes");
    let pid = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    (pid != 0, b[16], b[17])
}

fn wait_shape(dir: &Path, want: (bool, u8, u8)) -> bool {
    poll_until(WAIT, || shape(dir) == want)
}

fn exited(g: &mut Guard, pid: u32, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    let child = g.child(pid)?;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The same control sequence on one supervise; returns the observed shapes.
fn scenario(program: &Path, root: &Path) -> Vec<(bool, u8, u8)> {
    let mut g = Guard::new();
    let dir = make_service(root, "svc", "exec sleep 100");
    start_supervise(&mut g, program, &dir);
    let mut seen = Vec::new();
    assert!(wait_shape(&dir, (true, 0, b'u')));
    seen.push(shape(&dir));
    let first = up_pid(&dir).unwrap();
    assert!(pid_alive(first));
    svc(&["-p"], &dir);
    assert!(wait_shape(&dir, (true, 1, b'u')));
    seen.push(shape(&dir));
    svc(&["-c"], &dir);
    assert!(wait_shape(&dir, (true, 0, b'u')));
    svc(&["-d"], &dir);
    assert!(wait_shape(&dir, (false, 0, b'd')));
    seen.push(shape(&dir));
    assert!(poll_until(WAIT, || !pid_alive(first)));
    svc(&["-p"], &dir);
    std::thread::sleep(Duration::from_millis(100));
    seen.push(shape(&dir));
    svc(&["-o"], &dir);
    assert!(wait_shape(&dir, (true, 0, 0)));
    seen.push(shape(&dir));
    svc(&["-u"], &dir);
    assert!(wait_shape(&dir, (true, 0, b'u')));
    svc(&["-dx"], &dir);
    seen
}

#[test]
fn status_shapes_match_daemontools() {
    if skip_without_daemontools("status_shapes_match_daemontools") {
        return;
    }
    let s = Scratch::new("shapes");
    let ours = scenario(&bin("supervise"), &s.join("ours"));
    let theirs = scenario(&djb("supervise").unwrap(), &s.join("djb"));
    assert_eq!(ours, theirs);
}

fn modes(dir: &Path) -> Vec<(String, u32)> {
    [
        "supervise",
        "supervise/lock",
        "supervise/control",
        "supervise/ok",
        "supervise/status",
    ]
    .iter()
    .map(|n| {
        let m = std::fs::metadata(dir.join(n))
            .expect(n)
            .permissions()
            .mode();
        (n.to_string(), m & 0o7777)
    })
    .collect()
}

#[test]
fn files_and_modes_match_daemontools() {
    if skip_without_daemontools("files_and_modes_match_daemontools") {
        return;
    }
    let s = Scratch::new("modes");
    let mut g = Guard::new();
    let a = make_service(&s.path, "ours", "exec sleep 100");
    let b = make_service(&s.path, "djb", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &a);
    start_supervise(&mut g, &djb("supervise").unwrap(), &b);
    assert!(poll_until(WAIT, || up_pid(&a).is_some() && up_pid(&b).is_some()));
    assert_eq!(modes(&a), modes(&b));
    assert_eq!(modes(&a)[0].1, 0o700);
    for d in [&a, &b] {
        let ft = std::fs::metadata(d.join("supervise/control"))
            .unwrap()
            .file_type();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&ft));
    }
}

#[test]
fn second_supervise_fails_like_djb() {
    let s = Scratch::new("lock");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &dir);
    let (code, out, err) = run(Command::new(bin("supervise")).arg(&dir));
    assert_eq!(code, 111);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
            dir.display()
        )
    );
    if let Some(d) = djb("supervise") {
        let (c2, _, e2) = run(Command::new(d).arg(&dir));
        assert_eq!((c2, e2), (code, err));
    }
}

#[test]
fn usage_and_missing_dir_match_djb() {
    let cases: Vec<Vec<&str>> = vec![vec![], vec!["a", "b"], vec!["/nonexistent/svkit-x"]];
    for args in cases {
        let (code, out, err) = run(Command::new(bin("supervise")).args(&args));
        assert_eq!(out, "");
        if args.len() == 1 {
            assert_eq!(code, 111);
            assert_eq!(
                err,
                "supervise: fatal: unable to chdir to /nonexistent/svkit-x: file does not exist\n"
            );
        } else {
            assert_eq!(code, 100);
            assert_eq!(err, "supervise: usage: supervise dir\n");
        }
        if let Some(d) = djb("supervise") {
            assert_eq!(run(Command::new(d).args(&args)), (code, out, err));
        }
    }
}

#[test]
fn restart_floor_is_one_start_per_second() {
    let s = Scratch::new("floor");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo x >> {}\nexit 1", log.display()),
    );
    start_supervise(&mut g, &bin("supervise"), &dir);
    let t0 = Instant::now();
    assert!(poll_until(WAIT, || std::fs::read_to_string(&log)
        .map(|t| t.lines().count() >= 3)
        .unwrap_or(false)));
    let took = t0.elapsed();
    // Three starts need at least two floors.
    assert!(
        took >= Duration::from_millis(1900),
        "three starts in {took:?}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let n = std::fs::read_to_string(&log).unwrap().lines().count();
    let secs = t0.elapsed().as_secs_f64();
    assert!((n as f64) <= secs + 1.5, "{n} starts in {secs:.1} s");
}

#[test]
fn long_lived_run_restarts_at_once() {
    let s = Scratch::new("once");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let first = up_pid(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let t = Instant::now();
    svc(&["-k"], &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some_and(|p| p != first)));
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "restart took {:?}",
        t.elapsed()
    );
}

#[test]
fn down_file_starts_down_and_u_starts() {
    let s = Scratch::new("down");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    std::fs::write(dir.join("down"), "").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(wait_shape(&dir, (false, 0, b'd')));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(up_pid(&dir), None);
    svc(&["-u"], &dir);
    assert!(wait_shape(&dir, (true, 0, b'u')));
}

/// Records the status timestamp through a sequence; true where it changed.
fn stamp_changes(program: &Path, root: &Path) -> Vec<bool> {
    let mut g = Guard::new();
    let dir = make_service(root, "x", "trap '' HUP\nexec sleep 100");
    start_supervise(&mut g, program, &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let stamp = || std::fs::read(dir.join("supervise/status")).unwrap()[..12].to_vec();
    let mut out = Vec::new();
    let mut last = stamp();
    let steps: [(&str, (bool, u8, u8)); 5] = [
        ("-p", (true, 1, b'u')),
        ("-c", (true, 0, b'u')),
        ("-h", (true, 0, b'u')),
        ("-d", (false, 0, b'd')),
        ("-d", (false, 0, b'd')),
    ];
    for (letter, shape_after) in steps {
        std::thread::sleep(Duration::from_millis(50));
        svc(&[letter], &dir);
        assert!(wait_shape(&dir, shape_after), "{letter}");
        std::thread::sleep(Duration::from_millis(100));
        let now = stamp();
        out.push(now != last);
        last = now;
    }
    out
}

#[test]
fn timestamp_changes_only_with_pid() {
    let s = Scratch::new("stamp");
    let ours = stamp_changes(&bin("supervise"), &s.join("ours"));
    assert_eq!(ours, vec![false, false, false, true, false]);
    if let Some(d) = djb("supervise") {
        assert_eq!(stamp_changes(&d, &s.join("djb")), ours);
    }
}

/// `x` on a running service: it keeps running; supervise exits (0) when
/// the child next dies, without restarting it.
fn x_then_kill(program: &Path, root: &Path) -> (bool, Option<i32>, bool) {
    let mut g = Guard::new();
    let dir = make_service(root, "x", "exec sleep 100");
    let sup = start_supervise(&mut g, program, &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let child = up_pid(&dir).unwrap();
    // djb's supervise reads no control byte in the second after a start.
    std::thread::sleep(Duration::from_millis(1100));
    svc(&["-x"], &dir);
    std::thread::sleep(Duration::from_millis(300));
    let still = pid_alive(child) && pid_alive(sup);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let code = exited(&mut g, sup, WAIT);
    let restarted = up_pid(&dir).is_some_and(|p| p != child);
    (still, code, restarted)
}

#[test]
fn x_waits_for_the_child() {
    let s = Scratch::new("x");
    let ours = x_then_kill(&bin("supervise"), &s.join("ours"));
    assert_eq!(ours, (true, Some(0), false));
    if let Some(d) = djb("supervise") {
        assert_eq!(x_then_kill(&d, &s.join("djb")), ours);
    }
}

#[test]
fn djb_svstat_reads_our_status() {
    let Some(svstat) = djb("svstat") else {
        eprintln!("djb_svstat_reads_our_status: skipped: no daemontools");
        return;
    };
    let s = Scratch::new("svstat");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    let line = |g: &Path| run(Command::new(&svstat).arg(g)).1;
    let l = line(&dir);
    let prefix = format!("{}: up (pid {pid}) ", dir.display());
    assert!(l.starts_with(&prefix) && l.ends_with(" seconds\n"), "{l}");
    let djb_svc = djb("svc").unwrap();
    run(Command::new(&djb_svc).arg("-p").arg(&dir));
    assert!(poll_until(WAIT, || line(&dir).ends_with("seconds, paused\n")));
    run(Command::new(&djb_svc).arg("-d").arg(&dir));
    assert!(poll_until(WAIT, || {
        let l = line(&dir);
        l.starts_with(&format!("{}: down ", dir.display())) && l.ends_with("seconds, normally up\n")
    }));
    run(Command::new(&djb_svc).arg("-o").arg(&dir));
    assert!(poll_until(WAIT, || line(&dir)
        .ends_with("seconds, want down\n")
        || {
            let l = line(&dir);
            l.contains(": up (pid ") && !l.contains("want")
        }));
    run(Command::new(&djb_svc).arg("-dx").arg(&dir));
    assert!(poll_until(WAIT, || line(&dir).ends_with("supervise not running\n")));
}

#[test]
fn child_has_its_own_session() {
    let s = Scratch::new("sid");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // fields 5 (pgrp) and 6 (session), counted from field 3 (state).
    assert_eq!(f[2], pid.to_string(), "process group");
    assert_eq!(f[3], pid.to_string(), "session");
}

#[test]
fn signal_letters_reach_the_child() {
    let s = Scratch::new("sigs");
    let mut g = Guard::new();
    let log = s.join("got");
    let body = format!(
        "for s in HUP ALRM INT QUIT USR1 USR2 TERM; do trap \"echo $s >> {l}\" $s; done\n\
         echo ready >> {l}\nwhile :; do sleep 0.05; done",
        l = log.display()
    );
    let dir = make_service(&s.path, "x", &body);
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || std::fs::read_to_string(&log).is_ok()));
    let pid = up_pid(&dir).unwrap();
    for (letter, name) in [
        ("h", "HUP"),
        ("a", "ALRM"),
        ("i", "INT"),
        ("q", "QUIT"),
        ("1", "USR1"),
        ("2", "USR2"),
        ("t", "TERM"),
    ] {
        let mut f = svkit::control::open_control(&dir).unwrap();
        std::io::Write::write_all(&mut f, letter.as_bytes()).unwrap();
        assert!(
            poll_until(WAIT, || std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|l| l == name)),
            "{name} not delivered"
        );
    }
    assert_eq!(up_pid(&dir), Some(pid), "trapped signals must not restart");
}

#[test]
fn missing_run_keeps_supervising_and_warns_once() {
    let s = Scratch::new("norun");
    let mut g = Guard::new();
    let dir = s.join("x");
    std::fs::create_dir_all(&dir).unwrap();
    let (sup, err) = start_logged(&mut g, &bin("supervise"), &dir);
    std::thread::sleep(Duration::from_millis(2300));
    let text = std::fs::read_to_string(&err).unwrap();
    assert_eq!(
        text,
        format!(
            "supervise: warning: unable to start {}/run: file does not exist\n",
            dir.display()
        )
    );
    assert!(pid_alive(sup));
    // It keeps retrying: a run that appears is started within a second or so.
    write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 100\n");
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    // And a CPU check: idle while it retried (well under 10% of 2.3 s).
    let stat = std::fs::read_to_string(format!("/proc/{sup}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    assert!(ticks < 25, "supervise used {ticks} ticks");
}

#[test]
fn run_not_executable_warns_once_per_cause() {
    let s = Scratch::new("noexec");
    let mut g = Guard::new();
    let dir = s.join("x");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run"), "#!/bin/sh\nexec sleep 100\n").unwrap();
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_sup, err) = start_logged(&mut g, &bin("supervise"), &dir);
    std::thread::sleep(Duration::from_millis(2300));
    let text = std::fs::read_to_string(&err).unwrap();
    assert_eq!(
        text,
        format!(
            "supervise: warning: unable to start {}/run: access denied\n",
            dir.display()
        )
    );
    assert_eq!(shape(&dir), (false, 0, b'u'));
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
}

#[test]
fn garbage_on_control_is_ignored() {
    let s = Scratch::new("garbage");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    let (sup, err) = start_logged(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i * 7 % 256) as u8)
        .filter(|b| !svkit::control::LETTERS.contains(b))
        .collect();
    let mut f = svkit::control::open_control(&dir).unwrap();
    std::io::Write::write_all(&mut f, &junk).unwrap();
    std::io::Write::write_all(&mut f, b"d").unwrap();
    assert!(wait_shape(&dir, (false, 0, b'd')));
    assert!(!pid_alive(pid) || poll_until(WAIT, || !pid_alive(pid)));
    assert!(pid_alive(sup));
    let text = std::fs::read_to_string(&err).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("supervise/control"), "{text}");
}

#[test]
fn read_only_supervise_dir_keeps_supervising() {
    // Root ignores permissions; run supervise as nobody via setpriv.
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() || !nix::unistd::Uid::effective().is_root() {
        eprintln!("read_only_supervise_dir_keeps_supervising: skipped: needs root and setpriv");
        return;
    }
    let s = Scratch::new("rodir");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sv = dir.join("supervise");
    std::fs::create_dir(&sv).unwrap();
    for f in ["lock", "status"] {
        std::fs::write(sv.join(f), "").unwrap();
    }
    nix::unistd::mkfifo(
        &sv.join("control"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    nix::unistd::mkfifo(
        &sv.join("ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let nobody = nix::unistd::Uid::from_raw(65534);
    for f in ["lock", "status", "control", "ok"] {
        nix::unistd::chown(&sv.join(f), Some(nobody), None).unwrap();
    }
    // supervise/ itself stays root's, mode 0755: nobody cannot create status.new.
    std::fs::set_permissions(&sv, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = s.join("err");
    let sup = g.spawn(
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin("supervise"))
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err).unwrap()),
    );
    let started = poll_until(WAIT, || {
        descendants(sup).iter().any(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep"))
        })
    });
    assert!(started, "run was not started");
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(
        text.starts_with(&format!(
            "supervise: warning: unable to write {}/supervise/xstatus.new: access denied",
            dir.display()
        )),
        "{text}"
    );
    // Once per cause: at most one line per record file.
    assert!(text.lines().count() <= 2, "{text}");
    assert!(
        text.lines().nth(1).map_or(true, |l| l
            == format!(
                "supervise: warning: unable to write {}/supervise/status.new: access denied",
                dir.display()
            )),
        "{text}"
    );
    assert!(pid_alive(sup));
}

/// `o` starts once and never restarts; `d` on a paused service kills it
/// (TERM then CONT). Returns (starts after o, paused child died on d).
fn once_and_paused_down(program: &Path, root: &Path) -> (usize, bool) {
    let mut g = Guard::new();
    let log = root.join("starts");
    std::fs::create_dir_all(root).unwrap();
    let dir = make_service(
        root,
        "x",
        &format!("echo $$ >> {}\nsleep 0.3", log.display()),
    );
    std::fs::write(dir.join("down"), "").unwrap();
    start_supervise(&mut g, program, &dir);
    svc(&["-o"], &dir);
    assert!(poll_until(WAIT, || std::fs::read_to_string(&log).is_ok()));
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    std::thread::sleep(Duration::from_millis(1500));
    let once = std::fs::read_to_string(&log).unwrap().lines().count();
    write_script(&dir.join("run"), "#!/bin/sh\nexec sleep 100\n");
    svc(&["-u"], &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    svc(&["-p"], &dir);
    assert!(wait_shape(&dir, (true, 1, b'u')));
    svc(&["-d"], &dir);
    let died = poll_until(WAIT, || !pid_alive(pid)) && wait_shape(&dir, (false, 0, b'd'));
    (once, died)
}

#[test]
fn once_and_down_while_paused_match_daemontools() {
    let s = Scratch::new("oncepause");
    let ours = once_and_paused_down(&bin("supervise"), &s.join("ours"));
    assert_eq!(ours, (1, true));
    if let Some(d) = djb("supervise") {
        assert_eq!(once_and_paused_down(&d, &s.join("djb")), ours);
    }
}

/// Control bytes on a service with a `down` file, written in one write or
/// one at a time (`o`, 50 ms, `x`). Returns per case (starts of `run`,
/// supervise's exit code if it exited within the limit).
fn bytes_together(program: &Path, root: &Path) -> Vec<(usize, Option<i32>)> {
    let mut out = Vec::new();
    for (i, (writes, limit)) in [
        (&["ox"][..], 4000),
        (&["ux"][..], 4000),
        (&["o", "x"][..], 4000),
        (&["xu"][..], 4000),
    ]
    .into_iter()
    .enumerate()
    {
        let mut g = Guard::new();
        let log = root.join(format!("starts{i}"));
        std::fs::create_dir_all(root).unwrap();
        let dir = make_service(
            root,
            &format!("x{i}"),
            // Longer than djb's one-second sleep after a start, which
            // would otherwise see a death (and restart) before the `x`.
            &format!("echo $$ >> {}\nsleep 1.2", log.display()),
        );
        std::fs::write(dir.join("down"), "").unwrap();
        let sup = start_supervise(&mut g, program, &dir);
        for (k, w) in writes.iter().enumerate() {
            if k > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            send(&dir, w);
        }
        let code = exited(&mut g, sup, Duration::from_millis(limit));
        let starts = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        out.push((starts, code));
    }
    out
}

/// Issue 11, defect 2: `svc -ox` on a down service runs it once, then
/// supervise exits; bytes in one write act as the same bytes one at a time.
#[test]
fn bytes_in_one_write_act_as_one_at_a_time() {
    let s = Scratch::new("together");
    let ours = bytes_together(&bin("supervise"), &s.join("ours"));
    assert_eq!(
        ours,
        vec![(1, Some(0)), (1, Some(0)), (1, Some(0)), (0, Some(0))]
    );
    if let Some(d) = djb("supervise") {
        assert_eq!(bytes_together(&d, &s.join("djb")), ours);
    }
}
