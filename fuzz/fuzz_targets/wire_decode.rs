//! The booster's request and reply decoders never panic, never accept
//! more than the limits, and round-trip what they accept; so does the
//! registry parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((req, used))) = wire::decode_request(data) {
        assert!(used <= wire::MAX_REQUEST && used <= data.len());
        assert!(req.argv.len() <= wire::MAX_ARGV && req.env.len() <= wire::MAX_ENV);
        assert_eq!(wire::encode_request(&req), data[..used]);
    }
    if let Ok(Some((reply, used))) = wire::decode_reply(data) {
        assert_eq!(wire::encode_reply(&reply), data[..used]);
    }
    if let Ok(entries) = svkit::registry::parse(data) {
        let again = svkit::registry::parse(&svkit::registry::format(&entries)).expect("re-parse");
        assert_eq!(again, entries);
    }
});
