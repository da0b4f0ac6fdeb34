//! svstat's extensions against hand-written records: the process-signature
//! check (a stale pid is never "up"), `-v`, and `--json` agreeing with the
//! text output.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use svkit::procsig::ProcSig;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{Death, XStatus, FLAG_READY};

impl FakeSupervise {
    fn write(&self, s: &Status, x: Option<&XStatus>) {
        std::fs::write(self.dir.join("supervise/status"), s.pack()).unwrap();
        if let Some(x) = x {
            std::fs::write(self.dir.join("supervise/xstatus"), x.pack()).unwrap();
        }
    }
}

fn ago(secs: u64) -> Tai64n {
    let now = Tai64n::now();
    Tai64n {
        secs: now.secs - secs,
        nanos: now.nanos,
    }
}

fn status(pid: u32, secs_ago: u64, paused: bool, want: Want) -> Status {
    Status {
        when: ago(secs_ago),
        pid,
        paused,
        want,
    }
}

/// An extended record written by "us" (the test process is the supervisor).
fn xstatus(child: ProcSig, changed: Tai64n) -> XStatus {
    let mut x = XStatus::new(ProcSig::of_self().unwrap());
    x.child = child;
    x.changed = changed;
    x
}

fn sleeper(g: &mut Guard) -> u32 {
    g.spawn(
        Command::new("/bin/sleep")
            .arg("100")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

fn svstat(args: &[&Path]) -> String {
    let (code, out, err) = run(ours("svstat").args(args));
    assert_eq!((code, err.as_str()), (0, ""));
    out
}

fn svstat_opt(opt: &str, args: &[&Path]) -> String {
    let (code, out, err) = run(ours("svstat").arg(opt).args(args));
    assert_eq!((code, err.as_str()), (0, ""));
    out
}

fn json(dir: &Path) -> Value {
    let out = svstat_opt("--json", &[dir]);
    assert_eq!(out.lines().count(), 1, "{out}");
    serde_json::from_str(&out).expect("valid JSON")
}

#[test]
fn recycled_pid_is_stale_not_up() {
    let s = Scratch::new("stale-reused");
    let mut g = Guard::new();
    let other = sleeper(&mut g);
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(other).is_ok()));
    let live = ProcSig::of(other).unwrap();
    let f = FakeSupervise::new(&s.path, "x", true);
    let st = status(other, 30, false, Want::Up);
    // The record's child started at another time: the pid was reused.
    let recorded = ProcSig {
        pid: other,
        start: live.start.saturating_sub(1000),
    };
    f.write(&st, Some(&xstatus(recorded, st.when)));
    let out = svstat(&[&f.dir]);
    assert!(!out.contains(": up"), "{out}");
    assert_eq!(
        out,
        format!(
            "{}: stale status: pid {other} is another process\n",
            f.dir.display()
        )
    );
    let v = svstat_opt("-v", &[&f.dir]);
    assert!(!v.contains(": up"), "{v}");
    assert!(v.contains("that pid now belongs to another process"), "{v}");
    let j = json(&f.dir);
    assert_eq!(j["state"], "down");
    assert_eq!(j["stale"], true);
    assert_eq!(j["pid"], Value::Null);
    assert_eq!(j["status_pid"], other);
    // The same record with the right start time is believed.
    f.write(&st, Some(&xstatus(live, st.when)));
    let out = svstat(&[&f.dir]);
    assert!(out.contains(&format!(": up (pid {other}) ")), "{out}");
    assert_eq!(json(&f.dir)["stale"], false);
}

#[test]
fn vanished_pid_is_stale() {
    let s = Scratch::new("stale-gone");
    let mut g = Guard::new();
    let p = sleeper(&mut g);
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(p).is_ok()));
    let sig = ProcSig::of(p).unwrap();
    g.kill_all();
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(p).is_err()));
    let f = FakeSupervise::new(&s.path, "x", true);
    let st = status(p, 3, false, Want::Up);
    f.write(&st, Some(&xstatus(sig, st.when)));
    let out = svstat(&[&f.dir]);
    assert_eq!(
        out,
        format!("{}: stale status: pid {p} is gone\n", f.dir.display())
    );
    assert_eq!(json(&f.dir)["stale_reason"], "gone");
}

#[test]
fn unsupervised_up_is_stale_and_djb_worded() {
    let s = Scratch::new("stale-unsup");
    let f = FakeSupervise::new(&s.path, "x", false);
    let st = status(std::process::id(), 3, false, Want::Up);
    f.write(&st, None);
    let out = svstat(&[&f.dir]);
    assert_eq!(out, format!("{}: supervise not running\n", f.dir.display()));
    if let Some(theirs) = djb("svstat") {
        assert_eq!(run(Command::new(theirs).arg(&f.dir)).1, out);
    }
    let j = json(&f.dir);
    assert_eq!(j["state"], "unsupervised");
    assert_eq!(j["stale"], true);
    assert_eq!(j["pid"], Value::Null);
    let v = svstat_opt("-v", &[&f.dir]);
    assert!(v.contains("stale: status says up"), "{v}");
}

/// Parses djb's line `DIR: up (pid N) S seconds, …` into JSON-like parts.
fn parse_line(line: &str) -> (String, Option<u64>, u64, Vec<String>) {
    let (_, rest) = line.split_once(": ").unwrap();
    let (head, flags) = match rest.split_once(", ") {
        Some((h, f)) => (h, f.split(", ").map(String::from).collect()),
        None => (rest, Vec::new()),
    };
    let words: Vec<&str> = head.split(' ').collect();
    if words[0] == "up" {
        let pid = words[2].trim_end_matches(')').parse().unwrap();
        ("up".into(), Some(pid), words[3].parse().unwrap(), flags)
    } else {
        assert_eq!(words[0], "down", "{line}");
        ("down".into(), None, words[1].parse().unwrap(), flags)
    }
}

#[test]
fn verbose_and_json_match_text() {
    let s = Scratch::new("json");
    let mut g = Guard::new();
    let p = sleeper(&mut g);
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(p).is_ok()));
    let sig = ProcSig::of(p).unwrap();

    let up = FakeSupervise::new(&s.path, "up", true);
    let st = status(p, 3 * 3600 + 125, false, Want::Up);
    let mut x = xstatus(sig, st.when);
    x.set(FLAG_READY, true);
    x.ready = ago(3 * 3600 + 120);
    x.push_death(Death {
        when: ago(4 * 3600),
        wstatus: 9,
    });
    x.push_death(Death {
        when: ago(3 * 3600 + 126),
        wstatus: 3 << 8,
    });
    up.write(&st, Some(&x));

    let odd = FakeSupervise::new(&s.path, "odd", true);
    std::fs::write(odd.dir.join("down"), "").unwrap();
    let st2 = status(p, 42, true, Want::Down);
    let mut x2 = xstatus(sig, st2.when);
    x2.set(FLAG_READY, false);
    odd.write(&st2, Some(&x2));

    let down = FakeSupervise::new(&s.path, "down", true);
    let st3 = status(0, 65, false, Want::Up);
    let mut x3 = xstatus(ProcSig::default(), st3.when);
    x3.push_death(Death {
        when: st3.when,
        wstatus: 1 << 8,
    });
    down.write(&st3, Some(&x3));

    let plain = FakeSupervise::new(&s.path, "plain", true);
    plain.write(&status(0, 5, false, Want::Down), None);

    let dirs = [&up.dir, &odd.dir, &down.dir, &plain.dir];
    let dirs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    // -v: the default line first, then indented extras.
    // Every count may be a few seconds later than written (a tick between
    // writing the records and svstat's clock), never earlier.
    let v = svstat_opt("-v", &dirs);
    let h = |secs: u64| humantime::format_duration(Duration::from_secs(secs)).to_string();
    const H3: u64 = 3 * 3600;
    assert!(
        contains_later(&v, |k| format!(
            "  up {}, ready for {}\n",
            h(H3 + 125 + k),
            h(H3 + 120 + k)
        )),
        "{v}"
    );
    assert!(
        contains_later(&v, |k| format!(
            "  last exit: exit 3 {} ago\n",
            h(H3 + 126 + k)
        )),
        "{v}"
    );
    assert!(
        contains_later(&v, |k| format!(
            "  recent deaths (2): exit 3 {} ago; killed by SIGKILL {} ago\n",
            h(H3 + 126 + k),
            h(4 * 3600 + k)
        )),
        "{v}"
    );
    assert!(v.contains("readiness not signalled, paused"), "{v}");
    assert!(
        contains_later(&v, |k| format!(
            "  down {}\n  last exit: exit 1 {} ago\n",
            h(65 + k),
            h(65 + k)
        )),
        "{v}"
    );
    assert!(v.contains("no extended status"), "{v}");

    for _ in 0..3 {
        let text = svstat(&dirs);
        let out = svstat_opt("--json", &dirs);
        let objs: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(objs.len(), dirs.len());
        let mut all_same = true;
        for (line, j) in text.lines().zip(&objs) {
            let (state, pid, secs, flags) = parse_line(line);
            assert_eq!(j["dir"], line.split_once(": ").unwrap().0);
            assert_eq!(j["state"], state.as_str());
            assert_eq!(j["pid"].as_u64(), pid);
            all_same &= j["seconds"].as_u64() == Some(secs);
            let has = |f: &str| flags.iter().any(|x| x == f);
            assert_eq!(j["paused"], has("paused"));
            if state == "up" {
                assert_eq!(j["normally"] == "down", has("normally down"));
                assert_eq!(j["want"] == "down", has("want down"));
            } else {
                assert_eq!(j["normally"] == "up", has("normally up"));
                assert_eq!(j["want"] == "up", has("want up"));
            }
            assert_eq!(j["stale"], false);
        }
        if !all_same {
            continue; // a second ticked between the two runs
        }
        assert_eq!(objs[0]["ready"], true);
        let later = |v: &Value, want: u64| v.as_u64().is_some_and(|n| count_later(n, want));
        assert!(later(&objs[0]["ready_seconds"], H3 + 120), "{out}");
        assert_eq!(objs[0]["last_exit"]["code"], 3);
        assert_eq!(objs[0]["last_exit"]["signal"], Value::Null);
        assert!(
            later(&objs[0]["last_exit"]["seconds_ago"], H3 + 126),
            "{out}"
        );
        assert_eq!(objs[0]["deaths"][1]["signal"], 9);
        assert_eq!(objs[1]["ready"], false);
        assert_eq!(objs[1]["ready_seconds"], Value::Null);
        assert_eq!(objs[2]["last_exit"]["code"], 1);
        assert_eq!(objs[3]["ready"], false);
        assert_eq!(objs[3]["last_exit"], Value::Null);
        return;
    }
    panic!("seconds never agreed between text and JSON");
}

#[test]
fn json_reports_errors_as_unknown() {
    let s = Scratch::new("json-err");
    let j = json(&s.join("missing"));
    assert_eq!(j["state"], "unknown");
    assert_eq!(j["error"], "unable to chdir: file does not exist");
    let out = svstat_opt("--json", &[]);
    assert_eq!(out, "");
}

#[test]
fn leftover_record_of_a_dead_supervise_is_ignored() {
    let s = Scratch::new("leftover");
    let mut g = Guard::new();
    let old_supervisor = sleeper(&mut g);
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(
        old_supervisor
    )
    .is_ok()));
    let old_sig = ProcSig::of(old_supervisor).unwrap();
    g.kill_all();
    let f = FakeSupervise::new(&s.path, "x", true);
    let st = status(0, 8, false, Want::Down);
    let mut x = XStatus::new(old_sig);
    x.push_death(Death {
        when: ago(100),
        wstatus: 2 << 8,
    });
    f.write(&st, Some(&x));
    let v = svstat_opt("-v", &[&f.dir]);
    assert!(v.contains("no extended status"), "{v}");
    assert!(!v.contains("last exit"), "{v}");
    assert_eq!(json(&f.dir)["last_exit"], Value::Null);
}
