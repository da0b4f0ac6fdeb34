//! readproctitle: shows the tail of its input in `ps`, as daemontools
//! 0.76. The last argument is the display: it is overwritten with dots,
//! and every byte read (NULs skipped) shifts into its end, the first
//! three dots staying put. svscanboot pipes svscan's errors through it.

use svkit::exit::{TEMP, USAGE};

const PROG: &str = "readproctitle";
const SYNOPSIS: &str = "io ...............";
/// Leading bytes of the display that never scroll (djb's: 3).
const KEEP: usize = 3;

/// Scrolls `input` (NULs dropped) into the end of `window`.
fn scroll(window: &mut [u8], input: &[u8]) {
    let bytes: Vec<u8> = input.iter().copied().filter(|&c| c != 0).collect();
    let (w, k) = (window.len(), bytes.len());
    if k >= w {
        window.copy_from_slice(&bytes[k - w..]);
    } else {
        window.copy_within(k.., 0);
        window[w - k..].copy_from_slice(&bytes);
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Shows the most recent bytes of its input in its own last argument, so\n\
         `ps` displays them; the argument (at least 5 bytes) sets the width.",
    );
    if std::env::args_os().len() < 2 {
        std::process::exit(USAGE);
    }
    let Some(display) = svkit::sys::take_last_arg() else {
        std::process::exit(USAGE);
    };
    // A closed stdin is a read error (111), not /dev/null.
    svkit::sys::restore_start_stdio();
    display.fill(b'.');
    if display.len() < 5 {
        std::process::exit(USAGE);
    }
    let window = &mut display[KEEP..];
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(0, &mut buf) {
            Ok(0) => std::process::exit(0),
            Ok(n) => scroll(window, &buf[..n]),
            Err(nix::Error::EINTR) => {}
            Err(_) => std::process::exit(TEMP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scroll;

    #[test]
    fn scrolls_in_at_the_end() {
        let mut w = *b".......";
        scroll(&mut w, b"ab\0c");
        assert_eq!(&w, b"....abc");
        scroll(&mut w, b"defghij");
        assert_eq!(&w, b"defghij");
        scroll(&mut w, b"\n");
        assert_eq!(&w, b"efghij\n");
    }
}
