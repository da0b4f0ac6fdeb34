//! svscan with 10,000 services (issue 13): time until all are up, total
//! PSS, the scanner's idle CPU, the cost of a forced rescan, and a clean
//! ordered stop. Too slow for the default run on two cores; run it with
//!
//!     cargo test --release --test svscan_scale -- --ignored --nocapture
//!
//! (`SVSCAN_SCALE_N` changes the count; `SVSCAN_SCALE_DIR` the parent
//! directory of the tree, default the temp dir). As root it raises
//! `kernel.pid_max` when 4 x N + 4096 does not fit, and puts it back.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use util::*;

const PID_MAX: &str = "/proc/sys/kernel/pid_max";

/// Puts `kernel.pid_max` back on drop.
struct PidMax(Option<String>);

impl PidMax {
    fn at_least(want: u64) -> PidMax {
        let old = std::fs::read_to_string(PID_MAX).unwrap_or_default();
        let cur: u64 = old.trim().parse().unwrap_or(0);
        if cur >= want || !nix::unistd::geteuid().is_root() {
            return PidMax(None);
        }
        match std::fs::write(PID_MAX, want.to_string()) {
            Ok(()) => PidMax(Some(old)),
            Err(_) => PidMax(None),
        }
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            let _ = std::fs::write(PID_MAX, old.trim());
        }
    }
}

/// On the way out (also on a failed assertion): svscan's own ordered stop
/// first, which also ends services taken over by new supervisors (they
/// are svscan's children then); the Guard kills whatever is left.
struct StopFirst(u32);

impl Drop for StopFirst {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            signal(self.0, Signal::SIGTERM);
            poll_until(Duration::from_secs(120), || !pid_alive(self.0));
        }
    }
}

fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sum of a field of smaps_rollup (KiB) over `pids`.
fn rollup_kb(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .flat_map(|t| {
            t.lines()
                .filter(|l| l.starts_with(field))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn make_tree(root: &Path, n: usize, count: &Path) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(count, "").unwrap();
    let run = format!(
        "#!/bin/sh\nprintf x >>{}\nexec sleep 86397\n",
        count.display()
    );
    for i in 0..n {
        let dir = root.join(format!("s{i:05}"));
        write_script(&dir.join("run"), &run);
        // One in ten has a logger: the held pipes and the loggers-last
        // order are part of the stop.
        if i % 10 == 0 {
            write_script(&dir.join("log/run"), "#!/bin/sh\nexec cat >/dev/null\n");
        }
    }
}

#[test]
#[ignore]
fn ten_thousand_services() {
    let n: usize = std::env::var("SVSCAN_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let logged = n.div_ceil(10);
    let _pid_max = PidMax::at_least(4 * n as u64 + 4096);
    let s = match std::env::var_os("SVSCAN_SCALE_DIR") {
        Some(d) => Scratch {
            path: PathBuf::from(d).join(format!("svkit-scale-{}", std::process::id())),
        },
        None => Scratch::new("svscan-scale"),
    };
    let root = s.path.join("sv");
    let count = s.path.join("count");
    make_tree(&root, n, &count);
    let mut g = Guard::new();
    let err = s.path.join("err");
    let t0 = Instant::now();
    // The default cap is what the descriptor limit holds if every service
    // had a logger (9968 under this machine's 20000): ask for N.
    let f = std::fs::File::create(&err).expect("stderr file");
    let pid = g.spawn(
        std::process::Command::new(bin("svscan"))
            .arg("-c")
            .arg(n.to_string())
            .arg(&root)
            .env("PATH", path_with_ours())
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f),
    );
    let _stop_first = StopFirst(pid);
    let size = || std::fs::metadata(&count).map(|m| m.len()).unwrap_or(0) as usize;
    let mut first = None;
    let all_up = poll_until(Duration::from_secs(600), || {
        let k = size();
        if k > 0 && first.is_none() {
            first = Some(t0.elapsed());
        }
        k >= n
    });
    let up = t0.elapsed();
    let text = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        all_up,
        "{} of {n} up after {up:?}: {}",
        size(),
        &text[..text.len().min(2000)]
    );
    // Every logger up too (the stop below must drain them).
    assert!(poll_until(Duration::from_secs(120), || children_of(pid)
        .len()
        >= n + logged));
    std::thread::sleep(Duration::from_secs(2));
    let mut tree = vec![pid];
    tree.extend(children_of(pid));
    let pss = rollup_kb(&tree, "Pss:");
    let rss = rollup_kb(&tree, "Rss:");
    let scanner_rss = rollup_kb(&[pid], "Rss:");

    // Idle: six periodic ticks with nothing to do, and (past 60 s since
    // the start) the check of what can change while DIR does not.
    let c0 = cpu_ns(pid);
    std::thread::sleep(Duration::from_secs(30));
    let idle_ms = (cpu_ns(pid) - c0) as f64 / 1e6;

    // A forced rescan reads all N directories.
    let c0 = cpu_ns(pid);
    signal(pid, Signal::SIGALRM);
    std::thread::sleep(Duration::from_secs(3));
    let rescan_ms = (cpu_ns(pid) - c0) as f64 / 1e6;
    assert_eq!(
        children_of(pid).len(),
        n + logged,
        "a rescan started something"
    );

    // In place upgrade of the whole tree (same binaries, new files are
    // not needed to move every supervise): no service restarted.
    let sample: Vec<(PathBuf, u32)> = (0..n)
        .step_by(997)
        .map(|i| {
            let d = root.join(format!("s{i:05}"));
            let p = up_pid(&d).expect("up");
            (d, p)
        })
        .collect();
    let t2 = Instant::now();
    let (code, out, e) = run(std::process::Command::new(rc())
        .arg("upgrade")
        .arg(&root)
        .env("PATH", path_with_ours()));
    let upgrade = t2.elapsed();
    assert_eq!(code, 0, "{out}{e}");
    for (d, p) in &sample {
        assert_eq!(up_pid(d), Some(*p), "{} restarted", d.display());
    }
    // Every supervise is new and svscan's child; the services they took
    // over are svscan's children too now (it is their subreaper).
    let supervisors = || {
        children_of(pid)
            .into_iter()
            .filter(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm"))
                    .is_ok_and(|t| t.trim() == "supervise")
            })
            .count()
    };
    assert!(poll_until(Duration::from_secs(60), || supervisors() == n + logged));

    let t1 = Instant::now();
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(300));
    let stop = t1.elapsed();
    let tail = &e[e.len().saturating_sub(2000)..];
    assert_eq!(code, Some(0), "{tail}");
    assert!(e.contains("stopping services, loggers last"), "{tail}");
    let warnings: Vec<&str> = e
        .lines()
        .filter(|l| l.contains("warning") && !l.contains(&format!("-c {n}: ")))
        // The upgrade's new supervisors say so as they take over.
        .filter(|l| !l.contains("is still running from a previous supervise"))
        .collect();
    assert!(
        warnings.is_empty(),
        "{:?}",
        &warnings[..warnings.len().min(10)]
    );
    let took_over = e
        .matches("is still running from a previous supervise")
        .count();
    assert_eq!(
        took_over,
        n + logged,
        "services taken over by the new supervisors"
    );
    for i in (0..n).step_by(997) {
        assert!(!supervised(&root.join(format!("s{i:05}"))));
    }
    println!(
        "svscan scale: {n} services ({logged} logged): first up {:.3}s, all up {:.3}s; \
         PSS {:.1} MiB (RSS {:.1} MiB, scanner RSS {} KiB) over {} processes; \
         idle CPU {idle_ms:.1} ms over 30 s; forced rescan {rescan_ms:.1} ms; \
         in-place upgrade {:.3}s; ordered stop {:.3}s",
        first.unwrap_or_default().as_secs_f64(),
        up.as_secs_f64(),
        pss as f64 / 1024.0,
        rss as f64 / 1024.0,
        scanner_rss,
        tree.len(),
        upgrade.as_secs_f64(),
        stop.as_secs_f64()
    );
    assert!(idle_ms < 20.0, "idle CPU {idle_ms} ms");
}
