//! `--help` and `--version` on every program; a bad command line still gets
//! usage on stderr and exit 100, as daemontools.
mod common;

use common::*;

/// Every program we install.
const PROGRAMS: &[&str] = &[
    "svscan",
    "multilog",
    "tai64nlocal",
    "supervise",
    "svc",
    "svok",
    "svstat",
    "invoker",
    "booster",
    "booster-drain",
    "envdir",
    "envuidgid",
    "setuidgid",
    "softlimit",
    "setlock",
    "pgrphack",
    "fghack",
    "tai64n",
    "readproctitle",
    "svscanboot",
];

/// A bad command line for each program that can have one (svstat takes
/// any word as a directory, as djb's).
const BAD: &[(&str, &[&str])] = &[
    ("supervise", &[]),
    ("svc", &["-Z", "x"]),
    ("svc", &["-Z", "--help"]),
    ("svok", &[]),
    ("invoker", &["-Z", "true"]),
    ("booster", &["-Z", "socket"]),
    ("booster-drain", &["-Z"]),
    ("svscan", &["-Z"]),
    ("svscan", &["a", "b"]),
    ("multilog", &["x"]),
    ("multilog", &["s1", "./d"]),
    ("tai64nlocal", &["-Z"]),
    ("envuidgid", &["nobody"]),
    ("setuidgid", &[]),
    ("softlimit", &["-Z", "true"]),
    ("setlock", &["-Z", "f", "true"]),
    ("pgrphack", &[]),
    ("fghack", &[]),
    ("svscanboot", &["a", "b"]),
];

/// daemontools' quirks kept: envdir says usage but exits 111;
/// readproctitle exits 100 without a word.
#[test]
fn toolkit_usage_quirks() {
    let (code, out, err) = run(&mut ours("envdir"));
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (111, "", "envdir: usage: envdir dir child\n")
    );
    let (code, out, err) = run(&mut ours("readproctitle"));
    assert_eq!((code, out.as_str(), err.as_str()), (100, "", ""));
}

/// The version field of our Cargo.toml, read as a sysadmin would.
fn cargo_version() -> String {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read Cargo.toml");
    let line = toml
        .lines()
        .find(|l| l.starts_with("version"))
        .expect("version line");
    line.split('"').nth(1).expect("quoted version").to_string()
}

#[test]
fn version_on_every_program() {
    let want = cargo_version();
    for p in PROGRAMS {
        let (code, out, err) = run(ours(p).arg("--version"));
        assert_eq!(code, 0, "{p} --version: {err}");
        assert_eq!(out, format!("{p} (svkit) {want}\n"), "{p} --version");
        assert!(err.is_empty(), "{p} --version wrote to stderr: {err}");
    }
}

#[test]
fn help_on_every_program() {
    for p in PROGRAMS {
        let (code, out, err) = run(ours(p).arg("--help"));
        assert_eq!(code, 0, "{p} --help: {err}");
        assert!(
            out.starts_with(&format!("usage: {p} ")),
            "{p} --help: {out}"
        );
        assert!(out.contains(&format!("man 8 {p}")), "{p} --help: {out}");
        assert!(err.is_empty(), "{p} --help wrote to stderr: {err}");
    }
}

#[test]
fn bad_command_line_is_usage_and_100() {
    for (p, args) in BAD {
        let (code, out, err) = run(ours(p).args(*args));
        assert_eq!(code, 100, "{p} {args:?}: {err}");
        assert!(out.is_empty(), "{p} {args:?} wrote to stdout: {out}");
        assert!(!err.is_empty(), "{p} {args:?}: no usage on stderr");
    }
}

/// svscan.rc is a script: run from the source tree, with the same answers.
#[test]
fn svscan_rc_help_version_and_usage() {
    let rc = concat!(env!("CARGO_MANIFEST_DIR"), "/svscan.rc");
    let (code, out, _) = run(std::process::Command::new(rc).arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(out, format!("svscan.rc (svkit) {}\n", cargo_version()));
    let (code, out, _) = run(std::process::Command::new(rc).arg("--help"));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("usage: svscan.rc start|stop|upgrade [dir]\n"),
        "{out}"
    );
    let (code, out, err) = run(std::process::Command::new(rc).arg("-Z"));
    assert_eq!((code, out.as_str()), (100, ""), "{err}");
    assert!(err.contains("usage"), "{err}");
}
