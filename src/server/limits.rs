//! The process's file-descriptor budget: raised to the hard limit at start-up, and the
//! default connection cap derived from it.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as Go and nginx's `worker_rlimit_nofile`
/// do); returns the soft limit in force afterwards, if it can be read.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::debug!(error = %err, "cannot raise the file-descriptor limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// Client connections to allow when `server.max_connections` is not set: half of the
/// descriptors left after a reserve (each proxied connection may hold an upstream one too;
/// the store, the admin listener and files need the reserve).
pub fn default_max_connections() -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    connections_for(soft)
}

fn connections_for(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 4).min(128);
    let connections = (fd_limit.saturating_sub(reserve) / 2).clamp(8, 1 << 20);
    usize::try_from(connections).unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::connections_for;

    #[test]
    fn the_cap_leaves_room_for_upstream_connections_and_a_reserve() {
        assert_eq!(connections_for(1024), 448);
        assert_eq!(connections_for(64), 24);
        assert_eq!(connections_for(65536), 32704);
        assert_eq!(connections_for(4), 8);
    }
}
