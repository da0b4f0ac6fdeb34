//! Rotation and recovery inside a log directory: naming old files
//! `@<tai64n>.s`/`.u`, running the `!` processor, removing the oldest files,
//! and the pause-and-retry policy for disk trouble.

use crate::logdir::{
    open_in, stat_in, unlink_in, LogDir, CURRENT, NEWSTATE, PREVIOUS, PROCESSED, STATE,
};
use nix::fcntl::{renameat, renameat2, OFlag, RenameFlags};
use nix::sys::stat::{fchmod, Mode};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use svkit::tai64n::Tai64n;

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
}

pub fn sync_dir(dirfd: &OwnedFd) -> io::Result<()> {
    nix::unistd::fsync(dirfd.as_raw_fd()).map_err(Into::into)
}

/// Renames `from` to a fresh `@<now>.<code>`, never replacing a file.
fn to_old(dirfd: &OwnedFd, from: &str, code: char) -> io::Result<()> {
    let mut t = Tai64n::now();
    loop {
        let label = t.hex_label();
        let name = format!("{}.{code}", String::from_utf8_lossy(&label));
        let fd = Some(dirfd.as_raw_fd());
        match renameat2(fd, from, fd, name.as_str(), RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EEXIST) => t.nanos = (t.nanos + 1) % 1_000_000_000,
            Err(nix::errno::Errno::EINVAL) => {
                // A filesystem without RENAME_NOREPLACE: plain rename.
                if stat_in(dirfd, &name)?.is_some() {
                    t.nanos = (t.nanos + 1) % 1_000_000_000;
                    continue;
                }
                return renameat(fd, from, fd, name.as_str()).map_err(Into::into);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Removes the oldest `@…` files while `num` or more exist (`current`
/// counts as one of `num`, as in daemontools).
fn remove_oldest(dirfd: &OwnedFd, num: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    // Listed through /proc so that the names come from the very directory
    // the descriptor holds, even if its path was renamed meanwhile.
    let listing = format!("/proc/self/fd/{}", dirfd.as_raw_fd());
    let mut old: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(listing)? {
        let name = entry?.file_name();
        if name.as_bytes().first() == Some(&b'@') {
            old.push(name.as_bytes().to_vec());
        }
    }
    old.sort();
    let excess = (old.len() + 1).saturating_sub(num as usize);
    for name in old.iter().take(excess) {
        let name = String::from_utf8_lossy(name).into_owned();
        unlink_in(dirfd, &name)?;
    }
    Ok(())
}

/// Start-up recovery when `current` is not marked complete (daemontools'
/// order, measured): drop `newstate`; a complete `processed` becomes
/// `@….s` (its `previous` is done), an incomplete one is dropped; a left
/// `previous` and an unfinished `current` become `@….u`; `state` is reset.
pub fn recover(dirfd: &OwnedFd, num: u32) -> io::Result<()> {
    unlink_in(dirfd, NEWSTATE)?;
    if let Some(st) = stat_in(dirfd, PROCESSED)? {
        if st.st_mode & 0o100 != 0 {
            unlink_in(dirfd, PREVIOUS)?;
            to_old(dirfd, PROCESSED, 's')?;
            remove_oldest(dirfd, num)?;
        } else {
            unlink_in(dirfd, PROCESSED)?;
        }
    }
    for name in [PREVIOUS, CURRENT] {
        if stat_in(dirfd, name)?.is_some() {
            to_old(dirfd, name, 'u')?;
            remove_oldest(dirfd, num)?;
        }
    }
    let f = open_in(
        dirfd,
        NEWSTATE,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
        0o644,
    )?;
    f.sync_all()?;
    renameat(
        Some(dirfd.as_raw_fd()),
        NEWSTATE,
        Some(dirfd.as_raw_fd()),
        STATE,
    )?;
    sync_dir(dirfd)
}

/// `current` is complete (synced, mode 744): make it an old file, through
/// the processor when there is one, then trim old files.
pub fn finish_current(d: &mut LogDir) {
    match d.processor.clone() {
        None => d.retry("rename current", |d| to_old(&d.dirfd, CURRENT, 's')),
        Some(p) => {
            d.retry("rename current to previous", |d| {
                renameat(
                    Some(d.dirfd.as_raw_fd()),
                    CURRENT,
                    Some(d.dirfd.as_raw_fd()),
                    PREVIOUS,
                )
                .map_err(Into::into)
            });
            process(d, &p);
        }
    }
    let num = d.num;
    d.retry("remove old files", |d| remove_oldest(&d.dirfd, num));
    let _ = sync_dir(&d.dirfd);
}

/// Runs the processor on `previous` until it succeeds (at most
/// PROCESSOR_TRIES times), then commits `processed` and `newstate`.
fn process(d: &mut LogDir, processor: &[u8]) {
    for attempt in 1..=PROCESSOR_TRIES {
        match run_processor(d, processor) {
            Ok(true) => {
                d.retry("commit processed", commit_processed);
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
    d.retry("keep previous", |d| {
        unlink_in(&d.dirfd, PROCESSED)?;
        unlink_in(&d.dirfd, NEWSTATE)?;
        to_old(&d.dirfd, PREVIOUS, 'u')
    });
}

fn run_processor(d: &mut LogDir, processor: &[u8]) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let rd = OFlag::O_RDONLY;
    let wr = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
    let input = open_in(&d.dirfd, PREVIOUS, rd, 0)?;
    let output = open_in(&d.dirfd, PROCESSED, wr, 0o644)?;
    let state = match open_in(&d.dirfd, STATE, rd, 0) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            open_in(&d.dirfd, STATE, OFlag::O_RDWR | OFlag::O_CREAT, 0o644)?
        }
        Err(e) => return Err(e),
    };
    let newstate = open_in(&d.dirfd, NEWSTATE, wr, 0o644)?;
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
fn commit_processed(d: &mut LogDir) -> io::Result<()> {
    let p = open_in(&d.dirfd, PROCESSED, OFlag::O_WRONLY, 0)?;
    p.sync_all()?;
    fchmod(p.as_raw_fd(), Mode::from_bits_truncate(0o744))?;
    p.sync_all()?;
    let n = open_in(&d.dirfd, NEWSTATE, OFlag::O_WRONLY | OFlag::O_CREAT, 0o644)?;
    n.sync_all()?;
    unlink_in(&d.dirfd, PREVIOUS)?;
    let fd = Some(d.dirfd.as_raw_fd());
    renameat(fd, NEWSTATE, fd, STATE)?;
    to_old(&d.dirfd, PROCESSED, 's')
}
