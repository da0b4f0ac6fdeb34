//! booster-drain and the registry's process signatures: waits for live
//! entries, times out with 99, and never takes a recycled pid for an
//! instance (nor does a starting booster kill it as a survivor).

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};
use svkit::procsig::ProcSig;
use svkit::registry::{format, Entry};

fn write_registry(path: &std::path::Path, entries: &[(ProcSig, &str)]) {
    let list: Vec<Entry> = entries
        .iter()
        .map(|(sig, a)| Entry::here(*sig, a.as_bytes()))
        .collect();
    std::fs::write(path, format(&list)).unwrap();
}

fn drain(reg: &std::path::Path, t: &str) -> (i32, String) {
    let (c, _, e) = run(ours("booster-drain").arg(reg).args(["-T", t]));
    (c, e)
}

#[test]
fn drain_waits_for_live_entries_and_times_out_with_99() {
    let mut g = Guard::new();
    let d = Scratch::new("drain-live");
    let pid = g.spawn(Command::new("sleep").arg("1000"));
    let sig = ProcSig::of(pid).unwrap();
    let reg = d.join("reg");
    write_registry(&reg, &[(sig, "sleep with space")]);
    let t = Instant::now();
    assert_eq!(drain(&reg, "300ms").0, 99);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Killed (and reaped by the guard) while booster-drain waits.
    let waiter = g.spawn(ours("booster-drain").arg(&reg).args(["-T", "20s"]));
    std::thread::sleep(Duration::from_millis(200));
    g.child(pid).unwrap().kill().unwrap();
    let _ = g.child(pid).unwrap().wait();
    let st = wait_pid(&mut g, waiter, Duration::from_secs(5)).expect("drain returns");
    assert_eq!(st.code(), Some(0));
    write_registry(&reg, &[]);
    assert_eq!(drain(&reg, "1s").0, 0);
}

#[test]
fn a_recycled_pid_is_not_an_instance() {
    let mut g = Guard::new();
    let d = Scratch::new("drain-reuse");
    // A live process whose start time differs from the entry's: the pid
    // "now belongs to another process".
    let pid = g.spawn(Command::new("sleep").arg("1000"));
    let real = ProcSig::of(pid).unwrap();
    let stale = ProcSig {
        pid,
        start: real.start.saturating_sub(1),
    };
    let reg = d.join("reg");
    write_registry(&reg, &[(stale, "old")]);
    assert_eq!(drain(&reg, "5s").0, 0);
    // A starting booster reading that registry leaves the process alone.
    let sock = d.join("socket");
    write_registry(&svkit_registry_of(&sock), &[(stale, "old")]);
    let b = start_booster_in(
        &mut g,
        Scratch::new("drain-reuse-b"),
        sock,
        &["-k", "100ms"],
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(pid_alive(pid), "{}", b.log_text());
    assert!(!b.log_text().contains("survivor"));
}

fn svkit_registry_of(sock: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.instances", sock.display()))
}

#[test]
fn unreadable_or_malformed_registry_is_111() {
    let d = Scratch::new("drain-bad");
    let (c, e) = drain(&d.join("missing"), "1s");
    assert_eq!(c, 111);
    assert!(e.starts_with("booster-drain: fatal: unable to read"), "{e}");
    std::fs::write(d.join("bad"), "12 x y\n").unwrap();
    assert_eq!(drain(&d.join("bad"), "1s").0, 111);
    assert_eq!(
        run(ours("booster-drain").arg(d.join("bad")).arg("-T")).0,
        100
    );
}

#[test]
fn drain_follows_a_real_booster_through_quiesce() {
    let mut g = Guard::new();
    let d = Scratch::new("drain-real-reg");
    let reg = d.join("instances");
    let r = reg.to_string_lossy().into_owned();
    let b = start_booster(&mut g, "drain-real", &["-r", &r]);
    let st = b
        .invoker()
        .args(["-n", "sleep", "1000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(poll_until(Duration::from_secs(5), || std::fs::read(&reg)
        .map(|b| !b.is_empty())
        .unwrap_or(false)));
    assert!(!b.registry().exists());
    assert_eq!(drain(&reg, "300ms").0, 99);
    signal(b.pid, nix::sys::signal::Signal::SIGUSR1);
    assert_eq!(drain(&reg, "10s").0, 0);
    assert!(poll_until(Duration::from_secs(5), || std::fs::read(&reg)
        .map(|b| b.is_empty())
        .unwrap_or(false)));
}
