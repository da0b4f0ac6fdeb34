//! Huge durations never abort (issue 11, defect 3): on a command line they
//! are a usage error (100); in a service-directory file they are clamped
//! with a warning and supervising goes on.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn svc_huge_timeout_is_a_usage_error() {
    let s = Scratch::new("dur-svc");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    start_supervise(&mut g, &bin("supervise"), &dir);
    for t in [
        "10000000000000000000s",
        "18446744073709551615",
        "99999999999999999999999ms",
        "1000y",
    ] {
        let (code, _, err) = run(ours("svc").args(["-wd", "-T", t]).arg(&dir));
        assert_eq!(code, 100, "-T {t}: {err}");
        assert!(err.starts_with("svc: "), "-T {t}: {err}");
        assert!(!err.contains("panicked"), "-T {t}: {err}");
    }
    // A long but representable bound still works (returns at once: the
    // service is up and we wait for up).
    let (code, _, err) = run(ours("svc").args(["-wu", "-T", "100y"]).arg(&dir));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn supervise_clamps_huge_timeout_files() {
    let s = Scratch::new("dur-files");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "exec sleep 100");
    std::fs::write(dir.join("timeout-kill"), "18446744073709551615\n").unwrap();
    std::fs::write(dir.join("timeout-finish"), "99999999999999999999999\n").unwrap();
    std::fs::write(dir.join("finish"), "#!/bin/sh\nexit 0\n").unwrap();
    let errlog = s.join("stderr");
    let sup = g.spawn(
        ours("supervise")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errlog).unwrap()),
    );
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    send(&dir, "d");
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(sup), "supervise died on a huge duration");
    send(&dir, "u");
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("timeout-kill"), "no warning: {err}");
}
