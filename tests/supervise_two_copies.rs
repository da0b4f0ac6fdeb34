//! Never two copies (issue 11, defect 4): supervise is SIGKILLed at random
//! moments across hundreds of start/stop/crash cycles on several services
//! (and replaced at once, harsher than svscan's 5 s), while a sampler
//! watches the process table: never two `run`s of one service, never a
//! `run` beside its `finish`.
//!
//! `SVKIT_TWO_COPIES_SECS` sets the length (default 30 s);
//! `SVKIT_SUPERVISE` runs another supervise binary (to show the failure).

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The argument that marks a service's `run` (and its `finish`) in the
/// process table: `sleep 3.N1` / `sleep 0.2N1`.
fn run_marker(i: usize) -> String {
    format!("sleep\u{0}3.{i}1\u{0}")
}

fn finish_marker(i: usize) -> String {
    format!("sleep\u{0}0.2{i}1\u{0}")
}

/// xorshift: enough randomness for kill moments, no crate needed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn pids(log: &Path) -> Vec<u32> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn has_marker(pid: u32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == marker.as_bytes())
        && pid_alive(pid)
}

#[derive(Default)]
struct Findings {
    samples: u64,
    two_runs: u64,
    run_beside_finish: u64,
    first: Option<String>,
}

/// Samples every service until stopped. The pids come from the logs the
/// scripts append to; a pid is checked by its exact command line, so a
/// recycled pid does not count.
fn sampler(
    services: Vec<(PathBuf, PathBuf)>,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Findings>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut live: Vec<(Vec<u32>, Vec<u32>)> = vec![(Vec::new(), Vec::new()); services.len()];
        let mut seen: Vec<(usize, usize)> = vec![(0, 0); services.len()];
        while !stop.load(Ordering::Relaxed) {
            let mut f = out.lock().unwrap();
            f.samples += 1;
            for (i, (runs, finishes)) in services.iter().enumerate() {
                let (r, fi) = (pids(runs), pids(finishes));
                live[i].0.extend(&r[seen[i].0..]);
                live[i].1.extend(&fi[seen[i].1..]);
                seen[i] = (r.len(), fi.len());
                live[i].0.retain(|&p| has_marker(p, &run_marker(i)));
                live[i].1.retain(|&p| has_marker(p, &finish_marker(i)));
                let (nr, nf) = (live[i].0.len(), live[i].1.len());
                if nr > 1 {
                    f.two_runs += 1;
                }
                if nr > 0 && nf > 0 {
                    f.run_beside_finish += 1;
                }
                if (nr > 1 || (nr > 0 && nf > 0)) && f.first.is_none() {
                    f.first = Some(format!(
                        "service {i}: runs {:?} finishes {:?}",
                        live[i].0, live[i].1
                    ));
                }
            }
            drop(f);
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

fn supervise_bin() -> PathBuf {
    std::env::var_os("SVKIT_SUPERVISE")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin("supervise"))
}

fn start(g: &mut Guard, dir: &Path) -> u32 {
    g.spawn(
        Command::new(supervise_bin())
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

#[test]
fn sigkilled_supervise_never_leaves_two_copies() {
    let secs: u64 = std::env::var("SVKIT_TWO_COPIES_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let s = Scratch::new("two-copies");
    let mut g = Guard::new();
    let n = 6;
    let mut services = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..n {
        let runs = s.join(&format!("runs{i}"));
        let finishes = s.join(&format!("finishes{i}"));
        // run lives up to 3 s unless told otherwise (crashes: t, k);
        // every third one exits by itself at once (a crash loop).
        let dir = make_service(
            &s.path,
            &format!("s{i}"),
            &format!(
                "echo $$ >> {r}\nn=$(wc -l < {r})\nif [ $((n % 3)) = 0 ]; then exit 1; fi\nexec sleep 3.{i}1",
                r = runs.display()
            ),
        );
        write_script(
            &dir.join("finish"),
            &format!(
                "#!/bin/sh\necho $$ >> {f}\nexec sleep 0.2{i}1\n",
                f = finishes.display()
            ),
        );
        services.push((runs, finishes));
        dirs.push(dir);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let findings = Arc::new(Mutex::new(Findings::default()));
    let th = sampler(services.clone(), stop.clone(), findings.clone());
    let mut sup: HashMap<usize, u32> = HashMap::new();
    for (i, d) in dirs.iter().enumerate() {
        sup.insert(i, start(&mut g, d));
    }
    let kills = AtomicU64::new(0);
    let mut letters = 0u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let i = rng.below(n as u64) as usize;
        let dir = &dirs[i];
        match rng.below(10) {
            0..=3 => {
                // SIGKILL this supervise at a random moment, replace it.
                let old = sup[&i];
                let _ = kill(Pid::from_raw(old as i32), Signal::SIGKILL);
                if let Some(c) = g.child(old) {
                    let _ = c.wait();
                }
                kills.fetch_add(1, Ordering::Relaxed);
                sup.insert(i, start(&mut g, dir));
            }
            r => {
                let l = ["t", "k", "du", "d", "u", "t"][(r - 4) as usize];
                if let Ok(mut f) = svkit::control::open_control(dir) {
                    let _ = std::io::Write::write_all(&mut f, l.as_bytes());
                    letters += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
    }
    // Stop: everything down, supervises gone, then the last samples.
    for d in &dirs {
        if let Ok(mut f) = svkit::control::open_control(d) {
            let _ = std::io::Write::write_all(&mut f, b"dx");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let _ = th.join();
    let starts: usize = services.iter().map(|(r, _)| pids(r).len()).sum();
    let finishes: usize = services.iter().map(|(_, f)| pids(f).len()).sum();
    for (r, f) in &services {
        for p in pids(r).into_iter().chain(pids(f)) {
            g.adopt(p);
        }
    }
    let f = findings.lock().unwrap();
    eprintln!(
        "two copies: {secs} s, {n} services: {} samples, {} supervise SIGKILLs, {letters} control writes, {starts} starts of run, {finishes} of finish; two runs seen in {} samples, run beside finish in {}",
        f.samples,
        kills.load(Ordering::Relaxed),
        f.two_runs,
        f.run_beside_finish
    );
    assert!(starts >= 100, "too few cycles to mean anything: {starts}");
    assert_eq!(
        (f.two_runs, f.run_beside_finish),
        (0, 0),
        "first: {:?}",
        f.first
    );
}
