//! supervise never signals a process that is not its service: a pid (or
//! process group) recycled after the service died is left alone, even
//! when a `timeout-kill` deadline was armed for it (issue 11, defect 1).
//! Needs root for `/proc/sys/kernel/ns_last_pid`; skipped otherwise.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// A process the test starts as an unrelated session leader; killed and
/// reaped (by the test, its parent) on drop.
struct Stranger(Child);

impl Stranger {
    /// Still running (not killed by anyone)?
    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sleep 100` as a session leader, trying to get pid `want` by
/// setting `ns_last_pid` just before each fork, until `limit` passes.
/// None when the pid never came free (or ns_last_pid is not writable).
fn stranger_with_pid(want: u32, limit: Duration) -> Option<Stranger> {
    // One test at a time moves ns_last_pid.
    static LAST_PID: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = LAST_PID.lock().unwrap_or_else(|e| e.into_inner());
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", want - 1)).is_err() {
            return None;
        }
        let mut cmd = Command::new("sleep");
        cmd.arg("100")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let s = Stranger(cmd.spawn().expect("spawn sleep"));
        if s.0.id() == want {
            return Some(s);
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn can_set_last_pid() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .and_then(|t| std::fs::write("/proc/sys/kernel/ns_last_pid", t.trim()))
        .is_ok()
}

/// `timeout-kill` 1500, `run` exits on TERM at once; its pid goes to an
/// unrelated session leader. Past the deadline that process must live.
#[test]
fn recycled_pid_is_not_killed_after_the_kill_deadline() {
    if !can_set_last_pid() {
        eprintln!("recycled_pid_is_not_killed_after_the_kill_deadline: skipped: needs root");
        return;
    }
    let s = Scratch::new("recycled");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 1000");
    std::fs::write(dir.join("timeout-kill"), "1500\n").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some_and(|p| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with("sleep"))
    })));
    let p = up_pid(&dir).unwrap();
    let t = Instant::now();
    send(&dir, "d");
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    // supervise may keep the dead leader unreaped until its deadline; the
    // pid comes free at the latest then.
    let Some(mut stranger) = stranger_with_pid(p, Duration::from_secs(4)) else {
        eprintln!("recycled: skipped: pid {p} never came free for the test");
        return;
    };
    // Well past the deadline (1.5 s after `d`).
    let until = t + Duration::from_millis(3000);
    while Instant::now() < until && stranger.alive() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        stranger.alive(),
        "supervise killed pid {p}, which was no longer its service"
    );
}

/// `finish` exits, its pid goes to a stranger: the `timeout-finish`
/// deadline dies with it.
#[test]
fn recycled_finish_pid_is_not_killed() {
    if !can_set_last_pid() {
        eprintln!("recycled_finish_pid_is_not_killed: skipped: needs root");
        return;
    }
    let s = Scratch::new("recycled-finish");
    let mut g = Guard::new();
    let flog = s.join("finish.pid");
    let dir = make_service(&s.path, "x", "exec sleep 1000");
    write_script(
        &dir.join("finish"),
        &format!("#!/bin/sh\necho $$ > {}\n", flog.display()),
    );
    std::fs::write(dir.join("timeout-finish"), "1500\n").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let t = Instant::now();
    send(&dir, "d");
    assert!(poll_until(WAIT, || std::fs::read_to_string(&flog)
        .is_ok_and(|t| t.ends_with('\n'))));
    let f: u32 = std::fs::read_to_string(&flog)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| !x.has(svkit::xstatus::FLAG_FINISHING))));
    let Some(mut stranger) = stranger_with_pid(f, Duration::from_secs(2)) else {
        eprintln!("recycled finish: skipped: pid {f} never came free for the test");
        return;
    };
    let until = t + Duration::from_millis(2500);
    while Instant::now() < until && stranger.alive() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stranger.alive(), "supervise killed pid {f} (was finish)");
}

/// The leader dies on TERM but a group member ignores it: the member is
/// SIGKILLed at the deadline (the dead leader is held unreaped until
/// then, so the group id stays theirs), and the leader is reaped then.
#[test]
fn leftovers_of_a_dead_leader_die_at_the_deadline() {
    let s = Scratch::new("leftovers");
    let mut g = Guard::new();
    let gc = s.join("grandchild");
    let body = format!(
        "sh -c 'trap \"\" TERM; echo $$ > {p}; exec sleep 100' &\nexec sleep 1000",
        p = gc.display()
    );
    let dir = make_service(&s.path, "x", &body);
    std::fs::write(dir.join("timeout-kill"), "800").unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    let grandchild = wait_pid_file(&gc);
    g.adopt(grandchild);
    let leader = up_pid(&dir).unwrap();
    let t = Instant::now();
    send(&dir, "d");
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    assert!(t.elapsed() < Duration::from_millis(700), "down at once");
    assert!(pid_alive(grandchild), "TERM is ignored by the grandchild");
    assert!(poll_until(WAIT, || !pid_alive(grandchild)));
    assert!(
        t.elapsed() >= Duration::from_millis(750),
        "{:?}",
        t.elapsed()
    );
    // Reaped right after the kill.
    assert!(poll_until(WAIT, || std::fs::metadata(format!(
        "/proc/{leader}"
    ))
    .is_err()));
}

/// `svc -dx` with a long `timeout-kill`: once the last member of the dead
/// leader's group is gone, the held leader is reaped and supervise exits
/// (as djb's does once `run` is gone), without waiting for the deadline.
#[test]
fn dx_exits_once_the_held_group_is_empty() {
    let s = Scratch::new("held-empty");
    let mut g = Guard::new();
    let gc = s.join("grandchild");
    let body = format!(
        "sh -c 'trap \"\" TERM; echo $$ > {p}; exec sleep 2' &\nexec sleep 1000",
        p = gc.display()
    );
    let dir = make_service(&s.path, "x", &body);
    std::fs::write(dir.join("timeout-kill"), "60000").unwrap();
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    let grandchild = wait_pid_file(&gc);
    g.adopt(grandchild);
    send(&dir, "dx");
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    assert!(pid_alive(grandchild), "TERM is ignored by the grandchild");
    assert!(poll_until(WAIT, || !pid_alive(grandchild)));
    let gone = Instant::now();
    let child = g.child(sup).unwrap();
    let exited = poll_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "supervise still runs 10 s after its group emptied");
    assert!(
        gone.elapsed() < Duration::from_millis(1200),
        "supervise exited {:?} after the last member",
        gone.elapsed()
    );
}
