//! Fault suite, crash loop: 20 services whose `run` exits at once, under
//! our svscan. Over a ~5 s window the supervisors and svscan together use
//! little CPU, and every service is restarted about once a second (the
//! daemontools floor), no faster and not much slower.

mod common;
#[path = "svscan_util/mod.rs"]
mod svscan_util;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use svscan_util::*;

const SERVICES: usize = 20;

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // rest starts at field 3 (state): field N is f[N - 3].
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> u64 {
    let (_, out, _) = run(std::process::Command::new("getconf").arg("CLK_TCK"));
    out.trim().parse().unwrap_or(100)
}

/// CPU time of `pid` in ns: /proc/PID/schedstat's first field (ns
/// precision), or the stat ticks where schedstat is missing.
fn cpu_ns(pid: u32, hz: u64) -> Option<u64> {
    let precise = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next()?.parse().ok());
    precise.or_else(|| Some(cpu_ticks(pid)? * 1_000_000_000 / hz))
}

fn starts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

struct Loop {
    secs: f64,
    cpu_ns: u64,
    per: Vec<usize>,
    dirs: Vec<PathBuf>,
}

/// Runs the crash loop under `svscan` (ours, or djb's with /usr/bin first
/// on PATH so it finds djb's supervise) and measures a 5 s window.
fn crash_loop(s: &Scratch, tag: &str, svscan: &Path, path: &str) -> Loop {
    let hz = ticks_per_second();
    let root = s.join(tag);
    std::fs::create_dir(&root).unwrap();
    let dirs: Vec<PathBuf> = (0..SERVICES)
        .map(|i| make_service(&root, &format!("crash{i:02}"), "echo $$ >> starts\nexit 1"))
        .collect();
    let mut g = Guard::new();
    let err = std::fs::File::create(s.join(&format!("{tag}.err"))).unwrap();
    let scanner = g.spawn(
        std::process::Command::new(svscan)
            .arg(&root)
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .stdout(err.try_clone().unwrap())
            .stderr(err),
    );

    // Every service has its supervise and has crashed at least once.
    let mut sups: Vec<u32> = Vec::new();
    assert!(
        poll_until(Duration::from_secs(15), || {
            sups = dirs
                .iter()
                .filter_map(|d| supervise_of(scanner, d))
                .collect();
            sups.len() == SERVICES && dirs.iter().all(|d| starts(d) >= 1)
        }),
        "{tag}: not every service started: {} supervise",
        sups.len()
    );
    // Settle into the loop (the first restarts follow the first starts).
    std::thread::sleep(Duration::from_millis(1500));

    let watched: Vec<u32> = std::iter::once(scanner)
        .chain(sups.iter().copied())
        .collect();
    let cpu0: u64 = watched.iter().map(|&p| cpu_ns(p, hz).unwrap()).sum();
    let n0: Vec<usize> = dirs.iter().map(|d| starts(d)).collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let cpu1: u64 = watched.iter().map(|&p| cpu_ns(p, hz).unwrap()).sum();
    let n1: Vec<usize> = dirs.iter().map(|d| starts(d)).collect();
    let secs = t0.elapsed().as_secs_f64();

    // The same supervisors throughout: none died and was replaced.
    let now: Vec<u32> = dirs
        .iter()
        .filter_map(|d| supervise_of(scanner, d))
        .collect();
    assert_eq!(
        now, sups,
        "{tag}: a supervise was replaced during the window"
    );
    Loop {
        secs,
        cpu_ns: cpu1 - cpu0,
        per: n0.iter().zip(&n1).map(|(a, b)| b - a).collect(),
        dirs,
    }
}

fn report(tag: &str, l: &Loop) -> f64 {
    let cpu_secs = l.cpu_ns as f64 / 1e9;
    let share = cpu_secs / l.secs * 100.0;
    eprintln!(
        "crashloop {tag}: {SERVICES} services, window {:.2} s: {} starts (per service min {} max {}), \
         svscan+supervise CPU {:.1} ms = {share:.2}% of one core",
        l.secs,
        l.per.iter().sum::<usize>(),
        l.per.iter().min().unwrap(),
        l.per.iter().max().unwrap(),
        cpu_secs * 1000.0
    );
    share
}

#[test]
fn crash_loop_costs_little_cpu_and_restarts_once_a_second() {
    let s = Scratch::new("faults-crashloop");
    let ours = crash_loop(&s, "ours", &bin("svscan"), &path_with_ours());
    let share = report("svkit", &ours);
    assert!(
        share < 10.0,
        "supervisors used {share:.1}% of a core in a crash loop"
    );
    for (d, n) in ours.dirs.iter().zip(&ours.per) {
        assert!(
            (3..=7).contains(n),
            "{}: {n} starts in {:.1} s (expected about one a second)",
            d.display(),
            ours.secs
        );
    }
    // And xstatus keeps the deaths with their exit code.
    let x = svkit::xstatus::XStatus::unpack(
        &std::fs::read(ours.dirs[0].join("supervise/xstatus")).unwrap(),
    )
    .unwrap();
    assert_eq!(x.last_exit.unwrap().code(), Some(1));
    assert!(x.history.len() >= 5, "history: {}", x.history.len());
    // The same with daemontools, for the figures only.
    if let Some(djb) = djb("svscan") {
        let theirs = crash_loop(&s, "djb", &djb, "/usr/bin:/bin");
        report("daemontools", &theirs);
    }
}
