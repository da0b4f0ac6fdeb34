//! booster: keeps a pre-forked spare waiting on a unix socket and launches
//! invokers' programs inside the supervision tree, coupled to the invoker
//! through the connection (see docs/booster.md).

mod conn;
mod instances;
mod listen;
mod log;
mod server;
mod spare;

use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::Duration;

const PROG: &str = "booster";
const USAGE: &str =
    "[ -e ] [ -k grace ] [ -n max ] [ -u uid,... ] [ -g gid,... ] [ -r registry ] socket";

struct Args {
    grace: Duration,
    max: usize,
    uids: Vec<u32>,
    gids: Vec<u32>,
    registry: Option<PathBuf>,
    stderr: bool,
    socket: PathBuf,
}

fn usage() -> ! {
    svkit::exit::usage(PROG, USAGE)
}

/// The id field (third) of `name`'s line in a passwd/group style file.
fn id_in_file(path: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name)).then(|| f.nth(1)?.parse().ok())?
    })
}

/// A user or group name: /etc/passwd or /etc/group first, then the C
/// library's NSS (LDAP and the like) — but not in a static build, where
/// glibc's NSS fallback crashes on unknown names.
fn id_of(name: &str, user: bool) -> Option<u32> {
    let file = if user { "/etc/passwd" } else { "/etc/group" };
    if let Some(id) = id_in_file(file, name) {
        return Some(id);
    }
    if cfg!(target_feature = "crt-static") {
        return None;
    }
    if user {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    } else {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }
}

fn ids(list: &str, user: bool) -> Vec<u32> {
    let mut out = Vec::new();
    for name in list.split(',').filter(|s| !s.is_empty()) {
        let id = match name.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => id_of(name, user),
        };
        match id {
            Some(i) => out.push(i),
            None => {
                let what = if user { "user" } else { "group" };
                svkit::exit::warn(PROG, &format!("unknown {what}: {name}"));
                usage();
            }
        }
    }
    out
}

fn parse_args() -> Args {
    let mut a = Args {
        grace: Duration::from_secs(5),
        max: 1000,
        uids: Vec::new(),
        gids: Vec::new(),
        registry: None,
        stderr: false,
        socket: PathBuf::new(),
    };
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].to_string_lossy().into_owned();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        for (at, ch) in arg[1..].char_indices() {
            match ch {
                'e' => a.stderr = true,
                'k' | 'n' | 'u' | 'g' | 'r' => {
                    let rest = &arg[1 + at + 1..];
                    let val = if !rest.is_empty() {
                        rest.to_string()
                    } else {
                        i += 1;
                        match argv.get(i) {
                            Some(v) => v.to_string_lossy().into_owned(),
                            None => usage(),
                        }
                    };
                    match ch {
                        'k' => {
                            a.grace = svkit::duration::parse_arg(&val).unwrap_or_else(|_| usage())
                        }
                        'n' => {
                            a.max = val
                                .parse()
                                .ok()
                                .filter(|&n| n > 0)
                                .unwrap_or_else(|| usage())
                        }
                        'u' => a.uids.extend(ids(&val, true)),
                        'g' => a.gids.extend(ids(&val, false)),
                        _ => a.registry = Some(PathBuf::from(val)),
                    }
                    break;
                }
                _ => usage(),
            }
        }
        i += 1;
    }
    if i + 1 != argv.len() {
        usage();
    }
    a.socket = PathBuf::from(&argv[i]);
    a
}

fn main() {
    svkit::cli::help_version(PROG, USAGE, "Launches programs for invokers from a pre-forked spare, listening on the unix socket;\neach launched program lives exactly as long as its invoker's connection.");
    let a = parse_args();
    svkit::sys::open_std_fds();
    let log = log::Log::choose(a.stderr);
    let lock = listen::take_lock(&a.socket).unwrap_or_else(|m| svkit::exit::fatal(PROG, &m));
    let registry = a
        .registry
        .clone()
        .unwrap_or_else(|| listen::with_suffix(&a.socket, ".instances"));
    let pipe = svkit::selfpipe::SelfPipe::install(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        // svc -h, -a, -2 must not kill the booster by their default action.
        Signal::SIGHUP,
        Signal::SIGALRM,
        Signal::SIGUSR2,
    ])
    .unwrap_or_else(|e| {
        svkit::exit::fatal(PROG, &format!("unable to install signal handlers: {e}"))
    });
    let n = instances::end_survivors(&registry, a.grace, &log);
    if n > 0 {
        log.info(&format!("ended {n} survivors of a previous booster"));
    }
    let soft = svkit::sys::nofile().map(|(s, _)| s).unwrap_or(1024);
    let _ = svkit::sys::set_nofile_soft(u64::MAX);
    // A connection costs its socket, the spare's channel while launching
    // and three passed descriptors while being read: with 5 per connection
    // and 16 kept for the booster, accepting never runs out of descriptors.
    let raised = svkit::sys::nofile().map(|(s, _)| s).unwrap_or(soft);
    let conn_cap = (raised.saturating_sub(16) / 5).clamp(1, a.max as u64 + 256) as usize;
    let open = !a.uids.is_empty() || !a.gids.is_empty();
    let listener =
        listen::Listener::bind(&a.socket, open).unwrap_or_else(|m| svkit::exit::fatal(PROG, &m));
    let cfg = server::Config {
        grace: a.grace,
        max: a.max,
        gate: listen::Gate {
            own_uid: nix::unistd::getuid().as_raw(),
            uids: a.uids,
            gids: a.gids,
        },
        soft_nofile: soft,
        conn_cap,
        // One uid can keep at most a quarter of the slots waiting.
        per_uid: (conn_cap / 4).max(16),
    };
    log.info(&format!("listening on {}", a.socket.display()));
    server::Server::new(
        cfg,
        log,
        pipe,
        listener,
        instances::Instances::new(&registry),
    )
    .run();
    drop(lock);
}
