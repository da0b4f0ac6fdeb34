//! The 18-byte status decoder never panics and round-trips what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::status::Status;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Status::unpack(data) {
        let again = Status::unpack(&s.pack()).expect("re-decode");
        assert_eq!(again.pid, s.pid);
        assert_eq!(again.want, s.want);
        assert_eq!(again.when, s.when);
    }
});
