//! The extended status decoder never panics and round-trips what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::xstatus::XStatus;

fuzz_target!(|data: &[u8]| {
    if let Ok(x) = XStatus::unpack(data) {
        let again = XStatus::unpack(&x.pack()).expect("re-decode");
        assert_eq!(again, x);
    }
});
