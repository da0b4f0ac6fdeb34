//! `svscan.rc upgrade DIR` (issue 13): after the binaries were replaced on
//! disk (new files, old inodes deleted, as a package upgrade does), the
//! running svscan re-executes the new one under the same pid, every
//! supervise is replaced by the new supervise, no service or logger is
//! restarted, no log line is lost or duplicated while a producer writes,
//! and svstat stays continuous. A new svscan that cannot run leaves the
//! old one running and the upgrade fails, saying why.

mod common;
#[path = "svscan_util/mod.rs"]
mod util;

use common::*;
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use util::*;

const T: Duration = Duration::from_secs(20);
const PROGS: [&str; 5] = ["svscan", "supervise", "svc", "svok", "svstat"];

/// Installs our programs into `bin` as new files (write a temporary file,
/// rename it over the old one: the old inode is gone, as after dpkg).
fn install(bin: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    for p in PROGS {
        let tmp = bin.join(format!(".{p}.new"));
        std::fs::copy(common::bin(p), &tmp).unwrap();
        std::fs::rename(&tmp, bin.join(p)).unwrap();
    }
    std::fs::copy(rc(), bin.join("svscan.rc.tmp")).unwrap();
    std::fs::rename(bin.join("svscan.rc.tmp"), bin.join("svscan.rc")).unwrap();
}

/// Starts the svscan installed in `bin` on `root`, its output into `err`.
fn start_installed(g: &mut Guard, bin: &Path, root: &Path, err: &Path) -> u32 {
    let f = std::fs::File::create(err).unwrap();
    g.spawn(
        Command::new(bin.join("svscan"))
            .arg(root)
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    )
}

fn exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn upgrade(bin: &Path, root: &Path) -> (i32, String, String) {
    run(Command::new(bin.join("svscan.rc"))
        .arg("upgrade")
        .arg(root)
        .env("PATH", "/usr/bin:/bin"))
}

/// svstat on `dir` every few ms until stopped, keeping every answer.
struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(svstat: PathBuf, dir: PathBuf) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let (_, out, _) = run(Command::new(&svstat).arg(&dir));
                v.lock().unwrap().push(out);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Watch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// "up (pid P) S seconds" -> (P, S).
fn up_of(line: &str) -> Option<(u32, u64)> {
    let rest = line.split_once(": up (pid ")?.1;
    let (pid, rest) = rest.split_once(") ")?;
    let secs = rest.split_whitespace().next()?;
    Some((pid.parse().ok()?, secs.parse().ok()?))
}

#[test]
fn upgrade_under_a_producer_restarts_nothing_and_loses_nothing() {
    let s = Scratch::new("svscan-upgrade");
    let bin = s.join("bin");
    install(&bin);
    let root = s.join("sv");
    let p = counting_service(&root, "producer", "n", "sleep 0.002");
    write_script(
        &p.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    let quiet = make_service(&root, "quiet", "exec sleep 600");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_installed(&mut g, &bin, &root, &err);
    let log = p.join("log");
    let dirs = [p.clone(), log.clone(), quiet.clone()];
    assert!(poll_until(T, || dirs.iter().all(|d| up_pid(d).is_some())));
    assert!(poll_until(T, || numbers(&read_log(&log), "n ").len() >= 50));
    std::thread::sleep(Duration::from_millis(1100));
    let children: Vec<u32> = dirs.iter().map(|d| up_pid(d).unwrap()).collect();
    let sups: Vec<u32> = dirs.iter().map(|d| supervise_of(pid, d).unwrap()).collect();
    let (_, before, _) = run(Command::new(bin.join("svstat")).arg(&p));
    let (_, before_secs) = up_of(&before).expect("svstat up");

    install(&bin);
    assert!(exe(pid).ends_with("(deleted)"), "{}", exe(pid));
    let watch = Watch::start(common::bin("svstat"), p.clone());
    let lines0 = numbers(&read_log(&log), "n ").len();
    let t0 = std::time::Instant::now();
    let (code, out, e) = upgrade(&bin, &root);
    let took = t0.elapsed();
    let seen = watch.finish();
    let lines1 = numbers(&read_log(&log), "n ").len();
    assert_eq!(
        code,
        0,
        "{out}{e}\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );

    // Same svscan, now the new file; every supervise new; no service or
    // logger restarted.
    assert!(pid_alive(pid));
    assert_eq!(exe(pid), bin.join("svscan").display().to_string());
    for (k, d) in dirs.iter().enumerate() {
        assert!(poll_until(T, || supervise_of(pid, d).is_some_and(|s| s != sups[k])));
        let sup = supervise_of(pid, d).unwrap();
        assert_eq!(exe(sup), bin.join("supervise").display().to_string());
        assert_eq!(up_pid(d), Some(children[k]), "{} restarted", d.display());
    }
    // svstat never lost the service: same pid, seconds never going back.
    let mut last = before_secs;
    for line in &seen {
        let (p2, secs) = up_of(line).unwrap_or_else(|| panic!("svstat said {line:?}"));
        assert_eq!(p2, children[0], "{line}");
        assert!(secs >= last, "{line}: seconds went back from {last}");
        last = secs;
    }
    assert!(seen.len() >= 3, "svstat ran {} times", seen.len());
    println!(
        "upgrade: svscan.rc upgrade took {:.0} ms; {} lines logged meanwhile; svstat asked {} times, always up (pid {})",
        took.as_secs_f64() * 1000.0,
        lines1 - lines0,
        seen.len(),
        children[0]
    );

    // Production goes on; then an ordered stop: every line once, in order.
    let c = numbers(&read_log(&log), "n ").len();
    assert!(poll_until(T, || numbers(&read_log(&log), "n ").len() >= c + 50));
    let (code, e) = stop_svscan(&mut g, pid, Signal::SIGTERM, &err, Duration::from_secs(40));
    assert_eq!(code, Some(0), "{e}");
    let ns = numbers(&read_log(&log), "n ");
    assert_contiguous(&ns, "producer log");
    assert_eq!(ns.last().copied(), Some(counter(&p)));
}

#[test]
fn upgrade_to_a_broken_svscan_keeps_the_old_one() {
    let s = Scratch::new("svscan-upgrade-bad");
    let bin = s.join("bin");
    install(&bin);
    let root = s.join("sv");
    let a = make_service(&root, "a", "exec sleep 600");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_installed(&mut g, &bin, &root, &err);
    assert!(poll_until(T, || up_pid(&a).is_some()));
    let child = up_pid(&a).unwrap();
    let sup = supervise_of(pid, &a).unwrap();
    let inode = |pid: u32| {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(format!("/proc/{pid}/exe")).unwrap())
    };
    let old_exe = inode(pid);
    // The new "svscan" cannot run (here: a truncated file).
    std::fs::write(bin.join(".svscan.new"), b"\x7fELF\x02\x01").unwrap();
    std::fs::set_permissions(
        bin.join(".svscan.new"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::rename(bin.join(".svscan.new"), bin.join("svscan")).unwrap();
    let (code, out, e) = upgrade(&bin, &root);
    assert_ne!(code, 0, "{out}{e}");
    assert!(e.contains("svscan.rc: fatal: "), "{e}");
    // Told directly, svscan refuses too and says why.
    std::fs::write(
        root.join(".svscan.upgrade"),
        format!("upgrade {}\n", bin.join("svscan").display()),
    )
    .unwrap();
    signal(pid, Signal::SIGUSR2);
    assert!(poll_until(T, || std::fs::read_to_string(
        root.join(".svscan.upgrade")
    )
    .is_ok_and(|t| t.starts_with("fail"))));
    assert!(poll_until(T, || std::fs::read_to_string(&err)
        .is_ok_and(|t| t.contains("svscan: warning: not upgrading: "))));
    assert!(pid_alive(pid));
    assert_eq!(inode(pid), old_exe);
    assert_eq!(supervise_of(pid, &a), Some(sup));
    assert_eq!(up_pid(&a), Some(child));
}

/// As a container's init (PID 1 under `unshare --pid --fork
/// --mount-proc`), upgraded from inside the container (`nsenter`, as
/// `docker exec` would): still PID 1, now the new file; its own
/// `.svscan/log` and a service's logger are taken over too; then `docker
/// stop` loses nothing.
#[test]
fn upgrade_as_pid1() {
    let unshare_ok = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdin(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !unshare_ok || !Path::new("/usr/bin/nsenter").exists() {
        eprintln!("upgrade_as_pid1: skipped: no unshare --pid or nsenter here");
        return;
    }
    let s = Scratch::new("svscan-upgrade-pid1");
    let bin = s.join("bin");
    install(&bin);
    let root = s.join("sv");
    let p = counting_service(&root, "producer", "n", "sleep 0.002");
    write_script(
        &p.join("log/run"),
        &format!("#!/bin/sh\n{}\n", logger_run()),
    );
    let own = root.join(".svscan/log");
    write_script(&own.join("run"), &format!("#!/bin/sh\n{}\n", logger_run()));
    let mut g = Guard::new();
    let err = s.join("err");
    let f = std::fs::File::create(&err).unwrap();
    let unshare = g.spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(bin.join("svscan"))
            .arg(&root)
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f),
    );
    let mut init = 0;
    assert!(poll_until(T, || {
        init = descendants(unshare)
            .into_iter()
            .find(|&q| parent(q) == Some(unshare))
            .unwrap_or(0);
        init != 0 && cmdline(init).contains("svscan")
    }));
    let log = p.join("log");
    let dirs = [p.clone(), log.clone(), own.clone()];
    assert!(poll_until(T, || dirs.iter().all(|d| up_pid(d).is_some())));
    assert!(poll_until(T, || numbers(&read_log(&log), "n ").len() >= 50));
    std::thread::sleep(Duration::from_millis(1100));
    // Pids inside the container, as the status files say.
    let children: Vec<u32> = dirs.iter().map(|d| up_pid(d).unwrap()).collect();
    let sups: Vec<u32> = dirs
        .iter()
        .map(|d| supervise_of(init, d).unwrap())
        .collect();
    install(&bin);
    let (code, out, e) = run(Command::new("nsenter")
        .args(["--target", &init.to_string(), "--pid", "--mount"])
        .arg(bin.join("svscan.rc"))
        .arg("upgrade")
        .arg(&root)
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!(
        code,
        0,
        "{out}{e}\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert_eq!(exe(init), bin.join("svscan").display().to_string());
    assert!(std::fs::read_to_string(root.join(".svscan.lock"))
        .unwrap()
        .starts_with("1 "));
    for (k, d) in dirs.iter().enumerate() {
        assert!(poll_until(T, || supervise_of(init, d).is_some_and(|q| q != sups[k])));
        assert_eq!(up_pid(d), Some(children[k]), "{} restarted", d.display());
    }
    let c = numbers(&read_log(&log), "n ").len();
    assert!(poll_until(T, || numbers(&read_log(&log), "n ").len() >= c + 50));
    signal(init, Signal::SIGTERM);
    let code = wait_code(g.child(unshare).unwrap(), Duration::from_secs(40));
    let e = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(code, Some(0), "{e}");
    let ns = numbers(&read_log(&log), "n ");
    assert_contiguous(&ns, "producer log");
    assert_eq!(ns.last().copied(), Some(counter(&p)));
    let mine = read_log(&own);
    assert!(
        mine.contains("svscan: info: upgraded: 3 supervise processes replaced"),
        "{mine}"
    );
    assert!(
        mine.contains("svscan: info: got SIGTERM: stopping"),
        "{mine}"
    );
}

/// The new svscan cannot read the state it was handed (corrupt, or from
/// another version): it goes on as a fresh svscan, but first drops every
/// descriptor the old image left inheritable for the exec — the lock, the
/// log pipes — so none reaches a service, and takes the lock again.
#[test]
fn a_failed_resume_leaks_no_descriptor_into_services() {
    let s = Scratch::new("svscan-upgrade-noresume");
    let bin = s.join("bin");
    install(&bin);
    let root = s.join("sv");
    let a = make_service(&root, "a", "exec sleep 600");
    make_service(&a, "log", "exec cat > /dev/null");
    let mut g = Guard::new();
    let err = s.join("err");
    let pid = start_installed(&mut g, &bin, &root, &err);
    assert!(poll_until(T, || up_pid(&a).is_some()
        && up_pid(&a.join("log")).is_some()));
    // The "new svscan" passes the check, then starts with a state
    // descriptor that holds no state.
    let real = bin.join("svscan.real");
    std::fs::rename(bin.join("svscan"), &real).unwrap();
    write_script(
        &bin.join("svscan"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = --resume-check ] && exec {r} \"$@\"\nexec 7</dev/null\nSVSCAN_RESUME=7 exec {r} \"$@\"\n",
            r = real.display()
        ),
    );
    std::fs::write(
        root.join(".svscan.upgrade"),
        format!("upgrade {}\n", bin.join("svscan").display()),
    )
    .unwrap();
    signal(pid, Signal::SIGUSR2);
    assert!(poll_until(T, || std::fs::read_to_string(&err)
        .is_ok_and(|t| t.contains("unable to resume"))));
    assert!(pid_alive(pid));
    // A service added now: none of its descriptors is one of the old
    // image's (descriptors this test process holds too are the harness's).
    let b = make_service(&root, "b", "exec sleep 600");
    signal(pid, Signal::SIGALRM);
    assert!(poll_until(T, || up_pid(&b).is_some()));
    let links = |p: &str| -> Vec<(String, String)> {
        std::fs::read_dir(p)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let l = std::fs::read_link(e.path()).ok()?;
                        Some((
                            e.file_name().to_string_lossy().into_owned(),
                            l.display().to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let ours: Vec<String> = links("/proc/self/fd").into_iter().map(|(_, l)| l).collect();
    let brun = up_pid(&b).unwrap();
    let leaked: Vec<(String, String)> = links(&format!("/proc/{brun}/fd"))
        .into_iter()
        .filter(|(fd, l)| fd.parse::<u32>().is_ok_and(|n| n > 2) && !ours.contains(l))
        .collect();
    assert!(leaked.is_empty(), "b's run inherited {leaked:?}");
    // And svscan holds its lock again: a second svscan is refused.
    let (code, _, e2) = run(Command::new(&real).arg(&root));
    assert_eq!(code, 111, "{e2}");
}
