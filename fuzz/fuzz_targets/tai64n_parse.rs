//! TAI64N text labels: parsing never panics; accepted labels print back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::tai64n::Tai64n;

fuzz_target!(|data: &[u8]| {
    if let Some(t) = Tai64n::parse_hex(data) {
        let label = t.hex_label();
        assert_eq!(Tai64n::parse_hex(&label[1..]), Some(t));
        let _ = t.unix_secs();
        let _ = t.to_system();
    }
});
