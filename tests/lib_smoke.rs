//! The test helper itself works: scratch dirs, guards, polling.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn guard_kills_descendants() {
    let s = Scratch::new("smoke");
    let mut g = Guard::new();
    let pid = g.spawn(std::process::Command::new("/bin/sh").args(["-c", "sleep 100 & sleep 100"]));
    assert!(poll_until(Duration::from_secs(5), || descendants(pid)
        .len()
        == 2));
    let kids = descendants(pid);
    g.kill_all();
    assert!(poll_until(Duration::from_secs(5), || kids
        .iter()
        .all(|&k| !pid_alive(k))));
    assert!(s.path.is_dir());
}
