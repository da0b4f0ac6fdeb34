//! Every raw `unsafe` call in svkit lives under here, each with its SAFETY
//! note, split by concept (descriptors, signals, processes, sockets, C
//! library services, start-up). Everything is re-exported, so callers
//! write `svkit::sys::NAME` whatever file it lives in.

mod fd;
mod libc_services;
mod process;
mod signal;
mod socket;
mod startup;

pub use fd::*;
pub use libc_services::*;
pub use process::*;
pub use signal::*;
pub use socket::*;
pub use startup::*;
