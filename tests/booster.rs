//! booster lifetimes: invoker TERM/KILL, booster stop (TERM), quiesce
//! (USR1), booster KILL, survivors of a crashed booster, the lock.

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use nix::sys::signal::Signal;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn spawn_invoker(g: &mut Guard, b: &Booster, args: &[&str]) -> u32 {
    g.spawn(
        b.invoker()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// A program that ignores TERM (as its whole process group does).
const STUBBORN: &str = "trap '' TERM; sleep 1000";

#[test]
fn invoker_sigkill_takes_the_instance_down_within_the_grace() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-ikill", &["-k", "1s"]);
    let easy = spawn_invoker(&mut g, &b, &["sleep", "1000"]);
    let pids = b.wait_listed(1);
    signal(easy, Signal::SIGKILL);
    assert!(gone(&pids, Duration::from_secs(3)), "{}", b.log_text());
    // An instance deaf to TERM is KILLed once the 1 s grace is over.
    let hard = spawn_invoker(&mut g, &b, &["sh", "-c", STUBBORN]);
    let pids = b.wait_listed(1);
    let all: Vec<u32> = std::iter::once(pids[0])
        .chain(descendants(pids[0]))
        .collect();
    let t = Instant::now();
    signal(hard, Signal::SIGKILL);
    assert!(gone(&all, Duration::from_secs(4)), "{}", b.log_text());
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert!(b.wait_listed(0).is_empty());
}

#[test]
fn invoker_sigterm_exits_only_after_the_instance_is_gone() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-iterm", &[]);
    let marker = b.dir.join("finished");
    // The program takes 500 ms to finish after TERM, then exits 7.
    let script = format!(
        "trap 'sleep 0.5; touch {}; exit 7' TERM; while :; do sleep 0.05; done",
        marker.display()
    );
    let inv = spawn_invoker(&mut g, &b, &["sh", "-c", &script]);
    let pids = b.wait_listed(1);
    let t = Instant::now();
    signal(inv, Signal::SIGTERM);
    let st = wait_pid(&mut g, inv, Duration::from_secs(15)).expect("invoker exits");
    assert_eq!(st.code(), Some(7), "{}", b.log_text());
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert!(marker.exists());
    assert!(!pid_alive(pids[0]));
}

#[test]
fn booster_term_stops_everything() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-stop", &["-k", "1s"]);
    let mut invs: Vec<u32> = (0..3)
        .map(|_| spawn_invoker(&mut g, &b, &["sleep", "1000"]))
        .collect();
    invs.push(spawn_invoker(&mut g, &b, &["sh", "-c", STUBBORN]));
    let pids = b.wait_listed(4);
    signal(b.pid, Signal::SIGTERM);
    for &i in &invs[..3] {
        let st = wait_pid(&mut g, i, Duration::from_secs(10)).expect("invoker exits");
        assert_eq!(st.code(), Some(143));
    }
    let st = wait_pid(&mut g, invs[3], Duration::from_secs(10)).expect("stubborn invoker exits");
    assert_eq!(st.code(), Some(137));
    assert!(gone(&pids, Duration::from_secs(1)));
    let st = wait_pid(&mut g, b.pid, Duration::from_secs(10)).expect("booster exits");
    assert_eq!(st.code(), Some(0), "{}", b.log_text());
    assert!(!b.sock.exists());
    assert!(!b.registry().exists());
    let t = Instant::now();
    let (c, _, _) = run(b.invoker().arg("true"));
    assert_eq!(c, 111);
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn usr1_quiesces_and_the_socket_keeps_serving() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-quiesce", &[]);
    let invs: Vec<u32> = (0..2)
        .map(|_| spawn_invoker(&mut g, &b, &["sleep", "1000"]))
        .collect();
    let pids = b.wait_listed(2);
    // HUP, ALRM and USR2 change nothing.
    for sig in [Signal::SIGHUP, Signal::SIGALRM, Signal::SIGUSR2] {
        signal(b.pid, sig);
    }
    assert!(poll_until(Duration::from_secs(5), || b
        .log_text()
        .contains("SIGUSR2 ignored")));
    assert!(pids.iter().all(|&p| pid_alive(p)));
    signal(b.pid, Signal::SIGUSR1);
    for &i in &invs {
        let st = wait_pid(&mut g, i, Duration::from_secs(10)).expect("invoker exits");
        assert_eq!(st.code(), Some(143));
    }
    assert!(gone(&pids, Duration::from_secs(1)));
    assert!(b.sock.exists());
    assert_eq!(run(b.invoker().args(["sh", "-c", "exit 4"])).0, 4);
    assert!(pid_alive(b.pid));
    assert!(b.wait_listed(0).is_empty());
}

#[test]
fn booster_sigkill_leaves_nothing_behind() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-bkill", &["-k", "1s"]);
    let inv = spawn_invoker(&mut g, &b, &["sleep", "1000"]);
    let stubborn = spawn_invoker(&mut g, &b, &["sh", "-c", STUBBORN]);
    let pids = b.wait_listed(2);
    let family: Vec<u32> = descendants(b.pid);
    signal(b.pid, Signal::SIGKILL);
    for i in [inv, stubborn] {
        let st = wait_pid(&mut g, i, Duration::from_secs(10)).expect("invoker exits");
        assert_eq!(st.code(), Some(111));
    }
    // New invokers fail fast: nothing (not the spare) holds the listener.
    let t = Instant::now();
    assert_eq!(run(b.invoker().arg("true")).0, 111);
    assert!(t.elapsed() < Duration::from_secs(2));
    // PDEATHSIG: the plain instance gets TERM, the spare gets KILL.
    let plain: Vec<u32> = family
        .iter()
        .copied()
        .filter(|p| pids.contains(p) && descendants(*p).is_empty())
        .collect();
    assert!(gone(&plain, Duration::from_secs(5)));
    // The TERM-deaf one survives until the next booster ends it.
    let survivors: Vec<u32> = family.iter().copied().filter(|&p| pid_alive(p)).collect();
    assert!(
        !survivors.is_empty(),
        "the stubborn instance should survive a crash"
    );
    let Booster { dir, sock, .. } = b;
    let t = Instant::now();
    let b2 = start_booster_in(&mut g, dir, sock, &["-k", "1s"]);
    assert!(
        gone(&survivors, Duration::from_secs(1)),
        "{}",
        b2.log_text()
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(b2.log_text().contains("survivor"));
    assert_eq!(run(b2.invoker().arg("true")).0, 0);
}

#[test]
fn a_second_booster_on_the_same_socket_exits_111() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-lock", &[]);
    let (c, _, e) = run(ours("booster").arg(&b.sock));
    assert_eq!(c, 111);
    assert!(
        e.contains("unable to acquire") && e.contains("socket.lock"),
        "{e}"
    );
    assert_eq!(run(b.invoker().arg("true")).0, 0);
}

#[test]
fn busy_beyond_n_is_111() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-busy", &["-n", "1"]);
    spawn_invoker(&mut g, &b, &["sleep", "1000"]);
    b.wait_listed(1);
    let (c, _, e) = run(b.invoker().arg("true"));
    assert_eq!(c, 111);
    assert!(e.contains("busy"), "{e}");
}

#[test]
fn without_e_and_without_syslog_it_logs_to_stderr() {
    if std::path::Path::new("/dev/log").exists() {
        eprintln!("without_e_and_without_syslog: skipped: /dev/log exists (logs go to syslog)");
        return;
    }
    let mut g = Guard::new();
    let d = Scratch::new("b-nolog");
    let sock = d.join("socket");
    let log = d.join("log");
    let pid = g.spawn(
        ours("booster")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    assert!(poll_until(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    }));
    let st = ours("invoker")
        .arg("-s")
        .arg(&sock)
        .args(["sh", "-c", "exit 2"])
        .status();
    assert_eq!(st.unwrap().code(), Some(2));
    signal(pid, Signal::SIGTERM);
    wait_pid(&mut g, pid, Duration::from_secs(10)).expect("booster exits");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("booster: launched pid"), "{text}");
    assert!(text.contains(": exit 2"), "{text}");
}

#[test]
fn a_terminated_instance_takes_its_process_group_along() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "b-group", &["-k", "5s"]);
    let bg = b.dir.join("bg");
    // The background child ignores TERM: only the KILL sweep of the group
    // (when the leader is reaped) ends it, well before the 5 s grace.
    let script = format!(
        "(trap '' TERM; exec sleep 1000) & echo $! > {}; wait",
        bg.display()
    );
    let inv = spawn_invoker(&mut g, &b, &["sh", "-c", &script]);
    let pids = b.wait_listed(1);
    assert!(poll_until(Duration::from_secs(5), || bg.exists()
        && std::fs::read_to_string(&bg)
            .map(|s| s.ends_with('\n'))
            .unwrap_or(false)));
    let child: u32 = std::fs::read_to_string(&bg)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let t = Instant::now();
    signal(inv, Signal::SIGKILL);
    assert!(
        gone(&[pids[0], child], Duration::from_secs(4)),
        "{}",
        b.log_text()
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}
