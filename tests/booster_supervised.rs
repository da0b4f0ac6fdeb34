//! The booster as a service under our supervise: `svc -d` stops it
//! absolutely (no socket, no instances, invokers told), `svc -u` brings it
//! back, `svc -1` quiesces (instances go, the socket keeps serving).

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn invoker(sock: &std::path::Path) -> std::process::Command {
    let mut c = ours("invoker");
    c.arg("-s")
        .arg(sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn listed(sock: &std::path::Path) -> Vec<u32> {
    let b = std::fs::read(format!("{}.instances", sock.display())).unwrap_or_default();
    svkit::registry::parse(&b)
        .unwrap_or_default()
        .iter()
        .map(|e| e.sig.pid)
        .collect()
}

#[test]
fn svc_d_stops_everything_svc_u_restores_svc_1_quiesces() {
    let mut g = Guard::new();
    let root = Scratch::new("bsup");
    let dir = make_service(
        &root.path,
        "booster",
        &format!("exec {} -e -k 1s ./socket 2>log", bin("booster").display()),
    );
    let sock = dir.join("socket");
    start_supervise(&mut g, &bin("supervise"), &dir);
    let up = |s: &std::path::Path| {
        poll_until(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(s).is_ok()
        })
    };
    assert!(up(&sock), "booster never listened");
    let invs: Vec<u32> = (0..3)
        .map(|_| g.spawn(invoker(&sock).args(["sleep", "1000"])))
        .collect();
    assert!(poll_until(Duration::from_secs(10), || listed(&sock).len() == 3));
    let pids = listed(&sock);

    assert_eq!(run(ours("svc").arg("-d").arg(&dir)).0, 0);
    for &i in &invs {
        let st = wait_pid(&mut g, i, Duration::from_secs(10)).expect("invoker exits");
        assert_eq!(st.code(), Some(143));
    }
    assert!(gone(&pids, Duration::from_secs(2)));
    assert!(poll_until(Duration::from_secs(10), || {
        up_pid(&dir).is_none() && !sock.exists()
    }));
    let t = Instant::now();
    assert_eq!(
        invoker(&sock).arg("true").status().unwrap().code(),
        Some(111)
    );
    assert!(t.elapsed() < Duration::from_secs(1));

    assert_eq!(run(ours("svc").arg("-u").arg(&dir)).0, 0);
    assert!(up(&sock), "booster did not come back");
    assert_eq!(
        invoker(&sock)
            .args(["sh", "-c", "exit 3"])
            .status()
            .unwrap()
            .code(),
        Some(3)
    );

    let inv = g.spawn(invoker(&sock).args(["sleep", "1000"]));
    // The registry is rewritten after the replies of a round: wait for the
    // sleep itself, not for a stale line of the `exit 3` just before.
    let is_sleep = |p: &u32| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| c.starts_with(b"sleep\0"))
            .unwrap_or(false)
    };
    assert!(poll_until(Duration::from_secs(10), || {
        let l = listed(&sock);
        l.len() == 1 && is_sleep(&l[0])
    }));
    let pids = listed(&sock);
    let booster = up_pid(&dir).expect("booster up");
    assert_eq!(run(ours("svc").arg("-1").arg(&dir)).0, 0);
    let st = wait_pid(&mut g, inv, Duration::from_secs(10));
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let st = st.unwrap_or_else(|| panic!("invoker did not exit after svc -1; log:\n{log}"));
    assert_eq!(st.code(), Some(143));
    assert!(gone(&pids, Duration::from_secs(2)));
    assert_eq!(
        up_pid(&dir),
        Some(booster),
        "quiesce must not restart the booster"
    );
    assert_eq!(
        invoker(&sock)
            .args(["sh", "-c", "exit 5"])
            .status()
            .unwrap()
            .code(),
        Some(5)
    );
    // svc -t: the booster stops (the instance goes) and supervise starts
    // a new one, which serves on the same path.
    let inv = g.spawn(invoker(&sock).args(["sleep", "1000"]));
    assert!(poll_until(Duration::from_secs(10), || {
        let l = listed(&sock);
        l.len() == 1 && is_sleep(&l[0])
    }));
    let pids = listed(&sock);
    assert_eq!(run(ours("svc").arg("-t").arg(&dir)).0, 0);
    let st = wait_pid(&mut g, inv, Duration::from_secs(10)).expect("invoker exits");
    assert_eq!(st.code(), Some(143));
    assert!(gone(&pids, Duration::from_secs(2)));
    assert!(poll_until(Duration::from_secs(10), || {
        up_pid(&dir).is_some_and(|p| p != booster)
    }));
    assert!(up(&sock), "the new booster never listened");
    assert_eq!(
        invoker(&sock)
            .args(["sh", "-c", "exit 6"])
            .status()
            .unwrap()
            .code(),
        Some(6)
    );
    let _ = run(ours("svc").arg("-dx").arg(&dir));
}
