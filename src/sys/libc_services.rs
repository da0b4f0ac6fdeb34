//! C library services: local time, syslog.

/// localtime_r(3) for Unix seconds: (year, month 1-12, day, hour, minute,
/// second), None when the C library cannot represent it.
pub fn localtime(secs: i64) -> Option<(i64, u32, u32, u32, u32, u32)> {
    #[allow(clippy::useless_conversion)] // time_t is narrower on 32-bit targets
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: tm is plain old data, zero is a valid bit pattern for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call;
    // localtime_r is thread-safe and writes only into tm.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return None;
    }
    Some((
        i64::from(tm.tm_year) + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    ))
}

/// openlog(3) with LOG_PID on LOG_DAEMON. `ident` must live forever.
pub fn open_syslog(ident: &'static std::ffi::CStr) {
    // SAFETY: ident is 'static, as openlog keeps the pointer.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
}

/// syslog(3) of one message, passed through "%s" (never as a format).
pub fn syslog(priority: libc::c_int, msg: &str) {
    let Ok(m) = std::ffi::CString::new(msg.replace('\0', "")) else {
        return;
    };
    // SAFETY: both pointers are valid NUL-terminated strings; "%s" makes
    // the message data, not a format.
    unsafe { libc::syslog(priority, b"%s\0".as_ptr().cast(), m.as_ptr()) };
}
