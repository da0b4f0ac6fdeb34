//! svscan as PID 1 (a container's init), under `unshare --pid --fork
//! --mount-proc`: orphans are reaped (no zombie), SIGTERM brings the tree
//! down in order (loggers last, nothing lost), exit code 0.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::process::{Command, Stdio};
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(15);

fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].trim_start().chars().next()
}

#[test]
fn pid1_reaps_orphans_and_stops_in_order() {
    if !unshare_works() {
        eprintln!("pid1: skipped: unshare --pid --fork --mount-proc does not work here");
        return;
    }
    let s = Scratch::new("svscan-pid1");
    let root = s.join("sv");
    // A service that leaves an orphan behind each time it starts: the
    // `sleep 3.14159` is reparented to PID 1 (svscan), which must reap it.
    make_service(&root, "orphaner", "sh -c 'sleep 3.14159 &'\nexec sleep 600");
    let x = counting_service(&root, "numbers", "n", "sleep 0.005");
    write_script(
        &x.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    write_script(
        &root.join(".svscan/log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    let mut g = Guard::new();
    let err = s.join("err");
    let f = std::fs::File::create(&err).unwrap();
    let unshare = g.spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(bin("svscan"))
            .arg(&root)
            .env("PATH", rc_path())
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    );
    let mut init = 0;
    assert!(poll_until(T, || {
        init = descendants(unshare)
            .into_iter()
            .find(|&p| parent(p) == Some(unshare))
            .unwrap_or(0);
        init != 0 && cmdline(init).contains("svscan")
    }));
    // It is PID 1 inside: its record in the lock says so.
    assert!(poll_until(T, || std::fs::read_to_string(
        root.join(".svscan.lock")
    )
    .map(|r| r.starts_with("1 "))
    .unwrap_or(false)));
    // The orphan is reparented to svscan…
    let mut orphan = 0;
    assert!(
        poll_until(T, || {
            orphan = descendants(init)
                .into_iter()
                .find(|&p| cmdline(p) == "sleep 3.14159")
                .unwrap_or(0);
            orphan != 0 && parent(orphan) == Some(init)
        }),
        "no orphan reparented to svscan"
    );
    // …and reaped when it exits: gone, never left a zombie.
    assert!(
        poll_until(Duration::from_secs(8), || state(orphan).is_none()),
        "orphan {orphan} left as {:?}",
        state(orphan)
    );
    assert!(descendants(init).iter().all(|&p| state(p) != Some('Z')));
    assert!(poll_until(T, || numbers(&read_log(&x.join("log")), "n ")
        .len()
        > 200));

    // docker stop: SIGTERM to PID 1.
    signal(init, Signal::SIGTERM);
    let code = wait_code(g.child(unshare).unwrap(), Duration::from_secs(40));
    let e = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(code, Some(0), "{e}");
    let text = read_log(&x.join("log"));
    let ns = numbers(&text, "n ");
    assert_contiguous(&ns, "numbers log");
    let last = counter(&x);
    assert_eq!(ns.last().copied(), Some(last));
    assert!(
        text.contains(&format!("stopped at {last}")),
        "the service's last line reached the log"
    );
    let own = read_log(&root.join(".svscan/log"));
    assert!(own.contains("svscan: info: got SIGTERM: stopping"), "{own}");
}
