//! OS error texts worded as daemontools' `error_str`, so messages read the
//! same as djb's ("temporary failure", "file does not exist").

use std::io;

/// daemontools' wording for an errno, or the C library's for the rest.
pub fn errno_text(errno: i32) -> String {
    let s = match errno {
        0 => "no error",
        libc::EINTR => "interrupted system call",
        libc::ENOMEM => "out of memory",
        libc::ENOENT => "file does not exist",
        libc::ETXTBSY => "text busy",
        libc::EIO => "input/output error",
        libc::EEXIST => "file already exists",
        libc::ETIMEDOUT => "timed out",
        libc::EINPROGRESS => "operation in progress",
        libc::EAGAIN => "temporary failure",
        libc::EPIPE => "broken pipe",
        libc::EPERM => "permission denied",
        libc::EACCES => "access denied",
        libc::ENXIO => "device not configured",
        libc::EPROTO => "protocol error",
        libc::EISCONN => "already connected",
        libc::ESRCH => "no such process",
        libc::E2BIG => "argument list too long",
        libc::ENOEXEC => "exec format error",
        libc::EBADF => "file descriptor not open",
        libc::ECHILD => "no child processes",
        libc::EDEADLK => "operation would cause deadlock",
        libc::EFAULT => "bad address",
        libc::ENOTBLK => "not a block device",
        libc::EBUSY => "device busy",
        libc::EXDEV => "cross-device link",
        libc::ENODEV => "device does not support operation",
        libc::ENOTDIR => "not a directory",
        libc::EISDIR => "is a directory",
        libc::EINVAL => "invalid argument",
        libc::ENFILE => "system cannot open more files",
        libc::EMFILE => "process cannot open more files",
        libc::ENOTTY => "not a tty",
        libc::EFBIG => "file too big",
        libc::ENOSPC => "out of disk space",
        libc::ESPIPE => "unseekable descriptor",
        libc::EROFS => "read-only file system",
        libc::EMLINK => "too many links",
        libc::EDOM => "input out of range",
        libc::ERANGE => "output out of range",
        libc::EALREADY => "operation already in progress",
        libc::ENOTSOCK => "not a socket",
        libc::EDESTADDRREQ => "destination address required",
        libc::EMSGSIZE => "message too long",
        libc::EPROTOTYPE => "incorrect protocol type",
        libc::ENOPROTOOPT => "protocol not available",
        libc::EPROTONOSUPPORT => "protocol not supported",
        libc::EOPNOTSUPP => "operation not supported",
        libc::EAFNOSUPPORT => "address not supported",
        libc::EADDRINUSE => "address already used",
        libc::EADDRNOTAVAIL => "address not available",
        libc::ENETDOWN => "network down",
        libc::ENETUNREACH => "network unreachable",
        libc::ENETRESET => "network reset",
        libc::ECONNABORTED => "connection aborted",
        libc::ECONNRESET => "connection reset",
        libc::ENOBUFS => "out of buffer space",
        libc::ENOTCONN => "not connected",
        libc::ESHUTDOWN => "socket shut down",
        libc::ECONNREFUSED => "connection refused",
        libc::ELOOP => "symbolic link loop",
        libc::ENAMETOOLONG => "file name too long",
        libc::EHOSTDOWN => "host down",
        libc::EHOSTUNREACH => "host unreachable",
        libc::ENOTEMPTY => "directory not empty",
        libc::EUSERS => "too many users",
        libc::EDQUOT => "disk quota exceeded",
        libc::ESTALE => "stale NFS file handle",
        libc::EREMOTE => "too many levels of remote in path",
        libc::ENOLCK => "no locks available",
        libc::ENOSYS => "system call not available",
        _ => return io::Error::from_raw_os_error(errno).to_string(),
    };
    s.to_string()
}

/// daemontools' wording for an I/O error.
pub fn text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(n),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn djb_words() {
        assert_eq!(errno_text(libc::EWOULDBLOCK), "temporary failure");
        assert_eq!(errno_text(libc::ENOENT), "file does not exist");
        let e = io::Error::from_raw_os_error(libc::ENXIO);
        assert_eq!(text(&e), "device not configured");
        assert!(!errno_text(4000).is_empty());
    }
}
