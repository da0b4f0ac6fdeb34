//! svscan.rc: stop while svscan runs (found through .svscan.lock, its
//! signature checked), stop after svscan died, start, bounded escalation,
//! bad input. The order loses no log line even with a fast producer.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(15);

/// A tree with a fast producer logging through multilog, a service with a
/// `shutdown` script, and .svscan/log.
fn tree(s: &Scratch) -> std::path::PathBuf {
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let fast = counting_service(&root, "fast", "n", ":");
    write_script(
        &fast.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    let polite = make_service(&root, "polite", "exec 2>&1\necho polite up\nexec sleep 600");
    write_script(
        &polite.join("shutdown"),
        "#!/bin/sh\necho \"shutdown ran in $(pwd)\"\n[ -e supervise/ok ] && echo seen-up > shutdown.out\n",
    );
    write_script(
        &polite.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    write_script(
        &root.join(".svscan/log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    root
}

fn rc_cmd(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg(rc())
        .args(args)
        .env("PATH", rc_path())
        .stdin(Stdio::null());
    c
}

/// `script_logged`: the shutdown script's output reached the service's log
/// (svscan runs it with the log pipe as stdout; svscan.rc alone cannot).
fn check_tree_down_and_logged(root: &Path, script_logged: bool) {
    let fast_log = read_log(&root.join("fast/log"));
    let ns = numbers(&fast_log, "n ");
    assert!(ns.len() > 100, "producer wrote {} lines", ns.len());
    assert_contiguous(&ns, "fast log");
    let last = *ns.last().unwrap();
    let counter: u64 = std::fs::read_to_string(root.join("fast/counter"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(last, counter, "every line produced reached the log");
    assert!(fast_log.contains(&format!("stopped at {last}")));
    let polite = read_log(&root.join("polite/log"));
    assert!(polite.contains("polite up"), "{polite}");
    assert_eq!(
        polite.contains("shutdown ran in"),
        script_logged,
        "{polite}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("polite/shutdown.out")).unwrap_or_default(),
        "seen-up\n"
    );
    for d in ["fast", "fast/log", "polite", "polite/log", ".svscan/log"] {
        assert!(!supervised(&root.join(d)), "{d} still supervised");
    }
}

#[test]
fn stop_while_svscan_runs_loses_nothing() {
    let s = Scratch::new("rc-running");
    let root = tree(&s);
    let mut g = Guard::new();
    let err = s.join("err");
    let f = std::fs::File::create(&err).unwrap();
    let pid = g.spawn(
        Command::new(bin("svscan"))
            .arg(&root)
            .env("PATH", rc_path())
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    );
    assert!(poll_until(T, || numbers(
        &read_log(&root.join("fast/log")),
        "n "
    )
    .len()
        > 2000));
    let (code, _, rcerr) = run(&mut rc_cmd(&["stop", root.to_str().unwrap()]));
    assert_eq!(code, 0, "{rcerr}");
    assert!(
        rcerr.contains(&format!("stopping svscan (pid {pid})")),
        "{rcerr}"
    );
    assert_eq!(wait_code(g.child(pid).unwrap(), T), Some(0));
    check_tree_down_and_logged(&root, true);
}

#[test]
fn stop_after_svscan_died_loses_nothing() {
    let s = Scratch::new("rc-dead");
    let root = tree(&s);
    let mut g = Guard::new();
    let pid = g.spawn(
        Command::new(bin("svscan"))
            .arg(&root)
            .env("PATH", rc_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(T, || numbers(
        &read_log(&root.join("fast/log")),
        "n "
    )
    .len()
        > 2000
        && supervised(&root.join("polite"))));
    // The seed's situation: svscan is gone, its supervisors run on.
    for d in descendants(pid) {
        g.adopt(d);
    }
    signal(pid, Signal::SIGKILL);
    let _ = wait_code(g.child(pid).unwrap(), T);
    let (code, _, rcerr) = run(&mut rc_cmd(&["stop", root.to_str().unwrap()]));
    assert_eq!(code, 0, "{rcerr}");
    check_tree_down_and_logged(&root, false);
}

#[test]
fn start_stops_then_execs_svscan() {
    let s = Scratch::new("rc-start");
    let root = s.join("sv");
    let x = make_service(&root, "x", "exec sleep 600");
    let mut g = Guard::new();
    let pid = g.spawn(
        rc_cmd(&["start", root.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(T, || up_pid(&x).is_some()));
    // The script became svscan (exec), recorded in the lock.
    let rec = std::fs::read_to_string(root.join(".svscan.lock")).unwrap();
    assert!(rec.starts_with(&format!("{pid} ")), "{rec}");
    assert!(cmdline(pid).contains("svscan"));
    signal(pid, Signal::SIGTERM);
    assert_eq!(wait_code(g.child(pid).unwrap(), T), Some(0));
    assert!(!supervised(&x));
}

#[test]
fn stuck_service_escalates_and_says_so() {
    let s = Scratch::new("rc-stuck");
    let root = s.join("sv");
    let x = make_service(&root, "stubborn", "trap '' TERM\nwhile :; do sleep 1; done");
    std::fs::create_dir_all(root.join(".svscan")).unwrap();
    std::fs::write(root.join(".svscan/timeout-stop"), "1000\n").unwrap();
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &x);
    assert!(poll_until(T, || up_pid(&x).is_some()));
    let (code, _, rcerr) = run(&mut rc_cmd(&["stop", root.to_str().unwrap()]));
    assert_eq!(code, 111, "{rcerr}");
    assert!(rcerr.contains("stubborn did not go down within"), "{rcerr}");
    assert!(rcerr.contains("sending svc -k"), "{rcerr}");
    assert!(!supervised(&x));
}

#[test]
fn stale_record_and_bad_input() {
    let s = Scratch::new("rc-bad");
    let root = s.join("sv");
    std::fs::create_dir_all(&root).unwrap();
    // Our own pid with a wrong start time: a recycled pid, left alone.
    std::fs::write(
        root.join(".svscan.lock"),
        format!("{} 1\n", std::process::id()),
    )
    .unwrap();
    let (code, _, err) = run(&mut rc_cmd(&["stop", root.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("which is another process now: not touching it"),
        "{err}"
    );
    let (code, _, err) = run(&mut rc_cmd(&[]));
    assert_eq!(code, 100);
    assert_eq!(
        err,
        "svscan.rc: usage: svscan.rc start|stop|upgrade [dir]\n"
    );
    assert_eq!(run(&mut rc_cmd(&["restart"])).0, 100);
    let (code, _, err) = run(&mut rc_cmd(&["stop", s.join("missing").to_str().unwrap()]));
    assert_eq!(code, 111);
    assert!(
        err.starts_with("svscan.rc: fatal: unable to chdir to"),
        "{err}"
    );
}

#[test]
fn hanging_shutdown_script_is_killed_then_service_stopped() {
    let s = Scratch::new("rc-hang");
    let root = s.join("sv");
    let x = make_service(&root, "x", "exec sleep 600");
    write_script(&x.join("shutdown"), "#!/bin/sh\nexec sleep 600\n");
    std::fs::create_dir_all(root.join(".svscan")).unwrap();
    std::fs::write(root.join(".svscan/timeout-stop"), "1000\n").unwrap();
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &x);
    assert!(poll_until(T, || up_pid(&x).is_some()));
    let (code, _, rcerr) = run(&mut rc_cmd(&["stop", root.to_str().unwrap()]));
    assert_eq!(code, 111, "{rcerr}");
    assert!(
        rcerr.contains("x/shutdown did not finish within 1s: killing it"),
        "{rcerr}"
    );
    assert!(!supervised(&x));
}
