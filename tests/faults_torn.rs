//! Fault suite, torn records: while a service is forced through thousands
//! of status rewrites (`p` / `c` alternately on its control fifo, each
//! waited for), readers decode `supervise/status` and `supervise/xstatus`
//! and run our svstat as fast as they can. No read may ever fail to decode
//! or show a record that belongs to no state the service was in.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use svkit::status::{Status, Want};
use svkit::xstatus::{XStatus, FLAG_PAUSED};

const TRANSITIONS: usize = 5000;
const LIMIT: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Counts {
    reads: AtomicUsize,
    bad: AtomicUsize,
    paused_seen: AtomicUsize,
}

fn reader(
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    check: impl Fn() -> Result<bool, String> + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut errors = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            counts.reads.fetch_add(1, Ordering::Relaxed);
            match check() {
                Ok(paused) => {
                    if paused {
                        counts.paused_seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    counts.bad.fetch_add(1, Ordering::Relaxed);
                    if errors.len() < 5 {
                        errors.push(e);
                    }
                }
            }
        }
        errors
    })
}

fn read_status(dir: &Path, pid: u32) -> Result<bool, String> {
    let b = std::fs::read(dir.join("supervise/status")).map_err(|e| format!("read: {e}"))?;
    let st = Status::unpack(&b).map_err(|e| format!("status {b:?}: {e:?}"))?;
    if st.pid != pid || st.want != Want::Up {
        return Err(format!("status {st:?}: expected pid {pid}, want up"));
    }
    Ok(st.paused)
}

fn read_xstatus(dir: &Path, pid: u32) -> Result<bool, String> {
    let b = std::fs::read(dir.join("supervise/xstatus")).map_err(|e| format!("read: {e}"))?;
    let x = XStatus::unpack(&b).map_err(|e| format!("xstatus ({} bytes): {e:?}", b.len()))?;
    if x.child.pid != pid || !x.child.is_alive() {
        return Err(format!(
            "xstatus child {:?}: expected live pid {pid}",
            x.child
        ));
    }
    Ok(x.has(FLAG_PAUSED))
}

/// Decodes the crash-looping service's records; returns its history length.
fn read_crashing(dir: &Path) -> Result<usize, String> {
    let b = std::fs::read(dir.join("supervise/status")).map_err(|e| format!("read: {e}"))?;
    Status::unpack(&b).map_err(|e| format!("status {b:?}: {e:?}"))?;
    let b = std::fs::read(dir.join("supervise/xstatus")).map_err(|e| format!("read: {e}"))?;
    let x = XStatus::unpack(&b).map_err(|e| format!("xstatus ({} bytes): {e:?}", b.len()))?;
    if x.history.iter().any(|d| d.code() != Some(3)) {
        return Err(format!("history {:?}", x.history));
    }
    Ok(x.history.len())
}

fn run_svstat(program: &Path, dir: &Path, pid: u32) -> Result<bool, String> {
    let (code, out, err) = run(Command::new(program).arg(dir));
    let head = format!("{}: up (pid {pid}) ", dir.display());
    let rest = out
        .strip_prefix(&head)
        .ok_or(format!("svstat: {out:?} {err:?}"))?;
    let (secs, tail) = rest
        .split_once(" seconds")
        .ok_or(format!("svstat: {out:?}"))?;
    if code != 0 || !err.is_empty() || secs.parse::<u64>().is_err() {
        return Err(format!("svstat {code}: {out:?} {err:?}"));
    }
    match tail {
        "\n" => Ok(false),
        ", paused\n" => Ok(true),
        _ => Err(format!("svstat: {out:?}")),
    }
}

#[test]
fn readers_never_see_a_torn_record() {
    let s = Scratch::new("faults-torn");
    let dir: PathBuf = make_service(&s.path, "x", "exec sleep 1000");
    let mut g = Guard::new();
    let sup = g.spawn(
        Command::new(bin("supervise"))
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stderr(std::fs::File::create(s.join("sup.err")).unwrap()),
    );
    assert!(poll_until(Duration::from_secs(5), || up_pid(&dir).is_some()));
    let pid = up_pid(&dir).unwrap();
    // A second service crash-loops: its xstatus grows by one death a
    // second, so readers also race rewrites that change the length.
    let crash = make_service(&s.path, "crash", "exit 3");
    start_supervise(&mut g, &bin("supervise"), &crash);

    let stop = Arc::new(AtomicBool::new(false));
    let (cs, cx, cv, cc) = (
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
    );
    let threads = [
        reader(stop.clone(), cs.clone(), {
            let d = dir.clone();
            move || read_status(&d, pid)
        }),
        reader(stop.clone(), cx.clone(), {
            let d = dir.clone();
            move || read_xstatus(&d, pid)
        }),
        reader(stop.clone(), cv.clone(), {
            let d = dir.clone();
            // Ours, alternating with djb's when installed: it must decode
            // our status file too.
            let progs: Vec<PathBuf> = std::iter::once(bin("svstat"))
                .chain(djb("svstat"))
                .collect();
            let n = AtomicUsize::new(0);
            move || {
                run_svstat(
                    &progs[n.fetch_add(1, Ordering::Relaxed) % progs.len()],
                    &d,
                    pid,
                )
            }
        }),
        reader(stop.clone(), cc.clone(), {
            let d = crash.clone();
            let longest = std::sync::Mutex::new(0usize);
            move || {
                // Its records change once a second: no need to spin.
                std::thread::sleep(Duration::from_micros(200));
                let n = read_crashing(&d)?;
                let mut l = longest.lock().unwrap();
                if n < *l {
                    return Err(format!("history shrank from {} to {n}", *l));
                }
                *l = n;
                // "paused" here counts reads that saw a full history.
                Ok(n == svkit::xstatus::HISTORY_MAX)
            }
        }),
    ];

    // The writer: one letter at a time, each waited for in the status.
    let mut control = svkit::control::open_control(&dir).expect("control");
    let t0 = Instant::now();
    let mut done = 0;
    let mut slowest = Duration::ZERO;
    // At least 3.5 s, so the crash-looping service dies a few times too
    // (rewrites in place are fast: 5000 can take under a second).
    while (done < TRANSITIONS || t0.elapsed() < Duration::from_millis(3500)) && t0.elapsed() < LIMIT
    {
        let (letter, paused) = if done % 2 == 0 {
            (b"p", true)
        } else {
            (b"c", false)
        };
        std::io::Write::write_all(&mut control, letter).expect("write control");
        // Polled every 100 µs (poll_until's 10 ms would dominate).
        let seen = Instant::now();
        while !status(&dir).is_some_and(|st| st.paused == paused) {
            // Generous: on a busy ext4 disk a rename-over can leave
            // supervise in D state (page writeback) for seconds.
            if seen.elapsed() > Duration::from_secs(30) {
                let proc = |f: &str| std::fs::read_to_string(format!("/proc/{sup}/{f}"));
                panic!(
                    "transition {done} not seen: status {:?}, supervise stat {:?} wchan {:?}",
                    status(&dir),
                    proc("stat"),
                    proc("wchan")
                );
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        slowest = slowest.max(seen.elapsed());
        done += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let figures = |c: &Counts| {
        (
            c.reads.load(Ordering::Relaxed),
            c.bad.load(Ordering::Relaxed),
            c.paused_seen.load(Ordering::Relaxed),
        )
    };
    let (s_reads, s_bad, s_paused) = figures(&cs);
    let (x_reads, x_bad, x_paused) = figures(&cx);
    let (v_reads, v_bad, v_paused) = figures(&cv);
    let (c_reads, c_bad, _) = figures(&cc);
    let deaths = read_crashing(&crash).unwrap();
    eprintln!(
        "torn: {done} status rewrites (p/c) in {secs:.1} s (slowest {slowest:?}); status reads {s_reads} \
         ({s_paused} paused, {s_bad} bad), xstatus reads {x_reads} ({x_paused} paused, \
         {x_bad} bad), svstat runs (ours and djb's) {v_reads} ({v_paused} paused, {v_bad} bad); \
         crash-looping service: {c_reads} status+xstatus reads ({c_bad} bad), history now {deaths}"
    );
    assert!(errors.is_empty(), "undecodable reads: {errors:?}");
    assert!(done >= 1000, "only {done} rewrites in {secs:.1} s");
    assert!(s_reads >= 1000 && x_reads >= 1000 && v_reads >= 100 && c_reads >= 1000);
    assert!(deaths >= 3, "the crash loop recorded {deaths} deaths");
    // The readers did see both states, so they read across rewrites.
    assert!(s_paused > 0 && s_paused < s_reads);
    assert!(x_paused > 0 && x_paused < x_reads);
    assert_eq!(up_pid(&dir), Some(pid));
    // Every rewrite succeeded: supervise warns once per failed write.
    assert_eq!(std::fs::read_to_string(s.join("sup.err")).unwrap(), "");
}
