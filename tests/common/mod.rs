//! Shared helpers for integration tests: scratch directories, process
//! guards that kill by pid (and every descendant) on drop, bounded polling,
//! service-directory builders and status decoding.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of one of our binaries (all are built for every integration test).
pub fn bin(name: &str) -> PathBuf {
    let any = Path::new(env!("CARGO_BIN_EXE_supervise"));
    any.parent().expect("bin dir").join(name)
}

/// Directory holding our binaries, to put first on PATH for svscan/svscan.rc.
pub fn bin_dir() -> PathBuf {
    bin("supervise").parent().expect("bin dir").to_path_buf()
}

/// PATH with our binaries first.
pub fn path_with_ours() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

/// djb's program from Debian's daemontools, if installed.
pub fn djb(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin").join(name);
    let marker = Path::new("/usr/share/doc/daemontools");
    (p.exists() && marker.exists()).then_some(p)
}

/// Returns true (and prints why) when daemontools is missing.
pub fn skip_without_daemontools(test: &str) -> bool {
    if djb("supervise").is_none() {
        eprintln!("{test}: skipped: Debian's daemontools is not installed");
        return true;
    }
    false
}

/// A scratch directory removed on drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("svkit-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes an executable script.
pub fn write_script(path: &Path, body: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Creates `root/name` with an executable `run` holding `run_body`
/// (a `#!/bin/sh` line is added).
pub fn make_service(root: &Path, name: &str, run_body: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir service");
    write_script(&dir.join("run"), &format!("#!/bin/sh\n{run_body}\n"));
    dir
}

/// Polls `f` every 10 ms until it returns true or `limit` passes.
/// Waits (5 s at most) until a script has written its pid and a newline
/// to `path`, and returns that pid.
pub fn wait_pid_file(path: &Path) -> u32 {
    let mut pid = None;
    let written = poll_until(Duration::from_secs(5), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.ends_with('\n'))
            .and_then(|t| t.trim().parse().ok());
        pid.is_some()
    });
    assert!(written, "no pid in {}", path.display());
    pid.unwrap_or_default()
}

pub fn poll_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Decoded `supervise/status`, if readable and well-formed.
pub fn status(dir: &Path) -> Option<svkit::status::Status> {
    svkit::records::read_status(dir).ok()
}

/// Decoded `supervise/xstatus`, if readable and well-formed.
pub fn xstatus(dir: &Path) -> Option<svkit::xstatus::XStatus> {
    svkit::records::read_xstatus(dir)
}

/// Writes control letters straight into `supervise/control` (no svc).
pub fn send(dir: &Path, letters: &str) {
    let mut f = svkit::control::open_control(dir).expect("control");
    std::io::Write::write_all(&mut f, letters.as_bytes()).expect("write control");
}

/// Pid of the running child per `supervise/status`, if up.
pub fn up_pid(dir: &Path) -> Option<u32> {
    status(dir).map(|s| s.pid).filter(|&p| p != 0)
}

pub fn pid_alive(pid: u32) -> bool {
    // A zombie counts as dead for tests.
    svkit::procstat::read(pid).is_ok_and(|s| !s.is_zombie())
}

/// True when somebody holds an exclusive flock on `path` (probed with a
/// shared non-blocking lock, dropped at once).
pub fn is_locked(path: &Path) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    match svkit::sys::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Every live descendant of `root` (by parent pid), deepest last.
pub fn descendants(root: u32) -> Vec<u32> {
    descendants_of(&process_table(), &[root])
}

/// (pid, parent pid) of every process now.
fn process_table() -> Vec<(u32, u32)> {
    svkit::procstat::all()
        .into_iter()
        .map(|s| (s.pid, s.ppid))
        .collect()
}

/// Every descendant of any of `roots` in one process table.
fn descendants_of(all: &[(u32, u32)], roots: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for &(c, pp) in all {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// Kills registered processes and all their descendants by pid on drop,
/// also when the test panics. Never uses pkill/killall.
#[derive(Default)]
pub struct Guard {
    pids: Vec<u32>,
    children: Vec<Child>,
}

impl Guard {
    pub fn new() -> Guard {
        Guard::default()
    }

    /// Spawns `cmd` and keeps the child for killing on drop.
    pub fn spawn(&mut self, cmd: &mut Command) -> u32 {
        let child = cmd.spawn().expect("spawn");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Registers a pid started elsewhere.
    pub fn adopt(&mut self, pid: u32) {
        self.pids.push(pid);
    }

    /// Takes a spawned child back (to wait on it), leaving it registered.
    pub fn child(&mut self, pid: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.id() == pid)
    }

    pub fn kill_all(&mut self) {
        let mut roots: Vec<u32> = self.pids.clone();
        roots.extend(self.children.iter().map(|c| c.id()));
        // One look at the process table for all roots (a test may have
        // registered hundreds).
        let mut victims = roots.clone();
        victims.extend(descendants_of(&process_table(), &roots));
        for &v in &victims {
            // SAFETY-free: plain kill by pid through nix.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(v as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        // Reap nothing else: descendants belong to their own parents.
        self.pids.clear();
        self.children.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A Command for one of our binaries, stdin null.
pub fn ours(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.stdin(Stdio::null());
    c
}

/// Runs a command to completion, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `supervise DIR` (ours, or any other binary) under a guard and
/// waits until its `ok` fifo has a reader.
pub fn start_supervise(guard: &mut Guard, program: &Path, dir: &Path) -> u32 {
    let pid = guard.spawn(
        Command::new(program)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let ok = poll_until(Duration::from_secs(5), || {
        svkit::control::supervise_running(dir).unwrap_or(false)
    });
    assert!(ok, "supervise did not start on {}", dir.display());
    pid
}

/// Runs `cmd` with `input` written to its stdin from a thread (so a large
/// input cannot deadlock against a full stdout/stderr pipe) and collects
/// its output. Bounded: a child still running after `limit` is SIGKILLed
/// (it is unreaped until wait returns, so its pid cannot have been reused).
pub fn run_with_input(cmd: &mut Command, input: &[u8], limit: Duration) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if waited.recv_timeout(limit).is_err() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = done.send(());
    let _ = writer.join();
    let _ = watchdog.join();
    out
}

/// A service directory whose "supervise" is the test itself: `ok` and
/// `control` fifos, held open for reading when `running`, so svc, svok and
/// svstat (ours or djb's) see a supervise; the test writes `status` itself.
pub struct FakeSupervise {
    pub dir: PathBuf,
    pub ok: Option<std::fs::File>,
    pub control: Option<std::fs::File>,
}

fn fifo_reader(p: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .expect("open fifo for reading")
}

impl FakeSupervise {
    pub fn new(root: &Path, name: &str, running: bool) -> FakeSupervise {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("supervise")).expect("mkdir supervise");
        for f in ["ok", "control"] {
            nix::unistd::mkfifo(
                &dir.join("supervise").join(f),
                nix::sys::stat::Mode::from_bits_truncate(0o600),
            )
            .expect("mkfifo");
        }
        let (ok, control) = if running {
            (
                Some(fifo_reader(&dir.join("supervise/ok"))),
                Some(fifo_reader(&dir.join("supervise/control"))),
            )
        } else {
            (None, None)
        };
        FakeSupervise { dir, ok, control }
    }

    /// What was written to the control fifo since the last call.
    pub fn drain(&mut self) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        if let Some(f) = &mut self.control {
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
        out
    }
}

/// How many seconds later than expected a tool may count from a record a
/// test wrote: time passes (and the clock ticks) while the test runs.
pub const LATER_SLACK: u64 = 5;

/// A count of seconds since a moment the test set `want` seconds in the
/// past: the same, or up to [`LATER_SLACK`] later, never earlier.
pub fn count_later(got: u64, want: u64) -> bool {
    got >= want && got <= want + LATER_SLACK
}

/// `got` equals `want` except that the count before " seconds" may exceed
/// the expected one by up to [`LATER_SLACK`] (see [`count_later`]).
pub fn same_but_later(got: &str, want: &str) -> bool {
    fn split(s: &str) -> Option<(&str, u64, &str)> {
        let end = s.find(" seconds")?;
        let start = s[..end].rfind(' ')? + 1;
        Some((&s[..start], s[start..end].parse().ok()?, &s[end..]))
    }
    match (split(got), split(want)) {
        (Some((ga, gn, gz)), Some((wa, wn, wz))) => ga == wa && gz == wz && count_later(gn, wn),
        _ => got == want,
    }
}

/// True when `text` contains `line(k)` for some `k` in 0..=[`LATER_SLACK`]:
/// `line` formats the expected text with every count `k` seconds later.
pub fn contains_later(text: &str, line: impl Fn(u64) -> String) -> bool {
    (0..=LATER_SLACK).any(|k| text.contains(&line(k)))
}
