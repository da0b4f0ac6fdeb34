//! svscanboot: starts svscan at boot, as daemontools 0.76: stdio on
//! /dev/null, `svc -dx` to every supervise a previous boot left (services
//! and their loggers), then `svscan DIR` with its output piped into
//! `readproctitle service errors: ...`, both with an environment of just
//! PATH. svscan's `DIR/.svscan/log` is the better home for those errors
//! (see docs/svscanboot.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PROG: &str = "svscanboot";
const SYNOPSIS: &str = "[dir]";
/// daemontools' PATH, after the directory svscanboot itself is in.
const DJB_PATH: &str =
    "/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";
const DOTS: usize = 400;

/// The scan directory: the argument, else /service (daemontools), else
/// /etc/service when only that exists (Debian's daemontools).
fn scan_dir(arg: Option<std::ffi::OsString>, djb: &Path, debian: &Path) -> PathBuf {
    if let Some(a) = arg {
        return PathBuf::from(a);
    }
    if !djb.is_dir() && debian.is_dir() {
        debian.to_path_buf()
    } else {
        djb.to_path_buf()
    }
}

/// What `sh` makes of `DIR/* DIR/*/log`: sorted names not starting with
/// `.`, then the existing `log` entries; a pattern matching nothing stays.
fn old_supervisors(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    if out.is_empty() {
        out.push(dir.join("*"));
    }
    let logs: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(n).join("log"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if logs.is_empty() {
        out.push(dir.join("*").join("log"));
    } else {
        out.extend(logs);
    }
    out
}

fn null_stdio() {
    for (fd, write) in [(0, false), (1, true), (2, true)] {
        let f = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open("/dev/null");
        if let Ok(f) = f {
            let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), fd);
        }
    }
}

fn main() {
    svkit::cli::help_version(
        PROG,
        SYNOPSIS,
        "Boot-time start of svscan on dir (default /service, or /etc/service when\n\
         only that exists): stops what a previous svscan left (svc -dx), then runs\n\
         svscan with its errors shown by readproctitle in ps.",
    );
    let mut args = std::env::args_os().skip(1);
    let dir = scan_dir(
        args.next(),
        Path::new("/service"),
        Path::new("/etc/service"),
    );
    if args.next().is_some() {
        svkit::exit::usage(PROG, SYNOPSIS);
    }
    null_stdio();
    let own = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let path = match own {
        Some(d) => format!("{}:{DJB_PATH}", d.display()),
        None => DJB_PATH.to_string(),
    };
    std::env::set_var("PATH", &path);
    let _ = Command::new("svc")
        .arg("-dx")
        .args(old_supervisors(&dir))
        .status();
    // Close-on-exec: Stdio puts the ends on 0-2 of the two children; no
    // other copy may reach svscan, readproctitle or the services (a reader
    // left in svscan would keep it writing into a pipe nobody drains).
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(_) => std::process::exit(svkit::exit::TEMP),
    };
    let w2 = match w.try_clone() {
        Ok(w2) => w2,
        Err(_) => std::process::exit(svkit::exit::TEMP),
    };
    let svscan = Command::new("svscan")
        .arg(&dir)
        .env_clear()
        .env("PATH", &path)
        .stdout(Stdio::from(w))
        .stderr(Stdio::from(w2))
        .spawn();
    let title = format!("{:.<1$}", "", DOTS);
    let reader = Command::new("readproctitle")
        .args(["service", "errors:", &title])
        .env_clear()
        .env("PATH", &path)
        .stdin(Stdio::from(r))
        .spawn();
    // As the shell: wait for both ends, exit as the last one of the pipe.
    if let Ok(mut c) = svscan {
        let _ = c.wait();
    }
    let code = match reader.map(|mut c| c.wait()) {
        Ok(Ok(s)) => s.code().unwrap_or(svkit::exit::TEMP),
        _ => 127,
    };
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dir_is_djbs_unless_only_debians_exists() {
        let t = std::env::temp_dir().join(format!("svscanboot-unit-{}", std::process::id()));
        let (djb, debian) = (t.join("service"), t.join("etc-service"));
        std::fs::create_dir_all(&debian).unwrap();
        assert_eq!(scan_dir(None, &djb, &debian), debian);
        std::fs::create_dir_all(&djb).unwrap();
        assert_eq!(scan_dir(None, &djb, &debian), djb);
        let _ = std::fs::remove_dir_all(&debian);
        assert_eq!(scan_dir(None, &djb, &debian), djb);
        assert_eq!(
            scan_dir(Some("x".into()), &djb, &debian),
            PathBuf::from("x")
        );
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn globs_as_sh() {
        let t = std::env::temp_dir().join(format!("svscanboot-glob-{}", std::process::id()));
        std::fs::create_dir_all(t.join("b/log")).unwrap();
        std::fs::create_dir_all(t.join("a")).unwrap();
        std::fs::create_dir_all(t.join(".x/log")).unwrap();
        assert_eq!(
            old_supervisors(&t),
            vec![t.join("a"), t.join("b"), t.join("b/log")]
        );
        let _ = std::fs::remove_dir_all(&t);
    }
}
