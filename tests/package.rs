//! The install step: `scripts/install` into a scratch DESTDIR puts every
//! binary, svscan.rc and every man page in place, each page renders with
//! `man -l`, and `scripts/uninstall` removes exactly that and leaves service
//! directories alone. Also: every program's page has the sections a
//! sysadmin looks for. The Debian package: built by scripts/deb, installed
//! into a scratch root with dpkg, every program and page there, removal
//! leaves service directories alone; lintian when it is installed.
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

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One field of a .deb's control file.
fn deb_field(deb: &Path, field: &str) -> String {
    let (code, out, err) = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field));
    assert_eq!(code, 0, "dpkg-deb -f {field}: {err}");
    out.trim().to_string()
}

#[test]
fn deb_installs_into_a_scratch_root_and_removes_cleanly() {
    if !have("dpkg-deb") || !have("dpkg") {
        eprintln!("deb_installs_into_a_scratch_root_and_removes_cleanly: skipped: dpkg is missing");
        return;
    }
    let s = Scratch::new("package-deb");
    // dpkg-deb on a staging tree of the debug build (cargo-deb would
    // rebuild everything in release mode).
    let (code, out, err) = run(Command::new(repo().join("scripts/deb"))
        .env("SVKIT_TARGET", bin_dir())
        .env("SVKIT_DEB_TOOL", "dpkg-deb")
        .env("SVKIT_DEB_COMPRESS", "gzip")
        .env("SVKIT_DEB_OUT", s.join("out")));
    assert_eq!(code, 0, "scripts/deb: {err}");
    let deb = std::path::PathBuf::from(out.trim());
    assert!(deb.is_file(), "no .deb at {out}");

    let provides = deb_field(&deb, "Provides");
    assert!(provides.starts_with("daemontools"), "Provides: {provides}");
    assert_eq!(deb_field(&deb, "Conflicts"), "daemontools");
    assert_eq!(deb_field(&deb, "Replaces"), "daemontools");
    let maintainer = deb_field(&deb, "Maintainer");
    assert!(
        maintainer.contains('@') && !maintainer.contains("localhost"),
        "Maintainer: {maintainer}"
    );
    // The provided version satisfies daemontools-run's `daemontools (>> 1:0.76)`.
    if let Some(v) = provides
        .split_once("(= ")
        .and_then(|(_, r)| r.strip_suffix(')'))
    {
        let (code, _, _) =
            run(Command::new("dpkg").args(["--compare-versions", v, "gt", "1:0.76"]));
        assert_eq!(code, 0, "provided version {v} is not above 1:0.76");
    }

    lintian(&deb);
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "deb_installs_into_a_scratch_root_and_removes_cleanly: install not tried: \
             dpkg --root needs root to give files their owners"
        );
        return;
    }
    let root = s.join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display()))
            .arg("--log=/dev/null")
            .args(args);
        run(&mut c)
    };
    let (code, _, err) = dpkg(&["-i", deb.to_str().unwrap()]);
    assert_eq!(code, 0, "dpkg -i: {err}");
    let usr = root.join("usr");
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        let b = usr.join("bin").join(p);
        assert!(b.is_file(), "missing {}", b.display());
        let (code, out, _) = run(Command::new(&b).arg("--version"));
        assert_eq!(code, 0, "installed {p} --version");
        assert!(out.starts_with(&format!("{p} (svkit) ")), "{out}");
        let page = usr.join(format!("share/man/man8/{p}.8.gz"));
        assert!(page.is_file(), "missing {}", page.display());
    }
    let unit =
        std::fs::read_to_string(usr.join("share/doc/svkit/examples/svscan.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/svscan.rc start /service")
            && !unit.contains("/usr/local"),
        "unit does not point at /usr/bin:\n{unit}"
    );
    assert!(usr.join("share/doc/svkit/copyright").is_file());

    // A package depending as daemontools-run does installs beside it.
    let dummy = s.join("dummy");
    std::fs::create_dir_all(dummy.join("DEBIAN")).unwrap();
    std::fs::write(
        dummy.join("DEBIAN/control"),
        "Package: needs-daemontools\nVersion: 1\nArchitecture: all\n\
         Maintainer: test <test@example.org>\nDepends: daemontools (>> 1:0.76)\n\
         Description: depends as daemontools-run\n stands in for daemontools-run\n",
    )
    .unwrap();
    let dummy_deb = s.join("needs-daemontools.deb");
    let (code, _, err) = run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&dummy)
        .arg(&dummy_deb));
    assert_eq!(code, 0, "dpkg-deb dummy: {err}");
    let (code, _, err) = dpkg(&["-i", dummy_deb.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "daemontools (>> 1:0.76) not satisfied by svkit: {err}"
    );
    let (code, _, err) = dpkg(&["--remove", "needs-daemontools"]);
    assert_eq!(code, 0, "{err}");

    // Service directories, with what a running tree leaves in them.
    let web = make_service(&root.join("service"), "web", "exec sleep 1000");
    std::fs::create_dir_all(web.join("supervise")).unwrap();
    std::fs::write(web.join("supervise/status"), [0u8; 18]).unwrap();
    let etc = make_service(&root.join("etc/service"), "db", "exec sleep 1000");
    let (code, _, err) = dpkg(&["--remove", "svkit"]);
    assert_eq!(code, 0, "dpkg --remove: {err}");
    for p in PROGRAMS.iter().chain(&["svscan.rc"]) {
        assert!(!usr.join("bin").join(p).exists(), "{p} left behind");
        assert!(!usr.join(format!("share/man/man8/{p}.8.gz")).exists());
    }
    assert!(web.join("run").is_file() && web.join("supervise/status").is_file());
    assert!(etc.join("run").is_file(), "removal touched /etc/service");
}

/// Runs lintian when installed: errors and warnings fail; info and
/// pedantic notes are only shown (they vary between lintian versions).
fn lintian(deb: &Path) {
    if !have("lintian") {
        eprintln!(
            "deb_installs_into_a_scratch_root_and_removes_cleanly: lintian not run: not installed"
        );
        return;
    }
    let (_, out, err) = run(Command::new("lintian")
        .args(["--display-info", "--pedantic"])
        .arg(deb));
    let tags: Vec<&str> = out
        .lines()
        .chain(err.lines())
        .filter(|l| l.len() > 2 && l.as_bytes()[1] == b':' && "EWIPX".contains(&l[..1]))
        .collect();
    eprintln!("lintian: {} tags\n{}", tags.len(), tags.join("\n"));
    let bad: Vec<&&str> = tags
        .iter()
        .filter(|t| t.starts_with("E:") || t.starts_with("W:"))
        .collect();
    assert!(bad.is_empty(), "lintian:\n{}", tags.join("\n"));
}
