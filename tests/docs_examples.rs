//! The docs cannot rot: runs the examples (`examples/web/`,
//! `examples/upgrade-booster.sh`) and every fenced block marked as tested in
//! README.md and docs/*.md.
//!
//! Convention: a block fenced as ```` ```sh tested ```` is run; all such
//! blocks of one file run in order as one `sh -e` script. A block fenced as
//! ```` ```sh tested-demo ```` runs the same way while the demo runs:
//! the test starts `scripts/demo` first (as a reader does in another
//! terminal), waits until the demo service and its logger are up, and
//! stops it with SIGINT (Ctrl-C) afterwards. Both run in a scratch copy of
//! the repository's Makefile, Cargo.toml, README.md, svscan.rc, scripts/,
//! docs/ and examples/, with our binaries first on PATH, `SVKIT_TARGET`
//! set to them (so `make install` and `scripts/demo` build nothing), and
//! HOME set to the scratch directory. Every process is killed by pid
//! afterwards (the test process is a child subreaper, so even a block's
//! orphans are found).
mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests share the subreaper role, so they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a tree, leaving out what a run leaves behind
/// (examples/service/.gitignore): supervise/, main/, locks, sockets.
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let n = name.to_string_lossy();
        if n == "supervise" || n == "main" || n == ".svscan.lock" || n.starts_with("socket") {
            continue;
        }
        let ft = e.file_type().unwrap();
        let to = dst.join(&name);
        if ft.is_dir() {
            copy_tree(&e.path(), &to);
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A scratch copy of what the docs refer to.
fn sandbox(tag: &str) -> Scratch {
    let s = Scratch::new(tag);
    for f in ["Makefile", "Cargo.toml", "README.md", "svscan.rc"] {
        std::fs::copy(repo().join(f), s.join(f)).unwrap();
    }
    for d in ["scripts", "docs", "examples"] {
        copy_tree(&repo().join(d), &s.join(d));
    }
    s
}

fn env_for(cmd: &mut Command, s: &Scratch) {
    cmd.current_dir(&s.path)
        .env("PATH", path_with_ours())
        .env("SVKIT_TARGET", bin_dir())
        .env("HOME", &s.path);
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits (bounded) for a spawned child; kills it on timeout.
fn wait_child(g: &mut Guard, pid: u32, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = g.child(pid).and_then(|c| c.try_wait().ok().flatten()) {
            return Some(st);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills whatever the test left behind that was re-parented to us.
fn kill_orphans() {
    let mut g = Guard::new();
    for pid in descendants(std::process::id()) {
        g.adopt(pid);
    }
}

fn become_subreaper() {
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

#[test]
fn web_example_is_ready_when_the_port_answers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have("python3") {
        eprintln!("web_example_is_ready_when_the_port_answers: skipped: python3 is missing");
        return;
    }
    become_subreaper();
    let s = Scratch::new("docs-web");
    let dir = s.join("web");
    copy_tree(&repo().join("examples/web"), &dir);
    let port = free_port();
    std::fs::write(dir.join("port"), format!("{port}\n")).unwrap();
    let mut g = Guard::new();
    let sup = start_supervise(&mut g, &bin("supervise"), &dir);
    let (code, _, err) = run(ours("svc").args(["-wU", "-T", "20s"]).arg(&dir));
    assert_eq!(code, 0, "svc -wU on examples/web: {err}");
    // Ready means accepting: the port answers at once.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect after ready");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = c.read_to_string(&mut body);
    assert!(body.contains("svkit example"), "GET /: {body}");
    let (_, out, _) = run(ours("svstat").arg("-v").arg(&dir));
    assert!(out.contains("ready"), "svstat -v: {out}");
    let (code, _, _) = run(ours("svc").arg("-dx").arg(&dir));
    assert_eq!(code, 0);
    assert!(
        wait_child(&mut g, sup, Duration::from_secs(15)).is_some(),
        "supervise did not exit after svc -dx"
    );
    drop(g);
    kill_orphans();
}

#[test]
fn upgrade_booster_walkthrough() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper();
    let s = Scratch::new("docs-upgrade");
    let (bindir, newbin, svc_dir) = (s.join("bin"), s.join("new"), s.join("service/booster"));
    for d in [&bindir, &newbin, &svc_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    for b in ["booster", "invoker", "booster-drain"] {
        std::fs::copy(bin(b), bindir.join(b)).unwrap();
        std::fs::copy(bin(b), newbin.join(b)).unwrap();
    }
    // The "new" build is recognisable by its bytes.
    std::fs::write(newbin.join("app"), "#!/bin/sh\necho new app\n").unwrap();
    write_script(
        &svc_dir.join("run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\nexec {}/booster -e -k 1s ./socket\n",
            bindir.display()
        ),
    );
    let mut g = Guard::new();
    start_supervise(&mut g, &bin("supervise"), &svc_dir);
    let socket = svc_dir.join("socket");
    assert!(
        poll_until(Duration::from_secs(10), || socket.exists()),
        "no booster socket"
    );
    let old = up_pid(&svc_dir).expect("booster up");
    // An instance of the old code, tied to its invoker.
    let inv = g.spawn(
        Command::new(bindir.join("invoker"))
            .arg("-s")
            .arg(&socket)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let reg = svc_dir.join("socket.instances");
    assert!(
        poll_until(Duration::from_secs(10), || std::fs::read_to_string(&reg)
            .is_ok_and(|t| t.contains("sleep"))),
        "instance not registered"
    );
    let (code, out, err) = run(Command::new(repo().join("examples/upgrade-booster.sh"))
        .arg(&svc_dir)
        .arg(&newbin)
        .arg(&bindir)
        .env("PATH", path_with_ours())
        .env("DRAIN_TIMEOUT", "20s"));
    assert_eq!(code, 0, "upgrade-booster.sh:\n{out}\n{err}");
    assert!(out.contains("upgrade done"), "{out}");
    // The old instance was ended by the quiesce; its invoker says so (143).
    let st = wait_child(&mut g, inv, Duration::from_secs(10)).expect("invoker still running");
    assert_eq!(st.code(), Some(143), "invoker of the old instance");
    // A new booster, running the swapped file, serves launches.
    let new = up_pid(&svc_dir).expect("booster up after upgrade");
    assert_ne!(new, old, "booster was not restarted");
    let exe = std::fs::read_link(format!("/proc/{new}/exe")).unwrap();
    assert_eq!(
        exe,
        bindir.join("booster"),
        "new booster runs the swapped file"
    );
    assert_eq!(
        std::fs::read_to_string(bindir.join("app")).unwrap(),
        "#!/bin/sh\necho new app\n"
    );
    let (code, out, _) = run(Command::new(bindir.join("invoker"))
        .arg("-s")
        .arg(&socket)
        .arg(bindir.join("app")));
    assert_eq!((code, out.as_str()), (0, "new app\n"));
    let (code, _, _) = run(ours("svc").arg("-dx").arg(&svc_dir));
    assert_eq!(code, 0);
    drop(g);
    kill_orphans();
}

struct Block {
    line: usize,
    demo: bool,
    text: String,
}

/// The tested blocks of one markdown file.
fn tested_blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    let mut in_fence = false;
    for (i, l) in text.lines().enumerate() {
        if let Some(info) = l.strip_prefix("```") {
            if in_fence {
                in_fence = false;
                out.extend(cur.take());
                continue;
            }
            in_fence = true;
            let info = info.trim();
            if info == "sh tested" || info == "sh tested-demo" {
                cur = Some(Block {
                    line: i + 1,
                    demo: info.ends_with("demo"),
                    text: String::new(),
                });
            }
            continue;
        }
        if let Some(b) = cur.as_mut() {
            b.text.push_str(l);
            b.text.push('\n');
        }
    }
    out
}

/// Runs `script` with `sh -e` in the sandbox; returns a failure report.
fn run_script(s: &Scratch, what: &str, script: &str) -> Result<(), String> {
    let mut g = Guard::new();
    let log = s.join(".script.out");
    let f = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-e", "-c", script])
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f);
    env_for(&mut cmd, s);
    let pid = g.spawn(&mut cmd);
    let st = wait_child(&mut g, pid, Duration::from_secs(60));
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    match st {
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(format!(
            "{what}: {st}\n--- script\n{script}--- output\n{out}"
        )),
        None => Err(format!(
            "{what}: timed out\n--- script\n{script}--- output\n{out}"
        )),
    }
}

/// Runs `script` while `scripts/demo` runs; stops the demo with SIGINT.
fn run_with_demo(s: &Scratch, what: &str, script: &str) -> Result<(), String> {
    let mut g = Guard::new();
    let log = std::fs::File::create(s.join(".demo.out")).unwrap();
    let mut cmd = Command::new(s.join("scripts/demo"));
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    env_for(&mut cmd, s);
    let demo = g.spawn(&mut cmd);
    let svc = s.join("examples/service/demo");
    let current = svc.join("log/main/current");
    let up = poll_until(Duration::from_secs(20), || {
        up_pid(&svc).is_some()
            && up_pid(&svc.join("log")).is_some()
            && std::fs::metadata(&current).is_ok_and(|m| m.len() > 0)
    });
    if !up {
        let out = std::fs::read_to_string(s.join(".demo.out")).unwrap_or_default();
        return Err(format!("{what}: the demo did not come up:\n{out}"));
    }
    let result = run_script(s, what, script);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(demo as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let st = wait_child(&mut g, demo, Duration::from_secs(40));
    result?;
    let st = st.ok_or_else(|| format!("{what}: the demo did not stop on SIGINT"))?;
    if !st.success() {
        return Err(format!("{what}: the demo exited {st} on SIGINT"));
    }
    // Ctrl-C loses nothing: the demo's last words are in its log.
    let mut logged = String::new();
    for e in std::fs::read_dir(svc.join("log/main")).unwrap().flatten() {
        logged += &std::fs::read_to_string(e.path()).unwrap_or_default();
    }
    if !logged.contains("demo: stopping after") {
        return Err(format!("{what}: the demo's last line is not in its log"));
    }
    Ok(())
}

#[test]
fn tested_blocks_in_docs_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper();
    let mut files: Vec<PathBuf> = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut ran = 0;
    let mut failures = Vec::new();
    for f in &files {
        let blocks = tested_blocks(f);
        let name = f.strip_prefix(repo()).unwrap_or(f).display().to_string();
        for demo in [false, true] {
            let mine: Vec<&Block> = blocks.iter().filter(|b| b.demo == demo).collect();
            if mine.is_empty() {
                continue;
            }
            let lines: Vec<String> = mine.iter().map(|b| b.line.to_string()).collect();
            let what = format!("{name} (blocks at lines {})", lines.join(", "));
            let script: String = mine.iter().map(|b| b.text.as_str()).collect();
            let s = sandbox("docs-blocks");
            let r = if demo {
                run_with_demo(&s, &what, &script)
            } else {
                run_script(&s, &what, &script)
            };
            if let Err(e) = r {
                failures.push(e);
            }
            ran += mine.len();
            kill_orphans();
        }
    }
    assert!(ran > 0, "no ```sh tested block found in README.md or docs/");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("tested_blocks_in_docs_run: {ran} blocks ran");
}
