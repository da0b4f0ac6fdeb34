//! The install step: `scripts/install` into a scratch DESTDIR puts every
//! binary, svscan.rc and every man page in place, each page renders with
//! `man -l`, and `scripts/uninstall` removes exactly that and leaves service
//! directories alone. Also: every program's page has the sections a
//! sysadmin looks for.
mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const PROGRAMS: &[&str] = &[
    "svscan",
    "supervise",
    "svc",
    "svok",
    "svstat",
    "multilog",
    "tai64nlocal",
    "invoker",
    "booster",
    "booster-drain",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn install(dest: &Path) {
    let (code, _, err) = run(Command::new(repo().join("scripts/install"))
        .env("DESTDIR", dest)
        .env("PREFIX", "/usr")
        .env("SVKIT_TARGET", bin_dir()));
    assert_eq!(code, 0, "scripts/install: {err}");
}

fn have_man() -> bool {
    Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn install_puts_everything_in_place_and_pages_render() {
    let s = Scratch::new("package-install");
    install(&s.path);
    let usr = s.join("usr");
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        let b = usr.join("bin").join(p);
        assert!(b.is_file(), "missing {}", b.display());
        let page = usr.join(format!("share/man/man8/{p}.8.gz"));
        assert!(page.is_file(), "missing {}", page.display());
    }
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        let (code, out, _) = run(Command::new(usr.join("bin").join(p)).arg("--version"));
        assert_eq!(code, 0, "installed {p} --version");
        assert!(out.starts_with(&format!("{p} (svkit) ")), "{out}");
    }
    assert!(usr.join("share/doc/svkit/README.md").is_file());
    assert!(usr
        .join("share/doc/svkit/examples/service/demo/run")
        .is_file());
    if !have_man() {
        eprintln!("install_puts_everything_in_place_and_pages_render: man pages not rendered: `man` is missing");
        return;
    }
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        let page = usr.join(format!("share/man/man8/{p}.8.gz"));
        let (code, out, err) = run(Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING")
            // continuous rendering, as man does on a terminal (paged
            // output makes tbl warn about text blocks at page ends)
            .env("MANROFFOPT", "-rcR=1")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat"));
        assert_eq!(code, 0, "man -l {p}: {err}");
        // Layout notes are tolerated: groff 1.22's tbl can say a text block
        // "will not fit on one page" although the table renders whole, and
        // narrow table columns cannot always be justified. Anything else
        // (a table wider than the page, bad escapes, unknown macros) fails.
        let cosmetic = [
            "table text block will not fit",
            "cannot adjust line",
            "can't break line",
        ];
        let warnings: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty() && !cosmetic.iter().any(|c| l.contains(c)))
            .collect();
        assert!(warnings.is_empty(), "man -l {p} warns: {err}");
        for section in ["NAME", "SYNOPSIS", "EXIT CODES"] {
            assert!(out.contains(section), "man {p}: no {section}:\n{out}");
        }
        let name_line = out
            .lines()
            .skip_while(|l| *l != "NAME")
            .nth(1)
            .unwrap_or("");
        let words: Vec<&str> = name_line.split_whitespace().take(3).collect();
        assert!(
            words.len() == 3 && words[0] == *p && words[1] == "-",
            "man {p}: NAME line is {name_line:?}"
        );
    }
}

#[test]
fn uninstall_leaves_service_dirs_alone() {
    let s = Scratch::new("package-uninstall");
    install(&s.path);
    let svc = make_service(&s.path.join("service"), "web", "exec sleep 1000");
    let (code, _, err) = run(Command::new(repo().join("scripts/uninstall"))
        .env("DESTDIR", &s.path)
        .env("PREFIX", "/usr"));
    assert_eq!(code, 0, "scripts/uninstall: {err}");
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        assert!(!s.join(&format!("usr/bin/{p}")).exists(), "{p} left behind");
        assert!(!s.join(&format!("usr/share/man/man8/{p}.8.gz")).exists());
    }
    assert!(!s.join("usr/share/doc/svkit").exists());
    assert!(svc.join("run").is_file(), "uninstall touched a service dir");
}

/// Pages whose sections are checked; each program's page must have all of
/// these (as `## Heading`, the start of the heading is enough).
const PAGES: &[&str] = &[
    "svscan",
    "svscan.rc",
    "supervise",
    "svc",
    "svok",
    "svstat",
    "multilog",
    "tai64nlocal",
    "invoker",
    "booster",
    "booster-drain",
];

#[test]
fn every_page_has_the_sections() {
    let want = [
        "## Synopsis",
        "## Options",
        "## Files",
        "## Signals",
        "## Exit codes",
        "## Differences from",
        "## Examples",
    ];
    let mut missing = Vec::new();
    for p in PAGES {
        let text = std::fs::read_to_string(repo().join(format!("docs/{p}.md"))).unwrap();
        for w in want {
            if !text.lines().any(|l| l.starts_with(w)) {
                missing.push(format!("docs/{p}.md: {w}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing sections:\n{}",
        missing.join("\n")
    );
}
