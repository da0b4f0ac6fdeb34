//! Fault suite, supervise SIGKILLed under svscan while its child runs:
//! svscan replaces the supervise, the replacement adopts the running child
//! by its process signature and waits for it on a pidfd (no polling:
//! its wake-ups are counted), and there is never a second copy of the
//! service — sampled every few ms over five kills, each round lasting
//! until it has its floor of samples (a loaded machine scans slowly). Once the old child is
//! killed (`svc -k`) the replacement starts the service normally.

mod common;
#[path = "svscan_util/mod.rs"]
mod svscan_util;

use common::*;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use svscan_util::*;

const KILLS: usize = 5;
const T: Duration = Duration::from_secs(10);
/// Samples each round must have taken after its kill (full process-table
/// scans, checks of the logged pids), however slow a loaded machine makes
/// them: the round waits for them, up to [`SAMPLING_LIMIT`].
const SCANS_PER_ROUND: usize = 5;
const CHECKS_PER_ROUND: usize = 21;
const SAMPLING_LIMIT: Duration = Duration::from_secs(60);

/// Pids whose command line is exactly `want`.
fn copies(want: &str) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                // One read per process: cmdline first, liveness for matches.
                if cmdline(pid) == want && pid_alive(pid) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// True when `pid` holds a pidfd for `target` (fdinfo shows `Pid:`).
fn holds_pidfd_of(pid: u32, target: u32) -> bool {
    let want = format!("Pid:\t{target}\n");
    std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .map(|rd| {
            rd.flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&want)))
        })
        .unwrap_or(false)
}

/// Times `pid` was scheduled (third field of /proc/PID/schedstat).
fn wakeups(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_ascii_whitespace().nth(2)?.parse().ok())
        .unwrap_or(0)
}

fn svstat(dir: &std::path::Path) -> String {
    run(Command::new(bin("svstat")).arg(dir)).1
}

#[test]
fn supervise_killed_under_svscan_never_runs_two_copies() {
    let s = Scratch::new("faults-takeover");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    // A unique command line identifies the service's copies.
    let arg = format!("100000.{}", std::process::id());
    let want = format!("sleep {arg}");
    let dir = make_service(
        &root,
        "x",
        &format!("echo $$ >> ../../starts\nexec sleep {arg}"),
    );
    let starts_file: PathBuf = s.join("starts");
    let starts = || -> Vec<u32> {
        std::fs::read_to_string(&starts_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let mut g = Guard::new();
    let scanner = start_svscan(&mut g, &root, &s.join("err"));
    assert!(poll_until(T, || up_pid(&dir).is_some() && copies(&want).len() == 1));
    let child = up_pid(&dir).unwrap();
    g.adopt(child); // it outlives supervise: keep it killable by pid
    assert_eq!(copies(&want), vec![child]);

    // Two samplers: a full /proc scan by command line (slow: every
    // process on the machine), and every 2 ms the pids that `run` logged
    // (every copy logs itself before it execs).
    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let scans = Arc::new(AtomicUsize::new(0));
    let samplers = [
        {
            let (stop, max, n, want) = (stop.clone(), max.clone(), scans.clone(), want.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max.fetch_max(copies(&want).len(), Ordering::Relaxed);
                    n.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        },
        {
            let (stop, max, n, f) = (
                stop.clone(),
                max.clone(),
                samples.clone(),
                starts_file.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let live = std::fs::read_to_string(&f)
                        .unwrap_or_default()
                        .lines()
                        .filter_map(|l| l.parse::<u32>().ok())
                        .filter(|&p| pid_alive(p))
                        .count();
                    max.fetch_max(live, Ordering::Relaxed);
                    n.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        },
    ];

    let started = Instant::now();
    let mut sup = supervise_of(scanner, &dir).expect("supervise under svscan");
    let mut replaced_in = Vec::new();
    let mut max_wakeups = 0;
    for round in 0..KILLS {
        let (scans0, samples0) = (
            scans.load(Ordering::Relaxed),
            samples.load(Ordering::Relaxed),
        );
        signal(sup, Signal::SIGKILL);
        let killed = Instant::now();
        // svscan restarts a supervise that lived a second at once; one that
        // died sooner waits for a scan, which ALRM (sent once svscan has
        // reaped it) makes happen now.
        assert!(poll_until(T, || parent(sup) != Some(scanner)));
        signal(scanner, Signal::SIGALRM);
        let mut next = None;
        assert!(
            poll_until(T, || {
                next = supervise_of(scanner, &dir).filter(|&p| p != sup);
                next.is_some() && supervised(&dir)
            }),
            "round {round}: supervise was not replaced"
        );
        replaced_in.push(killed.elapsed());
        sup = next.unwrap();
        // The replacement reports the adopted child, same pid, up.
        let out = svstat(&dir);
        assert!(
            out.starts_with(&format!("{}: up (pid {child}) ", dir.display())),
            "round {round}: {out}"
        );
        assert_eq!(up_pid(&dir), Some(child));
        assert_eq!(
            starts(),
            vec![child],
            "round {round}: a second copy started"
        );
        // It waits for the adopted child on a pidfd, not by polling:
        // it holds one, and sleeps through svscan's one-second restart
        // floor with (almost) no wake-ups.
        assert!(
            holds_pidfd_of(sup, child),
            "round {round}: no pidfd for {child}"
        );
        let before = wakeups(sup);
        std::thread::sleep(Duration::from_millis(1100));
        let woke = wakeups(sup) - before;
        max_wakeups = max_wakeups.max(woke);
        assert_eq!(up_pid(&dir), Some(child));
        // Under heavy load a scan of /proc can take longer than the whole
        // round: the round lasts until its samples are in, so the floor
        // below always counts samples taken around every kill.
        assert!(
            poll_until(SAMPLING_LIMIT, || {
                scans.load(Ordering::Relaxed) >= scans0 + SCANS_PER_ROUND
                    && samples.load(Ordering::Relaxed) >= samples0 + CHECKS_PER_ROUND
            }),
            "round {round}: fewer than {SCANS_PER_ROUND} scans in {SAMPLING_LIMIT:?}: {}",
            scans.load(Ordering::Relaxed) - scans0
        );
        assert_eq!(up_pid(&dir), Some(child));
    }
    assert!(
        max_wakeups <= 5,
        "the replacement supervise woke {max_wakeups} times in 1.1 s"
    );

    // Kill the old child through the replacement: it starts a new one.
    assert_eq!(svc("-k", &dir), 0);
    assert!(poll_until(T, || starts().len() == 2));
    let new = starts()[1];
    g.adopt(new);
    assert!(poll_until(T, || up_pid(&dir) == Some(new)));
    assert!(!pid_alive(child));
    assert!(poll_until(T, || copies(&want) == vec![new]));
    let out = svstat(&dir);
    assert!(
        out.starts_with(&format!("{}: up (pid {new}) ", dir.display())),
        "{out}"
    );
    stop.store(true, Ordering::Relaxed);
    for t in samplers {
        t.join().unwrap();
    }
    let (max, samples, scans) = (
        max.load(Ordering::Relaxed),
        samples.load(Ordering::Relaxed),
        scans.load(Ordering::Relaxed),
    );
    eprintln!(
        "takeover: {KILLS} SIGKILLs of supervise under svscan in {:.1} s, replaced after {:?}; \
         {scans} scans of the process table + {samples} checks of the logged pids, \
         at most {max} copy; starts {}; waiting supervise woke at most {max_wakeups} times per 1.1 s",
        started.elapsed().as_secs_f64(),
        replaced_in,
        starts().len()
    );
    assert_eq!(max, 1, "two copies of the service ran at once");
    assert!(
        samples >= KILLS * CHECKS_PER_ROUND && scans >= KILLS * SCANS_PER_ROUND,
        "too few samples: {samples}, {scans}"
    );
}
