//! tai64nlocal against daemontools' on the same input (TZ set explicitly),
//! and on malformed labels that crash daemontools' but must not crash ours.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

fn convert(prog: &Path, tz: &str, input: &[u8]) -> (i32, Vec<u8>) {
    let out = common::run_with_input(
        Command::new(prog)
            .env("TZ", tz)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        input,
        std::time::Duration::from_secs(60),
    );
    (out.status.code().unwrap_or(-1), out.stdout)
}

/// Valid labels spread over 1970..2105 with odd nanoseconds, plus lines
/// that carry no label.
fn valid_input() -> Vec<u8> {
    let mut input = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let secs = (1u64 << 62) + 10 + x % 4_300_000_000;
        let nanos = (x >> 32) as u32 % 1_000_000_000;
        let label = svkit::tai64n::Tai64n { secs, nanos }.hex_label();
        input.extend_from_slice(&label);
        match i % 4 {
            0 => input.extend_from_slice(b" message text\n"),
            1 => input.extend_from_slice(b"\n"),
            2 => input.extend_from_slice(b"x-no-space\n"),
            _ => input.extend_from_slice(b" \x00\x01binary\xff\n"),
        }
        if i % 50 == 0 {
            input.extend_from_slice(b"plain line\n\n  indented @400000006b01f378109b8d49\n");
        }
    }
    // The edge values: the epoch, nanoseconds above 999999999.
    input.extend_from_slice(
        b"@400000000000000a00000000 epoch\n@400000006b01f378ffffffff big nanos\n",
    );
    input
}

#[test]
fn byte_identical_to_daemontools() {
    let Some(theirs) = common::djb("tai64nlocal") else {
        eprintln!("tai64nlocal: skipped: daemontools' tai64nlocal is not installed");
        return;
    };
    let input = valid_input();
    let mut zones = vec!["UTC", "UTC0"];
    if Path::new("/usr/share/zoneinfo/Europe/Helsinki").exists() {
        zones.extend(["Europe/Helsinki", "America/New_York", "Asia/Kolkata"]);
    } else {
        eprintln!("tai64nlocal: tzdata missing, only UTC compared");
    }
    for tz in zones {
        let (c1, ours) = convert(&common::bin("tai64nlocal"), tz, &input);
        let (c2, djbs) = convert(&theirs, tz, &input);
        assert_eq!((c1, c2), (0, 0), "{tz}");
        assert!(ours == djbs, "{tz}: outputs differ");
    }
}

#[test]
fn malformed_labels_pass_through_without_crashing() {
    // Each of these makes daemontools' tai64nlocal die with SIGSEGV.
    let input: &[u8] = b"@4000000000000000000000000 25 digits\n\
        @400000006b01f378 16 digits\n\
        @zz\n\
        @\n\
        @400000006B01F378109B8D49 upper case\n\
        @ffffffffffffffff00000000 year beyond 9999\n\
        @0000000000000000000000000000000000000000000000000\n";
    let (code, out) = convert(&common::bin("tai64nlocal"), "UTC", input);
    assert_eq!(code, 0);
    assert_eq!(out, input);
}

#[test]
fn long_lines_partial_lines_and_usage() {
    let mut input = b"@400000006b01f378109b8d49 ".to_vec();
    input.extend(std::iter::repeat(b'z').take(3_000_000));
    input.extend_from_slice(b"\nno newline at the end");
    let (code, out) = convert(&common::bin("tai64nlocal"), "UTC", &input);
    assert_eq!(code, 0);
    assert!(out.starts_with(b"2026-11-21 19:39:26.278629705 zzz"));
    assert!(out.ends_with(b"zzz\nno newline at the end"));
    assert_eq!(out.len(), input.len() + 4);
    let (code, _, err) = common::run(Command::new(common::bin("tai64nlocal")).arg("x"));
    assert_eq!(code, 100);
    assert!(err.starts_with("tai64nlocal: usage:"));
}
