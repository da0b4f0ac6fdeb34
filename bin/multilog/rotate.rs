//! Rotation and recovery as functions over a directory handle and its
//! settings: old files `@<tai64n>.s`/`.u`, the `!` processor, removing the
//! oldest files, and the pause-and-retry policy for disk trouble.

use crate::ondisk::{Dir, CURRENT, NEWSTATE, PREVIOUS, PROCESSED, STATE};
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmod, Mode};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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

/// The `!` processor of a directory: it runs inside multilog's poll loop
/// (its pidfd is watched), and a failed run is started again at a
/// deadline, never after a sleep.
pub enum Proc {
    Idle,
    Running {
        child: std::process::Child,
        pidfd: Option<OwnedFd>,
        attempt: u32,
        kill_at: Instant,
        killed: bool,
    },
    Again {
        at: Instant,
        attempt: u32,
    },
}

impl Proc {
    pub fn busy(&self) -> bool {
        !matches!(self, Proc::Idle)
    }

    /// The descriptor that becomes readable when the run ends.
    pub fn fd(&self) -> Option<RawFd> {
        match self {
            Proc::Running {
                pidfd: Some(fd), ..
            } => Some(fd.as_raw_fd()),
            _ => None,
        }
    }

    /// When `step` has something to do without being woken.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Proc::Running { pidfd: None, .. } => Some(Instant::now() + Duration::from_millis(100)),
            Proc::Running {
                kill_at, killed, ..
            } => (!killed).then_some(*kill_at),
            Proc::Again { at, .. } => Some(*at),
            Proc::Idle => None,
        }
    }
}

/// `current` is complete (synced, mode 744): make it an old file, through
/// the processor when there is one (started here, left running), then
/// trim old files.
pub fn finish_current(dir: &Dir, set: &Settings, pause: &mut Pause) -> Proc {
    match &set.processor {
        None => {
            pause.retry("rename current", dir, || dir.to_old(CURRENT, 's'));
            pause.retry("remove old files", dir, || dir.remove_oldest(set.num));
            let _ = dir.sync();
            Proc::Idle
        }
        Some(p) => {
            pause.retry("rename current to previous", dir, || {
                dir.rename(CURRENT, PREVIOUS)
            });
            start(dir, p, 1, pause)
        }
    }
}

/// `current` could not be synced: it becomes `@….u` (never processed,
/// never `.s`), then old files are trimmed.
pub fn keep_unfinished(dir: &Dir, set: &Settings, pause: &mut Pause) {
    pause.retry("rename current", dir, || dir.to_old(CURRENT, 'u'));
    pause.retry("remove old files", dir, || dir.remove_oldest(set.num));
    let _ = dir.sync();
}

fn attempt_warn(dir: &Dir, what: &str, attempt: u32) {
    svkit::exit::warn(
        "multilog",
        &format!(
            "{what} in {} (attempt {attempt} of {PROCESSOR_TRIES})",
            dir.path.display()
        ),
    );
}

fn start(dir: &Dir, processor: &[u8], attempt: u32, pause: &mut Pause) -> Proc {
    match spawn_processor(dir, processor) {
        Ok(child) => Proc::Running {
            pidfd: svkit::sys::pidfd_open(child.id()).ok(),
            child,
            attempt,
            kill_at: svkit::duration::deadline(Instant::now(), processor_timeout()),
            killed: false,
        },
        Err(e) => {
            let what = format!("unable to run processor: {}", svkit::errstr::text(&e));
            attempt_warn(dir, &what, attempt);
            failed(dir, attempt, pause)
        }
    }
}

/// A run failed: run again in a second, or after the last attempt keep
/// the input unprocessed as `.u` (daemontools retries forever).
fn failed(dir: &Dir, attempt: u32, pause: &mut Pause) -> Proc {
    if attempt < PROCESSOR_TRIES {
        return Proc::Again {
            at: Instant::now() + Duration::from_secs(1),
            attempt: attempt + 1,
        };
    }
    svkit::exit::warn(
        "multilog",
        &format!(
            "giving up on the processor in {}; keeping its input unprocessed as .u",
            dir.path.display()
        ),
    );
    pause.retry("keep previous", dir, || {
        dir.unlink(PROCESSED)?;
        dir.unlink(NEWSTATE)?;
        dir.to_old(PREVIOUS, 'u')
    });
    Proc::Idle
}

/// Moves a processor run along without blocking: reaps it when it ended
/// (committing `processed`, or scheduling another run), kills it when it
/// ran too long, starts it again when its deadline came.
pub fn step(proc: Proc, dir: &Dir, set: &Settings, pause: &mut Pause) -> Proc {
    let processor = set.processor.as_deref().unwrap_or(b"");
    match proc {
        Proc::Running {
            mut child,
            pidfd,
            attempt,
            kill_at,
            mut killed,
        } => match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    attempt_warn(dir, "processor failed", attempt);
                    return failed(dir, attempt, pause);
                }
                if let Err(e) = commit_processed(dir, pause) {
                    // A failed sync is reported once: run the processor
                    // again rather than trust a retried sync.
                    let what = format!("unable to sync processed: {}", svkit::errstr::text(&e));
                    attempt_warn(dir, &what, attempt);
                    return failed(dir, attempt, pause);
                }
                pause.retry("remove old files", dir, || dir.remove_oldest(set.num));
                let _ = dir.sync();
                Proc::Idle
            }
            Ok(None) => {
                if !killed && Instant::now() >= kill_at {
                    svkit::exit::warn(
                        "multilog",
                        &format!(
                            "processor in {} ran longer than {} s; killed",
                            dir.path.display(),
                            processor_timeout().as_secs()
                        ),
                    );
                    // Not reaped yet: the group's number is still ours.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(child.id() as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    killed = true;
                }
                Proc::Running {
                    child,
                    pidfd,
                    attempt,
                    kill_at,
                    killed,
                }
            }
            Err(e) => {
                let what = format!("unable to wait for processor: {}", svkit::errstr::text(&e));
                attempt_warn(dir, &what, attempt);
                failed(dir, attempt, pause)
            }
        },
        Proc::Again { at, attempt } if Instant::now() >= at => {
            start(dir, processor, attempt, pause)
        }
        other => other,
    }
}

/// Runs `step` until the processor is done: before the next rotation of
/// the same directory, and at exit. Waits in poll for the pidfd or the
/// next deadline.
pub fn finish(mut proc: Proc, dir: &Dir, set: &Settings, pause: &mut Pause) -> Proc {
    loop {
        proc = step(proc, dir, set, pause);
        if !proc.busy() {
            return proc;
        }
        let left = proc
            .deadline()
            .map(|d| {
                d.saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32
            })
            .unwrap_or(-1);
        let mut fds: Vec<libc::pollfd> = proc
            .fd()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .into_iter()
            .collect();
        let _ = svkit::sys::poll_fds(&mut fds, left);
    }
}

fn spawn_processor(d: &Dir, processor: &[u8]) -> io::Result<std::process::Child> {
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
    svkit::sys::spawn_with_fd45(&mut cmd, state.as_raw_fd(), newstate.as_raw_fd())
}

/// How long one processor run may take: $MULTILOG_PROCESSOR_TIMEOUT
/// (seconds, or a duration such as `90s`), default 600; beyond
/// `svkit::duration::MAX` it is clamped, never an overflow.
fn processor_timeout() -> Duration {
    use svkit::duration::{parse_arg, Error, MAX};
    match std::env::var("MULTILOG_PROCESSOR_TIMEOUT").map(|v| parse_arg(&v)) {
        Ok(Ok(d)) if !d.is_zero() => d,
        Ok(Err(Error::TooLong)) => MAX,
        _ => Duration::from_secs(600),
    }
}

/// processed: synced and marked complete; newstate synced; previous gone;
/// newstate becomes state; processed becomes `@….s`.
/// A failed sync is an error (the processor runs again); what follows
/// the syncs is retried until done.
fn commit_processed(d: &Dir, pause: &mut Pause) -> io::Result<()> {
    let p = d.open_file(PROCESSED, OFlag::O_WRONLY, 0)?;
    p.sync_all()?;
    fchmod(p.as_raw_fd(), Mode::from_bits_truncate(0o744))?;
    p.sync_all()?;
    let n = d.open_file(NEWSTATE, OFlag::O_WRONLY | OFlag::O_CREAT, 0o644)?;
    n.sync_all()?;
    pause.retry("commit processed", d, || {
        d.unlink(PREVIOUS)?;
        if d.stat(NEWSTATE)?.is_some() {
            d.rename(NEWSTATE, STATE)?;
        }
        d.to_old(PROCESSED, 's')
    });
    Ok(())
}
