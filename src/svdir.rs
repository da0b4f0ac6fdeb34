//! Names inside a service directory and a scan directory, in one place.

/// Files a service directory may hold (daemontools, then s6's names).
pub const RUN: &str = "run";
pub const DOWN: &str = "down";
pub const LOG: &str = "log";
pub const FINISH: &str = "finish";
pub const SHUTDOWN: &str = "shutdown";
pub const NOTIFICATION_FD: &str = "notification-fd";
pub const TIMEOUT_KILL: &str = "timeout-kill";
pub const TIMEOUT_FINISH: &str = "timeout-finish";
pub const DOWN_SIGNAL: &str = "down-signal";
/// svkit's opt-in restart backoff (`MIN MAX WINDOW`, milliseconds).
pub const BACKOFF: &str = "backoff";

/// supervise's own directory and what it holds.
pub const SUPERVISE: &str = "supervise";
pub const LOCK: &str = "supervise/lock";
pub const CONTROL: &str = "supervise/control";
pub const OK: &str = "supervise/ok";
pub const STATUS: &str = "supervise/status";
pub const STATUS_NEW: &str = "supervise/status.new";
pub const XSTATUS: &str = "supervise/xstatus";
pub const XSTATUS_NEW: &str = "supervise/xstatus.new";

/// In a scan directory: svscan's logger directory (logging patch), and its
/// lock file, which also holds svscan's record `PID STARTTIME\n`.
pub const SVSCAN_DIR: &str = ".svscan";
pub const SVSCAN_LOG: &str = ".svscan/log";
pub const SVSCAN_LOCK: &str = ".svscan.lock";
/// svscan's stop timeout file, in the scan directory's `.svscan/`.
pub const SVSCAN_TIMEOUT_STOP: &str = ".svscan/timeout-stop";
/// In a scan directory: `svscan.rc upgrade`'s request (`upgrade PATH`)
/// and svscan's answer (`ok …` or `fail REASON`).
pub const SVSCAN_UPGRADE: &str = ".svscan.upgrade";
