//! supervise and svscan started with descriptors 0-2 closed (issue 11,
//! defect 6): /dev/null goes on them first, so no lock, fifo or self-pipe
//! of theirs lands there, where their warnings (or `./run`) would use it.
//! (Rust's runtime does this before `main` too; the programs do it
//! themselves so it holds whatever their entry point becomes.)

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn closed_std(cmd: &mut Command) -> &mut Command {
    // SAFETY: close is async-signal-safe; the child execs right after.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        })
    }
}

fn std_targets(pid: u32) -> Vec<String> {
    (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "closed".into())
        })
        .collect()
}

fn all_dev_null(t: &[String]) -> bool {
    t.iter().all(|p| p == "/dev/null")
}

#[test]
fn supervise_with_closed_stdio_uses_dev_null() {
    let s = Scratch::new("closed-sup");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    let sup = g.spawn(closed_std(Command::new(bin("supervise")).arg(&dir)));
    assert!(poll_until(WAIT, || up_pid(&dir).is_some_and(|p| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with("sleep"))
    })));
    let mine = std_targets(sup);
    assert!(all_dev_null(&mine), "supervise's 0-2: {mine:?}");
    let run = std_targets(up_pid(&dir).unwrap());
    assert!(all_dev_null(&run), "run's 0-2: {run:?}");
}

#[test]
fn svscan_with_closed_stdio_uses_dev_null() {
    let s = Scratch::new("closed-svscan");
    let mut g = Guard::new();
    make_service(&s.path, "x", "exec sleep 100");
    let scan =
        g.spawn(closed_std(Command::new(bin("svscan")).arg(&s.path)).env("PATH", path_with_ours()));
    let dir = s.join("x");
    assert!(poll_until(WAIT, || up_pid(Path::new(&dir)).is_some()));
    let mine = std_targets(scan);
    assert!(all_dev_null(&mine), "svscan's 0-2: {mine:?}");
}

/// multilog has its own C entry point (no Rust runtime start-up), so here
/// the call really matters: with 1 and 2 closed its lock or self-pipe
/// would land there and its warnings (`e`) would go into them.
#[test]
fn multilog_with_closed_stdout_and_stderr_uses_dev_null() {
    let s = Scratch::new("closed-multilog");
    let mut g = Guard::new();
    let log = s.join("log");
    let mut cmd = Command::new(bin("multilog"));
    cmd.args(["t", "e"])
        .arg(&log)
        .stdin(std::process::Stdio::piped());
    // SAFETY: close is async-signal-safe; the child execs right after.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let pid = g.spawn(&mut cmd);
    assert!(poll_until(WAIT, || log.join("current").exists()));
    let t = std_targets(pid);
    assert_eq!(&t[1..], ["/dev/null", "/dev/null"], "multilog's 0-2: {t:?}");
}
