//! What the node samples about the Redis servers in the background: their memory (for the
//! memory guard), their clocks (for the clock skew the node reports, per primary on a cluster),
//! and on a cluster the slot map. Never on the decision path.

use std::time::{Duration, Instant};

use ratelimiter_schema::RedisMode;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::handle::Store;
use super::shards::{ShardHealth, parse_cluster_slots};
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
    /// Reads `used_memory` and `maxmemory` from `INFO memory`; on a cluster, of the primary
    /// nearest its `maxmemory` (the memory guard protects the fullest shard).
    ///
    /// # Errors
    /// Redis failures or timeouts (on a cluster: when no primary answers), or an answer without
    /// those fields.
    pub async fn memory(&self) -> Result<RedisMemory, StoreError> {
        let mut info = redis::cmd("INFO");
        info.arg("memory");
        let texts: Vec<String> = match self.conn.cluster() {
            Some(_) => self
                .on_each_primary(&info)
                .await
                .into_iter()
                .filter_map(|(_, r)| r.ok())
                .collect(),
            None => {
                let mut conn = self.conn();
                vec![
                    self.bounded(self.timeout, info.query_async(&mut conn))
                        .await?,
                ]
            }
        };
        let fill = |m: &RedisMemory| {
            if m.max == 0 {
                0.0
            } else {
                m.used as f64 / m.max as f64
            }
        };
        texts
            .iter()
            .filter_map(|t| parse_memory(t))
            .max_by(|a, b| fill(a).total_cmp(&fill(b)))
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

    /// One background sample of every primary: on a cluster, refreshes the slot map (`CLUSTER
    /// SLOTS`) first; in sentinel mode, asks the sentinels for the primary (reconnecting after
    /// a failover). Then `TIME` on each primary, recorded with its round trip and clock skew
    /// (against `node_clock_ms`, the node's clock) for `/v1/node`. Returns each primary's
    /// reading and its skew ([`skew_ms`]).
    pub async fn sample_primaries(
        &self,
        node_clock_ms: impl Fn() -> u64,
    ) -> Vec<(String, Result<(RedisTime, i64), StoreError>)> {
        let readings = match self.mode() {
            RedisMode::Cluster => {
                self.refresh_slot_map().await;
                let mut out = Vec::new();
                for shard in self.shards.map().iter() {
                    let before = node_clock_ms();
                    let sent = Instant::now();
                    let r = self
                        .on_primary::<(u64, u64)>(&shard.address, &redis::cmd("TIME"))
                        .await;
                    out.push((shard.address.clone(), before, r.map(|t| time_of(t, sent))));
                }
                out
            }
            mode => {
                let address = if mode == RedisMode::Sentinel {
                    self.conn
                        .refresh_sentinel()
                        .await
                        .or_else(|| self.conn.sentinel_primary())
                } else {
                    self.single_address.clone()
                };
                let before = node_clock_ms();
                let r = self.time().await;
                vec![(address.unwrap_or_default(), before, r)]
            }
        };
        readings
            .into_iter()
            .map(|(address, before, r)| {
                let r = r.map(|t| (t, skew_ms(before, &t)));
                let health = match &r {
                    Ok((t, skew)) => ShardHealth {
                        rtt_us: Some(u64::try_from(t.rtt.as_micros()).unwrap_or(u64::MAX)),
                        answered: true,
                        clock_skew_ms: Some(*skew),
                    },
                    Err(_) => ShardHealth {
                        answered: false,
                        ..self.shards.health(&address)
                    },
                };
                self.shards.set_health(&address, health);
                (address, r)
            })
            .collect()
    }

    /// Cluster mode: reads `CLUSTER SLOTS` from any member and installs the slot map. A
    /// failure leaves the map as it was (the next sample tries again).
    async fn refresh_slot_map(&self) {
        let Some(mut cluster) = self.conn.cluster() else {
            // Not connected yet: any call connects (and fails fast while the cluster is down).
            let mut conn = self.conn();
            let _ = self
                .bounded(
                    self.timeout,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await;
            return;
        };
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        let reply = self
            .bounded(self.admin_timeout(), cluster.route_command(cmd, route))
            .await;
        match reply.as_ref().ok().and_then(parse_cluster_slots) {
            Some(map) if !map.is_empty() => {
                if *self.shards.map() != map {
                    tracing::info!(primaries = map.len(), "cluster slot map changed");
                }
                self.shards.set_map(map);
            }
            _ => tracing::debug!("cluster slot map not refreshed"),
        }
    }

    /// Cluster mode: `cmd` on the primary at `address` (`host:port`).
    async fn on_primary<T: redis::FromRedisValue>(
        &self,
        address: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut cluster = self
            .conn
            .cluster()
            .ok_or_else(|| StoreError::Reply("not connected to the cluster".into()))?;
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
            .ok_or_else(|| StoreError::Reply(format!("bad primary address {address}")))?;
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
        let value = self
            .bounded(self.timeout, cluster.route_command(cmd.clone(), route))
            .await?;
        redis::from_redis_value(value).map_err(|e| StoreError::Reply(e.to_string()))
    }

    /// Cluster mode: `cmd` on every primary of the slot map, with each one's answer.
    async fn on_each_primary<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Vec<(String, Result<T, StoreError>)> {
        let mut out = Vec::new();
        for shard in self.shards.map().iter() {
            out.push((
                shard.address.clone(),
                self.on_primary(&shard.address, cmd).await,
            ));
        }
        out
    }
}

fn time_of((secs, micros): (u64, u64), sent: Instant) -> RedisTime {
    RedisTime {
        redis_ms: secs * 1000 + micros / 1000,
        sent,
        rtt: sent.elapsed(),
    }
}

/// The node's clock at the midpoint of the round trip (`before` + half of it) minus Redis time.
pub fn skew_ms(before: u64, t: &RedisTime) -> i64 {
    let mid = before.saturating_add(u64::try_from(t.rtt.as_millis() / 2).unwrap_or(0));
    i64::try_from(mid).unwrap_or(i64::MAX) - i64::try_from(t.redis_ms).unwrap_or(0)
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
