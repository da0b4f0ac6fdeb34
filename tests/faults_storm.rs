//! Fault suite, signal storms: 1000 `svc -h` to a service that counts its
//! HUPs, 1000 SIGALRM to a multilog while a producer writes numbered lines
//! through svscan's pipe, and 1000 SIGALRM to svscan itself, all at once.
//! Afterwards everything is consistent: supervise answers and its status
//! decodes, the service is up with the same pid and saw HUPs, multilog
//! lost and duplicated no line, svscan (also sent 1000 SIGHUP) runs with
//! the same tree.

mod common;
#[path = "svscan_util/mod.rs"]
mod svscan_util;

use common::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use svscan_util::*;

const T: Duration = Duration::from_secs(15);
const STORM: usize = 1000;
const LINES: u64 = 100_000;

fn lines_in(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Lines of the log with multilog's `t` label (26 bytes) stripped.
fn unlabelled(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n", l.get(26..).unwrap_or("")))
        .collect()
}

#[test]
fn signal_storms_leave_everything_consistent() {
    let s = Scratch::new("faults-storm");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let hup = make_service(
        &root,
        "hup",
        "trap 'echo h >> hups' HUP\necho $$ >> starts\nwhile :; do sleep 0.2; done",
    );
    // The producer waits for ../../go, then writes LINES numbered lines,
    // one write each, and blocks.
    let prod = make_service(
        &root,
        "prod",
        &format!(
            "exec 2>&1\nwhile [ ! -e ../../go ]; do sleep 0.05; done\n[ -p block ] || mkfifo block\n\
             exec awk 'BEGIN {{ for (i = 1; i <= {LINES}; i++) {{ printf \"p %d\\n\", i; fflush() }}\n\
             print \"p done\"; fflush(); getline x < \"./block\" }}'"
        ),
    );
    let log = prod.join("log");
    write_script(
        &log.join("run"),
        &format!(
            "#!/bin/sh\nexec {} t s100000 n100000 ./main\n",
            bin("multilog").display()
        ),
    );
    let mut g = Guard::new();
    let scanner = start_svscan(&mut g, &root, &s.join("err"));
    let dirs = [hup.clone(), prod.clone(), log.clone()];
    assert!(poll_until(T, || dirs.iter().all(|d| up_pid(d).is_some())
        && lines_in(&hup.join("starts")) == 1));
    let sups: Vec<u32> = dirs
        .iter()
        .map(|d| supervise_of(scanner, d).expect("supervise"))
        .collect();
    let pids: Vec<u32> = dirs.iter().map(|d| up_pid(d).unwrap()).collect();
    let ml = pids[2];

    std::fs::write(s.join("go"), "").unwrap();
    let t0 = Instant::now();
    // Storm 1: 1000 svc -h, half in one svc call naming the directory 500
    // times, half as 500 separate svc calls from 4 threads.
    let one_call = {
        let hup = hup.clone();
        std::thread::spawn(move || {
            let mut c = Command::new(bin("svc"));
            c.arg("-h");
            for _ in 0..STORM / 2 {
                c.arg(&hup);
            }
            run(&mut c)
        })
    };
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let hup = hup.clone();
            std::thread::spawn(move || {
                (0..STORM / 8)
                    .map(|_| run(Command::new(bin("svc")).arg("-h").arg(&hup)).0)
                    .filter(|&c| c != 0)
                    .count()
            })
        })
        .collect();
    // Storms 2 and 3: SIGALRM to multilog and to svscan, in bursts of 100
    // while the producer writes.
    let mut alarms = 0;
    for _ in 0..10 {
        for _ in 0..STORM / 10 {
            signal(ml, Signal::SIGALRM);
            signal(scanner, Signal::SIGALRM);
            signal(scanner, Signal::SIGHUP);
            alarms += 1;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let (code, _, err) = one_call.join().unwrap();
    assert_eq!((code, err.as_str()), (0, ""));
    let failed: usize = callers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(failed, 0, "some svc -h calls failed");
    let storm_secs = t0.elapsed().as_secs_f64();

    // The producer finishes; every line is in the log exactly once.
    assert!(
        poll_until(Duration::from_secs(40), || read_log(&log)
            .contains(" p done\n")),
        "the producer's last line never reached the log"
    );
    let text = unlabelled(&read_log(&log));
    let ns = numbers(&text, "p ");
    assert_eq!(ns.len() as u64, LINES, "lines found vs sent");
    assert_contiguous(&ns, "multilog under SIGALRM storm");
    let files = std::fs::read_dir(log.join("main"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('@'))
        .count();

    // svscan: alive, same supervisors, nothing restarted, no extra child.
    assert!(pid_alive(scanner));
    signal(scanner, Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(200));
    let now: Vec<u32> = dirs
        .iter()
        .map(|d| supervise_of(scanner, d).expect("supervise"))
        .collect();
    assert_eq!(now, sups, "svscan's tree changed");
    let children = descendants(scanner)
        .into_iter()
        .filter(|&p| parent(p) == Some(scanner))
        .count();
    assert_eq!(children, 3, "svscan's children");
    for (d, &p) in dirs.iter().zip(&pids) {
        assert_eq!(run(Command::new(bin("svok")).arg(d)).0, 0);
        assert_eq!(up_pid(d), Some(p), "{} restarted", d.display());
        let (_, out, _) = run(Command::new(bin("svstat")).arg(d));
        assert!(
            out.starts_with(&format!("{}: up (pid {p}) ", d.display())),
            "{out}"
        );
    }
    // The HUP counter got some (signals coalesce) and is still the first run.
    assert!(poll_until(T, || lines_in(&hup.join("hups")) >= 1));
    assert_eq!(lines_in(&hup.join("starts")), 1);
    // supervise still obeys: a pause shows in the status.
    assert_eq!(svc("-p", &hup), 0);
    assert!(poll_until(T, || status(&hup).is_some_and(|st| st.paused)));
    assert_eq!(svc("-c", &hup), 0);
    assert!(poll_until(T, || status(&hup).is_some_and(|st| !st.paused)));
    let hups = lines_in(&hup.join("hups"));
    let scan_err = std::fs::read_to_string(s.join("err")).unwrap_or_default();
    assert!(!scan_err.contains("fatal"), "svscan: {scan_err}");
    eprintln!(
        "storm: {STORM} svc -h ({} in one call, {} separate), {alarms} SIGALRM to multilog \
         and {alarms} SIGALRM + {alarms} SIGHUP to svscan in {storm_secs:.2} s; HUP traps run: {hups}; \
         lines sent {LINES}, found {} (each once) in {files} rotated files + current",
        STORM / 2,
        STORM / 2,
        ns.len()
    );
}
