//! svkit: the formats and mechanisms shared by the supervision programs.
//!
//! Each module owns one concept; the programs under `bin/` are thin
//! front-ends over these.

pub mod account;
pub mod atomic;
pub mod cli;
pub mod control;
pub mod duration;
pub mod errstr;
pub mod exit;
pub mod lock;
pub mod multilog_lines;
pub mod multilog_pending;
pub mod multilog_script;
pub mod pathexec;
pub mod pidfd;
pub mod procsig;
pub mod procstat;
pub mod records;
pub mod registry;
pub mod selfpipe;
pub mod sgetopt;
pub mod status;
pub mod svdir;
pub mod sys;
pub mod tai64n;
pub mod tai64nlocal;
pub mod waitstatus;

pub mod wire;
pub mod xstatus;
