//! invoker against a real booster: exit statuses, stdio, cwd, env, errors,
//! socket lookup, --no-wait, --fallback.

mod booster_common;
mod common;

use booster_common::*;
use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn code_of(b: &Booster, script: &str) -> Option<i32> {
    let out = b
        .invoker()
        .args(["sh", "-c", script])
        .output()
        .expect("run invoker");
    out.status.code()
}

#[test]
fn exit_codes_are_forwarded() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-codes", &[]);
    for n in [0, 1, 42] {
        assert_eq!(code_of(&b, &format!("exit {n}")), Some(n));
    }
}

#[test]
fn signal_deaths_become_128_plus_n_without_reraising() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-sig", &[]);
    // `code()` is Some: the invoker exited, it was not killed itself.
    assert_eq!(code_of(&b, "kill -TERM $$"), Some(143));
    assert_eq!(code_of(&b, "kill -KILL $$"), Some(137));
    assert_eq!(code_of(&b, "kill -SEGV $$"), Some(139));
}

#[test]
fn stdin_is_piped_through() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-stdin", &[]);
    let mut c = b
        .invoker()
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(b"x\n")
        .expect("write");
    let out = c.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"x\n");
}

#[test]
fn stdout_and_stderr_land_where_the_invokers_go() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-stdio", &[]);
    let (o, e) = (b.dir.join("out"), b.dir.join("err"));
    let st = b
        .invoker()
        .args(["sh", "-c", "echo to-out; echo to-err >&2"])
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("run");
    assert_eq!(st.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "to-out\n");
    assert_eq!(std::fs::read_to_string(&e).unwrap(), "to-err\n");
}

#[test]
fn cwd_and_env_arrive() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-cwd", &[]);
    let here = Scratch::new("inv-cwd-here");
    let out = b
        .invoker()
        .args([
            "sh",
            "-c",
            "pwd; echo \"$SVKIT_T\"; echo \"${SVKIT_GONE-unset}\"",
        ])
        .current_dir(&here.path)
        .env("SVKIT_T", "a b\nc")
        .env_remove("SVKIT_GONE")
        .output()
        .expect("run");
    let want = format!("{}\na b\nc\nunset\n", here.path.display());
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

#[test]
fn path_comes_from_the_invokers_environment() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-path", &[]);
    let bin = b.dir.join("bin");
    write_script(&bin.join("svkit-only-here"), "#!/bin/sh\nexit 33\n");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let st = b
        .invoker()
        .arg("svkit-only-here")
        .env("PATH", path)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(33));
}

#[test]
fn not_found_127_not_executable_126() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-errs", &[]);
    let (c, _, e) = run(b.invoker().arg("/nonexistent/svkit-prog"));
    assert_eq!(c, 127, "{e}");
    assert!(e.starts_with("invoker: fatal: "), "{e}");
    let (c, _, e) = run(b.invoker().arg("svkit-no-such-program"));
    assert_eq!(c, 127, "{e}");
    let plain = b.dir.join("plain");
    std::fs::write(&plain, "data").unwrap();
    let (c, _, _) = run(b.invoker().arg(&plain));
    assert_eq!(c, 126);
    // The booster keeps serving.
    assert_eq!(code_of(&b, "exit 5"), Some(5));
}

#[test]
fn unreachable_is_111_fast_and_fallback_runs_directly() {
    let d = Scratch::new("inv-unreach");
    let sock = d.join("nothing");
    let t = Instant::now();
    let (c, _, e) = run(ours("invoker").arg("-s").arg(&sock).arg("/bin/true"));
    assert_eq!(c, 111, "{e}");
    assert!(e.contains("unable to connect to"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let (c, _, _) =
        run(ours("invoker")
            .arg("-s")
            .arg(&sock)
            .args(["--fallback", "sh", "-c", "exit 9"]));
    assert_eq!(c, 9);
}

#[test]
fn usage_is_100() {
    assert_eq!(run(&mut ours("invoker")).0, 100);
    assert_eq!(run(ours("invoker").arg("-x").arg("true")).0, 100);
    assert_eq!(run(ours("invoker").args(["-d", "soon", "true"])).0, 100);
    assert_eq!(run(&mut ours("booster")).0, 100);
    assert_eq!(run(ours("booster").args(["-k", "x", "s"])).0, 100);
    assert_eq!(
        run(ours("booster").args(["-u", "no-such-user-svkit", "s"])).0,
        100
    );
    assert_eq!(run(&mut ours("booster-drain")).0, 100);
}

#[test]
fn socket_lookup_order() {
    let mut g = Guard::new();
    let rt = Scratch::new("inv-xdg");
    std::fs::create_dir_all(rt.join("booster")).unwrap();
    let typed = start_booster_in(&mut g, Scratch::new("inv-t"), rt.join("booster/typed"), &[]);
    let dflt = start_booster_in(
        &mut g,
        Scratch::new("inv-d"),
        rt.join("booster/socket"),
        &[],
    );
    let env = start_booster(&mut g, "inv-env", &[]);
    let who = |c: &mut std::process::Command| {
        let out = c
            .args(["sh", "-c", "echo $PPID"])
            .env("XDG_RUNTIME_DIR", &rt.path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
    };
    assert_eq!(who(ours("invoker").args(["-t", "typed"])), typed.pid);
    assert_eq!(
        who(ours("invoker").env("BOOSTER_SOCKET", &env.sock)),
        env.pid
    );
    assert_eq!(who(ours("invoker").env_remove("BOOSTER_SOCKET")), dflt.pid);
    assert_eq!(
        who(ours("invoker")
            .arg("-s")
            .arg(&typed.sock)
            .env("BOOSTER_SOCKET", &env.sock)),
        typed.pid
    );
}

#[test]
fn no_wait_returns_at_once_and_linger_delays() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-nowait", &[]);
    let t = Instant::now();
    // stdout/stderr not piped: the instance keeps the invoker's stdio.
    let st = b
        .invoker()
        .args(["-n", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    let pids = b.wait_listed(1);
    assert!(pid_alive(pids[0]));
    let t = Instant::now();
    let (c, _, _) = run(b.invoker().args(["-d", "300ms", "sh", "-c", "exit 3"]));
    assert_eq!(c, 3);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Booster stop takes the --no-wait instance down too.
    signal(b.pid, nix::sys::signal::Signal::SIGTERM);
    assert!(gone(&pids, Duration::from_secs(10)));
}

#[test]
fn a_request_near_the_limit_goes_through() {
    let mut g = Guard::new();
    let b = start_booster(&mut g, "inv-big", &[]);
    let big = "y".repeat(100_000);
    let mut c = b.invoker();
    c.args([
        "sh",
        "-c",
        "n=0; for a; do n=$((n + ${#a})); done; echo $n",
        "sh",
    ]);
    for _ in 0..9 {
        c.arg(&big);
    }
    let out = c.output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "900000\n");
}
