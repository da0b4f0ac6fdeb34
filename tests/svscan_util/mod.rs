//! Helpers shared by the svscan test files (included with `#[path]`):
//! starting svscan on a scratch tree with our binaries first on PATH,
//! finding its supervisors, reading logs written by multilog.
#![allow(dead_code)]

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::Duration;

/// A logger `run` body: multilog into ./main, files big enough that no
/// line is rotated away during a test.
pub fn logger_run() -> String {
    format!("exec {} s16777215 ./main", bin("multilog").display())
}

/// PATH for svscan.rc and run scripts: our binaries first.
pub fn rc_path() -> String {
    path_with_ours()
}

/// The svscan.rc at the top of the tree.
pub fn rc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("svscan.rc")
}

/// Everything a multilog directory holds, oldest first.
pub fn read_log(logdir: &Path) -> String {
    let main = logdir.join("main");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&main)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .map(|n| n.starts_with('@'))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.push(main.join("current"));
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect()
}

/// The numbers after `prefix` on every line that starts with it.
pub fn numbers(text: &str, prefix: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|r| r.trim().parse().ok())
        .collect()
}

/// Asserts `ns` is exactly 1, 2, …, n (nothing missing, nothing twice).
pub fn assert_contiguous(ns: &[u64], what: &str) {
    for (i, &n) in ns.iter().enumerate() {
        assert_eq!(
            n,
            i as u64 + 1,
            "{what}: expected {} at position {i}, got {n} (neighbours {:?})",
            i + 1,
            &ns[i.saturating_sub(3)..(i + 3).min(ns.len())]
        );
    }
}

/// svscan on `dir` with our binaries first on PATH, stderr into `err`.
pub fn start_svscan(guard: &mut Guard, dir: &Path, err: &Path) -> u32 {
    let f = std::fs::File::create(err).expect("stderr file");
    guard.spawn(
        Command::new(bin("svscan"))
            .arg(dir)
            .env("PATH", path_with_ours())
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f),
    )
}

/// Waits for a spawned child's exit code (None: still running at limit).
pub fn wait_code(child: &mut Child, limit: Duration) -> Option<i32> {
    let mut code = None;
    poll_until(limit, || match child.try_wait() {
        Ok(Some(st)) => {
            code = Some(st.code().unwrap_or(-1));
            true
        }
        _ => false,
    });
    code
}

pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

pub fn cwd(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default()
}

pub fn parent(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The supervise that svscan `scanner` runs for `dir` (service or log):
/// a child of svscan named supervise whose cwd is `dir` (supervise
/// changes into its directory).
pub fn supervise_of(scanner: u32, dir: &Path) -> Option<u32> {
    let want = std::fs::canonicalize(dir).ok()?;
    descendants(scanner).into_iter().find(|&p| {
        parent(p) == Some(scanner)
            && cmdline(p)
                .split(' ')
                .next()
                .map(|a| a.ends_with("supervise"))
                .unwrap_or(false)
            && std::fs::canonicalize(cwd(p)).ok() == Some(want.clone())
    })
}

/// `svc ARGS DIR` with our svc.
pub fn svc(args: &str, dir: &Path) -> i32 {
    run(Command::new(bin("svc")).arg(args).arg(dir)).0
}

pub fn supervised(dir: &Path) -> bool {
    svkit::control::supervise_running(dir).unwrap_or(false)
}

pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// A service printing `PREFIX N` lines, counting on across restarts (the
/// count is kept in ./counter); on TERM it finishes the line it is on.
pub fn counting_service(root: &Path, name: &str, prefix: &str, pause: &str) -> PathBuf {
    make_service(
        root,
        name,
        &format!(
            "exec 2>&1\ntrap 'stop=1' TERM\ni=$(cat counter 2>/dev/null || echo 0)\n\
             while [ -z \"$stop\" ]; do i=$((i+1)); echo \"{prefix} $i\"; echo $i > counter; {pause}; done\n\
             echo \"stopped at $i\""
        ),
    )
}

/// Sends `sig` to svscan `pid` (started by `g`), waits up to `limit` for it
/// to exit; returns its exit code and what it wrote to `err`.
pub fn stop_svscan(
    g: &mut Guard,
    pid: u32,
    sig: nix::sys::signal::Signal,
    err: &Path,
    limit: Duration,
) -> (Option<i32>, String) {
    signal(pid, sig);
    let code = g.child(pid).and_then(|c| wait_code(c, limit));
    (code, std::fs::read_to_string(err).unwrap_or_default())
}

/// The last number a `counting_service` wrote (its ./counter file).
pub fn counter(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("counter"))
        .expect("counter file")
        .trim()
        .parse()
        .expect("counter number")
}
