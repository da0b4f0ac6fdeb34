//! multilog's script parser and `*` matcher: never panic. Input: NUL-
//! separated arguments; the last one is also matched as a line against
//! every pattern.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::multilog_script::{parse, pattern_match, Action};

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    if let Ok(script) = parse(&args) {
        let line = args.last().copied().unwrap_or_default();
        for a in &script.actions {
            if let Action::Select { pattern, .. } = a {
                let _ = pattern_match(pattern, line);
            }
        }
        for d in &script.dirs {
            assert!((4096..=16_777_215).contains(&d.size));
            assert!(d.num >= 2);
        }
    }
    // The matcher on its own, pattern and line cut from the input.
    let (p, l) = data.split_at(data.len() / 2);
    if pattern_match(p, l) && !p.contains(&b'*') {
        assert_eq!(p, l);
    }
});
