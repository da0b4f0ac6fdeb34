//! The launch half of the booster's state machine: reading a request,
//! handing it to the spare, the exec result, and the final EXIT.

use super::{Server, CLOSE_TIME};
use crate::conn::State;
use crate::spare::{self, ExecResult};
use nix::sys::signal::Signal;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;
use svkit::wire::{self, kind, Reply, WireError};

impl Server {
    pub(super) fn read_request(&mut self, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Reading { decoder, fds, .. } = &mut c.state else {
            return;
        };
        // At most one byte past the limit is ever read: that byte is enough
        // for the decoder to refuse the request.
        let room = (wire::MAX_REQUEST + 1)
            .saturating_sub(decoder.len())
            .clamp(1, self.scratch.len());
        let got =
            svkit::sys::recv_with_fds_ctrunc(c.sock.as_raw_fd(), &mut self.scratch[..room], true);
        let (n, got, lost) = match got {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => (0, Vec::new(), false),
        };
        if lost {
            let w = "descriptors lost (too many sent, or the booster is out of descriptors)";
            return self.refuse(id, kind::INTERNAL, libc::EMFILE, w);
        }
        if n == 0 {
            // The peer has closed: no orderly disconnect to wait for, and
            // no slot held for it.
            self.refuse(id, kind::MALFORMED, libc::EPROTO, "truncated request");
            self.conns.remove(&id);
            return;
        }
        if !got.is_empty() && !fds.is_empty() {
            return self.refuse(id, kind::MALFORMED, libc::EPROTO, "descriptors sent twice");
        }
        fds.extend(got);
        // Only what this read completes is decoded (never the whole
        // buffer again): a request costs O(its length) however it drips in.
        match decoder.push(&self.scratch[..n]) {
            Ok(None) => {}
            Err(WireError::TooBig(w)) => self.refuse(id, kind::TOO_BIG, libc::E2BIG, w),
            Err(WireError::Malformed(w)) => self.refuse(id, kind::MALFORMED, libc::EPROTO, w),
            Ok(Some(req)) => {
                if fds.len() != 3 {
                    let w = "STDIO without 3 descriptors";
                    return self.refuse(id, kind::MALFORMED, libc::EPROTO, w);
                }
                let raw = std::mem::take(decoder).into_bytes();
                let fds = std::mem::take(fds);
                self.launch(id, req, raw, fds);
            }
        }
    }

    pub(super) fn launch(&mut self, id: u64, req: wire::Request, raw: Vec<u8>, fds: Vec<OwnedFd>) {
        if self.inst.map.len() >= self.cfg.max {
            let text = format!("busy: {} instances running", self.inst.map.len());
            return self.refuse(id, kind::BUSY, libc::EBUSY, &text);
        }
        self.spare_retry = Instant::now();
        self.ensure_spare();
        let Some(spare) = self.spare.take() else {
            return self.refuse(id, kind::INTERNAL, libc::EAGAIN, "unable to fork");
        };
        let pid = spare.pid;
        let raws: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        match spare.hand_off(&raw, &raws) {
            Ok((chan, pidfd)) => {
                self.spare_quiet = Instant::now() + super::SPARE_QUIET;
                let argv0 = req.argv.first().cloned().unwrap_or_default();
                self.inst.add(pidfd, argv0.clone(), Some(id));
                if let Some(c) = self.conns.get_mut(&id) {
                    let wait = req.flags & wire::FLAG_WAIT != 0;
                    c.state = State::Launching {
                        pid,
                        chan,
                        wait,
                        argv0,
                    };
                }
            }
            Err((e, pidfd)) => {
                let _ = pidfd.signal(Signal::SIGKILL);
                self.refuse(id, kind::INTERNAL, libc::EIO, &format!("spare lost: {e}"));
            }
        }
        // `fds` drop here: the booster keeps no copy of the invoker's stdio.
    }

    pub(super) fn on_chan(&mut self, id: u64) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let State::Launching { chan, .. } = &c.state else {
            return;
        };
        match spare::exec_result(chan) {
            ExecResult::Pending => {}
            ExecResult::Done => self.launched(id),
            ExecResult::Failed { stage, errno } => self.exec_failed(id, stage, errno),
        }
    }

    pub(super) fn launched(&mut self, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Launching { pid, wait, .. } = c.state else {
            return;
        };
        let grace_ms = self.cfg.grace.as_millis() as u64;
        c.send(&Reply::Launched { pid, grace_ms });
        let uid = c.uid;
        if wait {
            c.state = State::Running { pid };
        } else {
            c.close_write(Instant::now() + CLOSE_TIME);
        }
        if let Some(i) = self.inst.map.get_mut(&pid) {
            i.listed = true;
            if !wait {
                i.conn = None;
            }
            let a = String::from_utf8_lossy(&i.argv0).into_owned();
            self.log
                .info(&format!("launched pid {pid} for uid {uid}: {a}"));
        }
        self.registry_changed();
    }

    pub(super) fn exec_failed(&mut self, id: u64, stage: u32, errno: u32) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let State::Launching { pid, argv0, .. } = &c.state else {
            return;
        };
        let argv0 = String::from_utf8_lossy(argv0).into_owned();
        if let Some(i) = self.inst.map.get_mut(pid) {
            i.conn = None;
        }
        let reason = svkit::errstr::errno_text(errno as i32);
        let (k, text) = match stage {
            spare::STAGE_CWD => (kind::CWD, format!("unable to chdir: {reason}")),
            spare::STAGE_EXEC if errno as i32 == libc::ENOENT || errno as i32 == libc::ENOTDIR => {
                (kind::NOT_FOUND, format!("unable to run {argv0}: {reason}"))
            }
            spare::STAGE_EXEC => (
                kind::NOT_EXECUTABLE,
                format!("unable to run {argv0}: {reason}"),
            ),
            _ => (
                kind::INTERNAL,
                format!("unable to set up {argv0}: {reason}"),
            ),
        };
        self.refuse(id, k, errno as i32, &text);
    }

    /// The instance of connection `id` has been reaped with `status`.
    pub(super) fn finish(&mut self, id: u64, pid: u32, status: i32) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        if let State::Launching { chan, .. } = &c.state {
            if let ExecResult::Failed { stage, errno } = spare::exec_result(chan) {
                return self.exec_failed(id, stage, errno);
            }
            self.launched(id);
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let eof = matches!(c.state, State::Ending { .. });
        if c.pid() != Some(pid) {
            return;
        }
        c.send(&Reply::Exit { status });
        if eof {
            self.conns.remove(&id);
        } else {
            c.close_write(Instant::now() + CLOSE_TIME);
        }
    }
}
