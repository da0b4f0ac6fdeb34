//! `--help` and `--version`, the two long options every program shares.
//! Only a first argument of exactly `--help` or `--version` counts, so no
//! daemontools command line changes meaning (multilog's argv is a script,
//! svc's options are letters; a bad option still gets usage and exit 100).

use std::io::Write;

/// The `--version` line: `PROG (svkit) VERSION`.
pub fn version_line(prog: &str) -> String {
    format!("{prog} (svkit) {}\n", env!("CARGO_PKG_VERSION"))
}

/// The `--help` text: the usage line, what the program does, where to read more.
pub fn help_text(prog: &str, synopsis: &str, about: &str) -> String {
    format!("usage: {prog} {synopsis}\n\n{about}\n\nSee man 8 {prog}.\n")
}

/// Call first thing in `main`: answers `--help` or `--version` on stdout
/// and exits 0; returns for any other command line.
pub fn help_version(prog: &str, synopsis: &str, about: &str) {
    let text = match std::env::args_os().nth(1) {
        Some(a) if a == "--help" => help_text(prog, synopsis, about),
        Some(a) if a == "--version" => version_line(prog),
        _ => return,
    };
    let mut out = std::io::stdout().lock();
    let code = match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(_) => crate::exit::TEMP,
    };
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_suite() {
        assert_eq!(
            version_line("svc"),
            format!("svc (svkit) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn help_starts_with_usage() {
        let h = help_text("svok", "dir", "Tells whether supervise runs.");
        assert!(h.starts_with("usage: svok dir\n\nTells"));
        assert!(h.ends_with("See man 8 svok.\n"));
    }
}
