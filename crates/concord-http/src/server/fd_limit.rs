//! The process's file-descriptor limit (`RLIMIT_NOFILE`). Every open connection holds a
//! descriptor, so the serve loop keeps its connection cap below the soft limit, and the binary
//! raises the soft limit to the hard one at start ([`raise`]): many systems still start
//! processes with a soft limit of 1024, which a thousand idle connections exhaust.

/// A soft and a hard limit on open file descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdLimit {
    pub soft: u64,
    pub hard: u64,
}

/// The limit now, where the platform has one.
pub fn current() -> Option<FdLimit> {
    imp::current()
}

/// Raises the soft limit to the hard limit; returns the limit before and after.
pub fn raise() -> std::io::Result<(FdLimit, FdLimit)> {
    imp::raise()
}

#[cfg(unix)]
mod imp {
    use super::FdLimit;

    fn get() -> std::io::Result<libc::rlimit> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(limit)
    }

    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on most targets, not all
    fn to_limit(limit: &libc::rlimit) -> FdLimit {
        FdLimit {
            soft: limit.rlim_cur as u64,
            hard: limit.rlim_max as u64,
        }
    }

    pub fn current() -> Option<FdLimit> {
        get().ok().map(|limit| to_limit(&limit))
    }

    pub fn raise() -> std::io::Result<(FdLimit, FdLimit)> {
        let before = get()?;
        if before.rlim_cur < before.rlim_max {
            let mut wanted = before;
            wanted.rlim_cur = before.rlim_max;
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok((to_limit(&before), to_limit(&get()?)))
    }
}

#[cfg(not(unix))]
mod imp {
    use super::FdLimit;

    pub fn current() -> Option<FdLimit> {
        None
    }

    pub fn raise() -> std::io::Result<(FdLimit, FdLimit)> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "no file-descriptor limit on this platform",
        ))
    }
}
