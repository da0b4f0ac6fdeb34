//! Fault suite, logging path: a producer writes numbered lines as fast as
//! it can through svscan's pipe into multilog with size rotation while the
//! test kills the logger's supervise, sends multilog SIGALRM, restarts the
//! producer and (separately) SIGKILLs multilog itself. Every number must
//! appear exactly once, SIGKILL of multilog included: it takes input out
//! of svscan's pipe only once it is written (issue 12).

mod common;
#[path = "svscan_util/mod.rs"]
mod svscan_util;

use common::*;
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use svscan_util::*;

const LINES_PER_RUN: u64 = 300_000;

/// A producer: each run (id = its pid) prints `rPID N` for N = 1..LINES,
/// one write per line (atomic on a pipe), then `rPID done`, then blocks on
/// a fifo nobody writes, so it only restarts when told.
fn producer(root: &Path) {
    let dir = make_service(
        root,
        "prod",
        &format!(
            "exec 2>&1\n[ -p block ] || mkfifo block\n\
             exec awk -v run=$$ 'BEGIN {{ for (i = 1; i <= {LINES_PER_RUN}; i++) {{ printf \"r%s %d\\n\", run, i; fflush() }}\n\
             printf \"r%s done\\n\", run; fflush(); getline x < \"./block\" }}'"
        ),
    );
    write_script(
        &dir.join("log/run"),
        &format!(
            "#!/bin/sh\nexec {} t s300000 n200 ./main\n",
            bin("multilog").display()
        ),
    );
}

/// A well-formed producer line after multilog's `t` label: (`rPID`, rest).
/// The remainder of a line cut by a SIGKILLed multilog is not one.
fn parse(line: &str) -> Option<(&str, &str)> {
    let mut it = line.get(26..)?.split(' ');
    let (run, n) = (it.next()?, it.next()?);
    let pid_ok =
        run.len() > 1 && run.starts_with('r') && run[1..].bytes().all(|b| b.is_ascii_digit());
    (pid_ok && it.next().is_none()).then_some((run, n))
}

/// Lines per run id, and the runs that completed.
fn runs(text: &str) -> (BTreeMap<String, Vec<u64>>, Vec<String>) {
    let mut by_run: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut done = Vec::new();
    for line in text.lines() {
        let Some((run, n)) = parse(line) else {
            continue;
        };
        if n == "done" {
            done.push(run.to_string());
        } else if let Ok(n) = n.parse() {
            by_run.entry(run.to_string()).or_default().push(n);
        }
    }
    (by_run, done)
}

/// Counts, per run, duplicates and gaps; every run must be a prefix 1..k.
fn audit(by_run: &BTreeMap<String, Vec<u64>>) -> (u64, u64, u64) {
    let (mut total, mut dups, mut missing) = (0u64, 0u64, 0u64);
    for ns in by_run.values() {
        let mut seen = vec![false; LINES_PER_RUN as usize + 1];
        let mut max = 0;
        for &n in ns {
            total += 1;
            if n == 0 || n > LINES_PER_RUN || seen[n as usize] {
                dups += 1;
            } else {
                seen[n as usize] = true;
            }
            max = max.max(n);
        }
        missing += (1..=max).filter(|&i| !seen[i as usize]).count() as u64;
    }
    (total, dups, missing)
}

/// Copies the log directory to /tmp/svkit-faults-TAG for a post-mortem.
fn keep_for_diagnosis(tag: &str, log: &Path) {
    let dst = std::env::temp_dir().join(format!("svkit-faults-{tag}"));
    let _ = std::fs::remove_dir_all(&dst);
    let _ = std::process::Command::new("cp")
        .arg("-a")
        .arg(log.join("main"))
        .arg(&dst)
        .status();
    eprintln!("{tag}: log directory kept in {}", dst.display());
}

struct Outcome {
    total: u64,
    dups: u64,
    missing: u64,
    runs: usize,
    interrupted: usize,
    /// Lines that are not whole producer lines (cut by a SIGKILLed multilog).
    torn: u64,
    faults: usize,
}

/// Runs the scenario; `kill_multilog` adds `svc -k` on the logger.
fn scenario(tag: &str, kill_multilog: bool) -> Option<Outcome> {
    // Every program here is ours (no fallback to Debian's).
    let s = Scratch::new(tag);
    let root = s.join("scan");
    std::fs::create_dir_all(&root).unwrap();
    producer(&root);
    let prod = root.join("prod");
    let log = prod.join("log");
    let mut g = Guard::new();
    let scanner = start_svscan(&mut g, &root, &s.join("svscan.err"));
    assert!(poll_until(Duration::from_secs(10), || up_pid(&prod)
        .is_some()
        && up_pid(&log).is_some()));

    // Faults while the first runs are in progress.
    let mut faults = 0;
    let restarts = 2;
    for round in 0..restarts {
        std::thread::sleep(Duration::from_millis(50));
        // kill -9 the logger's supervise; svscan replaces it at once on ALRM.
        if let Some(sup) = supervise_of(scanner, &log) {
            signal(sup, Signal::SIGKILL);
            faults += 1;
        }
        signal(scanner, Signal::SIGALRM);
        assert!(poll_until(Duration::from_secs(10), || supervise_of(
            scanner, &log
        )
        .is_some()
            && supervised(&log)));
        for _ in 0..5 {
            assert_eq!(svc("-a", &log), 0);
            faults += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        if kill_multilog {
            assert_eq!(svc("-k", &log), 0);
            faults += 1;
        }
        // Restart the producer: its run stops between two whole lines.
        // Wait for the new run (the 1 s start floor may delay it), so the
        // next round's restart hits a running producer.
        let before = up_pid(&prod);
        assert_eq!(svc("-t", &prod), 0);
        faults += 1;
        assert!(poll_until(Duration::from_secs(10), || {
            let now = up_pid(&prod);
            now.is_some() && now != before
        }));
        eprintln!("{tag}: round {round} done, {faults} faults so far");
    }

    // The last run completes; then everything must be in the log.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        let text = read_log(&log);
        let (by_run, done) = runs(&text);
        // One run per start: the first plus one per restart, the newest done.
        // One run per start (the first plus one per restart); the newest
        // must have finished. Run ids are pids: the newest is the last seen.
        let newest = text
            .lines()
            .filter_map(|l| parse(l).map(|(run, _)| run))
            .next_back()
            .map(str::to_string);
        if by_run.len() > restarts && newest.map(|r| done.contains(&r)).unwrap_or(false) {
            last = Some((by_run, done));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if last.is_none() {
        keep_for_diagnosis(tag, &log);
        let text = read_log(&log);
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let (_, o1, _) = run(ours("svstat").arg(&prod).arg(&log));
        panic!(
            "{tag}: the final run did not finish within 120 s; svstat:\n{o1}log tail: {tail:?}\nsvscan: {}",
            std::fs::read_to_string(s.join("svscan.err")).unwrap_or_default()
        );
    }
    // Stop the producer and let the logger settle, so the audit reads a
    // directory that no rotation is changing underneath.
    assert_eq!(svc("-d", &prod), 0);
    let mut prev = String::new();
    assert!(poll_until(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(300));
        let now = read_log(&log);
        let same = now == prev;
        prev = now;
        same
    }));
    let (by_run, done) = runs(&prev);
    let (total, dups, missing) = audit(&by_run);
    for run in &done {
        assert_eq!(
            by_run.get(run).map(|v| v.len() as u64),
            Some(LINES_PER_RUN),
            "completed run {run} has every line"
        );
    }
    let interrupted = by_run.len() - done.len();
    let torn = prev.lines().filter(|l| parse(l).is_none()).count() as u64;
    if dups > 0 || (missing > 0 && !kill_multilog) {
        keep_for_diagnosis(tag, &log);
    }
    let _ = scanner;
    Some(Outcome {
        total,
        dups,
        missing,
        runs: by_run.len(),
        interrupted,
        torn,
        faults,
    })
}

#[test]
fn nothing_lost_through_supervise_kills_rotations_and_producer_restarts() {
    let Some(o) = scenario("faults-log", false) else {
        return;
    };
    eprintln!(
        "faults-log: {} runs ({} interrupted), {} lines found, {} duplicates, {} missing, {} cut, {} faults injected",
        o.runs, o.interrupted, o.total, o.dups, o.missing, o.torn, o.faults
    );
    assert_eq!(o.dups, 0, "no line twice");
    assert_eq!(o.missing, 0, "no line lost");
    assert_eq!(o.torn, 0, "no line cut");
}

#[test]
fn sigkill_of_multilog_loses_duplicates_and_cuts_nothing() {
    let Some(o) = scenario("faults-log-k", true) else {
        return;
    };
    eprintln!(
        "faults-log-k: {} runs ({} interrupted), {} lines found, {} duplicates, {} missing, {} cut, {} faults injected",
        o.runs, o.interrupted, o.total, o.dups, o.missing, o.torn, o.faults
    );
    assert_eq!(o.dups, 0, "no line twice");
    assert_eq!(o.missing, 0, "no line lost");
    assert_eq!(o.torn, 0, "no line cut");
}
