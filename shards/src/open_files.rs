//! The open-file limit. The broker holds four descriptors per partition (the active segment's
//! `.log`, `.index`, `.timeindex` and `.tail`), plus at most `max_open_sealed_segments_per_shard`
//! sealed segments' `.log` files per shard (opened on read, least recently used closed first),
//! so the soft limit a shell gives (often 1,024) is reached at a couple of hundred partitions.
//! At start the soft limit is raised to the hard one, and the budget is logged.

fn read_limit() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `limit` is, and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

/// The soft `RLIMIT_NOFILE`: how many descriptors the process may hold now.
pub fn open_file_limit() -> std::io::Result<u64> {
    read_limit().map(|l| l.rlim_cur)
}

/// (soft, hard) `RLIMIT_NOFILE` after raising the soft limit as far as the hard one allows.
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    let mut limit = read_limit()?;
    let before = limit.rlim_cur;
    // An unlimited hard limit still stops at the kernel's per-process maximum.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(before)
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < target {
        limit.rlim_cur = target;
        // SAFETY: setrlimit reads one valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!("could not raise the open-file limit from {before}: {e}");
            limit.rlim_cur = before;
        }
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Logs the open-file budget at start.
pub fn log_open_file_budget() {
    match raise_open_file_limit() {
        Ok((soft, hard)) => tracing::info!(
            soft,
            hard,
            "open-file limit: {soft} descriptors (the active segment of each partition holds 4; \
             sealed segments' files are opened on read, max_open_sealed_segments_per_shard at a \
             time)"
        ),
        Err(e) => tracing::warn!("reading the open-file limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (soft, hard) = super::raise_open_file_limit().unwrap();
        assert!(
            soft == hard || hard == libc::RLIM_INFINITY,
            "{soft} of {hard}"
        );
    }
}
