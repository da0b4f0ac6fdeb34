//! Unix sockets: accept and SCM_RIGHTS.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// accept4(2), non-blocking and close-on-exec; EINTR and ECONNABORTED
/// are retried, anything else (EAGAIN included) is returned.
pub fn accept_nonblock(listener: RawFd) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: null address pointers are allowed; listener is an fd.
        let r = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if r >= 0 {
            // SAFETY: accept4 returned a fresh descriptor we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(r) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
            _ => return Err(e),
        }
    }
}

/// recvmsg(2) of up to `buf.len()` bytes plus up to 4 SCM_RIGHTS
/// descriptors (received close-on-exec; any beyond 4 are discarded by the
/// kernel). Non-blocking when `dontwait`.
pub fn recv_with_fds(
    fd: RawFd,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    recv_with_fds_ctrunc(fd, buf, dontwait).map(|(n, fds, _)| (n, fds))
}

/// As [`recv_with_fds`], also telling whether descriptors were lost
/// (MSG_CTRUNC: more than 4 sent, or the receiver is out of descriptors).
pub fn recv_with_fds_ctrunc(
    fd: RawFd,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, Vec<OwnedFd>, bool)> {
    const MAX_FDS: usize = 4;
    // u64 alignment satisfies cmsghdr's.
    let mut space = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is valid before we fill it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let want =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    msg.msg_controllen = want.min(std::mem::size_of_val(&space));
    let flags = libc::MSG_CMSG_CLOEXEC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: msg points at iov/space, both live and sized as declared.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: the CMSG_* walk stays within msg_controllen as set by the
    // kernel; SCM_RIGHTS data is an array of fds now installed in our
    // table, each of which we take ownership of exactly once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for k in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(k))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, fds, msg.msg_flags & libc::MSG_CTRUNC != 0))
}
