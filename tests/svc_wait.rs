//! `svc -w u|U|d|D` and `-T`: waiting for states, against a fake
//! supervise whose records the test writes (exact timing), and against
//! djb's real supervise.

mod common;

use common::*;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use svkit::procsig::ProcSig;
use svkit::status::{Status, Want};
use svkit::tai64n::Tai64n;
use svkit::xstatus::{XStatus, FLAG_FINISHING, FLAG_READY};

struct Fake {
    dir: PathBuf,
    _fifos: Vec<File>,
}

impl Fake {
    fn new(root: &Path, name: &str) -> Fake {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("supervise")).unwrap();
        // The service announces readiness (supervise would give it fd 3).
        std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
        let mut fifos = Vec::new();
        for f in ["ok", "control"] {
            let p = dir.join("supervise").join(f);
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            fifos.push(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&p)
                    .unwrap(),
            );
        }
        Fake { dir, _fifos: fifos }
    }

    /// Writes both records atomically (new file, rename), as supervise does.
    fn write(&self, pid: u32, x: &XStatus) {
        let s = Status {
            when: x.changed,
            pid,
            paused: false,
            want: Want::Up,
        };
        let sup = self.dir.join("supervise");
        std::fs::write(sup.join("status.new"), s.pack()).unwrap();
        std::fs::rename(sup.join("status.new"), sup.join("status")).unwrap();
        std::fs::write(sup.join("xstatus.new"), x.pack()).unwrap();
        std::fs::rename(sup.join("xstatus.new"), sup.join("xstatus")).unwrap();
    }
}

fn record(supervisor: ProcSig, child: ProcSig, flags: u8) -> XStatus {
    let mut x = XStatus::new(supervisor);
    x.child = child;
    x.changed = Tai64n::now();
    x.flags = flags;
    if flags & FLAG_READY != 0 {
        x.ready = Tai64n::now();
    }
    x
}

fn sleeper(g: &mut Guard) -> ProcSig {
    let pid = g.spawn(
        Command::new("/bin/sleep")
            .arg("100")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(poll_until(Duration::from_secs(5), || ProcSig::of(pid).is_ok()));
    ProcSig::of(pid).unwrap()
}

fn me() -> ProcSig {
    ProcSig::of_self().unwrap()
}

/// Runs svc with args, returning (code, stderr, elapsed).
fn svc(args: &[&str], dirs: &[&Path]) -> (i32, String, Duration) {
    let t0 = Instant::now();
    let (code, out, err) = run(ours("svc").args(args).args(dirs));
    assert_eq!(out, "");
    (code, err, t0.elapsed())
}

#[test]
fn ready_after_one_second_releases_wu_then() {
    let s = Scratch::new("wait-ready");
    let mut g = Guard::new();
    let child = sleeper(&mut g);
    let f = Fake::new(&s.path, "x");
    f.write(child.pid, &record(me(), child, 0));
    let dir = f.dir.clone();
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        let f2 = Fake {
            dir,
            _fifos: Vec::new(),
        };
        f2.write(child.pid, &record(me(), child, FLAG_READY));
        Instant::now()
    });
    let (code, err, _) = svc(&["-wU", "-T", "10s"], &[&f.dir]);
    let done = Instant::now();
    let ready_at = writer.join().unwrap();
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(done >= ready_at, "svc returned before readiness");
    let waited = done - t0;
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_millis(1800), "{waited:?}");
}

#[test]
fn timeout_exits_99() {
    let s = Scratch::new("wait-timeout");
    let mut g = Guard::new();
    let child = sleeper(&mut g);
    let f = Fake::new(&s.path, "x");
    f.write(child.pid, &record(me(), child, 0));
    let (code, err, took) = svc(&["-wU", "-T", "1s"], &[&f.dir]);
    assert_eq!(code, 99, "{err}");
    assert!(err.contains("timed out waiting for"), "{err}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_millis(1800), "{took:?}");
    // -w d too, with -T500ms glued.
    let (code, _, _) = svc(&["-wd", "-T500ms"], &[&f.dir]);
    assert_eq!(code, 99);
}

#[test]
fn waiting_costs_no_cpu() {
    let s = Scratch::new("wait-idle");
    let mut g = Guard::new();
    let child = sleeper(&mut g);
    let f = Fake::new(&s.path, "x");
    f.write(child.pid, &record(me(), child, 0));
    let pid = g.spawn(ours("svc").args(["-wU", "-T", "1500ms"]).arg(&f.dir));
    std::thread::sleep(Duration::from_millis(1200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<u64> = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    // utime + stime in clock ticks (10 ms): a busy poll would burn many.
    assert!(f[0] + f[1] <= 2, "svc used {f:?} ticks while waiting");
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(99));
}

#[test]
fn returns_at_once_when_already_there() {
    let s = Scratch::new("wait-already");
    let mut g = Guard::new();
    let child = sleeper(&mut g);
    let up = Fake::new(&s.path, "up");
    up.write(child.pid, &record(me(), child, FLAG_READY));
    let down = Fake::new(&s.path, "down");
    down.write(0, &record(me(), ProcSig::default(), 0));
    for (w, d) in [("-wu", &up), ("-wU", &up), ("-wd", &down), ("-wD", &down)] {
        let (code, err, took) = svc(&[w, "-T", "5s"], &[&d.dir]);
        assert_eq!((code, err.as_str()), (0, ""), "{w}");
        assert!(took < Duration::from_secs(1), "{w}: {took:?}");
    }
    // Several directories: all must be there.
    let (code, _, _) = svc(&["-wu", "-T", "300ms"], &[&up.dir, &down.dir]);
    assert_eq!(code, 99);
}

#[test]
fn down_and_finished_waits_for_finish() {
    let s = Scratch::new("wait-finish");
    let f = Fake::new(&s.path, "x");
    f.write(0, &record(me(), ProcSig::default(), FLAG_FINISHING));
    let dir = f.dir.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let f2 = Fake {
            dir,
            _fifos: Vec::new(),
        };
        f2.write(0, &record(me(), ProcSig::default(), 0));
        Instant::now()
    });
    let (code, _, _) = svc(&["-wd", "-T", "5s"], &[&f.dir]);
    assert_eq!(code, 0, "down holds while finish runs");
    let (code, err, _) = svc(&["-wD", "-T", "5s"], &[&f.dir]);
    let done = Instant::now();
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(done >= writer.join().unwrap());
}

#[test]
fn supervise_exiting_ends_the_wait() {
    let s = Scratch::new("wait-lost");
    let mut g = Guard::new();
    let fake_supervisor = sleeper(&mut g);
    let f = Fake::new(&s.path, "x");
    f.write(0, &record(fake_supervisor, ProcSig::default(), 0));
    let pid = fake_supervisor.pid;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let (code, err, took) = svc(&["-wu", "-T", "10s"], &[&f.dir]);
    killer.join().unwrap();
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("exited before it was up"), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn not_running_warns_and_fails() {
    let s = Scratch::new("wait-notrunning");
    let dir = s.join("x");
    std::fs::create_dir_all(dir.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("supervise/control"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let (code, err, _) = svc(&["-wu", "-T", "1s"], &[&dir]);
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svc: warning: unable to control {}: supervise not running\n",
            dir.display()
        )
    );
    // Usage errors.
    for bad in [&["-wx"][..], &["-w"], &["-T", "1s"], &["-wu", "-T", "soon"]] {
        let (code, _, _) = svc(bad, &[&dir]);
        assert_eq!(code, 100, "{bad:?}");
    }
}

/// With commands, against djb's supervise (no extended record).
#[test]
fn commands_then_wait_with_djb_supervise() {
    if skip_without_daemontools("commands_then_wait_with_djb_supervise") {
        return;
    }
    let s = Scratch::new("wait-djb");
    let a = make_service(&s.path, "a", "exec sleep 1000");
    let b = make_service(&s.path, "b", "exec sleep 1000");
    let mut g = Guard::new();
    for d in [&a, &b] {
        start_supervise(&mut g, &djb("supervise").unwrap(), d);
    }
    assert!(poll_until(Duration::from_secs(5), || up_pid(&a).is_some()
        && up_pid(&b).is_some()));
    let (code, err, _) = svc(&["-wd", "-T", "5s", "-d"], &[&a, &b]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!((up_pid(&a), up_pid(&b)), (None, None));
    let (code, _, _) = svc(&["-wD", "-T", "5s"], &[&a]);
    assert_eq!(code, 0);
    let (code, _, _) = svc(&["-wu", "-T", "5s", "-u"], &[&a, &b]);
    assert_eq!(code, 0);
    let old = up_pid(&a).expect("up after -wu -u");
    assert!(up_pid(&b).is_some());
    // -wu -t: the state held already, so wait for the restarted process.
    let (code, err, _) = svc(&["-wu", "-T", "5s", "-t"], &[&a]);
    assert_eq!((code, err.as_str()), (0, ""));
    let new = up_pid(&a).expect("up after -wu -t");
    assert_ne!(new, old);
    // djb's svstat agrees.
    let (_, out, _) = run(Command::new(djb("svstat").unwrap()).arg(&a));
    assert!(out.contains(&format!("up (pid {new})")), "{out}");
    let (code, _, _) = svc(&["-wd", "-T", "5s", "-dx"], &[&a, &b]);
    assert_eq!(code, 0);
}

#[test]
fn ready_means_up_without_notification_fd() {
    let s = Scratch::new("wait-nonotify");
    let mut g = Guard::new();
    let child = sleeper(&mut g);
    let f = Fake::new(&s.path, "x");
    std::fs::remove_file(f.dir.join("notification-fd")).unwrap();
    f.write(child.pid, &record(me(), child, 0));
    let (code, err, took) = svc(&["-wU", "-T", "5s"], &[&f.dir]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(took < Duration::from_secs(1), "{took:?}");
}
