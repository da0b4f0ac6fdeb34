//! supervise killed by SIGKILL while its child runs: the next supervise
//! recognises the child by its signature in xstatus, never starts a second
//! copy while it lives, controls it, and takes over when it is gone.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn starts(log: &Path) -> Vec<u32> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Counts live copies of the service every few ms until stopped; keeps
/// the maximum seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(log: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let n = starts(&log).into_iter().filter(|&p| pid_alive(p)).count();
                m.fetch_max(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        Sampler {
            stop,
            max,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

/// Starts our supervise on a fresh service, kills it with SIGKILL while
/// the child runs, starts a second one. Returns (dir, log, old child).
fn killed_and_replaced(g: &mut Guard, s: &Scratch) -> (PathBuf, PathBuf, u32, Sampler) {
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexec sleep 100", log.display()),
    );
    let first = start_supervise(g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || starts(&log).len() == 1 && up_pid(&dir).is_some()));
    let old = starts(&log)[0];
    g.adopt(old);
    assert_eq!(up_pid(&dir), Some(old));
    let sampler = Sampler::start(log.clone());
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    assert!(!svkit::control::supervise_running(&dir).unwrap());
    assert!(pid_alive(old), "the child outlives its supervise");
    start_supervise(g, &bin("supervise"), &dir);
    (dir, log, old, sampler)
}

#[test]
fn takeover_never_runs_two_copies_and_restarts_when_the_old_child_exits() {
    let s = Scratch::new("takeover");
    let mut g = Guard::new();
    let (dir, log, old, sampler) = killed_and_replaced(&mut g, &s);
    // The new supervise reports the old child as up and starts nothing.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(up_pid(&dir), Some(old));
    assert_eq!(starts(&log).len(), 1, "a second copy was started");
    assert_eq!(xstatus(&dir).unwrap().child.pid, old);
    // It still obeys control letters: HUP is ignored by nobody here, so
    // use STOP/CONT to see them arrive.
    send(&dir, "p");
    assert!(poll_until(WAIT, || {
        std::fs::read_to_string(format!("/proc/{old}/stat")).is_ok_and(|t| {
            t.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('T'))
        })
    }));
    send(&dir, "c");
    // The old child exits by itself (here: killed from outside).
    kill(Pid::from_raw(old as i32), Signal::SIGTERM).unwrap();
    assert!(poll_until(WAIT, || starts(&log).len() == 2));
    let new = starts(&log)[1];
    g.adopt(new);
    assert!(poll_until(WAIT, || up_pid(&dir) == Some(new)));
    assert_eq!(sampler.finish(), 1, "two copies ran at once");
    // The death is recorded with an unknown status.
    let x = xstatus(&dir).unwrap();
    let last = x.last_exit.unwrap();
    assert_eq!(last.wstatus, -1);
    assert_eq!((last.code(), last.signal()), (None, None));
    assert_eq!(x.child, svkit::procsig::ProcSig::of(new).unwrap());
}

#[test]
fn takeover_d_stops_the_old_child_for_good() {
    let s = Scratch::new("takeover-d");
    let mut g = Guard::new();
    let (dir, log, old, sampler) = killed_and_replaced(&mut g, &s);
    assert_eq!(up_pid(&dir), Some(old));
    send(&dir, "d");
    assert!(poll_until(WAIT, || !pid_alive(old)));
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(starts(&log).len(), 1, "restarted although wanted down");
    assert_eq!(status(&dir).unwrap().want, svkit::status::Want::Down);
    assert_eq!(sampler.finish(), 1);
    // And it comes back on request.
    send(&dir, "u");
    assert!(poll_until(WAIT, || starts(&log).len() == 2));
    g.adopt(starts(&log)[1]);
}

#[test]
fn daemontools_runs_the_service_twice_here() {
    // The accident we fix, shown with djb's supervise (documentation test).
    let Some(djb_sup) = djb("supervise") else {
        eprintln!("daemontools_runs_the_service_twice_here: skipped: no daemontools");
        return;
    };
    let s = Scratch::new("takeover-djb");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexec sleep 100", log.display()),
    );
    let first = start_supervise(&mut g, &djb_sup, &dir);
    assert!(poll_until(WAIT, || starts(&log).len() == 1));
    g.adopt(starts(&log)[0]);
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    start_supervise(&mut g, &djb_sup, &dir);
    assert!(poll_until(WAIT, || starts(&log).len() == 2));
    g.adopt(starts(&log)[1]);
    let live = starts(&log).into_iter().filter(|&p| pid_alive(p)).count();
    assert_eq!(live, 2, "djb's supervise runs a second copy");
}

/// Starts `sleep 100`, in its own session when `setsid`; killed on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start(setsid: bool) -> Sleeper {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("100");
        if setsid {
            // SAFETY: setsid is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        Sleeper(cmd.spawn().expect("spawn sleep"))
    }

    fn sig(&self) -> svkit::procsig::ProcSig {
        let pid = self.0.id();
        // Wait for the exec, so the start time is settled and it is `sleep`.
        assert!(poll_until(WAIT, || std::fs::read_to_string(format!(
            "/proc/{pid}/cmdline"
        ))
        .is_ok_and(|c| c.starts_with("sleep"))));
        svkit::procsig::ProcSig::of(pid).unwrap()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A record left by a "previous supervise" naming `child`, written before
/// our supervise starts; returns whether it adopted `child` (reported it
/// as up and started no `run`).
fn adopts(
    s: &Scratch,
    child: svkit::procsig::ProcSig,
    edit: impl FnOnce(&mut svkit::xstatus::XStatus),
    bytes: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> bool {
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexec sleep 100", log.display()),
    );
    std::fs::create_dir_all(dir.join("supervise")).unwrap();
    let mut x = svkit::xstatus::XStatus::new(svkit::procsig::ProcSig { pid: 0, start: 0 });
    x.child = child;
    x.changed = svkit::tai64n::Tai64n::now();
    edit(&mut x);
    std::fs::write(dir.join("supervise/xstatus"), bytes(x.pack())).unwrap();
    start_supervise(&mut g, &bin("supervise"), &dir);
    // Either the old child is reported, or a run of ours is started.
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let adopted = up_pid(&dir) == Some(child.pid);
    if !adopted {
        assert!(poll_until(WAIT, || !starts(&log).is_empty()));
        g.adopt(starts(&log)[0]);
    }
    adopted
}

/// Issue 11, defect 5: a signature from another boot never matches.
#[test]
fn takeover_ignores_a_record_from_another_boot() {
    let s = Scratch::new("takeover-boot");
    let stranger = Sleeper::start(true);
    let sig = stranger.sig();
    assert!(
        !adopts(&s, sig, |x| x.boot_id = Some([0x5a; 16]), |b| b),
        "adopted pid {} named by a record from another boot",
        sig.pid
    );
}

/// Issue 11, defect 5: the adopted process must still be the session
/// leader supervise made it (sid == pid).
#[test]
fn takeover_ignores_a_process_that_is_not_a_session_leader() {
    let s = Scratch::new("takeover-sid");
    let stranger = Sleeper::start(false);
    let sig = stranger.sig();
    assert!(
        !adopts(&s, sig, |_| {}, |b| b),
        "adopted pid {}, which is not a session leader",
        sig.pid
    );
}

/// A version-1 record (written by the previous svkit release) is still
/// honoured in the same boot.
#[test]
fn takeover_reads_a_version_1_record() {
    let s = Scratch::new("takeover-v1");
    let child = Sleeper::start(true);
    let sig = child.sig();
    let v1 = |b: Vec<u8>| {
        let mut v = b[..svkit::xstatus::HEADER_LEN_V1].to_vec();
        v[4] = 1;
        v.extend_from_slice(&b[svkit::xstatus::HEADER_LEN..]);
        v
    };
    assert!(
        adopts(&s, sig, |_| {}, v1),
        "did not take over from a v1 record"
    );
}

/// An adopted child's `timeout-kill` reaches its whole group through the
/// pidfd (Linux 6.9+), never by number; on older kernels the leader only.
#[test]
fn takeover_timeout_kill_reaches_the_adopted_group() {
    let s = Scratch::new("takeover-tkill");
    let mut g = Guard::new();
    let gc = s.join("grandchild");
    let body = format!(
        "trap '' TERM\nsh -c 'trap \"\" TERM; echo $$ > {p}; exec sleep 100' &\nwhile :; do sleep 0.05; done",
        p = gc.display()
    );
    let dir = make_service(&s.path, "x", &body);
    std::fs::write(dir.join("timeout-kill"), "500").unwrap();
    let first = start_supervise(&mut g, &bin("supervise"), &dir);
    let grandchild = wait_pid_file(&gc);
    g.adopt(grandchild);
    let child = up_pid(&dir).unwrap();
    g.adopt(child);
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir) == Some(child)));
    send(&dir, "d");
    std::thread::sleep(Duration::from_millis(250));
    assert!(pid_alive(child) && pid_alive(grandchild), "TERM is ignored");
    assert!(
        poll_until(WAIT, || !pid_alive(child)),
        "the leader got no KILL"
    );
    let (major, minor) = kernel();
    if (major, minor) >= (6, 9) {
        assert!(
            poll_until(WAIT, || !pid_alive(grandchild)),
            "the group got no KILL"
        );
    }
}

fn kernel() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// `svc -d` arms `timeout-kill` on a service that ignores TERM; supervise
/// is then SIGKILLed. Its replacement adopts the want-down child and keeps
/// the deadline (recorded in xstatus): the child dies at the original
/// deadline, not never.
#[test]
fn takeover_keeps_an_armed_kill_deadline() {
    let s = Scratch::new("takeover-keep-kill");
    let mut g = Guard::new();
    let dir = make_service(&s.path, "x", "trap '' TERM\nwhile :; do sleep 0.05; done");
    std::fs::write(dir.join("timeout-kill"), "2000").unwrap();
    let first = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir).is_some()));
    let child = up_pid(&dir).unwrap();
    g.adopt(child);
    let t = std::time::Instant::now();
    send(&dir, "d");
    assert!(poll_until(WAIT, || xstatus(&dir)
        .is_some_and(|x| x.want == svkit::status::Want::Down)));
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || up_pid(&dir) == Some(child)));
    assert!(pid_alive(child), "TERM is ignored");
    assert!(
        poll_until(Duration::from_secs(6), || !pid_alive(child)),
        "the adopted child outlived its kill deadline by 4 s"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "killed before its deadline: {:?}",
        t.elapsed()
    );
}

/// A service the operator stopped (`svc -d`) whose supervise is then
/// killed — a crash, or svscan's in-place upgrade replacing every
/// supervise — stays down under the replacement; a supervise that left on
/// `x` leaves a tree that starts afresh, as daemontools (svscanboot's
/// `svc -dx`).
#[test]
fn a_service_stopped_by_svc_d_stays_down_across_a_takeover() {
    let s = Scratch::new("takeover-down");
    let mut g = Guard::new();
    let log = s.join("starts");
    let dir = make_service(
        &s.path,
        "x",
        &format!("echo $$ >> {}\nexec sleep 100", log.display()),
    );
    let first = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || starts(&log).len() == 1 && up_pid(&dir).is_some()));
    g.adopt(starts(&log)[0]);
    send(&dir, "d");
    assert!(poll_until(WAIT, || up_pid(&dir).is_none()
        && xstatus(&dir)
            .is_some_and(|x| x.want == svkit::status::Want::Down)));
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    if let Some(c) = g.child(first) {
        let _ = c.wait();
    }
    let second = start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || svkit::control::supervise_running(&dir)
        .unwrap_or(false)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(starts(&log).len(), 1, "started although stopped by svc -d");
    assert_eq!(status(&dir).unwrap().want, svkit::status::Want::Down);
    // On request it runs again.
    send(&dir, "u");
    assert!(poll_until(WAIT, || starts(&log).len() == 2));
    g.adopt(starts(&log)[1]);
    // svc -dx: the supervise leaves; the next one starts the service.
    send(&dir, "dx");
    assert!(poll_until(WAIT, || g
        .child(second)
        .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))));
    start_supervise(&mut g, &bin("supervise"), &dir);
    assert!(poll_until(WAIT, || starts(&log).len() == 3));
    g.adopt(starts(&log)[2]);
}
