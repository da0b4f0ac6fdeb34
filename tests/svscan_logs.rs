//! svscan's pipes lose nothing: restarting either side of a service/logger
//! pair (even SIGKILL to the logger's supervise, `svc -k` on the logger),
//! and the demo tree stopped by SIGINT to svscan alone.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(15);

fn count_in(log: &std::path::Path, prefix: &str) -> usize {
    numbers(&read_log(log), prefix).len()
}

#[test]
fn restarts_on_either_side_lose_no_line() {
    let s = Scratch::new("svscan-noloss");
    let root = s.join("sv");
    std::fs::create_dir(&root).unwrap();
    let x = counting_service(&root, "numbers", "n", "sleep 0.01");
    let log = x.join("log");
    write_script(&log.join("run"), &format!("#!/bin/sh\n{}\n", logger_run()));
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || count_in(&log, "n ") >= 30));

    // SIGKILL the logger's supervise: svscan starts another; the pipe it
    // holds keeps every line meanwhile.
    let sup = supervise_of(pid, &log).expect("log supervise");
    std::thread::sleep(Duration::from_millis(1000));
    signal(sup, Signal::SIGKILL);
    assert!(poll_until(T, || supervise_of(pid, &log)
        .map(|p| p != sup)
        .unwrap_or(false)));
    let c = count_in(&log, "n ");
    assert!(poll_until(T, || count_in(&log, "n ") >= c + 30));

    // svc -k on the logger: supervise restarts it, nothing lost.
    assert!(poll_until(T, || supervised(&log)));
    let before = up_pid(&log);
    assert_eq!(svc("-k", &log), 0);
    assert!(poll_until(T, || up_pid(&log).is_some() && up_pid(&log) != before));
    let c = count_in(&log, "n ");
    assert!(poll_until(T, || count_in(&log, "n ") >= c + 30));

    // Restart the service itself: it counts on.
    let before = up_pid(&x);
    assert_eq!(svc("-t", &x), 0);
    assert!(poll_until(T, || up_pid(&x).is_some() && up_pid(&x) != before));
    let c = count_in(&log, "n ");
    assert!(poll_until(T, || count_in(&log, "n ") >= c + 30));

    // Ordered shutdown, then check: 1..N, each once, and N is the last one
    // the service wrote.
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(40));
    assert_eq!(code, Some(0), "{e}");
    let text = read_log(&log);
    let ns = numbers(&text, "n ");
    assert_contiguous(&ns, "numbers log");
    let last = counter(&x);
    assert_eq!(
        ns.last().copied(),
        Some(last),
        "every line written reached the log"
    );
    assert!(text.contains(&format!("stopped at {last}")));
}

#[test]
fn demo_tree_stops_on_sigint_with_nothing_lost() {
    let s = Scratch::new("svscan-demo");
    let root = s.join("service");
    // The README's tree, minus services owned elsewhere that need more
    // than svscan (booster), with multilog from our build.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/service");
    for rel in ["demo/run", "demo/log/run", ".svscan/log/run"] {
        let body = std::fs::read_to_string(src.join(rel)).unwrap();
        write_script(&root.join(rel), &body);
    }
    let mut g = Guard::new();
    let err = s.join("err");
    let f = std::fs::File::create(&err).unwrap();
    // Our multilog first on PATH (the run scripts say `multilog`).
    let path = path_with_ours();
    let pid = g.spawn(
        std::process::Command::new(bin("svscan"))
            .arg(&root)
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    );
    let log = root.join("demo/log");
    assert!(poll_until(T, || count_in(&log, "demo: line ") >= 3 || {
        // multilog t prefixes a label: strip it.
        read_log(&log)
            .lines()
            .filter(|l| l.contains("demo: line "))
            .count()
            >= 3
    }));
    // Ctrl-C: SIGINT to svscan only (the terminal's foreground group holds
    // svscan alone; every supervise has its own group).
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGINT, &err, Duration::from_secs(40));
    assert_eq!(code, Some(0), "{e}");
    let text = read_log(&log);
    let bodies: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(' ').map(|(_, r)| r).unwrap_or(l))
        .collect();
    let ns = numbers(&bodies.join("\n"), "demo: line ");
    assert_contiguous(&ns, "demo log");
    let last = ns.last().copied().unwrap_or(0);
    assert!(
        bodies.contains(&format!("demo: stopping after {last} lines").as_str()),
        "{text}"
    );
    let own = read_log(&root.join(".svscan/log"));
    assert!(own.contains("svscan: info: got SIGINT: stopping"), "{own}");
    assert!(!supervised(&log) && !supervised(&root.join("demo")));
}

/// The numbers after `prefix` in a `multilog t` log (each line starts with
/// a TAI64N label and a space).
fn labelled_numbers(text: &str, prefix: &str) -> Vec<u64> {
    let bodies: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(' ').map(|(_, r)| r).unwrap_or(l))
        .collect();
    numbers(&bodies.join("\n"), prefix)
}

/// Issue 13: a logger whose supervise was SIGKILLed and replaced is now
/// svscan's child (svscan is a subreaper) under a pid svscan did not fork.
/// It is still a logger: the shutdown must let it drain, not TERM it with
/// the leftover orphans. Same for `.svscan/log`.
#[test]
fn adopted_logger_drains_every_line_at_shutdown() {
    let s = Scratch::new("svscan-adopted");
    let root = s.join("sv");
    let a = make_service(
        &root,
        "a",
        "exec 2>&1\n\
         trap 'i=1; while [ $i -le 2000 ]; do echo \"bye $i\"; i=$((i+1)); done; exit 0' TERM\n\
         echo started\n\
         while :; do sleep 0.2 & wait $!; done",
    );
    let slow = |dir: &std::path::Path| {
        write_script(
            &dir.join("run"),
            &format!(
                "#!/bin/sh\nexec {} t n1000 s4096 '!sleep 0.05; cat' ./main\n",
                bin("multilog").display()
            ),
        )
    };
    let log = a.join("log");
    slow(&log);
    let own = root.join(".svscan/log");
    slow(&own);
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_svscan(&mut g, &root, &err);
    assert!(poll_until(T, || read_log(&log).contains(" started")));
    // Both loggers lose their supervise to SIGKILL; the new supervise
    // takes over the multilog that is still running.
    for dir in [&log, &own] {
        assert!(poll_until(T, || up_pid(dir).is_some()));
        let logger = up_pid(dir).unwrap();
        let sup = supervise_of(pid, dir).expect("log supervise");
        std::thread::sleep(Duration::from_millis(1100));
        signal(sup, Signal::SIGKILL);
        assert!(
            poll_until(T, || supervise_of(pid, dir).is_some_and(|p| p != sup)
                && supervised(dir)
                && parent(logger) == Some(pid)),
            "{}: no takeover",
            dir.display()
        );
        assert_eq!(up_pid(dir), Some(logger), "the logger was restarted");
    }
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{e}");
    let ns = labelled_numbers(&read_log(&log), "bye ");
    assert_eq!(ns.len(), 2000, "lines of the shutdown log kept");
    assert_contiguous(&ns, "shutdown log");
    let mine = read_log(&own);
    assert!(
        mine.contains("svscan: info: got SIGTERM: stopping"),
        "{mine}"
    );
}
