//! tai64nlocal's label parsing: never panics; it converts only `@` plus
//! exactly 24 lowercase hex digits, and consumes exactly that label.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svkit::tai64nlocal::{convert_head, parse_label, LocalTime, LABEL_LEN};

fn fake(secs: i64) -> Option<LocalTime> {
    (secs % 7 != 0).then_some(LocalTime {
        year: 1970 + (secs.rem_euclid(9000)),
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let used = convert_head(data, fake, &mut out);
    assert!(used == 0 || used == LABEL_LEN);
    if used == 0 {
        assert!(out.is_empty());
    } else {
        assert!(parse_label(data).is_some());
        assert_eq!(data[0], b'@');
        assert!(data[1..LABEL_LEN]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    }
});
