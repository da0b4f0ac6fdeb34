//! svscan's own messages: one write(2) per line on fd 2, errors ignored
//! (fd 2 may be a non-blocking pipe into `.svscan/log`; a full pipe must
//! never stall the scanner), and "warn once" bookkeeping so a broken entry
//! is reported when it breaks, not every five seconds.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

pub const PROG: &str = "svscan";

fn line(kind: &str, msg: &str) {
    let text = format!("{PROG}: {kind}: {msg}\n");
    let _ = nix::unistd::write(std::io::stderr(), text.as_bytes());
}

pub fn warn(msg: &str) {
    line("warning", msg);
}

pub fn info(msg: &str) {
    line("info", msg);
}

/// Last warning printed per key (an entry name, or `NAME/log`); a message
/// is repeated only when it changes or after the problem went away.
#[derive(Default)]
pub struct Once {
    last: HashMap<OsString, String>,
}

impl Once {
    pub fn warn(&mut self, key: &OsStr, msg: String) {
        if self.last.get(key) != Some(&msg) {
            warn(&msg);
            self.last.insert(key.to_owned(), msg);
        }
    }

    pub fn clear(&mut self, key: &OsStr) {
        if !self.last.is_empty() {
            self.last.remove(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Forgets keys not seen in the last scan so a name that comes back
    /// broken is reported again.
    pub fn retain(&mut self, mut keep: impl FnMut(&OsStr) -> bool) {
        self.last.retain(|k, _| keep(k));
    }
}
