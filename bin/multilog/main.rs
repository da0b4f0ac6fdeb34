//! multilog: reads lines from stdin and appends selected lines to any
//! number of automatically rotated logs (daemontools' action language).

#![no_main]

mod input;
mod journal;
mod logdir;
mod ondisk;
mod output;
mod pipe;
mod rotate;

use nix::sys::signal::Signal;
use svkit::multilog_lines::Engine;
use svkit::multilog_script;
use svkit::selfpipe::SelfPipe;

const PROG: &str = "multilog";

/// C's main: skipping Rust's start-up (its main-thread stack guard makes
/// glibc parse /proc/self/maps through stdio) saves ~270 KB of resident
/// libc pages. std still gets argv on glibc through .init_array; SIGPIPE
/// is ignored by hand below.
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // No Rust start-up puts /dev/null on closed 0-2 for us: do it before
    // anything is opened, or the self-pipe lands on 1 and 2 and `e` writes
    // into it.
    svkit::sys::open_std_fds();
    multilog();
    0
}

fn multilog() {
    use std::os::unix::ffi::OsStrExt;
    svkit::cli::help_version(
        PROG,
        "script",
        "Reads lines from stdin and carries out the script's actions on each:\n\
         t T (timestamps), -pattern +pattern (select), e (stderr), =file (status),\n\
         sSIZE nNUM !processor lNUM (settings), ./dir /dir (append to a rotated log).",
    );
    svkit::sys::ignore_sigpipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let script = match multilog_script::parse(&bytes) {
        Ok(s) => s,
        Err(e) => svkit::exit::usage(PROG, &format!("script: {e}")),
    };
    let pipe = match SelfPipe::install(&[Signal::SIGTERM, Signal::SIGALRM]) {
        Ok(p) => p,
        Err(e) => svkit::exit::fatal(
            PROG,
            &format!("unable to create self-pipe: {}", svkit::errstr::text(&e)),
        ),
    };
    // Signals are caught before the directories are set up, so an early
    // SIGALRM or SIGTERM is handled rather than killing multilog.
    // A pipe is peeked and taken from only once written (nothing lost on
    // SIGKILL); that needs a directory for the pending record.
    let mut peek = if script.dirs.is_empty() {
        None
    } else {
        pipe::Peek::for_stdin()
    };
    let (out, journal) = output::Outputs::start(&script, peek.as_mut());
    let engine = Engine::new(&script);
    let fast = script.dirs_only() && script.line_max == 0;
    let mut input = input::Input::new(&script.stamps, engine, out, script.dirs_only(), fast);
    match (peek.as_mut(), journal) {
        (Some(p), Some(mut j)) => input.run_pipe(p, &mut j, &pipe),
        _ => input.run_read(&pipe),
    }
    input.engine.finish(&mut input.out);
    input.out.rotate_due();
    if !input.out.complete() {
        svkit::exit::fatal(PROG, "unable to sync the log: left unfinished");
    }
}
