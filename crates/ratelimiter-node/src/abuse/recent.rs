//! The last blocks this node made, newest first, at most [`RECENT_BLOCKS`]: what `/v1/node`
//! shows (clients as fingerprints) and the operator puts in its `abuse_detected` evidence.

use std::collections::VecDeque;
use std::sync::Mutex;

use ratelimiter_schema::BlockedClient;
use ratelimiter_schema::abuse::RECENT_BLOCKS;

/// The ring of recent blocks.
#[derive(Debug, Default)]
pub struct RecentBlocks {
    ring: Mutex<VecDeque<BlockedClient>>,
}

impl RecentBlocks {
    /// Adds a block; the oldest falls out past [`RECENT_BLOCKS`].
    pub fn push(&self, block: BlockedClient) {
        let mut ring = self.lock();
        ring.push_front(block);
        ring.truncate(RECENT_BLOCKS);
    }

    /// The blocks, newest first.
    pub fn list(&self) -> Vec<BlockedClient> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<BlockedClient>> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use ratelimiter_schema::BlockReason;

    use super::*;

    #[test]
    fn keeps_the_newest_few() {
        let r = RecentBlocks::default();
        for i in 0..(RECENT_BLOCKS as u64 + 5) {
            r.push(BlockedClient {
                client: format!("ip:fp-{i}"),
                reason: BlockReason::Enumeration,
                distinct_keys: Some(101),
                at_ms: i,
                until_ms: i + 1,
            });
        }
        let list = r.list();
        assert_eq!(list.len(), RECENT_BLOCKS);
        assert_eq!(list[0].at_ms, RECENT_BLOCKS as u64 + 4, "newest first");
    }
}
