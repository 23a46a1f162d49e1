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

/// Descriptors kept free for sockets and the broker's own files.
pub const RESERVED_FILES: u64 = 1024;

/// How many sealed segments' files a shard may keep open: the configured number, lowered so that
/// all shards' together take at most half of what the open-file limit leaves past
/// `RESERVED_FILES` (the other half is for partitions), and at least 16.
pub fn sealed_files_per_shard(configured: usize, shards: usize) -> usize {
    let soft = open_file_limit().unwrap_or(RESERVED_FILES * 2);
    let share = soft.saturating_sub(RESERVED_FILES) / (2 * shards.max(1) as u64);
    configured.min((share as usize).max(16))
}

/// Raises the open-file limit and logs the budget, at start.
pub fn log_open_file_budget(configured_sealed_files: usize, shards: usize) {
    match raise_open_file_limit() {
        Ok((soft, hard)) => tracing::info!(
            soft,
            hard,
            "open-file limit: {soft} descriptors (the active segment of each partition holds 4; \
             each shard keeps at most {} sealed segments' files open, opening others on read)",
            sealed_files_per_shard(configured_sealed_files, shards)
        ),
        Err(e) => tracing::warn!("reading the open-file limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sealed_files_take_at_most_half_of_what_the_limit_leaves() {
        super::raise_open_file_limit().unwrap();
        let soft = super::open_file_limit().unwrap();
        let per_shard = super::sealed_files_per_shard(usize::MAX, 2) as u64;
        assert!(per_shard == 16 || 2 * per_shard <= (soft - super::RESERVED_FILES) / 2);
        assert_eq!(
            super::sealed_files_per_shard(20, 2),
            20.min(per_shard as usize)
        );
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (soft, hard) = super::raise_open_file_limit().unwrap();
        assert!(
            soft == hard || hard == libc::RLIM_INFINITY,
            "{soft} of {hard}"
        );
    }
}
