//! The toolkit where no side-by-side run is possible: svscanboot (djb's
//! would act on the real /etc/service, so ours runs against a PATH of
//! fakes beside it), and envdir/setlock details that need no peer.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A fake program that records its arguments, initial environment and
/// stdin under `log`, prints to stdout and stderr, and exits `code`.
fn fake(bin: &Path, name: &str, log: &Path, code: i32) {
    let l = log.display();
    write_script(
        &bin.join(name),
        &format!(
            "#!/bin/sh\n\
             [ -n \"$SVKIT_PROBE\" ] && exit 0\n\
             for a in \"$@\"; do printf '%s\\n' \"$a\"; done > {l}/{name}.args\n\
             tr '\\0' '\\n' < /proc/$$/environ > {l}/{name}.env\n\
             echo {name} to stdout\n\
             echo {name} to stderr >&2\n\
             [ {name} = readproctitle ] && cat > {l}/{name}.in\n\
             exit {code}\n"
        ),
    );
    wait_runnable(&bin.join(name));
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Copies an executable and waits until it can be run.
fn copy_exe(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::copy(src, dst).expect("copy executable");
    wait_runnable(dst);
}

/// Waits until `exe` can be exec'ed: a thread of this test process forking
/// while the file was open for writing leaves a child holding it
/// (ETXTBSY) until that child execs. Our programs answer `--version`;
/// the fakes exit at once when SVKIT_PROBE is set.
fn wait_runnable(exe: &std::path::Path) {
    let dst = exe;
    let ready = poll_until(Duration::from_secs(10), || {
        let probe = Command::new(dst)
            .arg("--version")
            .env("SVKIT_PROBE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        !matches!(probe, Err(e) if e.raw_os_error() == Some(libc::ETXTBSY))
    });
    assert!(ready, "{} stayed busy", dst.display());
}

#[test]
fn svscanboot_stops_old_supervisors_then_pipes_svscan_into_readproctitle() {
    let s = Scratch::new("tk-svscanboot");
    let bin = s.join("bin");
    let log = s.join("log");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&log).unwrap();
    // svscanboot runs the svc, svscan and readproctitle beside it.
    copy_exe(&common::bin("svscanboot"), &bin.join("svscanboot"));
    fake(&bin, "svc", &log, 0);
    fake(&bin, "svscan", &log, 0);
    fake(&bin, "readproctitle", &log, 5);
    let service = s.join("service");
    for d in ["b", "a", "a/log", ".hidden", ".hidden/log"] {
        std::fs::create_dir_all(service.join(d)).unwrap();
    }
    let mut g = Guard::new();
    let pid = g.spawn(
        Command::new(bin.join("svscanboot"))
            .arg(&service)
            .env("SECRET", "not passed on")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let child = g.child(pid).expect("child");
    let mut status = None;
    poll_until(Duration::from_secs(10), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = status.expect("svscanboot did not finish");
    assert_eq!(status.code(), Some(5), "exit is readproctitle's");
    let o = g.child(pid).expect("child");
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut p) = o.stdout.take() {
        std::io::Read::read_to_string(&mut p, &mut stdout).unwrap();
    }
    if let Some(mut p) = o.stderr.take() {
        std::io::Read::read_to_string(&mut p, &mut stderr).unwrap();
    }
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("", ""),
        "stdio is /dev/null"
    );
    let sv = service.display();
    assert_eq!(
        read(&log.join("svc.args")),
        format!("-dx\n{sv}/a\n{sv}/b\n{sv}/a/log\n")
    );
    assert_eq!(read(&log.join("svscan.args")), format!("{sv}\n"));
    let want_path = format!(
        "PATH={}:/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin\n",
        bin.display()
    );
    assert_eq!(read(&log.join("svscan.env")), want_path, "env - PATH=$PATH");
    assert_eq!(read(&log.join("readproctitle.env")), want_path);
    assert_eq!(
        read(&log.join("readproctitle.args")),
        format!("service\nerrors:\n{}\n", ".".repeat(400))
    );
    let piped = read(&log.join("readproctitle.in"));
    let mut lines: Vec<&str> = piped.lines().collect();
    lines.sort();
    assert_eq!(lines, ["svscan to stderr", "svscan to stdout"], "2>&1 |");
}

#[test]
fn svscanboot_passes_literal_patterns_when_nothing_matches() {
    let s = Scratch::new("tk-svscanboot-empty");
    let bin = s.join("bin");
    let log = s.join("log");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&log).unwrap();
    copy_exe(&common::bin("svscanboot"), &bin.join("svscanboot"));
    fake(&bin, "svc", &log, 0);
    fake(&bin, "svscan", &log, 0);
    fake(&bin, "readproctitle", &log, 0);
    let service = s.join("service");
    std::fs::create_dir_all(&service).unwrap();
    let out = run_with_input(
        Command::new(bin.join("svscanboot")).arg(&service),
        b"",
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(0));
    let sv = service.display();
    assert_eq!(
        read(&log.join("svc.args")),
        format!("-dx\n{sv}/*\n{sv}/*/log\n"),
        "as sh leaves an unmatched glob"
    );
}

/// envdir reads from inside the directory with the caller's PATH.
#[test]
fn envdir_path_in_dir_does_not_change_lookup() {
    let s = Scratch::new("tk-envdir-path");
    std::fs::create_dir(s.join("e")).unwrap();
    std::fs::write(s.join("e/PATH"), "/nonexistent\n").unwrap();
    let (code, out, err) = run(Command::new(bin("envdir"))
        .current_dir(&s.path)
        .args(["e", "sh", "-c", "echo $PATH"])
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!((code, out.as_str()), (0, "/nonexistent\n"), "{err}");
}

/// The child of an exec-ing tool gets SIGPIPE back at its default,
/// although Rust ignores it in the tool itself.
#[test]
fn children_get_default_sigpipe() {
    let s = Scratch::new("tk-sigpipe");
    std::fs::create_dir(s.join("e")).unwrap();
    let probe = ["sh", "-c", "grep SigIgn /proc/self/status"];
    let cases: Vec<Vec<&str>> = vec![
        vec!["envdir", "e"],
        vec!["softlimit", "-o", "="],
        vec!["setlock", "f"],
        vec!["pgrphack"],
        vec!["fghack"],
        vec!["envuidgid", "root"],
    ];
    for c in cases {
        let (code, out, err) = run(Command::new(bin(c[0]))
            .current_dir(&s.path)
            .args(&c[1..])
            .args(probe));
        assert_eq!(code, 0, "{c:?}: {err}");
        let mask = u64::from_str_radix(out.trim().trim_start_matches("SigIgn:").trim(), 16)
            .unwrap_or(u64::MAX);
        assert_eq!(
            mask & (1 << (libc::SIGPIPE - 1)),
            0,
            "{c:?}: SIGPIPE ignored: {out}"
        );
    }
}

/// svscanboot with svkit's real svc, svscan, supervise and readproctitle
/// beside it, on a scratch scan directory: the supervise a "previous boot"
/// left is told `-dx` and exits, svscan starts the services again, and a
/// service's error scrolls into readproctitle's title.
#[test]
fn svscanboot_runs_the_real_tree() {
    let s = Scratch::new("tk-svscanboot-real");
    let bin = s.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    copy_exe(&common::bin("svscanboot"), &bin.join("svscanboot"));
    for p in ["svc", "svscan", "supervise", "readproctitle"] {
        std::os::unix::fs::symlink(common::bin(p), bin.join(p)).unwrap();
    }
    let service = s.join("service");
    let web = make_service(&service, "web", "exec sleep 1000");
    let broken = service.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("run"), "#!/bin/sh\n").unwrap();
    let mut g = Guard::new();
    let old = start_supervise(&mut g, &common::bin("supervise"), &web);
    let boot = g.spawn(Command::new(bin.join("svscanboot")).arg(&service));
    // The old supervise was told -dx and exits (the test reaps it).
    let gone = poll_until(Duration::from_secs(10), || {
        g.child(old)
            .map(|c| matches!(c.try_wait(), Ok(Some(_))))
            .unwrap_or(false)
    });
    assert!(gone, "the old supervise {old} was not stopped");
    // svscan (under svscanboot) supervises web again.
    let up = poll_until(Duration::from_secs(15), || {
        up_pid(&web).is_some() && svkit::control::supervise_running(&web).unwrap_or(false)
    });
    assert!(up, "web not restarted under svscanboot's svscan");
    // The pipe reaches svscan only on 1 and 2: no other copy of either end
    // leaks into svscan or, through it, into a service (whose stdout is
    // that pipe). Other inherited fds (the test harness's) are not ours.
    let run = up_pid(&web).expect("web up");
    let link = |fd: &str| std::fs::read_link(format!("/proc/{run}/fd/{fd}")).ok();
    let pipe = link("1").expect("run's stdout");
    let extra: Vec<String> = std::fs::read_dir(format!("/proc/{run}/fd"))
        .expect("run's fds")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|fd| !["0", "1", "2"].contains(&fd.as_str()) && link(fd) == Some(pipe.clone()))
        .collect();
    assert!(
        extra.is_empty(),
        "web's run holds svscanboot's pipe on {extra:?}"
    );
    // supervise's complaint about broken/run reaches readproctitle's title.
    let title = || -> String {
        descendants(boot)
            .into_iter()
            .map(|p| std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .find(|c| c.contains("readproctitle service errors:"))
            .unwrap_or_default()
    };
    let mut t = String::new();
    let shown = poll_until(Duration::from_secs(15), || {
        t = title();
        t.contains("unable to start") && t.contains("broken/run")
    });
    assert!(shown, "title: {t:?}");
}
