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

fn starts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn crash_loop_costs_little_cpu_and_restarts_once_a_second() {
    let s = Scratch::new("faults-crashloop");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let dirs: Vec<PathBuf> = (0..SERVICES)
        .map(|i| make_service(&root, &format!("crash{i:02}"), "echo $$ >> starts\nexit 1"))
        .collect();
    let mut g = Guard::new();
    let scanner = start_svscan(&mut g, &root, &s.join("err"));

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
        "not every service started: {} supervise",
        sups.len()
    );
    // Settle into the loop (the first restarts follow the first starts).
    std::thread::sleep(Duration::from_millis(1500));

    let watched: Vec<u32> = std::iter::once(scanner)
        .chain(sups.iter().copied())
        .collect();
    let cpu0: u64 = watched.iter().map(|&p| cpu_ticks(p).unwrap()).sum();
    let n0: Vec<usize> = dirs.iter().map(|d| starts(d)).collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let cpu1: u64 = watched.iter().map(|&p| cpu_ticks(p).unwrap()).sum();
    let n1: Vec<usize> = dirs.iter().map(|d| starts(d)).collect();
    let secs = t0.elapsed().as_secs_f64();

    // The same supervisors throughout: none died and was replaced.
    let now: Vec<u32> = dirs
        .iter()
        .filter_map(|d| supervise_of(scanner, d))
        .collect();
    assert_eq!(now, sups, "a supervise was replaced during the window");

    let hz = ticks_per_second() as f64;
    let cpu_secs = (cpu1 - cpu0) as f64 / hz;
    let share = cpu_secs / secs * 100.0;
    let per: Vec<usize> = n0.iter().zip(&n1).map(|(a, b)| b - a).collect();
    let total: usize = per.iter().sum();
    eprintln!(
        "crashloop: {SERVICES} services, window {secs:.2} s: {total} starts \
         (per service min {} max {}), svscan+supervise CPU {cpu_secs:.2} s = {share:.1}% of one core",
        per.iter().min().unwrap(),
        per.iter().max().unwrap()
    );
    assert!(
        share < 10.0,
        "supervisors used {share:.1}% of a core in a crash loop"
    );
    for (d, n) in dirs.iter().zip(&per) {
        assert!(
            (3..=7).contains(n),
            "{}: {n} starts in {secs:.1} s (expected about one a second)",
            d.display()
        );
    }
    // And xstatus keeps the deaths with their exit code.
    let x =
        svkit::xstatus::XStatus::unpack(&std::fs::read(dirs[0].join("supervise/xstatus")).unwrap())
            .unwrap();
    assert_eq!(x.last_exit.unwrap().code(), Some(1));
    assert!(x.history.len() >= 5, "history: {}", x.history.len());
}
