//! Admission: accepting, the SO_PEERCRED gate, the per-uid cap, fairness
//! at the connection cap, and refusals (logged at most a few a second).
//!
//! A peer that may not launch, or that finds no room, is answered with
//! one ERROR (sent without waiting) and closed at once: it holds no slot,
//! no deadline and no descriptor past this round, so however many such
//! peers connect, allowed invokers wait only for their turn at accept.

use super::{Server, ACCEPT_BATCH, REQUEST_TIME};
use crate::conn::{Conn, State};
use nix::sys::socket::{self, MsgFlags};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;
use svkit::wire::{self, kind, Reply};

impl Server {
    pub(super) fn accept(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            let sock = match l.accept() {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    // Out of descriptors: the pending connection stays in
                    // the backlog and the listener would poll readable in
                    // a busy loop; look again a little later.
                    self.log.warn(&format!("unable to accept: {e}"));
                    self.accept_pause = Instant::now() + super::ACCEPT_PAUSE;
                    return;
                }
            };
            let (uid, gid, ok) = self.cfg.gate.check(&sock);
            if !ok {
                let text = format!("uid {uid} gid {gid} not allowed");
                self.refuse_now(sock, uid, kind::NOT_ALLOWED, libc::EPERM, &text);
                continue;
            }
            let pending = self.pending_of(uid);
            if pending >= self.cfg.per_uid {
                let text = format!("busy: {pending} connections of uid {uid} pending");
                self.refuse_now(sock, uid, kind::BUSY, libc::EAGAIN, &text);
                continue;
            }
            if self.conns.len() >= self.cfg.conn_cap && !self.evict_for(pending) {
                let text = "busy: too many connections";
                self.refuse_now(sock, uid, kind::BUSY, libc::EAGAIN, text);
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let state = State::Reading {
                decoder: wire::RequestDecoder::new(),
                fds: Vec::new(),
                deadline: Instant::now() + REQUEST_TIME,
            };
            self.conns.insert(id, Conn { sock, uid, state });
            // An invoker sends right after connecting: the request is
            // usually there already, so read it without another poll.
            self.read_request(id);
        }
    }

    /// Connections of `uid` that hold no instance (request being read,
    /// orderly disconnect): what a uid can make the booster keep for it.
    fn pending_of(&self, uid: u32) -> usize {
        self.conns
            .values()
            .filter(|c| c.uid == uid && c.pid().is_none())
            .count()
    }

    /// At the connection cap: makes room for a newcomer whose uid has
    /// `mine` pending connections by dropping the oldest pending one of
    /// the uid with the most, if that uid has more than the newcomer's
    /// would. False: no room (the newcomer is refused).
    fn evict_for(&mut self, mine: usize) -> bool {
        let mut by_uid: BTreeMap<u32, (usize, u64)> = BTreeMap::new();
        for (&id, c) in &self.conns {
            if c.pid().is_none() {
                let e = by_uid.entry(c.uid).or_insert((0, id));
                e.0 += 1;
            }
        }
        let Some((&uid, &(n, oldest))) = by_uid.iter().max_by_key(|(_, (n, _))| *n) else {
            return false;
        };
        if n <= mine + 1 {
            return false;
        }
        if let Some(c) = self.conns.remove(&oldest) {
            c.send(&Reply::Error {
                kind: kind::BUSY,
                errno: libc::EAGAIN as u32,
                text: b"busy: dropped at the connection cap for a lighter uid".to_vec(),
            });
        }
        self.log_refusal(
            uid,
            "pending connection dropped for a lighter uid at the cap",
        );
        true
    }

    /// Answers a peer that gets no slot with ERROR (never waiting for
    /// room in its buffer) and closes it.
    pub(super) fn refuse_now(&mut self, sock: OwnedFd, uid: u32, k: u32, errno: i32, text: &str) {
        // Logged first: once the peer has its answer, the line is there.
        self.log_refusal(uid, text);
        let b = wire::encode_reply(&Reply::Error {
            kind: k,
            errno: errno as u32,
            text: text.as_bytes().to_vec(),
        });
        let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
        let _ = socket::send(sock.as_raw_fd(), &b, flags);
        drop(sock);
    }

    /// Sends ERROR on a connection in the table and starts its orderly
    /// disconnect.
    pub(super) fn refuse(&mut self, id: u64, k: u32, errno: i32, text: &str) {
        let Some(uid) = self.conns.get(&id).map(|c| c.uid) else {
            return;
        };
        self.log_refusal(uid, text);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.send(&Reply::Error {
            kind: k,
            errno: errno as u32,
            text: text.as_bytes().to_vec(),
        });
        c.close_write(Instant::now() + super::CLOSE_TIME);
    }

    pub(super) fn log_refusal(&mut self, uid: u32, text: &str) {
        if self.refusals.take(Instant::now()) {
            self.log.info(&format!("refused uid {uid}: {text}"));
        }
    }
}
