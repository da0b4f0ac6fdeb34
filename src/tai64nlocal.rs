//! tai64nlocal's conversion: a TAI64N label at the start of a line becomes
//! local time `YYYY-MM-DD HH:MM:SS.NNNNNNNNN`, as daemontools prints it.
//! Pure: the local-time breakdown is passed in, so fuzzing needs no libc.

use crate::tai64n::UNIX_EPOCH_LABEL;

/// `@` + 24 hex digits.
pub const LABEL_LEN: usize = 25;
/// Bytes needed to decide whether a line starts with a label: the label
/// and the byte after it (which must not be a hex digit).
pub const DECIDE_LEN: usize = LABEL_LEN + 1;

/// A broken-down local time, as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The label at the start of `line`: Unix seconds and the raw nanosecond
/// field. Only `@` + exactly 24 lowercase hex digits counts (daemontools
/// reads lowercase only; a 25th digit makes it another, invalid label).
pub fn parse_label(line: &[u8]) -> Option<(i64, u32)> {
    if line.len() < LABEL_LEN || line[0] != b'@' {
        return None;
    }
    if line.get(LABEL_LEN).and_then(|&c| lower_hex(c)).is_some() {
        return None;
    }
    let mut secs: u64 = 0;
    for &c in &line[1..17] {
        secs = secs << 4 | u64::from(lower_hex(c)?);
    }
    let mut nanos: u32 = 0;
    for &c in &line[17..25] {
        nanos = nanos << 4 | u32::from(lower_hex(c)?);
    }
    Some((secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64, nanos))
}

/// Appends the converted start of a line to `out`: `head` is the line's
/// first bytes (at least DECIDE_LEN of them unless the line is shorter).
/// Returns how many bytes of `head` were consumed; the caller copies the
/// rest unchanged. Lines without a usable label are left as they are.
pub fn convert_head(
    head: &[u8],
    localtime: impl Fn(i64) -> Option<LocalTime>,
    out: &mut Vec<u8>,
) -> usize {
    let Some((secs, nanos)) = parse_label(head) else {
        return 0;
    };
    let Some(t) = localtime(secs).filter(|t| (0..=9999).contains(&t.year)) else {
        return 0;
    };
    // daemontools prints the year unpadded and the nanosecond field as
    // at least 9 digits (a field above 999999999 shows all its digits).
    let text = format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, nanos
    );
    out.extend_from_slice(text.as_bytes());
    LABEL_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(secs: i64) -> Option<LocalTime> {
        // 2026-11-21 19:39:26 UTC, the only instant these tests need.
        (secs == 0x6b01_f378 - 10).then_some(LocalTime {
            year: 2026,
            month: 11,
            day: 21,
            hour: 19,
            minute: 39,
            second: 26,
        })
    }

    #[test]
    fn converts_valid_labels() {
        let mut out = Vec::new();
        let n = convert_head(b"@400000006b01f378109b8d49 hello", utc, &mut out);
        assert_eq!(n, 25);
        assert_eq!(out, b"2026-11-21 19:39:26.278629705");
        out.clear();
        convert_head(b"@400000006b01f378ffffffff", utc, &mut out);
        assert_eq!(out, b"2026-11-21 19:39:26.4294967295");
    }

    #[test]
    fn leaves_everything_else() {
        for head in [
            &b"no label"[..],
            b"@400000006B01F378109B8D49 upper",
            b"@4000000000000000000000000 25 digits",
            b"@400000006b01f378 short",
            b"@",
            b"",
            b" @400000006b01f378109b8d49",
        ] {
            let mut out = Vec::new();
            assert_eq!(convert_head(head, utc, &mut out), 0, "{head:?}");
            assert!(out.is_empty());
        }
    }
}
