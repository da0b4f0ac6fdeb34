//! multilog (ours): script errors, lock, signals, and faults — a symlinked
//! or removed `current`, a failing processor, a full disk.
mod common;

use common::{bin, run_with_input, Guard, Scratch};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ml(cwd: &Path, args: &[&str], input: &[u8]) -> (i32, String) {
    let out = run_with_input(
        Command::new(bin("multilog"))
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        input,
        Duration::from_secs(60),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn_ml(g: &mut Guard, cwd: &Path, args: &[&str]) -> (u32, std::process::ChildStdin) {
    let mut cmd = Command::new(bin("multilog"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let pid = g.spawn(&mut cmd);
    let stdin = g.child(pid).unwrap().stdin.take().unwrap();
    (pid, stdin)
}

fn signal(pid: u32, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s).unwrap();
}

fn olds(dir: &Path, suffix: &str) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@') && n.ends_with(suffix))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn bad_scripts_exit_100_and_touch_nothing() {
    let s = Scratch::new("ml-bad");
    for args in [
        &["xyz", "./d"][..],
        &["s10", "./d"],
        &["s16777216", "./d"],
        &["n1", "./d"],
        &["./d", "t"],
        &["=", "./d"],
        &["./d", "./d"],
    ] {
        let (code, err) = ml(&s.path, args, b"x\n");
        assert_eq!(code, 100, "{args:?}");
        assert!(err.starts_with("multilog: usage: multilog script"), "{err}");
        assert!(!s.join("d").exists(), "{args:?} created the directory");
    }
    let (code, err) = ml(&s.path, &["./missing/sub/dir"], b"x\n");
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "multilog: fatal: unable to open directory ./missing/sub/dir: file does not exist\n"
    );
    std::fs::write(s.join("afile"), "").unwrap();
    let (code, _) = ml(&s.path, &["./afile"], b"x\n");
    assert_eq!(code, 111);
    // An empty script reads and discards its input.
    assert_eq!(ml(&s.path, &[], b"x\n").0, 0);
}

#[test]
fn second_multilog_on_a_directory_exits_111() {
    let s = Scratch::new("ml-lock");
    let mut g = Guard::new();
    let (_pid, mut stdin) = spawn_ml(&mut g, &s.path, &["./d"]);
    stdin.write_all(b"first\n").unwrap();
    let cur = s.join("d/current");
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::read(&cur)
            .map(|c| c == b"first\n")
            .unwrap_or(false)
    }));
    let (code, err) = ml(&s.path, &["./d"], b"second\n");
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "multilog: fatal: unable to lock directory ./d: temporary failure\n"
    );
    assert_eq!(std::fs::read(&cur).unwrap(), b"first\n");
}

#[test]
fn sigalrm_rotates_and_sigterm_finishes_the_line() {
    let s = Scratch::new("ml-sig");
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["./d"]);
    stdin.write_all(b"one\n").unwrap();
    let d = s.join("d");
    let cur = d.join("current");
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::read(&cur).map(|c| c == b"one\n").unwrap_or(false)
    }));
    signal(pid, nix::sys::signal::Signal::SIGALRM);
    assert!(common::poll_until(Duration::from_secs(5), || olds(
        &d, ".s"
    )
    .len()
        == 1));
    assert_eq!(olds(&d, ".s")[0], b"one\n");
    // An empty current is not rotated. (A signal racing with input may be
    // seen after that input is read, as with daemontools: give it time.)
    std::thread::sleep(Duration::from_millis(200));
    signal(pid, nix::sys::signal::Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(olds(&d, ".s").len(), 1);
    stdin.write_all(b"tw").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    stdin.write_all(b"o\nthree\n").unwrap();
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(olds(&d, ".s").len(), 1, "{:?}", olds(&d, ".s"));
    assert_eq!(std::fs::read(&cur).unwrap(), b"two\n");
    assert_eq!(mode(&cur), 0o744);
}

#[test]
fn symlinked_current_is_never_followed() {
    let s = Scratch::new("ml-symlink");
    let d = s.join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(s.join("victim"), "precious\n").unwrap();
    std::os::unix::fs::symlink(s.join("victim"), d.join("current")).unwrap();
    let (code, err) = ml(&s.path, &["./d"], b"attack\n");
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("unable to open ./d/current"), "{err}");
    assert_eq!(std::fs::read(s.join("victim")).unwrap(), b"precious\n");
    // Same for a symlinked lock or state.
    let d2 = s.join("d2");
    std::fs::create_dir(&d2).unwrap();
    std::os::unix::fs::symlink(s.join("victim"), d2.join("state")).unwrap();
    let (code, _) = ml(&s.path, &["./d2"], b"x\n");
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(s.join("victim")).unwrap(), b"precious\n");
    assert!(!std::fs::symlink_metadata(d2.join("state"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn removed_current_is_recreated() {
    let s = Scratch::new("ml-removed");
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["./d"]);
    let cur = s.join("d/current");
    stdin.write_all(b"before\n").unwrap();
    assert!(common::poll_until(Duration::from_secs(5), || cur.exists()));
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::read(&cur)
            .map(|c| c == b"before\n")
            .unwrap_or(false)
    }));
    std::fs::remove_file(&cur).unwrap();
    stdin.write_all(b"after\n").unwrap();
    drop(stdin);
    let out = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(out.code(), Some(0));
    assert_eq!(std::fs::read(&cur).unwrap(), b"after\n");
}

#[test]
fn failing_processor_is_retried_then_input_kept_as_u() {
    let s = Scratch::new("ml-procfail");
    common::write_script(
        &s.join("proc"),
        "#!/bin/sh\necho try >> ../tries\ncat >/dev/null\nexit 1\n",
    );
    let p = format!("!{}", s.join("proc").display());
    let input: Vec<u8> = b"0123456789abcdef\n".repeat(150);
    let (code, err) = ml(&s.path, &[&p, "s4096", "./d"], &input);
    assert_eq!(code, 0);
    assert!(err.contains("processor failed"), "{err}");
    let tries = std::fs::read_to_string(s.join("tries")).unwrap();
    assert_eq!(tries.lines().count(), 5, "bounded retries");
    let d = s.join("d");
    let u = olds(&d, ".u");
    assert_eq!(u.len(), 1);
    let mut all = u[0].clone();
    all.extend(std::fs::read(d.join("current")).unwrap());
    assert!(input.starts_with(&all) || all.len() <= input.len());
    assert!(!d.join("previous").exists() && !d.join("processed").exists());
}

#[test]
fn line_cap_and_iso_stamps() {
    let s = Scratch::new("ml-cap");
    let (code, _) = ml(&s.path, &["T", "l10", "./d"], b"abcdefghijKLMNO\nshort\n");
    assert_eq!(code, 0);
    let text = String::from_utf8(std::fs::read(s.join("d/current")).unwrap()).unwrap();
    let bodies: Vec<&str> = text
        .lines()
        .map(|l| {
            let (stamp, body) = l.split_once(' ').unwrap();
            assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
            body
        })
        .collect();
    assert_eq!(bodies, ["abcdefghij", "KLMNO", "short"]);
}

/// Mounts a small tmpfs (root only); unmounted on drop.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn full_disk_pauses_reports_once_and_loses_nothing() {
    let s = Scratch::new("ml-full");
    let mnt = s.join("mnt");
    let Some(_fs) = Tmpfs::mount(&mnt, "256k") else {
        eprintln!("full_disk: skipped: cannot mount a tmpfs (not root?)");
        return;
    };
    // Fill the filesystem, leaving little room.
    let filler = mnt.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![b'f'; 4096];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &mnt, &["s16777215", "./d"]);
    let mut input = Vec::new();
    for i in 0..4000 {
        input.extend_from_slice(format!("line {i:06}\n").as_bytes());
    }
    let data = input.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&data).unwrap();
    });
    // Wait for the warning, then make room.
    let mut stderr = g.child(pid).unwrap().stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_file(&filler).unwrap();
    writer.join().unwrap();
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let err = reader.join().unwrap();
    let warnings = err.matches("out of disk space").count();
    assert!(warnings >= 1, "{err}");
    assert!(warnings <= 3, "reported once per episode: {err}");
    assert_eq!(std::fs::read(mnt.join("d/current")).unwrap(), input);
}

#[test]
fn current_replaced_by_a_symlink_while_running_is_not_followed() {
    let s = Scratch::new("ml-replaced");
    std::fs::write(s.join("victim"), "precious\n").unwrap();
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["./d"]);
    let d = s.join("d");
    let cur = d.join("current");
    stdin.write_all(b"one\n").unwrap();
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::read(&cur).map(|c| c == b"one\n").unwrap_or(false)
    }));
    // Swap a symlink in (atomically, as an attacker would).
    std::os::unix::fs::symlink(s.join("victim"), d.join("evil")).unwrap();
    std::fs::rename(d.join("evil"), &cur).unwrap();
    signal(pid, nix::sys::signal::Signal::SIGALRM);
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"two\n").unwrap();
    drop(stdin);
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read(s.join("victim")).unwrap(), b"precious\n");
    let meta = std::fs::symlink_metadata(&cur).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(std::fs::read(&cur).unwrap(), b"two\n");
    assert!(olds(&d, ".s").is_empty(), "the stranger is not archived");
}

#[test]
fn hung_processor_is_killed_and_run_again() {
    let s = Scratch::new("ml-prochang");
    // Hangs (with a child of its own) the first time, works the second.
    common::write_script(
        &s.join("proc"),
        "#!/bin/sh\nif [ ! -e ../hung ]; then echo $$ > ../hung; sleep 100; exit 0; fi\ntr a-z A-Z\n",
    );
    let p = format!("!{}", s.join("proc").display());
    let input: Vec<u8> = b"abcdefghijklmnop\n".repeat(150);
    let mut child = Command::new(bin("multilog"))
        .args([&p, "s4096", "./d"])
        .current_dir(&s.path)
        .env("MULTILOG_PROCESSOR_TIMEOUT", "1")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ran longer than 1 s; killed"), "{err}");
    let d = s.join("d");
    let done = olds(&d, ".s");
    assert_eq!(done.len(), 1);
    assert!(done[0].starts_with(b"ABCDEFGHIJKLMNOP\n"));
    let hung: i32 = std::fs::read_to_string(s.join("hung"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        common::poll_until(Duration::from_secs(5), || !common::pid_alive(hung as u32)),
        "hung processor gone"
    );
}

#[test]
fn size_rules_cut_long_lines_and_close_near_the_limit() {
    let s = Scratch::new("ml-size");
    // A 70001-byte line ends within 2000 bytes of s71000: closed there,
    // even though it bypassed the write buffer.
    let mut input = vec![b'q'; 70_000];
    input.extend_from_slice(b"\nrrrrrrrrrr\n");
    assert_eq!(ml(&s.path, &["s71000", "./a"], &input).0, 0);
    let a = s.join("a");
    assert_eq!(
        olds(&a, ".s").iter().map(Vec::len).collect::<Vec<_>>(),
        [70_001]
    );
    assert_eq!(std::fs::read(a.join("current")).unwrap(), b"rrrrrrrrrr\n");
    // A line longer than the limit: pieces of exactly the limit.
    let mut input = vec![b'z'; 10_000];
    input.push(b'\n');
    assert_eq!(ml(&s.path, &["s4096", "./b"], &input).0, 0);
    let b = s.join("b");
    let sizes: Vec<usize> = olds(&b, ".s").iter().map(Vec::len).collect();
    assert_eq!(sizes, [4096, 4096]);
    assert_eq!(std::fs::read(b.join("current")).unwrap().len(), 1809);
}

/// All old files in name order, then `current`: the whole log.
fn whole_log(dir: &Path) -> Vec<u8> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    names
        .iter()
        .flat_map(|n| std::fs::read(dir.join(n)).unwrap_or_default())
        .collect()
}

#[test]
fn rotation_storm_loses_and_duplicates_nothing() {
    let s = Scratch::new("ml-storm");
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["s4096", "n1000", "./d"]);
    let mut input = Vec::new();
    for i in 0..60_000 {
        input.extend_from_slice(format!("{i:08} some log text\n").as_bytes());
    }
    let data = input.clone();
    let writer = std::thread::spawn(move || {
        for c in data.chunks(7919) {
            stdin.write_all(c).unwrap();
        }
    });
    for _ in 0..50 {
        signal(pid, nix::sys::signal::Signal::SIGALRM);
        std::thread::sleep(Duration::from_millis(5));
    }
    writer.join().unwrap();
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        whole_log(&s.join("d")) == input,
        "every line exactly once, in order"
    );
}

/// SIGKILL at an arbitrary moment, then a restart: what was written is a
/// prefix of the input (the unfinished `current` kept as `.u`), with
/// nothing duplicated; the next run appends after it.
#[test]
fn killed_multilog_leaves_a_clean_prefix() {
    let s = Scratch::new("ml-kill");
    let mut input = Vec::new();
    for i in 0..40_000 {
        input.extend_from_slice(format!("{i:08} line\n").as_bytes());
    }
    for round in 0..3u64 {
        let d = s.join(&format!("d{round}"));
        let mut g = Guard::new();
        let (pid, mut stdin) =
            spawn_ml(&mut g, &s.path, &["s4096", "n1000", &format!("./d{round}")]);
        let data = input.clone();
        let writer = std::thread::spawn(move || {
            for c in data.chunks(4093) {
                if stdin.write_all(c).is_err() {
                    return;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(20 + 30 * round));
        signal(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = g.child(pid).unwrap().wait();
        let _ = writer.join();
        let got = whole_log(&d);
        assert!(
            input.starts_with(&got),
            "round {round}: a prefix, nothing duplicated"
        );
        let dir = format!("./d{round}");
        let (code, _) = ml(&s.path, &["n1000", &dir], b"after\n");
        assert_eq!(code, 0);
        // The unfinished current became `.u` (a partial last line stays
        // at its end); the new run appended after it.
        let mut want = got.clone();
        want.extend_from_slice(b"after\n");
        assert!(whole_log(&d) == want, "round {round}");
        let us = olds(&d, ".u");
        assert!(us.len() <= 1, "round {round}");
    }
}

/// One write(2) much larger than the pipe, its pipe-fulls ending inside a
/// line: a writer in the middle of such a write wakes readers only when
/// it found the pipe empty, and the unfinished line keeps it from being
/// empty. Everything still arrives, with stdin left open.
#[test]
fn one_huge_write_ending_pipe_fulls_mid_line_is_all_logged() {
    let s = Scratch::new("ml-hugewrite");
    let mut input = Vec::new();
    for i in 0..50_000 {
        input.extend_from_slice(format!("{i:09} {}\n", "x".repeat(89)).as_bytes());
    }
    // (A race: repeated to make losing it likely.)
    for round in 0..6 {
        let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut g = Guard::new();
        let mut cmd = Command::new(bin("multilog"));
        let dir = format!("./d{round}");
        cmd.args(["t", "s16777215", &dir])
            .current_dir(&s.path)
            .stdin(Stdio::from(rd));
        g.spawn(&mut cmd);
        let data = input.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::File::from(wr);
            w.write_all(&data).unwrap();
            w // kept open
        });
        let cur = s.join(&format!("d{round}/current"));
        let want = input.len() as u64 + 26 * 50_000;
        let all = common::poll_until(Duration::from_secs(10), || {
            std::fs::metadata(&cur).map(|m| m.len()).unwrap_or(0) == want
        });
        assert!(
            all,
            "round {round}: {:?} bytes",
            std::fs::metadata(&cur).map(|m| m.len())
        );
        let _w = writer.join().unwrap();
    }
}

/// The `!` processor runs inside multilog's poll loop (issue 12, goal 5):
/// while a slow one works on `previous`, lines keep reaching the new
/// `current`; at EOF multilog waits for it, and its output is kept.
#[test]
fn lines_flow_while_the_processor_runs() {
    let s = Scratch::new("ml-procloop");
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["!sleep 3; cat", "./d"]);
    let d = s.join("d");
    let cur = d.join("current");
    stdin.write_all(b"one\n").unwrap();
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::read(&cur).map(|c| c == b"one\n").unwrap_or(false)
    }));
    signal(pid, nix::sys::signal::Signal::SIGALRM);
    assert!(common::poll_until(Duration::from_secs(5), || d
        .join("previous")
        .exists()));
    stdin.write_all(b"two\n").unwrap();
    let started = std::time::Instant::now();
    assert!(
        common::poll_until(Duration::from_millis(1500), || {
            std::fs::read(&cur).map(|c| c == b"two\n").unwrap_or(false)
        }),
        "a line waited for the processor"
    );
    assert!(
        d.join("previous").exists(),
        "the processor is still running"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    drop(stdin);
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(olds(&d, ".s"), vec![b"one\n".to_vec()]);
    assert!(!d.join("previous").exists());
    assert_eq!(std::fs::read(&cur).unwrap(), b"two\n");
}

/// `current` removed while multilog runs: the batch that finds it gone
/// counts in the new file, so `s` still holds (issue 12, goal 7).
#[test]
fn size_holds_after_current_is_removed() {
    let s = Scratch::new("ml-rmsize");
    let mut g = Guard::new();
    let (pid, mut stdin) = spawn_ml(&mut g, &s.path, &["s4096", "n100", "./d"]);
    let d = s.join("d");
    let cur = d.join("current");
    let line = |i: usize| format!("{i:05} {}\n", "y".repeat(93));
    stdin.write_all(line(0).as_bytes()).unwrap();
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::metadata(&cur)
            .map(|m| m.len() == 100)
            .unwrap_or(false)
    }));
    std::fs::remove_file(&cur).unwrap();
    // 1000 bytes written to the new file, then a line longer than `s`:
    // cut at the limit, counting those 1000 bytes.
    let burst: String = (1..11).map(line).collect();
    stdin.write_all(burst.as_bytes()).unwrap();
    assert!(common::poll_until(Duration::from_secs(5), || {
        std::fs::metadata(&cur)
            .map(|m| m.len() == 1000)
            .unwrap_or(false)
    }));
    let mut long = "z".repeat(5000);
    long.push('\n');
    stdin.write_all(long.as_bytes()).unwrap();
    let rest: String = (11..60).map(line).collect();
    stdin.write_all(rest.as_bytes()).unwrap();
    drop(stdin);
    let status = g.child(pid).unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    for e in std::fs::read_dir(&d).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('@') || name == "current" {
            let len = e.metadata().unwrap().len();
            assert!(len <= 4096, "{name}: {len} bytes");
        }
    }
}

/// A processor timeout far beyond any clock (it panicked adding it to an
/// Instant, exit 134, in the middle of a rotation): clamped, never a panic.
#[test]
fn huge_processor_timeout_is_clamped_not_a_panic() {
    let s = Scratch::new("ml-huge-timeout");
    let input: Vec<u8> = (1..=2000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = run_with_input(
        Command::new(bin("multilog"))
            .current_dir(&s.path)
            .env("MULTILOG_PROCESSOR_TIMEOUT", "18446744073709551615")
            .args(["s4096", "!cat", "./d"]),
        &input,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rotated = std::fs::read_dir(s.join("d"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".s"))
        })
        .count();
    assert!(rotated > 0, "no processed file");
}
