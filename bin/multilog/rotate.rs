//! Rotation and recovery as functions over a directory handle and its
//! settings: old files `@<tai64n>.s`/`.u`, the `!` processor, removing the
//! oldest files, and the pause-and-retry policy for disk trouble.

use crate::ondisk::{Dir, CURRENT, NEWSTATE, PREVIOUS, PROCESSED, STATE};
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmod, Mode};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// A directory's `s`, `n` and `!` settings.
pub struct Settings {
    pub size: u64,
    pub num: u32,
    pub processor: Option<Vec<u8>>,
}

/// How often a failing processor is run before its input is kept
/// unprocessed as `@….u` (daemontools retries forever).
pub const PROCESSOR_TRIES: u32 = 5;

/// Pause-and-retry bookkeeping: one warning per episode of trouble.
#[derive(Default)]
pub struct Pause {
    reported: bool,
}

impl Pause {
    pub fn trouble(&mut self, what: &str, e: &io::Error) {
        if !self.reported {
            self.reported = true;
            let msg = format!(
                "unable to {what}: {}; pausing, will retry",
                svkit::errstr::text(e)
            );
            svkit::exit::warn("multilog", &msg);
        }
        // Input waits meanwhile, as in daemontools: nothing is lost, the
        // writer blocks on the pipe. Signals are queued in the self-pipe.
        std::thread::sleep(Duration::from_secs(1));
    }

    pub fn clear(&mut self) {
        self.reported = false;
    }

    /// Runs `op` until it succeeds, pausing between attempts.
    pub fn retry<T>(&mut self, what: &str, dir: &Dir, op: impl FnMut() -> io::Result<T>) -> T {
        self.retry_in(what, &dir.path, op)
    }

    /// `retry` for a directory known by its path.
    pub fn retry_in<T>(
        &mut self,
        what: &str,
        path: &std::path::Path,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> T {
        loop {
            match op() {
                Ok(v) => {
                    self.clear();
                    return v;
                }
                Err(e) => self.trouble(&format!("{what} in {}", path.display()), &e),
            }
        }
    }
}

/// Start-up recovery when `current` is not marked complete (daemontools'
/// order, measured): drop `newstate`; a complete `processed` becomes
/// `@….s` (its `previous` is done), an incomplete one is dropped; a left
/// `previous` and an unfinished `current` become `@….u`; `state` is reset.
pub fn recover(dir: &Dir, num: u32) -> io::Result<()> {
    dir.unlink(NEWSTATE)?;
    if let Some(st) = dir.stat(PROCESSED)? {
        if st.st_mode & 0o100 != 0 {
            dir.unlink(PREVIOUS)?;
            dir.to_old(PROCESSED, 's')?;
            dir.remove_oldest(num)?;
        } else {
            dir.unlink(PROCESSED)?;
        }
    }
    for name in [PREVIOUS, CURRENT] {
        if dir.stat(name)?.is_some() {
            dir.to_old(name, 'u')?;
            dir.remove_oldest(num)?;
        }
    }
    let f = dir.open_file(
        NEWSTATE,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
        0o644,
    )?;
    f.sync_all()?;
    dir.rename(NEWSTATE, STATE)?;
    dir.sync()
}

/// `current` is complete (synced, mode 744): make it an old file, through
/// the processor when there is one, then trim old files.
pub fn finish_current(dir: &Dir, set: &Settings, pause: &mut Pause) {
    match &set.processor {
        None => pause.retry("rename current", dir, || dir.to_old(CURRENT, 's')),
        Some(p) => {
            pause.retry("rename current to previous", dir, || {
                dir.rename(CURRENT, PREVIOUS)
            });
            process(dir, p, pause);
        }
    }
    pause.retry("remove old files", dir, || dir.remove_oldest(set.num));
    let _ = dir.sync();
}

/// Runs the processor on `previous` until it succeeds (at most
/// PROCESSOR_TRIES times), then commits `processed` and `newstate`.
fn process(d: &Dir, processor: &[u8], pause: &mut Pause) {
    for attempt in 1..=PROCESSOR_TRIES {
        match run_processor(d, processor) {
            Ok(true) => {
                pause.retry("commit processed", d, || commit_processed(d));
                return;
            }
            Ok(false) => svkit::exit::warn(
                "multilog",
                &format!(
                    "processor failed in {} (attempt {attempt} of {PROCESSOR_TRIES})",
                    d.path.display()
                ),
            ),
            Err(e) => svkit::exit::warn(
                "multilog",
                &format!(
                    "unable to run processor in {}: {} (attempt {attempt} of {PROCESSOR_TRIES})",
                    d.path.display(),
                    svkit::errstr::text(&e)
                ),
            ),
        }
        if attempt < PROCESSOR_TRIES {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    svkit::exit::warn(
        "multilog",
        &format!(
            "giving up on the processor in {}; keeping its input unprocessed as .u",
            d.path.display()
        ),
    );
    pause.retry("keep previous", d, || {
        d.unlink(PROCESSED)?;
        d.unlink(NEWSTATE)?;
        d.to_old(PREVIOUS, 'u')
    });
}

fn run_processor(d: &Dir, processor: &[u8]) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let rd = OFlag::O_RDONLY;
    let wr = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
    let input = d.open_file(PREVIOUS, rd, 0)?;
    let output = d.open_file(PROCESSED, wr, 0o644)?;
    let state = match d.open_file(STATE, rd, 0) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            d.open_file(STATE, OFlag::O_RDWR | OFlag::O_CREAT, 0o644)?
        }
        Err(e) => return Err(e),
    };
    let newstate = d.open_file(NEWSTATE, wr, 0o644)?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(std::ffi::OsStr::from_bytes(processor))
        .current_dir(&d.path)
        .stdin(input)
        .stdout(output);
    let mut child = svkit::sys::spawn_with_fd45(&mut cmd, state.as_raw_fd(), newstate.as_raw_fd())?;
    drop(cmd);
    let pid = child.id();
    if !wait_bounded(pid, processor_timeout()) {
        svkit::exit::warn(
            "multilog",
            &format!(
                "processor in {} ran longer than {} s; killed",
                d.path.display(),
                processor_timeout().as_secs()
            ),
        );
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    Ok(status.success())
}

/// How long one processor run may take: $MULTILOG_PROCESSOR_TIMEOUT
/// seconds, default 600.
fn processor_timeout() -> Duration {
    let secs = std::env::var("MULTILOG_PROCESSOR_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// Waits until child `pid` exits (not reaped) or `limit` passes; true if
/// it exited. Without pidfd support, waits unbounded (as daemontools).
fn wait_bounded(pid: u32, limit: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let Ok(fd) = svkit::sys::pidfd_open(pid) else {
        return true;
    };
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => continue,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// processed: synced and marked complete; newstate synced; previous gone;
/// newstate becomes state; processed becomes `@….s`.
fn commit_processed(d: &Dir) -> io::Result<()> {
    let p = d.open_file(PROCESSED, OFlag::O_WRONLY, 0)?;
    p.sync_all()?;
    fchmod(p.as_raw_fd(), Mode::from_bits_truncate(0o744))?;
    p.sync_all()?;
    let n = d.open_file(NEWSTATE, OFlag::O_WRONLY | OFlag::O_CREAT, 0o644)?;
    n.sync_all()?;
    d.unlink(PREVIOUS)?;
    d.rename(NEWSTATE, STATE)?;
    d.to_old(PROCESSED, 's')
}
