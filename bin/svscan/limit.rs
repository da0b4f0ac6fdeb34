//! How many service directories svscan takes on: `-c MAX`, or by default
//! as many as the descriptor limit allows (two pipe ends per logged
//! service). The soft RLIMIT_NOFILE is raised to the hard one first.

use crate::say;

/// Descriptors kept for svscan itself: stdio, lock, self-pipe, its own
/// log's pipe and saved stdio, a directory being read, a control fifo.
pub const RESERVE: u64 = 64;

/// Where the cap came from, for the "too many services" message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `-c MAX`.
    Asked(usize),
    /// Sized from this many descriptors.
    Fds(usize, u64),
}

impl Cap {
    pub fn max(self) -> usize {
        match self {
            Cap::Asked(n) | Cap::Fds(n, _) => n,
        }
    }

    /// Why the limit is what it is, after `limit N`.
    pub fn why(self) -> String {
        match self {
            Cap::Asked(_) => "set by -c".into(),
            Cap::Fds(_, fds) => {
                format!("from {fds} descriptors: raise ulimit -n or use svscan -c MAX")
            }
        }
    }
}

/// Services that fit in `fds` descriptors (at least one).
pub fn fit(fds: u64) -> usize {
    let n = fds.saturating_sub(RESERVE) / 2;
    usize::try_from(n).unwrap_or(usize::MAX).max(1)
}

/// Raises the soft descriptor limit to the hard one and decides the cap.
pub fn decide(asked: Option<usize>) -> Cap {
    let soft = match svkit::sys::nofile() {
        Ok((_, hard)) => match svkit::sys::raise_nofile(hard) {
            Ok(s) => s,
            Err(e) => {
                say::warn(&format!(
                    "unable to raise the descriptor limit: {}",
                    svkit::errstr::text(&e)
                ));
                svkit::sys::nofile().map(|(s, _)| s).unwrap_or(1024)
            }
        },
        Err(_) => 1024,
    };
    match asked {
        Some(n) => {
            if n > fit(soft) {
                say::warn(&format!(
                    "-c {n}: {soft} descriptors hold only {} logged services; more will fail to get a pipe",
                    fit(soft)
                ));
            }
            Cap::Asked(n)
        }
        None => Cap::Fds(fit(soft), soft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(fit(300), 118);
        assert_eq!(fit(20000), 9968);
        assert_eq!(fit(0), 1);
        assert_eq!(fit(u64::MAX), ((u64::MAX - RESERVE) / 2) as usize);
        assert_eq!(Cap::Asked(5).why(), "set by -c");
        assert_eq!(Cap::Fds(118, 300).max(), 118);
    }
}
