//! What the node samples about the Redis server in the background: its memory (for the memory
//! guard) and its clock (for the clock skew the node reports). Never on the decision path.

use std::time::{Duration, Instant};

use super::handle::Store;
use crate::error::StoreError;

/// Redis memory as `INFO memory` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisMemory {
    /// `used_memory`, bytes.
    pub used: u64,
    /// `maxmemory`, bytes (0: no limit).
    pub max: u64,
}

/// One reading of Redis `TIME`: the Redis clock and when the reading was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisTime {
    /// Redis time, Unix ms.
    pub redis_ms: u64,
    /// When the request was sent.
    pub sent: Instant,
    /// The round trip.
    pub rtt: Duration,
}

impl Store {
    /// Reads `used_memory` and `maxmemory` from `INFO memory`.
    ///
    /// # Errors
    /// Redis failures or timeouts, or an answer without those fields.
    pub async fn memory(&self) -> Result<RedisMemory, StoreError> {
        let mut conn = self.conn();
        let text: String = self
            .bounded(
                self.timeout,
                redis::cmd("INFO").arg("memory").query_async(&mut conn),
            )
            .await?;
        parse_memory(&text)
            .ok_or_else(|| StoreError::Reply("INFO memory without used_memory/maxmemory".into()))
    }

    /// Reads Redis `TIME`, with when it was sent and the round trip (the Redis clock is best
    /// compared with the midpoint of the round trip).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn time(&self) -> Result<RedisTime, StoreError> {
        let mut conn = self.conn();
        let sent = Instant::now();
        let (secs, micros): (u64, u64) = self
            .bounded(self.timeout, redis::cmd("TIME").query_async(&mut conn))
            .await?;
        Ok(RedisTime {
            redis_ms: secs * 1000 + micros / 1000,
            sent,
            rtt: sent.elapsed(),
        })
    }
}

/// `used_memory` and `maxmemory` out of an `INFO memory` text.
pub fn parse_memory(info: &str) -> Option<RedisMemory> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(RedisMemory {
        used: field("used_memory")?,
        max: field("maxmemory")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_fields_are_read_from_info() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:20971520\r\nmaxmemory_human:20.00M\r\n";
        assert_eq!(
            parse_memory(info),
            Some(RedisMemory {
                used: 1_048_576,
                max: 20_971_520
            })
        );
        assert_eq!(parse_memory("used_memory:1\r\n"), None);
        assert_eq!(parse_memory("used_memory:x\r\nmaxmemory:0"), None);
    }
}
