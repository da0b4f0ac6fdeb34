//! multilog's line engine: for any script and input, fed in any chunking,
//! the output is the same, never panics, and with no selection every
//! input byte reaches the directory (plus one final newline at most).
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::multilog_lines::{Engine, MemSinks};
use svkit::multilog_script::parse;

fn run(args: &[&[u8]], input: &[u8], chunk: usize) -> Option<MemSinks> {
    let script = parse(args).ok()?;
    let mut engine = Engine::new(&script);
    let mut sinks = MemSinks::for_script(&script);
    engine.set_stamp(b"@4000 ");
    for c in input.chunks(chunk.max(1)) {
        engine.feed(c, &mut sinks);
    }
    engine.finish(&mut sinks);
    Some(sinks)
}

fuzz_target!(|data: &[u8]| {
    // First byte: chunk size; up to the first 0xff: NUL-separated script.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let cut = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let (script, input) = rest.split_at(cut);
    let input = input.get(1..).unwrap_or_default();
    let args: Vec<&[u8]> = if script.is_empty() {
        vec![b"./d"]
    } else {
        script.split(|&b| b == 0).collect()
    };
    let Some(a) = run(&args, input, usize::from(chunk)) else {
        return;
    };
    let b = run(&args, input, input.len()).expect("parsed once");
    assert_eq!(a.dirs, b.dirs);
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(a.statuses, b.statuses);
    if args == [b"./d"] {
        let plain: Vec<u8> = a.dirs[0].clone();
        let lines = input.split(|&c| c == b'\n').count();
        assert!(plain.len() >= input.len());
        assert!(plain.len() <= input.len() + 1 + 6 * lines);
    }
});
