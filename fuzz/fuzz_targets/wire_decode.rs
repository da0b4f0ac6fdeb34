//! The booster's request and reply decoders never panic, never accept
//! more than the limits, and round-trip what they accept (the incremental
//! request decoder agrees with the whole-buffer one); so does the
//! registry parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((req, used))) = wire::decode_request(data) {
        assert!(used <= wire::MAX_REQUEST && used <= data.len());
        assert!(req.argv.len() <= wire::MAX_ARGV && req.env.len() <= wire::MAX_ENV);
        assert_eq!(wire::encode_request(&req), data[..used]);
        // The booster's incremental decoder agrees however the bytes are
        // split (the split size comes from the data itself).
        if used == data.len() {
            let split = usize::from(data[0] % 17) + 1;
            let mut d = wire::RequestDecoder::new();
            let mut got = None;
            for chunk in data.chunks(split) {
                got = d.push(chunk).expect("accepted whole, refused in pieces");
            }
            assert_eq!(got, Some(req));
        }
    }
    if let Ok(Some((reply, used))) = wire::decode_reply(data) {
        assert_eq!(wire::encode_reply(&reply), data[..used]);
    }
    if let Ok(entries) = svkit::registry::parse(data) {
        let again = svkit::registry::parse(&svkit::registry::format(&entries)).expect("re-parse");
        assert_eq!(again, entries);
    }
});
